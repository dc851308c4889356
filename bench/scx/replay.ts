// bench:scx's native figure for tsland's user side: the queued records the scheduler thread read in the
// guest (TSLAND_SCX_CAPTURE, src/backends/scx/thread/capture.ts), replayed round by round on the host
// through the same ring reader, bridge, core, policy and dispatch writer, with a stand-in kernel that plays
// ops.dispatch by taking every dispatch record after each round. The clock each round saw in the guest is
// replayed too, so the policy makes the same kind of decisions. What is left out is what only the kernel
// can do: the wake-ups, epoll and sched_yield (counted in the guest as nr_sched_sleeps / nr_sched_yields).
//
// Usage (standalone): node dist/bench/scx/replay.js CAPTURE [--policy rustland] [--passes 5]

import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseCapture, type Capture } from '../../src/backends/scx/thread/capture.js';
import { standInLoop } from '../../src/backends/scx/thread/drill.js';
import * as K from '../../src/backends/scx/layout.js';
import { loadPolicy } from '../../src/sched/load-policy.js';
import type { Policy } from '../../src/sched/api.js';
import { measureCoreCost, type CoreCost } from './core-cost.js';

/** Written by tsland when it stops, beside inside.ts's OUT.json: the records its scheduler thread read. */
export const CAPTURE_FILE = 'capture.bin';

export interface ReplayCost {
  rounds: number;
  records: number;
  /** Dispatch records written per pass (the same every pass: the replay is deterministic). */
  decisions: number;
  passes: number;
  /** Host CPU time per decision of the whole round (ring read, bridge, core, policy, ring write), ns: median. */
  cpuNsPerDecision: number;
  cpuNsMin: number;
  /** Of it, what the stand-in kernel's writing of the records costs (subtracted above), ns per decision. */
  standInNsPerDecision: number;
  /** Rounds the capture dropped (its buffer was full). */
  dropped: number;
}

/** Sizes as the scheduler thread has them (worker.ts): the kernel's ring of 5,461 records fits in one go. */
const SIZES = { queuedBytes: 1 << 19, dispatchBytes: 1 << 18, maxTasks: 8192, coreQueued: 8192 };
const WORDS = K.QUEUED_BYTES / 4;

function onePass(cap: Capture, policy: Policy, withRounds: boolean): { cpuNs: number; decisions: number } {
  const now = new Float64Array(1);
  const { kernel, loop, close } = standInLoop(
    policy,
    (out, i) => void (out[i] = now[0]!),
    () => 0,
    {
      ...SIZES,
      nrCpus: cap.nrCpus,
    },
  );
  const rounds = cap.roundClockNs.length;
  let word = 0;
  const c0 = process.cpuUsage();
  for (let r = 0; r < rounds; r++) {
    now[0] = cap.roundClockNs[r]!;
    const n = cap.roundRecords[r]!;
    for (let k = 0; k < n; k++, word += WORDS) kernel.emitRecorded(cap.records, word);
    if (withRounds) {
      loop.round();
      kernel.drainDispatches();
    } else {
      kernel.consumeAll();
    }
  }
  const c = process.cpuUsage(c0);
  const decisions = loop.totals[1]!;
  close();
  return { cpuNs: (c.user + c.system) * 1e3, decisions };
}

export async function replayCapture(cap: Capture, policyName: string, passes = 5): Promise<ReplayCost> {
  // A fresh policy and scheduler per pass: V8 keeps the optimized code, the tasks start anew.
  const fresh = () => loadPolicy(policyName);
  // Warm-up of both kinds of pass: the stand-in's pass, first run inside the measurement, compiled its code
  // there, and the first pass subtracted that compilation from the user side's cost.
  onePass(cap, await fresh(), true);
  onePass(cap, await fresh(), false);
  const each: number[] = [];
  const standIn: number[] = [];
  let decisions = 0;
  for (let p = 0; p < passes; p++) {
    const full = onePass(cap, await fresh(), true);
    const feed = onePass(cap, await fresh(), false);
    decisions = full.decisions;
    each.push((full.cpuNs - feed.cpuNs) / Math.max(1, full.decisions));
    standIn.push(feed.cpuNs / Math.max(1, full.decisions));
  }
  each.sort((a, b) => a - b);
  standIn.sort((a, b) => a - b);
  return {
    rounds: cap.roundClockNs.length,
    records: cap.records.length / WORDS,
    decisions,
    passes,
    cpuNsPerDecision: each[Math.floor(passes / 2)]!,
    cpuNsMin: each[0]!,
    standInNsPerDecision: standIn[Math.floor(passes / 2)]!,
    dropped: cap.dropped,
  };
}

export interface NativeFigure {
  replay: ReplayCost;
  core: CoreCost;
  /** Replay CPU per decision over the core's, both on this machine. */
  ratio: number;
}

/** The replay and the yardstick (bench:sched's core loop), measured in this process, one after the other. */
export async function nativeFigure(file: string, policyName: string, passes = 5): Promise<NativeFigure> {
  const cap = parseCapture(readFileSync(file));
  const replay = await replayCapture(cap, policyName, passes);
  const core = measureCoreCost();
  return { replay, core, ratio: replay.cpuNsPerDecision / core.cpuNsPerDecision };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const file = process.argv[2];
  const opt = (name: string, fallback: string): string => {
    const i = process.argv.indexOf(`--${name}`);
    return i > 0 && process.argv[i + 1] ? process.argv[i + 1]! : fallback;
  };
  if (!file || file.startsWith('-')) {
    console.error('usage: node dist/bench/scx/replay.js CAPTURE [--policy rustland] [--passes 5]');
    process.exit(2);
  }
  const f = await nativeFigure(file, opt('policy', 'rustland'), Number(opt('passes', '5')));
  const r = f.replay;
  console.log(
    `replay: ${r.rounds} rounds, ${r.records} records, ${r.decisions} decisions per pass (${r.dropped} rounds dropped by the capture)\n` +
      `  user side on this machine: ${r.cpuNsPerDecision.toFixed(0)} ns per decision (min ${r.cpuNsMin.toFixed(0)}; ` +
      `stand-in kernel's writes ${r.standInNsPerDecision.toFixed(0)} ns subtracted)\n` +
      `  core alone (bench:sched hog loop): ${f.core.cpuNsPerDecision.toFixed(0)} ns per decision -> ${f.ratio.toFixed(2)}x`,
  );
}
