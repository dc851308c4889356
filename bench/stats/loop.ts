// The scheduler thread of the stats benchmark: a real scheduler core (rustland) stepping every millisecond
// over simulated CPU-bound tasks, as under `tsland run`. In mode 'inline' it also formats the stats itself
// every --format-ms, as an exporter living on the scheduling thread would; in 'off-thread' and 'none' it
// only schedules. It records every gap between two steps and counts its own GCs.
import { parentPort, workerData } from 'node:worker_threads';
import {
  CLOCK_NOW_NS,
  createScheduler,
  dispatchCpu,
  dispatchPid,
  EV_RUNNABLE,
  EV_STOPPED,
  EVF_RUNNABLE,
  pushQueued,
  rustland,
  TaskTableReader,
} from '../../src/sched/index.js';
import { createCounters, snapshotCounters } from '../../src/base/counters.js';
import { GcCounter, settleGcEntries } from '../../src/mem/gc.js';

export interface LoopConfig {
  mode: 'none' | 'inline' | 'off-thread';
  countersSab: SharedArrayBuffer;
  tasks: number;
  seconds: number;
  formatMs: number;
}

export interface LoopResult {
  steps: number;
  /** Sorted gaps between consecutive steps, µs (the 1 ms sleep included). */
  gapsUs: number[];
  gcEvents: number;
  formatted: number;
}

const cfg = workerData as LoopConfig;
const NR_CPUS = 2;
const RUN_NS = 1_000_000;
const FIRST_PID = 1000;
const BURST_STEPS = 200;
const NSEC_PER_USEC = 1000;
const NSEC_PER_MSEC = 1_000_000;
const MAX_STEPS = 1_000_000;

const counters = createCounters(cfg.countersSab);
const sched = createScheduler({ nrCpus: NR_CPUS, policy: rustland(), counters, lockMemory: false });
const reader = new TaskTableReader(sched.taskSlabs());
sched.onSlab((sab) => reader.addSlab(sab));
const sumExecNs = new Float64Array(cfg.tasks);
const t0 = Number(process.hrtime.bigint());
const now = () => Number(process.hrtime.bigint()) - t0;
for (let i = 0; i < cfg.tasks; i++) {
  sched.registerTask(FIRST_PID + i, 100, -1);
  pushQueued(sched.queued, EV_RUNNABLE, FIRST_PID + i, -1, 0, 100, 0, 0, now());
}
for (let cpu = 0; cpu < NR_CPUS; cpu++) sched.setCpuIdle(cpu, true);
parentPort!.postMessage({ type: 'slabs', info: sched.taskSlabs() });

const sleepWord = new Int32Array(new SharedArrayBuffer(4));
const gapsNs = new Float64Array(MAX_STEPS);
const gc = new GcCounter();

function step(t: number): void {
  sched.clock[CLOCK_NOW_NS] = t;
  sched.schedule();
  const ring = sched.dispatched;
  const n = ring.available();
  for (let i = 0; i < n; i++) {
    const at = ring.record(i);
    const pid = dispatchPid(ring, at);
    const cpu = dispatchCpu(ring, at);
    const k = pid - FIRST_PID;
    sumExecNs[k] = sumExecNs[k]! + RUN_NS;
    pushQueued(sched.queued, EV_STOPPED, pid, cpu, EVF_RUNNABLE, 100, sumExecNs[k]!, 0, t);
    sched.setCpuIdle(cpu, true);
  }
  ring.release(n);
}

async function main(): Promise<void> {
  const endNs = now() + cfg.seconds * 1e9;
  let steps = 0;
  let formatted = 0;
  let nextFormatNs = now() + cfg.formatMs * NSEC_PER_MSEC;
  await settleGcEntries();
  const gc0 = gc.total;
  while (now() < endNs && steps < MAX_STEPS) {
    // Bursts of steps, then a turn of the event loop so GC entries reach the counter; the gap across that
    // turn is not counted.
    let last = now();
    for (let b = 0; b < BURST_STEPS && steps < MAX_STEPS; b++) {
      Atomics.wait(sleepWord, 0, 0, 1);
      const t = now();
      gapsNs[steps++] = t - last;
      last = t;
      step(t);
      if (cfg.mode === 'inline' && t >= nextFormatNs) {
        // What an exporter on the scheduling thread does: snapshot and serialize, right here.
        const text = JSON.stringify({ counters: snapshotCounters(counters), tasks: reader.list() });
        formatted += text.length > 0 ? 1 : 0;
        nextFormatNs = t + cfg.formatMs * NSEC_PER_MSEC;
      }
    }
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
  await settleGcEntries();
  const gapsUs = Array.from(gapsNs.subarray(0, steps), (ns) => ns / NSEC_PER_USEC).sort((a, b) => a - b);
  const result: LoopResult = { steps, gapsUs, gcEvents: gc.total - gc0, formatted };
  parentPort!.postMessage({ type: 'done', result });
}

void main();
