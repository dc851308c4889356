// Turns one run of the workload into the figures the demo compares: CPU shares per nice class against the
// shares their weights promise, Jain's fairness index over weight-normalised CPU time, probe lateness
// percentiles and the hogs' total work.
//
//   Jain's index  J = (Σ xᵢ)² / (n · Σ xᵢ²),  xᵢ = cpuᵢ / weightᵢ;  1 = perfectly weight-fair, 1/n = one task got all
//   share error   max over classes |share − ideal| / ideal,  ideal = Σ weights of the class / Σ all weights

import { weightFromNice } from '../sched/weights.js';
import type { MixResult } from './workload.js';
import { MSEC_PER_SEC, USEC_PER_MSEC } from '../base/units.js';

export interface ClassFigures {
  nice: number;
  /** Fraction of the hogs' CPU time this class got, 0..1. */
  share: number;
  /** Fraction its weights entitle it to, 0..1. */
  idealShare: number;
}

export interface RunFigures {
  jainIndex: number;
  /** Largest relative deviation of a class's share from its ideal, 0..1. */
  shareError: number;
  classes: ClassFigures[];
  probeP50Ms: number;
  probeP99Ms: number;
  probeMaxMs: number;
  probeWakeups: number;
  /** Chunks of integer work done by all hogs together. */
  hogChunks: number;
  /** The hogs' CPU time, in CPUs busy on average over the window. */
  hogCpus: number;
  /** Probe lateness at fixed percentiles, for the distribution chart. */
  latenessPercentiles: { p: number[]; ms: number[] };
  /** Probe lateness over time: p99 per window, for the chart. */
  latenessTimeline: { atS: number[]; p99Ms: number[] };
}

const TIMELINE_BUCKET_MS = 250;
const CHART_PERCENTILES = [50, 90, 95, 99, 99.9, 100];

/** Nearest-rank percentile of an ascending array; NaN for an empty one. */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))]!;
}

export function jainIndex(xs: readonly number[]): number {
  if (xs.length === 0) return NaN;
  const sum = xs.reduce((a, b) => a + b, 0);
  const sumSq = xs.reduce((a, b) => a + b * b, 0);
  return sumSq === 0 ? 1 : (sum * sum) / (xs.length * sumSq);
}

export function analyse(run: MixResult): RunFigures {
  const totalCpuMs = run.hogs.reduce((a, h) => a + h.cpuMs, 0);
  const totalWeight = run.hogs.reduce((a, h) => a + weightFromNice(h.nice), 0);
  const nices = [...new Set(run.hogs.map((h) => h.nice))].sort((a, b) => a - b);
  const classes = nices.map((nice) => {
    const members = run.hogs.filter((h) => h.nice === nice);
    return {
      nice,
      share: totalCpuMs > 0 ? members.reduce((a, h) => a + h.cpuMs, 0) / totalCpuMs : 0,
      idealShare: members.reduce((a, h) => a + weightFromNice(h.nice), 0) / totalWeight,
    };
  });
  const lateMs = run.probe.latenessUs.map((us) => us / USEC_PER_MSEC);
  const sorted = [...lateMs].sort((a, b) => a - b);
  const buckets = new Map<number, number[]>();
  run.probe.atMs.forEach((at, i) => {
    const b = Math.floor(at / TIMELINE_BUCKET_MS);
    if (!buckets.has(b)) buckets.set(b, []);
    buckets.get(b)!.push(lateMs[i]!);
  });
  const keys = [...buckets.keys()].sort((a, b) => a - b);
  const windowMs = run.endAtMs - run.startAtMs;
  return {
    jainIndex: jainIndex(run.hogs.map((h) => h.cpuMs / weightFromNice(h.nice))),
    shareError: Math.max(0, ...classes.map((c) => Math.abs(c.share - c.idealShare) / c.idealShare)),
    classes,
    probeP50Ms: percentile(sorted, 50),
    probeP99Ms: percentile(sorted, 99),
    probeMaxMs: sorted.length ? sorted[sorted.length - 1]! : NaN,
    probeWakeups: sorted.length,
    hogChunks: run.hogs.reduce((a, h) => a + h.chunks, 0),
    hogCpus: windowMs > 0 ? totalCpuMs / windowMs : 0,
    latenessPercentiles: { p: CHART_PERCENTILES, ms: CHART_PERCENTILES.map((p) => percentile(sorted, p)) },
    latenessTimeline: {
      atS: keys.map((k) => ((k + 0.5) * TIMELINE_BUCKET_MS) / MSEC_PER_SEC),
      p99Ms: keys.map((k) =>
        percentile(
          [...buckets.get(k)!].sort((a, b) => a - b),
          99,
        ),
      ),
    },
  };
}
