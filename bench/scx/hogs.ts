// CPU hogs for bench:scx, as plain shell loops (a node hog would spend seconds starting under emulation):
// each one's CPU time is read from /proc at the middle and at the end of the run, then it is killed.

import { spawn, type ChildProcess } from 'node:child_process';
import { jainIndex } from '../../src/demo/analysis.js';
import { cpuMsOf } from './cpu-time.js';

/** Weights of nice 0, 5 and 10 in the kernel's table (sched_prio_to_weight). */
export const NICE_WEIGHT: Record<number, number> = { 0: 1024, 5: 335, 10: 110 };

const HOG = 'while :; do :; done';

export interface ClassShare {
  /** The class's share of the hogs' CPU time, its share of their weight, and |share - weight| / weight. */
  share: number;
  weightShare: number;
  error: number;
}

export interface HogRun {
  nices: number[];
  seconds: number;
  /** Each hog's CPU time over the whole run, ms (tick resolution: 10 ms). */
  cpuMs: number[];
  /** Each hog's CPU time over the second half only. */
  cpuMsSecondHalf: number[];
  jain: number;
  /** Per nice class, over the whole run (from the first second) and over the second half. */
  classes: Record<string, ClassShare>;
  classesSecondHalf: Record<string, ClassShare>;
  /** The hogs' CPU time over the run's wall time, in CPUs: how much of the machine they got. */
  cpusUsed: number;
}

export function classShares(nices: number[], cpuMs: number[]): Record<string, ClassShare> {
  const total = cpuMs.reduce((a, b) => a + b, 0);
  const totalWeight = nices.reduce((a, n) => a + NICE_WEIGHT[n]!, 0);
  const out: Record<string, ClassShare> = {};
  for (const nice of [...new Set(nices)].sort((a, b) => a - b)) {
    const members = nices.map((n, i) => (n === nice ? i : -1)).filter((i) => i >= 0);
    const share = members.reduce((a, i) => a + cpuMs[i]!, 0) / total;
    const weightShare = (members.length * NICE_WEIGHT[nice]!) / totalWeight;
    out[`nice${nice}`] = { share, weightShare, error: Math.abs(share - weightShare) / weightShare };
  }
  return out;
}

/** The largest class error of a run, for a one-line verdict. */
export function worstClassError(classes: Record<string, ClassShare>): number {
  return Math.max(...Object.values(classes).map((c) => c.error));
}

export async function runHogs(nices: number[], seconds: number): Promise<HogRun> {
  const hogs: ChildProcess[] = nices.map((n) => spawn('nice', ['-n', String(n), 'sh', '-c', HOG], { stdio: 'ignore' }));
  try {
    for (const h of hogs) if (h.pid === undefined) throw new Error('a hog did not start (nice or sh missing?)');
    const t0 = performance.now();
    const start = hogs.map((h) => cpuMsOf(h.pid!));
    await new Promise((r) => setTimeout(r, (seconds * 1000) / 2));
    const mid = hogs.map((h) => cpuMsOf(h.pid!));
    await new Promise((r) => setTimeout(r, (seconds * 1000) / 2));
    const end = hogs.map((h) => cpuMsOf(h.pid!));
    const wallMs = performance.now() - t0;
    const cpuMs = end.map((e, i) => e - start[i]!);
    const cpuMsSecondHalf = end.map((e, i) => e - mid[i]!);
    return {
      nices,
      seconds,
      cpuMs,
      cpuMsSecondHalf,
      jain: jainIndex(cpuMs),
      classes: classShares(nices, cpuMs),
      classesSecondHalf: classShares(nices, cpuMsSecondHalf),
      cpusUsed: cpuMs.reduce((a, b) => a + b, 0) / wallMs,
    };
  } finally {
    for (const h of hogs) h.kill('SIGKILL');
    await Promise.all(
      hogs.map((h) => (h.exitCode !== null || h.signalCode !== null ? null : new Promise((r) => h.once('exit', r)))),
    );
  }
}
