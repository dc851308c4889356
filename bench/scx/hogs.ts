// CPU hogs for bench:scx, as plain shell loops (a node hog would spend seconds starting under emulation):
// each one's CPU time is read from /proc at the middle and at the end of the run, then it is killed.

import { spawn, type ChildProcess } from 'node:child_process';
import { jainIndex } from '../../src/demo/analysis.js';
import { cpuMsOf, readCpuTime } from './cpu-time.js';

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

/** How long the hogs may take to become `sh` at their nice value (process start-up is slow under emulation). */
const HOGS_READY_TIMEOUT_MS = 60_000;

/**
 * Waits until every hog is the shell loop at its nice value. Until then a hog is `nice` starting up, at
 * nice 0, and the later ones start later: counted, that launch skewed the shares of every scheduler alike
 * (EEVDF's nice 0/5/10 error was 11.4% over a whole run, 0.6-2.5% over its second half).
 */
async function hogsReady(hogs: ChildProcess[], nices: number[]): Promise<void> {
  const deadline = performance.now() + HOGS_READY_TIMEOUT_MS;
  for (;;) {
    const ready = hogs.every((h, i) => {
      const t = readCpuTime(h.pid!);
      return t.comm === 'sh' && t.nice === nices[i];
    });
    if (ready) return;
    if (performance.now() > deadline)
      throw new Error(`the hogs were not all running at their nice values after ${HOGS_READY_TIMEOUT_MS} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

export async function runHogs(nices: number[], seconds: number): Promise<HogRun> {
  const hogs: ChildProcess[] = nices.map((n) => spawn('nice', ['-n', String(n), 'sh', '-c', HOG], { stdio: 'ignore' }));
  try {
    for (const h of hogs) if (h.pid === undefined) throw new Error('a hog did not start (nice or sh missing?)');
    // The run starts when the last hog is spinning at its nice value: "from the first second" of them all.
    await hogsReady(hogs, nices);
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
