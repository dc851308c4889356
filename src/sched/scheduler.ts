// The scheduler core: drain the queued ring, let the policy account and order tasks, dispatch one task per
// idle CPU. The contract with backends and policies is documented in api.ts; this file keeps to it.
// Everything `schedule()` touches was allocated before: slots, slabs, the run queue and the pid map only
// grow in `registerTask` (the task-creation path).

import { SpscRing } from '../ring/spsc.js';
import {
  CLOCK_NOW_NS,
  PolicyError,
  SchedulerError,
  type Policy,
  type PolicyContext,
  type Scheduler,
  type SchedulerOptions,
  type TaskField,
  type TaskSlabsInfo,
} from './api.js';
import { C, createCounters, type Counters } from '../base/counters.js';
import {
  CPU_SHARED,
  MAX_QUEUE_AHEAD,
  D_CPU,
  D_FLAGS,
  D_PID,
  D_RSV,
  D_SLICE_NS,
  D_VRUNTIME,
  DF_BOUNCE,
  DF_PREEMPT,
  DISPATCH_RECORD_BYTES,
  EV_EXITED,
  EV_RUNNABLE,
  EV_STOPPED,
  EVF_RUNNABLE,
  Q_CPU,
  Q_FLAGS,
  Q_KIND,
  Q_NVCSW,
  Q_PID,
  Q_SLOT_HINT,
  Q_SUM_EXEC_NS,
  Q_WEIGHT,
  QUEUED_RECORD_BYTES,
} from './records.js';
import { PENDING_KEY, PENDING_TS_NS, RunQueue } from './runqueue.js';
import {
  F64_DEADLINE,
  F64_ENQ_TS_NS,
  F64_EXEC_RUNTIME_NS,
  F64_LAST_RAN_NS,
  F64_NVCSW,
  F64_SLICE_NS,
  F64_SUM_EXEC_NS,
  F64_VRUNTIME,
  F64_WOKE_TS_NS,
  I32_CPU,
  I32_PID,
  I32_STATE,
  I32_WEIGHT,
  TASK_FREE,
  TASK_QUEUED,
  TASK_RUNNING,
  TASK_SLEEPING,
} from './task-layout.js';
import { TaskMap } from './taskmap.js';
import { TaskTable } from './tasks.js';
import { clampWeight, WEIGHT_NICE_0 } from './weights.js';
import { slabLocker, touchPages } from './lock.js';
import { NSEC_PER_MSEC } from '../base/units.js';

export const DEFAULT_SLICE_NS = 20 * NSEC_PER_MSEC;
export const DEFAULT_QUEUED_CAPACITY = 4096;
export const DEFAULT_SLAB_TASKS = 16384;
export const DEFAULT_MAX_TASKS = 1 << 22;
const MIN_DISPATCH_CAPACITY = 64;
const N_BASE_SLICE_NS = 0;
const N_PREEMPT_MIN_RUN_NS = 1;
const NUM_SLOTS = 2;
// Counter slots the hot path writes, resolved once.
const NR_QUEUED = C.nr_queued;
const NR_USER_DISPATCHES = C.nr_user_dispatches;
const NR_DECISIONS = C.nr_decisions;
const NR_SCHEDULED = C.nr_scheduled;
const NR_RUNNING = C.nr_running;
const NR_TASKS = C.nr_tasks;
const HEARTBEAT_NS = C.heartbeat_ns;
const WAKE_LATENCY_TOTAL_NS = C.wake_latency_total_ns;
const NR_WAKE_DISPATCHES = C.nr_wake_dispatches;
const NR_PREEMPTIONS = C.nr_preemptions;
const MAX_CPUS = 4096;

export function createScheduler(opts: SchedulerOptions): Scheduler {
  return new CoreScheduler(opts);
}

class CoreScheduler implements Scheduler {
  readonly nrCpus: number;
  readonly policy: Policy;
  readonly queued: SpscRing;
  readonly dispatched: SpscRing;
  readonly counters: Counters;
  readonly clock = new Float64Array(1);
  // Fractional numbers the hot path reads, kept unboxed.
  private readonly num = new Float64Array(NUM_SLOTS);
  private readonly cnt: Float64Array;
  private readonly tasks: TaskTable;
  private readonly map: TaskMap;
  private readonly rq: RunQueue;
  private readonly baseSliceNs: number;
  // Idle CPUs: a flag per CPU plus a dense list with back-pointers, so "any idle CPU" and marking busy are O(1).
  private readonly idle: Uint8Array;
  private readonly idleList: Int32Array;
  private readonly idlePos: Int32Array;
  private nIdle = 0;
  // What the core last placed on each CPU (-1: none, or the CPU went idle since), with the run-queue key it
  // had and when: the candidates a woken task may preempt (preemptWakeups).
  private readonly cpuTask: Int32Array;
  private readonly cpuKey: Float64Array;
  private readonly cpuSinceNs: Float64Array;
  private readonly preempt: boolean;
  // Dispatch records filled during the current step (bounces and decisions), published together at its end.
  private filled = 0;
  private room = 0;
  // Tasks dispatched whose stop or exit has not been reported yet.
  private nrRunning = 0;
  // Of those, the ones placed ahead on the shared queue (CPU_SHARED), and how many may be (queueAhead).
  private nrAhead = 0;
  // Their slots, in no order (placeAhead reads their keys).
  private readonly aheadSlots = new Int32Array(MAX_QUEUE_AHEAD);
  private readonly queueAhead: number;
  // Which optional callbacks the policy has. Calls go straight to the policy object (no bound functions or
  // wrappers) so the optimizer can inline them and numbers returned stay unboxed.
  private readonly p: Policy;
  private readonly hasSelectCpu: boolean;
  private readonly hasSlice: boolean;
  private readonly hasRunning: boolean;
  private readonly hasStopping: boolean;
  private readonly hasExiting: boolean;
  private readonly unlockSlabs: () => void;
  private readonly trackTables: (buffers: readonly ArrayBufferLike[]) => void;
  private readonly retouchTables: () => void;

  constructor(opts: SchedulerOptions) {
    const nrCpus = opts.nrCpus;
    if (!Number.isInteger(nrCpus) || nrCpus < 1 || nrCpus > MAX_CPUS) {
      throw new SchedulerError(`nrCpus must be a whole number in [1, ${MAX_CPUS}], got ${nrCpus}`);
    }
    const policy = opts.policy;
    validatePolicy(policy);
    this.nrCpus = nrCpus;
    this.policy = policy;
    this.baseSliceNs = opts.sliceNs ?? DEFAULT_SLICE_NS;
    if (!(this.baseSliceNs > 0) || !Number.isFinite(this.baseSliceNs))
      throw new SchedulerError(`sliceNs must be positive, got ${this.baseSliceNs}`);
    let dispatchCapacity = MIN_DISPATCH_CAPACITY;
    while (dispatchCapacity < nrCpus) dispatchCapacity *= 2;
    const crossThread = opts.crossThreadRings ?? true;
    this.queued = SpscRing.create(QUEUED_RECORD_BYTES, opts.queuedCapacity ?? DEFAULT_QUEUED_CAPACITY, { crossThread });
    this.dispatched = SpscRing.create(DISPATCH_RECORD_BYTES, opts.dispatchCapacity ?? dispatchCapacity, { crossThread });
    if (this.dispatched.capacity < nrCpus) throw new SchedulerError(`dispatchCapacity must be at least nrCpus (${nrCpus})`);
    this.counters = opts.counters ?? createCounters();
    this.cnt = this.counters.f64;
    const locker = slabLocker(opts.lockMemory ?? true);
    this.unlockSlabs = locker.unlockAll;
    this.trackTables = locker.track;
    this.retouchTables = locker.retouch;
    this.tasks = new TaskTable({
      slabTasks: opts.slabTasks ?? DEFAULT_SLAB_TASKS,
      maxTasks: opts.maxTasks ?? DEFAULT_MAX_TASKS,
      fields: policy.fields ?? {},
      lockSlab: locker.lock,
    });
    const reserve = opts.reserveTasks ?? 0;
    if (!Number.isInteger(reserve) || reserve < 0)
      throw new SchedulerError(`reserveTasks must be a whole number >= 0, got ${reserve}`);
    this.tasks.reserve(reserve);
    this.map = new TaskMap(Math.min(reserve, this.tasks.maxTasks));
    this.rq = new RunQueue(this.tasks.capacity);
    this.lockTables();
    this.idle = new Uint8Array(nrCpus);
    this.idleList = new Int32Array(nrCpus);
    this.idlePos = new Int32Array(nrCpus).fill(-1);
    this.cpuTask = new Int32Array(nrCpus).fill(-1);
    this.cpuKey = new Float64Array(nrCpus);
    this.cpuSinceNs = new Float64Array(nrCpus);
    this.preempt = opts.preemptWakeups ?? false;
    const minRunNs = opts.preemptMinRunNs ?? 0;
    if (!(minRunNs >= 0) || !Number.isFinite(minRunNs)) throw new SchedulerError(`preemptMinRunNs must be >= 0, got ${minRunNs}`);
    this.num[N_PREEMPT_MIN_RUN_NS] = minRunNs;
    const ahead = opts.queueAhead ?? 0;
    if (!Number.isInteger(ahead) || ahead < 0 || ahead > MAX_QUEUE_AHEAD)
      throw new SchedulerError(`queueAhead must be an integer in [0, ${MAX_QUEUE_AHEAD}], got ${ahead}`);
    this.queueAhead = ahead;
    this.cnt[C.nr_cpus] = nrCpus;
    this.num[N_BASE_SLICE_NS] = this.baseSliceNs;

    this.p = policy;
    this.hasSelectCpu = typeof policy.selectCpu === 'function';
    this.hasSlice = typeof policy.slice === 'function';
    this.hasRunning = typeof policy.running === 'function';
    this.hasStopping = typeof policy.stopping === 'function';
    this.hasExiting = typeof policy.exiting === 'function';

    const tasks = this.tasks;
    const ctx: PolicyContext = {
      tasks,
      nrCpus,
      baseSliceNs: this.baseSliceNs,
      nowNs: () => this.clock[CLOCK_NOW_NS]!,
      isCpuIdle: (cpu: number) => this.isCpuIdle(cpu),
      nrWaiting: () => this.rq.size,
      field: (name: string): TaskField => tasks.field(name),
    };
    policy.init?.(ctx);
  }

  get nrWaiting(): number {
    return this.rq.size;
  }

  get nrTasks(): number {
    return this.tasks.nrLive;
  }

  // ---- creation path ----

  registerTask(pid: number, weight: number, cpu: number): number {
    if (!Number.isInteger(pid) || pid < 0 || pid > 0x7fffffff)
      throw new SchedulerError(`pid must be a non-negative int32, got ${pid}`);
    if (!Number.isInteger(cpu) || cpu < -1 || cpu >= this.nrCpus)
      throw new SchedulerError(`cpu must be -1 or in [0, ${this.nrCpus}), got ${cpu}`);
    // A reused pid whose exit we have not seen yet: the old task is gone, start afresh.
    const old = this.map.get(pid);
    if (old >= 0) this.exit(old, pid);
    const t = this.tasks.alloc();
    const mapBuffer = this.map.buffer;
    const rqSlots = this.rq.memoryBytes;
    this.rq.ensureSlots(this.tasks.capacity);
    this.map.set(pid, t);
    if (this.map.buffer !== mapBuffer || this.rq.memoryBytes !== rqSlots) this.lockTables();
    this.tasks.init(t, pid, clampWeight(weight), cpu);
    this.cnt[NR_TASKS] = this.tasks.nrLive;
    return t;
  }

  // The run queue, pid map and both rings are on the dispatch path too: lock them like the slabs. (The
  // rings were once left out: each page of the queued ring then faulted the first time the ring reached it.)
  private lockTables(): void {
    this.trackTables([...this.rq.buffers(), this.map.buffer, this.queued.sab, this.dispatched.sab]);
  }

  slotOf(pid: number): number {
    return this.map.get(pid);
  }

  // ---- idle CPUs ----

  setCpuIdle(cpu: number, idle: boolean): void {
    if (!(cpu >= 0 && cpu < this.nrCpus)) throw new SchedulerError(`cpu must be in [0, ${this.nrCpus}), got ${cpu}`);
    if (idle) this.markIdle(cpu);
    else this.markBusy(cpu);
  }

  isCpuIdle(cpu: number): boolean {
    return cpu >= 0 && cpu < this.nrCpus && this.idle[cpu] === 1;
  }

  private markIdle(cpu: number): void {
    this.cpuTask[cpu] = -1;
    if (this.idle[cpu] === 1) return;
    this.idle[cpu] = 1;
    this.idleList[this.nIdle] = cpu;
    this.idlePos[cpu] = this.nIdle++;
  }

  private markBusy(cpu: number): void {
    if (this.idle[cpu] === 0) return;
    this.idle[cpu] = 0;
    const at = this.idlePos[cpu]!;
    const last = this.idleList[--this.nIdle]!;
    this.idleList[at] = last;
    this.idlePos[last] = at;
    this.idlePos[cpu] = -1;
  }

  // ---- the hot path ----

  schedule(): number {
    const q = this.queued;
    const cnt = this.cnt;
    this.filled = 0;
    this.room = this.dispatched.room();
    const n = q.available();
    cnt[NR_QUEUED] = n;
    for (let i = 0; i < n; i++) this.handle(q.record(i));
    if (n > 0) q.release(n);
    cnt[NR_QUEUED] = 0;
    const dispatched = this.dispatch();
    if (this.filled > 0) this.dispatched.commit(this.filled);
    cnt[NR_USER_DISPATCHES]! += dispatched;
    cnt[NR_DECISIONS]! += dispatched;
    cnt[NR_SCHEDULED] = this.rq.size;
    cnt[NR_RUNNING] = this.nrRunning;
    cnt[NR_TASKS] = this.tasks.nrLive;
    cnt[HEARTBEAT_NS] = this.clock[CLOCK_NOW_NS]!;
    return this.filled;
  }

  private handle(at: number): void {
    const i32 = this.queued.i32;
    const f64 = this.queued.f64;
    const pid = i32[(at + Q_PID) >> 2]!;
    const kind = i32[(at + Q_KIND) >> 2]!;
    const cpu = i32[(at + Q_CPU) >> 2]!;
    const weight = i32[(at + Q_WEIGHT) >> 2]!;
    const tasks = this.tasks;
    // The backend's slot hint saves the pid lookup; it is trusted only if that slot holds this pid.
    let t = i32[(at + Q_SLOT_HINT) >> 2]! - 1;
    if (!(
      t >= 0 &&
      t < tasks.capacity &&
      tasks.i32Of(t)[tasks.i32Index(t) + I32_PID] === pid &&
      tasks.i32Of(t)[tasks.i32Index(t) + I32_STATE] !== TASK_FREE
    )) {
      t = this.map.get(pid);
    }
    if (t < 0) {
      if (kind === EV_EXITED) return;
      t = this.registerInPlace(pid, weight, cpu);
      if (t < 0) {
        this.bounce(pid, cpu);
        return;
      }
    }
    if (kind === EV_EXITED) {
      this.exit(t, pid);
      return;
    }
    const ti = tasks.i32Of(t);
    const ii = tasks.i32Index(t);
    const tf = tasks.f64Of(t);
    const fi = tasks.f64Index(t);
    if (weight > 0) ti[ii + I32_WEIGHT] = clampWeight(weight);
    const state = ti[ii + I32_STATE]!;
    if (state === TASK_RUNNING) {
      this.nrRunning--;
      // Placed ahead on the shared queue and heard of again: it ran (or was cancelled), room for another.
      if (ti[ii + I32_CPU] === CPU_SHARED) this.heardOfAhead(t);
    }
    if (cpu >= 0 && cpu < this.nrCpus) ti[ii + I32_CPU] = cpu;
    tf[fi + F64_NVCSW] = f64[(at + Q_NVCSW) >> 3]!;
    const sumExecNs = f64[(at + Q_SUM_EXEC_NS) >> 3]!;
    // A task's first record sets the baseline (TaskTable.init leaves NO_SUM_EXEC): CPU time it used before
    // the scheduler met it is not charged to it. A backend reporting the kernel's cumulative sum (sched_ext)
    // otherwise charged each long-running task its whole life as one run when tsland took over a busy
    // machine; rustland put such a task minutes ahead and held it back until the watchdog ejected tsland
    // (the restarted tslands of the soak, seconds after attaching: the soak's own node, churn).
    if (tf[fi + F64_SUM_EXEC_NS]! < 0) tf[fi + F64_SUM_EXEC_NS] = sumExecNs;
    const ranNs = sumExecNs - tf[fi + F64_SUM_EXEC_NS]!;
    if (ranNs > 0) {
      tf[fi + F64_SUM_EXEC_NS] = sumExecNs;
      tf[fi + F64_EXEC_RUNTIME_NS] = tf[fi + F64_EXEC_RUNTIME_NS]! + ranNs;
      tf[fi + F64_LAST_RAN_NS] = ranNs;
      if (this.hasStopping) this.p.stopping!(t);
    }
    if (kind === EV_RUNNABLE) {
      if (state === TASK_QUEUED) return;
      const wokeUp = state === TASK_SLEEPING;
      if (wokeUp) tf[fi + F64_EXEC_RUNTIME_NS] = 0;
      this.enqueue(t, pid, wokeUp);
    } else if (kind === EV_STOPPED) {
      if (state === TASK_QUEUED) return;
      if ((i32[(at + Q_FLAGS) >> 2]! & EVF_RUNNABLE) !== 0) this.enqueue(t, pid, false);
      else ti[ii + I32_STATE] = TASK_SLEEPING;
    }
  }

  private enqueue(t: number, pid: number, wokeUp: boolean): void {
    this.p.enqueue(t, wokeUp);
    const tasks = this.tasks;
    const tf = tasks.f64Of(t);
    const fi = tasks.f64Index(t);
    // NaN would break the heap's order for every other task; treat it as "last".
    let key = tf[fi + F64_DEADLINE]!;
    if (key !== key) {
      key = Infinity;
      tf[fi + F64_DEADLINE] = key;
    }
    const nowNs = this.clock[CLOCK_NOW_NS]!;
    tf[fi + F64_ENQ_TS_NS] = nowNs;
    if (wokeUp) tf[fi + F64_WOKE_TS_NS] = nowNs;
    tasks.i32Of(t)[tasks.i32Index(t) + I32_STATE] = TASK_QUEUED;
    const rq = this.rq;
    rq.pending[PENDING_KEY] = key;
    rq.pending[PENDING_TS_NS] = nowNs;
    rq.push(t, pid);
  }

  private exit(t: number, pid: number): void {
    const ti = this.tasks.i32Of(t);
    const ii = this.tasks.i32Index(t);
    const state = ti[ii + I32_STATE]!;
    if (state === TASK_RUNNING) {
      this.nrRunning--;
      if (ti[ii + I32_CPU] === CPU_SHARED) this.heardOfAhead(t);
    }
    if (state === TASK_QUEUED) this.rq.remove(t);
    if (this.hasExiting) this.p.exiting!(t);
    this.map.delete(pid);
    this.tasks.release(t);
  }

  // An unknown pid in the ring: take a free slot if one is there without growing anything.
  private registerInPlace(pid: number, weight: number, cpu: number): number {
    if (pid < 0 || !this.map.hasRoom()) return -1;
    const t = this.tasks.tryAlloc();
    if (t < 0) return -1;
    this.map.set(pid, t);
    this.tasks.init(t, pid, clampWeight(weight > 0 ? weight : WEIGHT_NICE_0), cpu >= 0 && cpu < this.nrCpus ? cpu : -1);
    return t;
  }

  // No room for the task: send it back to its CPU so it is not lost.
  private bounce(pid: number, cpu: number): void {
    if (this.filled >= this.room) {
      this.cnt[C.nr_failed_dispatches]!++;
      return;
    }
    const ring = this.dispatched;
    const d = ring.slot(this.filled++);
    writeDispatchInts(ring.i32, d, pid, cpu, DF_BOUNCE);
    ring.f64[(d + D_SLICE_NS) >> 3] = this.num[N_BASE_SLICE_NS]!;
    ring.f64[(d + D_VRUNTIME) >> 3] = 0;
    this.cnt[C.nr_bounce_dispatches]!++;
  }

  private dispatch(): number {
    const rq = this.rq;
    const tasks = this.tasks;
    const nrCpus = this.nrCpus;
    let written = 0;
    while (this.nIdle > 0 && rq.size > 0 && this.filled < this.room) {
      const t = rq.pop();
      const prev = tasks.i32Of(t)[tasks.i32Index(t) + I32_CPU]!;
      let cpu = this.hasSelectCpu ? this.p.selectCpu!(t, prev) : -1;
      if (!(cpu >= 0 && cpu < nrCpus && this.idle[cpu] === 1)) {
        cpu = prev >= 0 && this.idle[prev] === 1 ? prev : this.idleList[this.nIdle - 1]!;
      }
      this.markBusy(cpu);
      // With tasks placed ahead, a CPU idle in the core's view may be running one of them (its previous task
      // stopped, it took the next from the shared queue): a woken task stops it rather than wait out its
      // slice, as it would preempt any other running task. Where the CPU is idle indeed this changes nothing.
      const preempt = this.nrAhead > 0 && tasks.f64Of(t)[tasks.f64Index(t) + F64_WOKE_TS_NS]! > 0;
      this.place(t, cpu, preempt ? DF_PREEMPT : 0);
      written++;
    }
    if (this.preempt) written += this.preemptForWakeups();
    // After the preemptions, so a woken task at the head takes a CPU now rather than a place in line.
    if (this.nrAhead < this.queueAhead) written += this.placeAhead();
    return written;
  }

  /**
   * Ahead of time: the first CPU that frees takes these from the shared queue without waiting for a round
   * (queueAhead). Apart from dispatch() so that the default, none, costs one comparison there.
   */
  private placeAhead(): number {
    const rq = this.rq;
    const tasks = this.tasks;
    // Only tasks whose key is within one base slice of the smallest key of any task waiting, out ahead or
    // on a CPU. The shared queue gives each task one turn, and a turn lasts at least a kernel tick however
    // short the task's slice, so a light task's key runs far ahead after one. Placed ahead in every pass all
    // the same, nice 10 took 18.2% of 6 hogs' CPU for 7.5% (sched_ext guest, --queue-ahead 8); held back
    // until the others catch up, it keeps the run queue's order across passes.
    let floor = rq.peekKey();
    const ahead = this.aheadSlots;
    for (let i = 0; i < this.nrAhead; i++) {
      const a = ahead[i]!;
      const key = tasks.f64Of(a)[tasks.f64Index(a) + F64_DEADLINE]!;
      if (key < floor) floor = key;
    }
    const cpuTask = this.cpuTask;
    const cpuKey = this.cpuKey;
    for (let c = 0; c < this.nrCpus; c++) {
      if (cpuTask[c]! >= 0 && cpuKey[c]! < floor) floor = cpuKey[c]!;
    }
    const limit = floor + this.num[N_BASE_SLICE_NS]!;
    let written = 0;
    while (this.nrAhead < this.queueAhead && rq.size > 0 && this.filled < this.room && rq.peekKey() <= limit) {
      const t = rq.pop();
      this.place(t, CPU_SHARED, 0);
      ahead[this.nrAhead++] = t;
      written++;
    }
    return written;
  }

  // A task placed ahead was heard of again (it ran, or was cancelled, or exited): its place is free.
  private heardOfAhead(t: number): void {
    const n = --this.nrAhead;
    const ahead = this.aheadSlots;
    // Every task placed ahead is in the list (placeAhead adds it), so the search ends on it.
    let i = 0;
    while (i < n && ahead[i] !== t) i++;
    ahead[i] = ahead[n]!;
  }

  /**
   * Every CPU busy and a task that woke up at the head of the run queue: it takes the CPU of the running
   * task with the largest key, if that key is larger than its own and that task has run preemptMinRunNs.
   * The kernel half stops that task at once (DF_PREEMPT); its STOPPED+RUNNABLE record puts it back in the
   * queue. Without this, a woken task waited for the end of a hog's slice (cyclictest among 8 hogs: p99 2.6x
   * the kernel's in the sched_ext guest), where the kernel's EEVDF preempts on wake-up.
   */
  private preemptForWakeups(): number {
    const rq = this.rq;
    const tasks = this.tasks;
    const nrCpus = this.nrCpus;
    const cpuTask = this.cpuTask;
    const cpuKey = this.cpuKey;
    const cpuSince = this.cpuSinceNs;
    const sinceMax = this.clock[CLOCK_NOW_NS]! - this.num[N_PREEMPT_MIN_RUN_NS]!;
    let written = 0;
    while (rq.size > 0 && this.filled < this.room) {
      const t = rq.peek();
      const tf = tasks.f64Of(t);
      const fi = tasks.f64Index(t);
      if (!(tf[fi + F64_WOKE_TS_NS]! > 0)) break;
      let victim = -1;
      let victimKey = tf[fi + F64_DEADLINE]!;
      for (let c = 0; c < nrCpus; c++) {
        if (cpuTask[c]! >= 0 && cpuKey[c]! > victimKey && cpuSince[c]! <= sinceMax) {
          victim = c;
          victimKey = cpuKey[c]!;
        }
      }
      if (victim < 0) break;
      rq.pop();
      this.place(t, victim, DF_PREEMPT);
      this.cnt[NR_PREEMPTIONS]!++;
      written++;
    }
    return written;
  }

  // Writes the dispatch record of t to cpu (taken from the idle set by the caller) and runs the policy's
  // slice and running callbacks.
  private place(t: number, cpu: number, flags: number): void {
    const ring = this.dispatched;
    const tasks = this.tasks;
    const d = ring.slot(this.filled++);
    const ti = tasks.i32Of(t);
    const ii = tasks.i32Index(t);
    const tf = tasks.f64Of(t);
    const fi = tasks.f64Index(t);
    const baseSliceNs = this.num[N_BASE_SLICE_NS]!;
    tf[fi + F64_SLICE_NS] = baseSliceNs;
    if (this.hasSlice) this.p.slice!(t);
    let sliceNs = tf[fi + F64_SLICE_NS]!;
    if (!(sliceNs > 0)) sliceNs = baseSliceNs;
    ti[ii + I32_STATE] = TASK_RUNNING;
    ti[ii + I32_CPU] = cpu;
    const nowNs = this.clock[CLOCK_NOW_NS]!;
    const wokeTsNs = tf[fi + F64_WOKE_TS_NS]!;
    if (wokeTsNs > 0) {
      this.cnt[WAKE_LATENCY_TOTAL_NS]! += nowNs - wokeTsNs;
      this.cnt[NR_WAKE_DISPATCHES]!++;
      tf[fi + F64_WOKE_TS_NS] = 0;
    }
    if (cpu >= 0) {
      this.cpuTask[cpu] = t;
      this.cpuKey[cpu] = tf[fi + F64_DEADLINE]!;
      this.cpuSinceNs[cpu] = nowNs;
    }
    this.nrRunning++;
    writeDispatchInts(ring.i32, d, ti[ii + I32_PID]!, cpu, flags);
    ring.f64[(d + D_SLICE_NS) >> 3] = sliceNs;
    ring.f64[(d + D_VRUNTIME) >> 3] = tf[fi + F64_VRUNTIME]!;
    if (this.hasRunning) this.p.running!(t, cpu);
  }

  // ---- readers, memory ----

  taskSlabs(): TaskSlabsInfo {
    return {
      strideBytes: this.tasks.strideBytes,
      slabShift: this.tasks.slabShift,
      slabs: this.tasks.slabs.slice(),
      policyFields: this.tasks.fieldNames.slice(),
    };
  }

  onSlab(listener: (sab: SharedArrayBuffer, index: number) => void): void {
    this.tasks.onSlab(listener);
  }

  memoryBytes(): number {
    return (
      this.tasks.memoryBytes +
      this.map.memoryBytes +
      this.rq.memoryBytes +
      this.queued.sab.byteLength +
      this.dispatched.sab.byteLength
    );
  }

  /** Task-table slabs that could not be locked in RAM (RLIMIT_MEMLOCK, no libc). */
  get unlockedSlabs(): number {
    return this.tasks.unlockedSlabs;
  }

  retouchMemory(): void {
    for (const sab of this.tasks.slabs) touchPages(sab);
    this.retouchTables();
  }

  close(): void {
    this.unlockSlabs();
  }
}

function writeDispatchInts(i32: Int32Array, d: number, pid: number, cpu: number, flags: number): void {
  i32[(d + D_PID) >> 2] = pid;
  i32[(d + D_CPU) >> 2] = cpu;
  i32[(d + D_FLAGS) >> 2] = flags;
  i32[(d + D_RSV) >> 2] = 0;
}

/** Checks a policy's shape where it enters (a user's file may export anything). */
export function validatePolicy(p: unknown): asserts p is Policy {
  if (typeof p !== 'object' || p === null)
    throw new PolicyError(`a policy must be an object, got ${p === null ? 'null' : typeof p}`);
  const o = p as Record<string, unknown>;
  if (typeof o.name !== 'string' || o.name === '') throw new PolicyError(`a policy needs a non-empty string 'name'`);
  if (typeof o.enqueue !== 'function') throw new PolicyError(`policy '${o.name}' has no enqueue() function`);
  for (const optional of ['init', 'selectCpu', 'slice', 'running', 'stopping', 'exiting'] as const) {
    if (o[optional] !== undefined && typeof o[optional] !== 'function') {
      throw new PolicyError(`policy '${o.name}': ${optional} must be a function, got ${typeof o[optional]}`);
    }
  }
  if (o.fields !== undefined) {
    if (typeof o.fields !== 'object' || o.fields === null) throw new PolicyError(`policy '${o.name}': fields must be an object`);
    for (const [k, v] of Object.entries(o.fields)) {
      if (v !== 'f64' && v !== 'i32')
        throw new PolicyError(`policy '${o.name}': field '${k}' must be 'f64' or 'i32', got ${JSON.stringify(v)}`);
    }
  }
}
