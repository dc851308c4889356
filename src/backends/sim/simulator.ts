// A deterministic discrete-event simulator: N virtual CPUs, a virtual clock and a workload, driving the
// scheduler core through the same contract as the process backend (api.ts): register on creation, events
// into the queued ring, `schedule()`, dispatch records out. It models what a real backend meets: a
// dispatch costs time before the task runs, a wake-up may find no idle CPU, a task may be killed while it
// waits in the run queue, while it sleeps, or between its dispatch and its start (a cancelled dispatch).
//
// Everything in `results` is a function of the options alone (virtual time, our own PRNG): the same seed
// gives bit-identical results. Wall-clock figures go to `perf`. The event loop allocates nothing after
// setup: per-task and per-CPU state live in typed arrays, times travel through Float64Arrays.

import { CLOCK_NOW_NS, type Policy, type Scheduler } from '../../sched/api.js';
import { C } from '../../base/counters.js';
import {
  D_CPU,
  D_FLAGS,
  D_PID,
  D_SLICE_NS,
  DF_BOUNCE,
  DF_PREEMPT,
  EV_EXITED,
  EV_RUNNABLE,
  EV_STOPPED,
  EVF_RUNNABLE,
  QueuedWriter,
  QW_NVCSW,
  QW_SUM_EXEC_NS,
  QW_TS_NS,
} from '../../sched/records.js';
import { createScheduler, DEFAULT_SLICE_NS } from '../../sched/scheduler.js';
import { NSEC_PER_MSEC, NSEC_PER_USEC } from '../../base/units.js';
import { EventQueue } from './event-queue.js';
import { Prng } from './prng.js';
import { Histograms } from './histogram.js';
import { jainIndex, type Percentiles } from './summary.js';
import { WallClock } from './wallclock.js';
import { buildWorkload, KIND_HOG, KIND_SLEEPER, KIND_SPAWNED, type WorkloadName } from './workloads.js';

export const DEFAULT_DISPATCH_COST_NS = 2 * NSEC_PER_USEC;
export const MAX_SIM_TASKS = 1_000_000;
export const MAX_SIM_CPUS = 1024;
const FIRST_PID = 1000;
const KILL_DELAY_MEAN_NS = 20 * NSEC_PER_MSEC;
const PROGRESS_EVERY_BATCHES = 1 << 14;
const PROGRESS_MIN_WALL_NS = 200e6;

// Event kinds.
const EVK_WAKE = 1;
const EVK_CPU_DONE = 2;
const EVK_SPAWN = 3;
const EVK_KILL = 4;

// Simulated task states.
const ST_NEW = 0;
const ST_SLEEPING = 1;
const ST_RUNNABLE = 2;
const ST_RUNNING = 3;
const ST_EXITED = 4;

// Slots of the fractional scratch array.
const F_NOW = 0;
const F_END = 1;
const F_WARMUP = 2;
const F_DISPATCH_COST = 3;
const F_WALL_A = 4;
const F_WALL_B = 5;
const F_SCHED_NS = 6;
const F_LAST_PROGRESS = 7;
const F_PROBE_NS = 8;
const F_SLOTS = 9;
const TIMER_PROBE_MASK = 15;

export interface SimOptions {
  policy: Policy;
  cpus: number;
  tasks: number;
  workload: WorkloadName;
  durationNs: number;
  seed: number;
  /** Base slice handed to the scheduler; default 20 ms. */
  sliceNs?: number;
  /** CPU shares and fairness count CPU time after this point only; default 0. */
  warmupNs?: number;
  /** Virtual time between a dispatch decision and the task running; default 2 us. */
  dispatchCostNs?: number;
  /** Called now and then with the fraction of virtual time done (for a progress bar). */
  onProgress?: (fraction: number) => void;
  /** Lock the scheduler's task slabs in RAM; default false for simulations. */
  lockMemory?: boolean;
  /** A woken task may preempt a running one (SchedulerOptions.preemptWakeups, as the sched_ext backend does). */
  preemptWakeups?: boolean;
}

export interface ClassResult {
  name: string;
  tasks: number;
  share: number;
  wakeups: number;
  wakeLatencyNs: Percentiles | null;
  /**
   * The longest a task of this class waited runnable before it ran, ns (the quantity sched_ext's watchdog
   * bounds: a real kernel ejects the scheduler when any task waits past its timeout).
   */
  maxWaitNs: number;
}

export interface SimResults {
  policy: string;
  workload: WorkloadName;
  cpus: number;
  tasks: number;
  durationNs: number;
  warmupNs: number;
  sliceNs: number;
  seed: number;
  classes: ClassResult[];
  /** CPU share per class name, over the measured window. */
  shares: Record<string, number>;
  /** Jain's index of CPU time / weight over the CPU hogs (1 = perfectly fair). */
  jainIndex: number;
  /** Largest relative gap between a weight group's share of hog CPU time and its share of hog weight. */
  weightedShareError: number;
  /** Wake-up latency of tasks waking from sleep, wake to first instruction (log-linear buckets, <= 1.6% wide). */
  wakeLatencyNs: Percentiles | null;
  wakeups: number;
  wakeupsWithNoIdleCpu: number;
  /** The longest any task waited runnable before it ran, ns (see ClassResult.maxWaitNs). */
  maxWaitNs: number;
  /** Running tasks stopped for a woken one (preemptWakeups). */
  preemptions: number;
  decisions: number;
  cancelledDispatches: number;
  exits: number;
  exitsWhileQueued: number;
  cpuUtilization: number;
  bytesPerTask: number;
}

export interface SimPerf {
  decisionsPerSec: number;
  schedulerNsPerDecision: number;
  gcEvents: number;
  pageFaults: number;
  wallMs: number;
}

export interface SimOutcome {
  results: SimResults;
  perf: SimPerf;
}

export class SimError extends Error {
  override name = 'SimError';
}

function checkOptions(o: SimOptions): void {
  const whole = (name: string, v: number, min: number, max: number): void => {
    if (!Number.isInteger(v) || v < min || v > max)
      throw new SimError(`${name} must be a whole number in [${min}, ${max}], got ${v}`);
  };
  whole('cpus', o.cpus, 1, MAX_SIM_CPUS);
  whole('tasks', o.tasks, 1, MAX_SIM_TASKS);
  whole('seed', o.seed, 0, 0xffffffff);
  if (!(o.durationNs > 0) || !Number.isFinite(o.durationNs))
    throw new SimError(`duration must be positive, got ${o.durationNs} ns`);
  if (o.warmupNs !== undefined && !(o.warmupNs >= 0 && o.warmupNs < o.durationNs))
    throw new SimError(`warmup must be in [0, duration)`);
}

/**
 * Runs one simulation. The setup (task registration, tables) allocates; the event loop does not.
 * GC events and page faults are counted over the event loop, the scheduler's own work included.
 */
export async function simulate(
  opts: SimOptions,
  hooks: { gcCount?: () => number; faultCount?: () => number; settle?: () => Promise<void> } = {},
): Promise<SimOutcome> {
  checkOptions(opts);
  const sim = new Simulation(opts);
  // GC entries arrive late (after the event loop turns): let the set-up's own collections land first.
  await hooks.settle?.();
  const gc0 = hooks.gcCount?.() ?? 0;
  const faults0 = hooks.faultCount?.() ?? 0;
  const wall0 = performance.now();
  sim.run();
  const wallMs = performance.now() - wall0;
  const faults = (hooks.faultCount?.() ?? 0) - faults0;
  await hooks.settle?.();
  const gcEvents = (hooks.gcCount?.() ?? 0) - gc0;
  const results = sim.results();
  const schedNs = sim.schedulerNs();
  return {
    results,
    perf: {
      decisionsPerSec: results.decisions / (wallMs / 1e3),
      schedulerNsPerDecision: results.decisions > 0 ? schedNs / results.decisions : 0,
      gcEvents,
      pageFaults: faults,
      wallMs,
    },
  };
}

class Simulation {
  private readonly opts: SimOptions;
  private readonly sched: Scheduler;
  private readonly queuedWriter: QueuedWriter;
  private readonly rng: Prng;
  private readonly events: EventQueue;
  private readonly wall = new WallClock();
  private readonly f = new Float64Array(F_SLOTS);
  private readonly clock: Float64Array;
  private readonly nTasks: number;
  private readonly nCpus: number;
  private readonly sliceNs: number;
  private readonly wallOverheadNs: number;
  // Classes (index -> behaviour).
  private readonly classNames: string[];
  private readonly classKind: Int32Array;
  private readonly classBurstMean: Float64Array;
  private readonly classSleepMean: Float64Array;
  private readonly classLifeMean: Float64Array;
  private readonly classTasks: Int32Array;
  // Tasks (index = pid - FIRST_PID).
  private readonly tCls: Uint8Array;
  private readonly tWeight: Int32Array;
  private readonly tState: Uint8Array;
  private readonly tGen: Int32Array;
  private readonly tCpu: Int32Array;
  /** The scheduler's slot of each task (-1 before it is registered), sent as the records' hint. */
  private readonly tSlot: Int32Array;
  private readonly tRemain: Float64Array;
  private readonly tLife: Float64Array;
  private readonly tSumExec: Float64Array;
  private readonly tWindowCpu: Float64Array;
  private readonly tWakeAt: Float64Array;
  /** When the task last became runnable (woke, arrived or was preempted), for the longest wait. */
  private readonly tRunnableAt: Float64Array;
  // CPUs.
  private readonly cpuTask: Int32Array;
  private readonly cpuStart: Float64Array;
  private readonly cpuGen: Int32Array;
  // Spawning.
  private readonly spawnIds: Int32Array;
  private readonly spawnIntervalNs: number;
  private spawnNext = 0;
  // Wake-up latencies, one histogram per class: fixed size, so recording never allocates.
  private readonly latency: Histograms;
  private readonly classMaxWait: Float64Array;
  // Tallies.
  private wakeups = 0;
  private wakeupsNoIdle = 0;
  private decisions = 0;
  private cancelled = 0;
  private preemptions = 0;
  private exits = 0;
  private exitsQueued = 0;
  private batches = 0;
  private steps = 0;
  private probes = 0;

  constructor(opts: SimOptions) {
    this.opts = opts;
    this.nTasks = opts.tasks;
    this.nCpus = opts.cpus;
    this.sliceNs = opts.sliceNs ?? DEFAULT_SLICE_NS;
    this.rng = new Prng(opts.seed);
    this.f[F_END] = opts.durationNs;
    this.f[F_WARMUP] = opts.warmupNs ?? 0;
    this.f[F_DISPATCH_COST] = Math.round(opts.dispatchCostNs ?? DEFAULT_DISPATCH_COST_NS);
    this.wallOverheadNs = this.calibrateWallClock();

    const workload = buildWorkload(opts.workload, opts.tasks, opts.cpus, opts.durationNs);
    const classes = workload.classes;
    this.classNames = classes.map((c) => c.name);
    this.classKind = Int32Array.from(classes, (c) => c.kind);
    this.classBurstMean = Float64Array.from(classes, (c) => c.burstMeanNs);
    this.classSleepMean = Float64Array.from(classes, (c) => c.sleepMeanNs);
    this.classLifeMean = Float64Array.from(classes, (c) => c.lifeCpuMeanNs);
    this.classTasks = Int32Array.from(classes, (c) => c.initial + c.spawned);

    const n = this.nTasks;
    // Every array is filled here, so its pages are touched during set-up, not in the event loop.
    this.tCls = new Uint8Array(n).fill(0);
    this.tWeight = new Int32Array(n).fill(0);
    this.tState = new Uint8Array(n).fill(0);
    this.tGen = new Int32Array(n).fill(0);
    this.tCpu = new Int32Array(n).fill(-1);
    this.tSlot = new Int32Array(n).fill(-1);
    this.tRemain = new Float64Array(n).fill(0);
    this.tLife = new Float64Array(n).fill(Infinity);
    this.tSumExec = new Float64Array(n).fill(0);
    this.tWindowCpu = new Float64Array(n).fill(0);
    this.tWakeAt = new Float64Array(n).fill(-1);
    this.tRunnableAt = new Float64Array(n).fill(0);
    this.cpuTask = new Int32Array(opts.cpus).fill(-1);
    this.cpuStart = new Float64Array(opts.cpus);
    this.cpuGen = new Int32Array(opts.cpus);
    this.latency = new Histograms(classes.length);
    this.classMaxWait = new Float64Array(classes.length).fill(0);
    // One pending wake or kill per task, one completion per CPU, one spawn.
    this.events = new EventQueue(2 * n + opts.cpus + 16);

    this.sched = createScheduler({
      nrCpus: opts.cpus,
      policy: opts.policy,
      sliceNs: this.sliceNs,
      lockMemory: opts.lockMemory ?? false,
      maxTasks: Math.max(n, 1),
      // Every table sized for the whole run now, so spawning later allocates nothing.
      reserveTasks: n,
      // The simulator is the backend and runs on the scheduler's thread.
      crossThreadRings: false,
      preemptWakeups: opts.preemptWakeups ?? false,
    });
    this.clock = this.sched.clock;
    this.queuedWriter = new QueuedWriter(this.sched.queued);

    // Tasks present from the start take the first ids, spawned ones the rest in arrival order.
    let id = 0;
    const spawnIds: number[] = [];
    classes.forEach((c, ci) => {
      for (let k = 0; k < c.initial; k++, id++) this.initTask(id, ci, c.weights[k % c.weights.length]!);
    });
    classes.forEach((c, ci) => {
      for (let k = 0; k < c.spawned; k++, id++) {
        this.initTask(id, ci, c.weights[k % c.weights.length]!);
        spawnIds.push(id);
      }
    });
    // Interleave spawn order across classes deterministically (already in class order; one spawned class).
    this.spawnIds = Int32Array.from(spawnIds);
    this.spawnIntervalNs = spawnIds.length > 0 ? Math.max(1, Math.floor(workload.spawnWindowNs / spawnIds.length)) : 0;

    // Kills: an exponential delay after the task's arrival (mean KILL_DELAY_MEAN_NS), so it may find the
    // task waiting, running, or already gone.
    classes.forEach((c, ci) => {
      if (c.killFraction <= 0) return;
      for (let t = 0; t < n; t++) {
        if (this.tCls[t] !== ci || this.rng.next() >= c.killFraction) continue;
        this.events.pendingTimeNs[0] = this.arrivalNs(t) + this.expDraw(KILL_DELAY_MEAN_NS);
        this.events.push(EVK_KILL, t, 0);
      }
    });

    const initial = id - spawnIds.length;
    for (let t = 0; t < initial; t++) this.tSlot[t] = this.sched.registerTask(FIRST_PID + t, this.tWeight[t]!, -1);
    for (let c = 0; c < opts.cpus; c++) this.sched.setCpuIdle(c, true);
    if (spawnIds.length > 0) {
      this.events.pendingTimeNs[0] = 0;
      this.events.push(EVK_SPAWN, 0, 0);
    }
    // Everyone present at time 0 becomes runnable.
    this.f[F_NOW] = 0;
    this.clock[CLOCK_NOW_NS] = 0;
    for (let t = 0; t < initial; t++) this.becomeRunnable(t, false);
  }

  private initTask(id: number, cls: number, weight: number): void {
    this.tCls[id] = cls;
    this.tWeight[id] = weight;
    this.tState[id] = ST_NEW;
    if (this.classKind[cls] === KIND_SPAWNED) this.tLife[id] = this.expDraw(this.classLifeMean[cls]!);
  }

  private arrivalNs(t: number): number {
    const k = this.spawnIndexOf(t);
    return k < 0 ? 0 : k * this.spawnIntervalNs;
  }

  private spawnIndexOf(t: number): number {
    const first = this.nTasks - this.spawnIds.length;
    return t >= first ? t - first : -1;
  }

  // Exponential draw with the given mean, in whole ns (at least 1; Infinity stays Infinity). Virtual times
  // stay whole numbers, so sums and differences are exact and a burst never leaves a sub-ns remainder.
  private expDraw(mean: number): number {
    if (mean === Infinity) return Infinity;
    const ns = Math.round(-Math.log(1 - this.rng.next()) * mean);
    return ns < 1 ? 1 : ns;
  }

  private calibrateWallClock(): number {
    const reps = 2000;
    const f = this.f;
    let total = 0;
    for (let i = 0; i < reps; i++) {
      this.wall.readInto(f, F_WALL_A);
      this.wall.readInto(f, F_WALL_B);
      total += f[F_WALL_B]! - f[F_WALL_A]!;
    }
    return total / reps;
  }

  // ---- the event loop (allocation-free) ----

  run(): void {
    const events = this.events;
    const f = this.f;
    const endNs = f[F_END]!;
    this.step();
    f[F_LAST_PROGRESS] = 0;
    while (events.size > 0) {
      const t = events.peekTimeNs();
      if (t > endNs) break;
      f[F_NOW] = t;
      this.clock[CLOCK_NOW_NS] = t;
      while (events.size > 0 && events.peekTimeNs() === t) {
        events.pop();
        this.handleEvent(events.popKind, events.popId, events.popGen);
      }
      this.step();
      if (++this.batches % PROGRESS_EVERY_BATCHES === 0 && this.opts.onProgress) this.progress();
    }
    this.finish();
  }

  private progress(): void {
    const f = this.f;
    this.wall.readInto(f, F_WALL_A);
    if (f[F_WALL_A]! - f[F_LAST_PROGRESS]! < PROGRESS_MIN_WALL_NS) return;
    f[F_LAST_PROGRESS] = f[F_WALL_A]!;
    this.opts.onProgress!(f[F_NOW]! / f[F_END]!);
  }

  private handleEvent(kind: number, id: number, gen: number): void {
    switch (kind) {
      case EVK_WAKE:
        if (this.tGen[id] === gen && this.tState[id] === ST_SLEEPING) this.becomeRunnable(id, true);
        break;
      case EVK_CPU_DONE:
        if (this.cpuGen[id] === gen && this.cpuTask[id]! >= 0) this.cpuDone(id);
        break;
      case EVK_SPAWN:
        this.spawn();
        break;
      case EVK_KILL:
        this.kill(id);
        break;
    }
  }

  private becomeRunnable(t: number, woke: boolean): void {
    const cls = this.tCls[t]!;
    this.tState[t] = ST_RUNNABLE;
    this.tRunnableAt[t] = this.f[F_NOW]!;
    this.tRemain[t] = this.expDraw(this.classBurstMean[cls]!);
    if (woke) {
      this.tWakeAt[t] = this.f[F_NOW]!;
      this.wakeups++;
      if (this.sched.nrWaiting > 0 || this.idleCpus() === 0) this.wakeupsNoIdle++;
    } else {
      this.tWakeAt[t] = -1;
    }
    this.pushRecord(EV_RUNNABLE, t, 0);
  }

  private idleCpus(): number {
    let n = 0;
    for (let c = 0; c < this.nCpus; c++) if (this.cpuTask[c]! < 0) n++;
    return n;
  }

  private cpuDone(cpu: number): void {
    const t = this.cpuTask[cpu]!;
    const ran = this.account(t, cpu);
    this.cpuTask[cpu] = -1;
    this.sched.setCpuIdle(cpu, true);
    this.tRemain[t] = this.tRemain[t]! - ran;
    this.tLife[t] = this.tLife[t]! - ran;
    if (this.tLife[t]! <= 0) {
      this.tState[t] = ST_EXITED;
      this.exits++;
      this.pushRecord(EV_EXITED, t, 0);
    } else if (this.tRemain[t]! <= 0) {
      this.tState[t] = ST_SLEEPING;
      this.pushRecord(EV_STOPPED, t, 0);
      const events = this.events;
      events.pendingTimeNs[0] = this.f[F_NOW]! + this.expDraw(this.classSleepMean[this.tCls[t]!]!);
      events.push(EVK_WAKE, t, this.tGen[t]!);
    } else {
      this.tState[t] = ST_RUNNABLE;
      this.tWakeAt[t] = -1;
      this.tRunnableAt[t] = this.f[F_NOW]!;
      this.pushRecord(EV_STOPPED, t, EVF_RUNNABLE);
    }
  }

  // Charges the CPU time of t's current run on cpu, up to now; returns it.
  private account(t: number, cpu: number): number {
    const f = this.f;
    const now = f[F_NOW]!;
    const start = this.cpuStart[cpu]!;
    if (now <= start) return 0;
    const ran = now - start;
    this.tSumExec[t] = this.tSumExec[t]! + ran;
    const from = start > f[F_WARMUP]! ? start : f[F_WARMUP]!;
    if (now > from) this.tWindowCpu[t] = this.tWindowCpu[t]! + (now - from);
    return ran;
  }

  private spawn(): void {
    const k = this.spawnNext++;
    const t = this.spawnIds[k]!;
    this.tSlot[t] = this.sched.registerTask(FIRST_PID + t, this.tWeight[t]!, -1);
    if (this.tState[t] === ST_NEW) this.becomeRunnable(t, false);
    if (this.spawnNext < this.spawnIds.length) {
      this.events.pendingTimeNs[0] = this.spawnNext * this.spawnIntervalNs;
      this.events.push(EVK_SPAWN, 0, 0);
    }
  }

  private kill(t: number): void {
    const state = this.tState[t]!;
    if (state === ST_EXITED || state === ST_NEW) {
      this.tState[t] = ST_EXITED;
      return;
    }
    if (state === ST_RUNNING) {
      const cpu = this.tCpu[t]!;
      if (this.f[F_NOW]! < this.cpuStart[cpu]!) {
        this.cancelled++;
        this.sched.counters.f64[C.nr_cancel_dispatches]!++;
      }
      this.account(t, cpu);
      this.cpuGen[cpu]!++;
      this.cpuTask[cpu] = -1;
      this.sched.setCpuIdle(cpu, true);
    } else if (state === ST_SLEEPING) {
      this.tGen[t]!++;
    } else if (state === ST_RUNNABLE) {
      this.exitsQueued++;
    }
    this.tState[t] = ST_EXITED;
    this.exits++;
    this.pushRecord(EV_EXITED, t, 0);
  }

  // Appends one queued record; when the ring is full the scheduler drains it first (as a real backend
  // would wake the scheduler), so no event is lost.
  private pushRecord(kind: number, t: number, flags: number): void {
    const q = this.sched.queued;
    if (q.room() === 0) this.step();
    const w = this.queuedWriter;
    w.f64[QW_SUM_EXEC_NS] = this.tSumExec[t]!;
    w.f64[QW_NVCSW] = 0;
    w.f64[QW_TS_NS] = this.f[F_NOW]!;
    w.write(q.slot(0), kind, FIRST_PID + t, this.tCpu[t]!, flags, this.tWeight[t]!, this.tSlot[t]!);
    q.commit(1);
  }

  // One scheduler step, timed, then the dispatch records enforced. Reading the clock costs about as much
  // as a step, so every TIMER_PROBE_EVERY steps an empty pair of reads is timed too, and their mean is
  // subtracted at the end: the estimate of the clock's own cost is taken under the same load as the steps.
  private step(): void {
    const f = this.f;
    this.wall.readInto(f, F_WALL_A);
    this.sched.schedule();
    this.wall.readInto(f, F_WALL_B);
    f[F_SCHED_NS] = f[F_SCHED_NS]! + (f[F_WALL_B]! - f[F_WALL_A]!);
    this.steps++;
    if ((this.steps & TIMER_PROBE_MASK) === 0) {
      this.wall.readInto(f, F_WALL_A);
      this.wall.readInto(f, F_WALL_B);
      f[F_PROBE_NS] = f[F_PROBE_NS]! + (f[F_WALL_B]! - f[F_WALL_A]!);
      this.probes++;
    }
    this.consumeDispatches();
  }

  private consumeDispatches(): void {
    const d = this.sched.dispatched;
    const n = d.available();
    const f = this.f;
    for (let i = 0; i < n; i++) {
      const at = d.record(i);
      const t = d.i32[(at + D_PID) >> 2]! - FIRST_PID;
      const cpu = d.i32[(at + D_CPU) >> 2]!;
      const flags = d.i32[(at + D_FLAGS) >> 2]!;
      const bounced = (flags & DF_BOUNCE) !== 0;
      if (!bounced) this.decisions++;
      // A preempting dispatch stops what runs there (a kernel would: the task goes back to the queue).
      if ((flags & DF_PREEMPT) !== 0 && this.cpuTask[cpu]! >= 0 && t >= 0 && t < this.nTasks && this.tState[t] === ST_RUNNABLE)
        this.preemptOn(cpu);
      if (t < 0 || t >= this.nTasks || this.tState[t] !== ST_RUNNABLE || this.cpuTask[cpu]! >= 0) {
        // Stale decision: the task is gone or the CPU is taken. Give the CPU back.
        this.sched.counters.f64[C.nr_failed_dispatches]!++;
        if (this.cpuTask[cpu]! < 0) this.sched.setCpuIdle(cpu, true);
        continue;
      }
      const start = f[F_NOW]! + f[F_DISPATCH_COST]!;
      this.tState[t] = ST_RUNNING;
      this.tCpu[t] = cpu;
      this.cpuTask[cpu] = t;
      this.cpuStart[cpu] = start;
      const waited = start - this.tRunnableAt[t]!;
      const cls = this.tCls[t]!;
      if (waited > this.classMaxWait[cls]!) this.classMaxWait[cls] = waited;
      if (this.tWakeAt[t]! >= 0) {
        this.recordLatency(t, start - this.tWakeAt[t]!);
        this.tWakeAt[t] = -1;
      }
      // Whole ns, as a kernel counts them: a fractional slice let float rounding leave a sliver of a
      // burst behind after each run, each sliver another dispatch (a policy saw ~500,000 a second).
      let run = Math.max(1, Math.floor(d.f64[(at + D_SLICE_NS) >> 3]!));
      if (this.tRemain[t]! < run) run = this.tRemain[t]!;
      if (this.tLife[t]! < run) run = this.tLife[t]!;
      const events = this.events;
      events.pendingTimeNs[0] = start + run;
      events.push(EVK_CPU_DONE, cpu, this.cpuGen[cpu]!);
    }
    if (n > 0) d.release(n);
  }

  // The task on cpu stops now, still runnable; the CPU stays taken in the scheduler's view (the preempting
  // task has it), so unlike cpuDone nothing marks it idle.
  private preemptOn(cpu: number): void {
    const t = this.cpuTask[cpu]!;
    const ran = this.account(t, cpu);
    this.cpuGen[cpu]!++;
    this.cpuTask[cpu] = -1;
    this.tRemain[t] = this.tRemain[t]! - ran;
    this.tLife[t] = this.tLife[t]! - ran;
    this.tState[t] = ST_RUNNABLE;
    this.tWakeAt[t] = -1;
    this.tRunnableAt[t] = this.f[F_NOW]!;
    this.preemptions++;
    this.pushRecord(EV_STOPPED, t, EVF_RUNNABLE);
  }

  private recordLatency(t: number, latencyNs: number): void {
    this.latency.record(this.tCls[t]!, latencyNs);
  }

  // The run ends: charge what is running up to the end of the window.
  private finish(): void {
    this.f[F_NOW] = this.f[F_END]!;
    for (let c = 0; c < this.nCpus; c++) {
      const t = this.cpuTask[c]!;
      if (t >= 0) this.account(t, c);
    }
  }

  /** Wall time spent inside schedule(), the clock's own cost taken out. */
  schedulerNs(): number {
    const probeNs = this.probes > 0 ? this.f[F_PROBE_NS]! / this.probes : this.wallOverheadNs;
    return Math.max(0, this.f[F_SCHED_NS]! - probeNs * this.steps);
  }

  // ---- results (after the run; allocation is fine) ----

  results(): SimResults {
    const o = this.opts;
    const nCls = this.classNames.length;
    const clsCpu = new Float64Array(nCls);
    let totalCpu = 0;
    for (let t = 0; t < this.nTasks; t++) {
      clsCpu[this.tCls[t]!] = clsCpu[this.tCls[t]!]! + this.tWindowCpu[t]!;
      totalCpu += this.tWindowCpu[t]!;
    }
    // Fairness among hogs: CPU time per unit of weight, and each weight group's share against its weight.
    const hogX: number[] = [];
    const byWeight = new Map<number, { cpu: number; weight: number }>();
    let hogCpu = 0;
    let hogWeight = 0;
    for (let t = 0; t < this.nTasks; t++) {
      if (this.classKind[this.tCls[t]!] !== KIND_HOG) continue;
      const w = this.tWeight[t]!;
      hogX.push(this.tWindowCpu[t]! / w);
      const g = byWeight.get(w) ?? { cpu: 0, weight: 0 };
      g.cpu += this.tWindowCpu[t]!;
      g.weight += w;
      byWeight.set(w, g);
      hogCpu += this.tWindowCpu[t]!;
      hogWeight += w;
    }
    let weightedShareError = 0;
    if (hogCpu > 0) {
      for (const g of byWeight.values()) {
        const err = Math.abs(g.cpu / hogCpu / (g.weight / hogWeight) - 1);
        if (err > weightedShareError) weightedShareError = err;
      }
    }
    const classes: ClassResult[] = [];
    const shares: Record<string, number> = {};
    for (let c = 0; c < nCls; c++) {
      const m = this.latency.count(c);
      const share = totalCpu > 0 ? clsCpu[c]! / totalCpu : 0;
      shares[this.classNames[c]!] = share;
      classes.push({
        name: this.classNames[c]!,
        tasks: this.classTasks[c]!,
        share,
        wakeups: m,
        wakeLatencyNs: this.latency.percentiles(c),
        maxWaitNs: this.classMaxWait[c]!,
      });
    }
    const windowNs = this.f[F_END]! - this.f[F_WARMUP]!;
    return {
      policy: o.policy.name,
      workload: o.workload,
      cpus: o.cpus,
      tasks: o.tasks,
      durationNs: o.durationNs,
      warmupNs: this.f[F_WARMUP]!,
      sliceNs: this.sliceNs,
      seed: o.seed,
      classes,
      shares,
      jainIndex: hogX.length > 0 ? jainIndex(hogX) : 1,
      weightedShareError,
      wakeLatencyNs: this.latency.percentiles(-1),
      wakeups: this.wakeups,
      wakeupsWithNoIdleCpu: this.wakeupsNoIdle,
      maxWaitNs: Math.max(0, ...this.classMaxWait),
      preemptions: this.preemptions,
      decisions: this.decisions,
      cancelledDispatches: this.cancelled,
      exits: this.exits,
      exitsWhileQueued: this.exitsQueued,
      cpuUtilization: totalCpu / (this.nCpus * windowNs),
      bytesPerTask: this.sched.memoryBytes() / this.nTasks,
    };
  }
}

export { KIND_HOG, KIND_SLEEPER, KIND_SPAWNED };
