// A minimal backend that keeps N CPU hogs cycling through the scheduler: each iteration one CPU's task uses
// up its slice, is reported stopped-and-runnable, and the scheduler picks the next task for that CPU.
// One iteration = one scheduling decision. Used by the benchmark and by the hot-path test.
// Like any backend on a hot path it writes records field by field: fractional numbers passed as arguments
// to a call V8 does not inline are boxed (allocated).

import { CLOCK_NOW_NS, type Policy, type Scheduler } from '../../src/sched/api.js';
import { createScheduler } from '../../src/sched/scheduler.js';
import { CLOCK_THREAD_CPUTIME_ID, WallClock } from '../../src/backends/sim/wallclock.js';
import { rustland } from '../../src/sched/policies/rustland.js';
import {
  D_CPU,
  D_PID,
  D_SLICE_NS,
  EV_RUNNABLE,
  EV_STOPPED,
  EVF_RUNNABLE,
  QueuedWriter,
  QW_NVCSW,
  QW_SUM_EXEC_NS,
  QW_TS_NS,
} from '../../src/sched/records.js';

export interface HogLoop {
  sched: Scheduler;
  /** Runs `iterations` decisions; returns the number of dispatches seen (== iterations when healthy). */
  run(iterations: number): number;
  /**
   * Runs `rounds` rounds in which every CPU's task stops at once and one `schedule()` refills them all;
   * each `schedule()` is bracketed by reads of the thread's CPU clock, and the CPU time spent inside it is
   * added to `coreNs[0]` (the clock reads' own cost included; see bench/sched.ts). Returns decisions.
   */
  runRounds(rounds: number): number;
  readonly coreNs: Float64Array;
}

const FIRST_PID = 1000;

export interface HogLoopOptions {
  tasks: number;
  cpus: number;
  policy?: Policy;
  slabTasks?: number;
  lockMemory?: boolean;
  crossThreadRings?: boolean;
}

export function hogWeight(i: number): number {
  return 50 + (i % 7) * 25;
}

export function createHogLoop(opts: HogLoopOptions): HogLoop {
  const { tasks, cpus } = opts;
  const sched = createScheduler({
    nrCpus: cpus,
    policy: opts.policy ?? rustland(),
    slabTasks: opts.slabTasks ?? 16384,
    lockMemory: opts.lockMemory ?? true,
    queuedCapacity: 4096,
    crossThreadRings: opts.crossThreadRings ?? true,
  });
  const q = sched.queued;
  const d = sched.dispatched;
  const clock = sched.clock;
  const sumExec = new Float64Array(tasks).fill(0); // filled: its pages are touched now, not in the measured loop
  const running = new Int32Array(cpus).fill(-1);
  const runningSlice = new Float64Array(cpus);

  // The slot of each task, passed back as the record's hint so the scheduler skips the pid lookup.
  const slotOf = new Int32Array(tasks);
  for (let i = 0; i < tasks; i++) slotOf[i] = sched.registerTask(FIRST_PID + i, hogWeight(i), i % cpus);
  for (let c = 0; c < cpus; c++) sched.setCpuIdle(c, true);

  // Writes the next queued record (records.ts's writer); returns its offset.
  const qw = new QueuedWriter(q);
  const pushRecord = (kind: number, task: number, cpu: number, flags: number, weight: number): number => {
    if (q.room() === 0) {
      sched.schedule();
      consume();
    }
    const at = q.slot(0);
    qw.f64[QW_SUM_EXEC_NS] = sumExec[task]!;
    qw.f64[QW_NVCSW] = 0;
    qw.f64[QW_TS_NS] = clock[CLOCK_NOW_NS]!;
    qw.write(at, kind, FIRST_PID + task, cpu, flags, weight, slotOf[task]!);
    return at;
  };
  const consume = (): number => {
    const n = d.available();
    for (let i = 0; i < n; i++) {
      const at = d.record(i);
      const cpu = d.i32[(at + D_CPU) >> 2]!;
      running[cpu] = d.i32[(at + D_PID) >> 2]! - FIRST_PID;
      runningSlice[cpu] = d.f64[(at + D_SLICE_NS) >> 3]!;
    }
    if (n > 0) d.release(n);
    return n;
  };

  clock[CLOCK_NOW_NS] = 0;
  for (let i = 0; i < tasks; i++) {
    pushRecord(EV_RUNNABLE, i, i % cpus, 0, hogWeight(i));
    q.commit(1);
  }
  sched.schedule();
  consume();

  let nextCpu = 0;
  const run = (iterations: number): number => {
    let seen = 0;
    for (let i = 0; i < iterations; i++) {
      const cpu = nextCpu;
      nextCpu = nextCpu + 1 === cpus ? 0 : nextCpu + 1;
      const task = running[cpu]!;
      if (task < 0) continue;
      clock[CLOCK_NOW_NS] = clock[CLOCK_NOW_NS]! + runningSlice[cpu]! / cpus;
      sumExec[task] = sumExec[task]! + runningSlice[cpu]!;
      pushRecord(EV_STOPPED, task, cpu, EVF_RUNNABLE, 0);
      q.commit(1);
      sched.setCpuIdle(cpu, true);
      sched.schedule();
      seen += consume();
    }
    return seen;
  };
  const cpuClock = new WallClock(CLOCK_THREAD_CPUTIME_ID);
  const coreNs = new Float64Array(3);
  const runRounds = (rounds: number): number => {
    let seen = 0;
    for (let r = 0; r < rounds; r++) {
      for (let cpu = 0; cpu < cpus; cpu++) {
        const task = running[cpu]!;
        if (task < 0) continue;
        clock[CLOCK_NOW_NS] = clock[CLOCK_NOW_NS]! + runningSlice[cpu]! / cpus;
        sumExec[task] = sumExec[task]! + runningSlice[cpu]!;
        pushRecord(EV_STOPPED, task, cpu, EVF_RUNNABLE, 0);
        q.commit(1);
        running[cpu] = -1;
        sched.setCpuIdle(cpu, true);
      }
      cpuClock.readInto(coreNs, 1);
      sched.schedule();
      cpuClock.readInto(coreNs, 2);
      coreNs[0] = coreNs[0]! + (coreNs[2]! - coreNs[1]!);
      seen += consume();
    }
    return seen;
  };
  return { sched, run, runRounds, coreNs };
}
