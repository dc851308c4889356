// The two contracts of the scheduler core: `Policy`, which an author implements, and `Scheduler`, which a
// backend (the simulator, the real-process backend) drives. Kept small on purpose, after scx_rustland_core.
//
// ## The loop, from the backend's side
//
//   backend ──pushQueued──▶ [queued ring] ──▶ scheduler.schedule() ──▶ [dispatch ring] ──record(i)──▶ backend
//                                              drain · account · enqueue · pick · dispatch
//
//   1. Task creation (slow path, may allocate a task slab): `registerTask(pid, weight, cpu)` returns the
//      task's slot. Register before the first event for that pid. A task that appears in the ring without
//      being registered is registered on the spot if a free slot exists, otherwise bounced (DF_BOUNCE).
//   2. Events: `pushQueued(sched.queued, EV_RUNNABLE | EV_STOPPED | EV_EXITED, ...)` from records.ts, with the
//      cumulative CPU time of the task (`sumExecNs`); the scheduler charges the difference. When the ring is
//      full, pushQueued returns false: run the task yourself and bump `counters.f64[C.nr_sched_congested]`.
//      pushQueued takes fractional arguments, which V8 boxes across a call it does not inline: a backend's
//      hot loop uses a QueuedWriter instead (the f64 fields staged in its `f64`, the slot as the hint), as
//      the proc backend and the simulator do.
//   3. Idle CPUs: `setCpuIdle(cpu, true)` when a CPU has nothing to run (its task stopped, slept or exited).
//      The scheduler marks a CPU busy itself when it dispatches there, and only ever dispatches to CPUs the
//      backend reported idle: one dispatch per idle CPU, no more.
//   4. `sched.clock[CLOCK_NOW_NS] = nowNs; sched.schedule()`: synchronous, never blocks, never sleeps,
//      allocates nothing after warm-up. Drains every queued record, lets the policy account and order the
//      tasks, then writes one dispatch record per idle CPU while tasks are waiting. Returns the number of
//      dispatch records written. (The time goes through a Float64Array, not an argument: V8 allocates a
//      box for a fractional number passed to a call it does not inline.)
//   5. Consume dispatch records (`n = sched.dispatched.available()`, `record(i)`, `release(n)`; readers in
//      records.ts) and enforce them: run `pid` on `cpu` for at most `sliceNs`, then report EV_STOPPED (with
//      EVF_RUNNABLE if it was preempted). If the task vanished in between, count `nr_cancel_dispatches` (it was exiting) or
//      `nr_failed_dispatches` (the dispatch failed), push EV_EXITED for it, and `setCpuIdle(cpu, true)`.
//   How to wait between steps is the backend's business (Atomics.wait in bursts, a virtual clock, ...).
//   A backend that runs on the scheduler's own thread passes `crossThreadRings: false`: the ring indexes
//   are then published without Atomics, which cost tens of ns each in V8.
//
// ## Record layouts: see records.ts (queued: 48 bytes, dispatch: 32 bytes), drawn there with byte rulers.
//
// ## The task table (slabs of SharedArrayBuffer, readable from other threads: see reader.ts)
//
//   slot s lives in slab (s >> slabShift) at byte ((s & slabMask) * strideBytes):
//
//   0      4      8      12     16            24            32            40
//   +------+------+------+------+-------------+-------------+-------------+
//   | pid  |state |weight| cpu  | vruntime    | sumExecNs   | deadline    |
//   +------+------+------+------+-------------+-------------+-------------+
//   40            48            56            64            72            80            88
//   +-------------+-------------+-------------+-------------+-------------+-------------+
//   | execRunNs   | enqTsNs     | nvcsw       | lastRanNs   | sliceNs     | wokeTsNs    |  then the policy's
//   +-------------+-------------+-------------+-------------+-------------+-------------+  own fields
//                                                                     (`Policy.fields`), 8 bytes each
//
//   state      TASK_FREE, TASK_SLEEPING (known, not runnable), TASK_QUEUED (in the run queue), TASK_RUNNING
//   deadline   the run-queue key the policy set; smallest runs first
//   execRunNs  CPU time since the task last woke up; lastRanNs: the CPU time charged by the last event
//   sliceNs    the slice of the task's last dispatch
//   wokeTsNs   when the task was queued on waking up, until its first dispatch after that (0: not waiting
//              since a wake-up); feeds the wake_latency_total_ns / nr_wake_dispatches counters
//
// ## Policy contract
//
// Per-task state is reached through the slot number `t` and `ctx.tasks` / fields declared in
// `Policy.fields`: plain numbers in, plain numbers out, no objects. Callbacks run on the hot path and must
// not allocate (no closures, arrays, strings, template literals, exceptions) after `init`. They take slots
// and small integers only and return nothing fractional: times and keys travel through the task record
// (V8 boxes a fractional number that crosses a call it does not inline, and a box is an allocation).
//
//   init(ctx)                 once, before any task; look up your fields here
//   stopping(t)               t was charged tasks.lastRanNs(t) of CPU time (it stopped, or its time grew)
//   enqueue(t, wokeUp)        t wants the CPU (woke up from sleep, or was preempted): set its run-queue key
//                             with tasks.setDeadline(t, key). Smallest key runs next; ties: enqueue time, pid
//   selectCpu(t, prevCpu)     a CPU for t among the idle ones (ctx.isCpuIdle), or -1: the core picks one
//                             (the previous CPU if idle, else any idle CPU)
//   slice(t)                  set tasks.setSliceNs(t, ns); the core has set ctx.baseSliceNs before the call
//   running(t, cpu)           t was dispatched to cpu (-1: to the shared queue, SchedulerOptions.queueAhead)
//   exiting(t)                t is gone; its slot is reused after this returns
//   ctx.nowNs()               the time of the current step
//   ctx.nrWaiting()           tasks in the run queue now (in slice(): without the one being dispatched)
//
// Only `name` and `enqueue` are required.

export type TaskFieldType = 'f64' | 'i32';

/** Index of the current time (ns) in `Scheduler.clock`. */
export const CLOCK_NOW_NS = 0;

/** A per-task number declared by a policy, read and written by slot without creating objects. */
export interface TaskField {
  get(t: number): number;
  set(t: number, value: number): void;
  /**
   * Where the field sits in the task record, in words of its type: an f64 field is
   * `tasks.f64Of(t)[tasks.f64Index(t) + word]`, an i32 field `tasks.i32Of(t)[tasks.i32Index(t) + word]`.
   */
  readonly word: number;
}

/**
 * What a policy may read and write about a task. Two ways in: the accessors (`vruntime(t)`...), or the
 * slab views (`f64Of(t)[f64Index(t) + F64_VRUNTIME]`, word offsets in task-layout.ts). The views are what
 * the built-in policies use: only objects and small integers cross those calls, so nothing is boxed even
 * when V8 runs out of inlining budget in a large caller; accessors returning fractional numbers rely on
 * being inlined. measureHotPath tells which you need.
 */
export interface TaskView {
  f64Of(t: number): Float64Array;
  f64Index(t: number): number;
  i32Of(t: number): Int32Array;
  i32Index(t: number): number;
  pid(t: number): number;
  /** 100 at nice 0 (weights.ts). */
  weight(t: number): number;
  /** CPU the task last ran on, -1 if never. */
  prevCpu(t: number): number;
  state(t: number): number;
  vruntime(t: number): number;
  setVruntime(t: number, vruntimeNs: number): void;
  /** CPU time used since the task was created. */
  sumExecNs(t: number): number;
  /** CPU time used since the task last woke up (reset by the core on every wake-up). */
  execRuntimeNs(t: number): number;
  /** CPU time charged by the latest event (valid in `stopping`). */
  lastRanNs(t: number): number;
  deadline(t: number): number;
  /** The run-queue key; set it in `enqueue`. */
  setDeadline(t: number, key: number): void;
  sliceNs(t: number): number;
  /** The slice of this dispatch; set it in `slice`. */
  setSliceNs(t: number, sliceNs: number): void;
  nvcsw(t: number): number;
}

export interface PolicyContext {
  readonly tasks: TaskView;
  readonly nrCpus: number;
  /** The scheduler's base slice (SchedulerOptions.sliceNs). */
  readonly baseSliceNs: number;
  /** Time of the current step (what the backend put in `clock`). */
  nowNs(): number;
  isCpuIdle(cpu: number): boolean;
  /** Tasks waiting in the run queue for a CPU now (in slice(): not counting the task being dispatched). */
  nrWaiting(): number;
  /** A field this policy declared in `Policy.fields`; throws PolicyError for an undeclared name. */
  field(name: string): TaskField;
}

export interface Policy {
  readonly name: string;
  /** Extra per-task fields, 8 bytes each, zeroed when a task is registered. */
  readonly fields?: Readonly<Record<string, TaskFieldType>>;
  init?(ctx: PolicyContext): void;
  enqueue(t: number, wokeUp: boolean): void;
  selectCpu?(t: number, prevCpu: number): number;
  slice?(t: number): void;
  running?(t: number, cpu: number): void;
  stopping?(t: number): void;
  exiting?(t: number): void;
}

/** Where the task table lives, for a reader on another thread. Post it (SharedArrayBuffers share). */
export interface TaskSlabsInfo {
  strideBytes: number;
  slabShift: number;
  slabs: SharedArrayBuffer[];
  policyFields: string[];
}

export interface SchedulerOptions {
  nrCpus: number;
  policy: Policy;
  /** Base time slice; default 20 ms (scx_rustland's default). */
  sliceNs?: number;
  /** Queued ring records; power of two; default 4096. */
  queuedCapacity?: number;
  /** Dispatch ring records; power of two >= nrCpus; default max(64, next power of two of nrCpus). */
  dispatchCapacity?: number;
  /** Tasks per slab, a power of two; default 16384. */
  slabTasks?: number;
  /** Hard cap on live tasks; default 4,194,304. */
  maxTasks?: number;
  /** Size the task table, pid map and run queue for this many tasks up front (default 0: grow on demand). */
  reserveTasks?: number;
  /** Shared counters to write; default a fresh block. */
  counters?: import('../base/counters.js').Counters;
  /** Lock each slab in RAM (mlock) as it is created; default true where the platform allows. */
  lockMemory?: boolean;
  /**
   * Whether the backend's end of the rings may run on another thread (default true: indexes published with
   * Atomics). A backend on the scheduler's own thread sets false and saves a few atomic operations a step.
   */
  crossThreadRings?: boolean;
  /**
   * When every CPU is busy, a task that woke up and heads the run queue takes the CPU of the running task
   * with the largest run-queue key, if that key is larger than its own (DF_PREEMPT). Default false: only
   * a backend that can stop a running task at once sets it (sched_ext).
   */
  preemptWakeups?: boolean;
  /**
   * A task is preempted only after it ran this long on its CPU; default 0. A guard is checked only when the
   * scheduler runs: in the simulator 1 ms left a woken task among 7 hogs on 2 CPUs waiting 4.9 ms at p99
   * (the next slice end), against 2 us with none.
   */
  preemptMinRunNs?: number;
  /**
   * Tasks placed beyond the idle CPUs, on the backend's shared queue (dispatch CPU -1): the first CPU that
   * frees runs the next of them at once, without waiting for a round of the scheduler. At most this many
   * are out there at a time; one is placed again when one is heard of (its stop or exit). Default 0: only a
   * backend whose kernel half has such a queue sets it (sched_ext). running(t, cpu) gets cpu -1 for them.
   * Only tasks whose key is within one base slice (keys in ns, as rustland's vruntimes are) of the smallest
   * key of any task waiting, out ahead or on a CPU go ahead: the queue runs one turn each, and a task whose
   * key ran far ahead (a light task whose turn outlasted its slice) waits in the run queue until the others
   * catch up, as it would without it.
   */
  queueAhead?: number;
}

export interface Scheduler {
  readonly nrCpus: number;
  readonly policy: Policy;
  /** Backend -> scheduler events (records.ts: QUEUED_RECORD_BYTES). The backend is the only producer. */
  readonly queued: import('../ring/spsc.js').SpscRing;
  /** Scheduler -> backend decisions (records.ts: DISPATCH_RECORD_BYTES). The backend is the only consumer. */
  readonly dispatched: import('../ring/spsc.js').SpscRing;
  readonly counters: import('../base/counters.js').Counters;
  /** The backend's clock: write `clock[CLOCK_NOW_NS]` (ns) before each `schedule()`. */
  readonly clock: Float64Array;
  /** Task creation path: returns the task's slot. Throws SchedulerError when maxTasks would be exceeded. */
  registerTask(pid: number, weight: number, cpu: number): number;
  /** Slot of a registered pid, or -1. */
  slotOf(pid: number): number;
  setCpuIdle(cpu: number, idle: boolean): void;
  isCpuIdle(cpu: number): boolean;
  /** One step at time clock[CLOCK_NOW_NS]: drain, account, enqueue, pick, dispatch. Returns dispatch records written. */
  schedule(): number;
  /** Tasks waiting in the run queue. */
  readonly nrWaiting: number;
  /** Live (registered, not exited) tasks. */
  readonly nrTasks: number;
  /** The task table for readers on other threads. */
  taskSlabs(): TaskSlabsInfo;
  /** Called on the creation path whenever a slab is added, to post it to readers. */
  onSlab(listener: (sab: SharedArrayBuffer, index: number) => void): void;
  /** Bytes of memory the scheduler holds per live-task capacity (slabs, map, run queue). */
  memoryBytes(): number;
  /** Task-table slabs the kernel refused to lock in RAM (RLIMIT_MEMLOCK, no libc); 0 when all are locked. */
  readonly unlockedSlabs: number;
  /**
   * Writes every page of the slabs and tables once. Call it after the process forked: the pages they share
   * with other memory are left copy-on-write, and each would fault at its next write.
   */
  retouchMemory(): void;
  /** Releases locked memory. */
  close(): void;
}

export class PolicyError extends Error {
  override name = 'PolicyError';
}

export class SchedulerError extends Error {
  override name = 'SchedulerError';
}
