// The scheduler a user would write without tsland: task objects in a Map, a binary heap of task objects
// ordered by (deadline, enqueue time, pid), dispatch decisions returned as fresh objects. Same rustland
// formula as src/sched/policies/rustland.ts, so the benchmark compares data structures, not policies.

interface PlainTask {
  pid: number;
  weight: number;
  cpu: number;
  vruntime: number;
  sumExecNs: number;
  execRuntimeNs: number;
  deadline: number;
  enqTsNs: number;
  queued: boolean;
}

export interface PlainDispatch {
  pid: number;
  cpu: number;
  sliceNs: number;
}

import { CLOCK_THREAD_CPUTIME_ID, WallClock } from '../../src/backends/sim/wallclock.js';

const EXEC_CAP_SLICES = 100;

export class PlainScheduler {
  readonly tasks = new Map<number, PlainTask>();
  private readonly heap: PlainTask[] = [];
  private readonly idle: number[] = [];
  private vruntimeNow = 0;

  constructor(
    readonly nrCpus: number,
    readonly baseSliceNs: number,
  ) {}

  register(pid: number, weight: number, cpu: number): void {
    this.tasks.set(pid, {
      pid,
      weight,
      cpu,
      vruntime: 0,
      sumExecNs: 0,
      execRuntimeNs: 0,
      deadline: 0,
      enqTsNs: 0,
      queued: false,
    });
  }

  setIdle(cpu: number): void {
    if (!this.idle.includes(cpu)) this.idle.push(cpu);
  }

  /** A task became runnable (woke) or stopped still runnable (preempted), with its cumulative CPU time. */
  event(pid: number, sumExecNs: number, wokeUp: boolean, nowNs: number): void {
    const task = this.tasks.get(pid);
    if (!task || task.queued) return;
    const ran = sumExecNs - task.sumExecNs;
    if (ran > 0) {
      task.sumExecNs = sumExecNs;
      task.execRuntimeNs += ran;
      task.vruntime += (ran * 100) / task.weight;
    }
    if (wokeUp) {
      task.execRuntimeNs = 0;
      task.vruntime = Math.max(task.vruntime, this.vruntimeNow - this.baseSliceNs);
    }
    task.deadline = task.vruntime + Math.min(task.execRuntimeNs, EXEC_CAP_SLICES * this.baseSliceNs);
    task.enqTsNs = nowNs;
    task.queued = true;
    this.push(task);
  }

  schedule(): PlainDispatch[] {
    const out: PlainDispatch[] = [];
    while (this.idle.length > 0 && this.heap.length > 0) {
      const task = this.pop()!;
      task.queued = false;
      const at = this.idle.indexOf(task.cpu);
      const cpu = at >= 0 ? this.idle.splice(at, 1)[0]! : this.idle.pop()!;
      task.cpu = cpu;
      if (task.vruntime > this.vruntimeNow) this.vruntimeNow = task.vruntime;
      out.push({ pid: task.pid, cpu, sliceNs: (this.baseSliceNs * task.weight) / 100 });
    }
    return out;
  }

  private less(a: PlainTask, b: PlainTask): boolean {
    return (
      a.deadline < b.deadline ||
      (a.deadline === b.deadline && (a.enqTsNs < b.enqTsNs || (a.enqTsNs === b.enqTsNs && a.pid < b.pid)))
    );
  }

  private push(task: PlainTask): void {
    const h = this.heap;
    h.push(task);
    let i = h.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.less(h[i]!, h[p]!)) break;
      [h[i], h[p]] = [h[p]!, h[i]!];
      i = p;
    }
  }

  private pop(): PlainTask | undefined {
    const h = this.heap;
    const top = h[0];
    const last = h.pop();
    if (h.length > 0 && last) {
      h[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < h.length && this.less(h[l]!, h[m]!)) m = l;
        if (r < h.length && this.less(h[r]!, h[m]!)) m = r;
        if (m === i) break;
        [h[i], h[m]] = [h[m]!, h[i]!];
        i = m;
      }
    }
    return top;
  }
}

/** The same hog loop as driver.ts, over the plain scheduler. */
export function createPlainHogLoop(
  tasks: number,
  cpus: number,
  weightOf: (i: number) => number,
): { run(iterations: number): number; runRounds(rounds: number): number; coreNs: Float64Array; sched: PlainScheduler } {
  const FIRST_PID = 1000;
  const sliceNs = 20e6;
  const sched = new PlainScheduler(cpus, sliceNs);
  const sumExec = new Float64Array(tasks).fill(0); // filled: its pages are touched now, not in the measured loop
  const running = new Int32Array(cpus).fill(-1);
  const runningSlice = new Float64Array(cpus);
  let nowNs = 0;
  for (let i = 0; i < tasks; i++) sched.register(FIRST_PID + i, weightOf(i), i % cpus);
  for (let i = 0; i < tasks; i++) sched.event(FIRST_PID + i, 0, true, 0);
  for (let c = 0; c < cpus; c++) sched.setIdle(c);
  const apply = (list: PlainDispatch[]): number => {
    for (const d of list) {
      running[d.cpu] = d.pid - FIRST_PID;
      runningSlice[d.cpu] = d.sliceNs;
    }
    return list.length;
  };
  apply(sched.schedule());
  let nextCpu = 0;
  const cpuClock = new WallClock(CLOCK_THREAD_CPUTIME_ID);
  const coreNs = new Float64Array(3);
  return {
    sched,
    coreNs,
    // As in driver.ts: every CPU's task stops at once; the events and schedule() are timed on the thread's
    // CPU clock (the plain scheduler does its accounting when the event arrives, so both are counted).
    runRounds(rounds: number): number {
      let seen = 0;
      for (let r = 0; r < rounds; r++) {
        cpuClock.readInto(coreNs, 1);
        for (let cpu = 0; cpu < cpus; cpu++) {
          const task = running[cpu]!;
          nowNs += runningSlice[cpu]! / cpus;
          sumExec[task] = sumExec[task]! + runningSlice[cpu]!;
          sched.event(FIRST_PID + task, sumExec[task]!, false, nowNs);
          sched.setIdle(cpu);
        }
        const list = sched.schedule();
        cpuClock.readInto(coreNs, 2);
        coreNs[0] = coreNs[0]! + (coreNs[2]! - coreNs[1]!);
        seen += apply(list);
      }
      return seen;
    },
    run(iterations: number): number {
      let seen = 0;
      for (let i = 0; i < iterations; i++) {
        const cpu = nextCpu;
        nextCpu = (nextCpu + 1) % cpus;
        const task = running[cpu]!;
        nowNs += runningSlice[cpu]! / cpus;
        sumExec[task] = sumExec[task]! + runningSlice[cpu]!;
        sched.event(FIRST_PID + task, sumExec[task]!, false, nowNs);
        sched.setIdle(cpu);
        seen += apply(sched.schedule());
      }
      return seen;
    },
  };
}
