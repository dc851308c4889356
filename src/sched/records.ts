// The two record layouts that cross between a backend and the scheduler, defined once here; both sides read
// and write them through these offsets and helpers (as scx's intf.h feeds both its BPF and user halves).
//
// Queued record (backend -> scheduler), QUEUED_RECORD_BYTES = 48:
//
//   0      4      8      12     16     20     24            32            40            48
//   +------+------+------+------+------+------+-------------+-------------+-------------+
//   | pid  | cpu  | kind |flags |weight| hint | sumExecNs   | nvcsw       | tsNs        |
//   +------+------+------+------+------+------+-------------+-------------+-------------+
//   pid        i32  task id (a Linux pid for the process backend, a task number in the simulator)
//   cpu        i32  CPU the task last ran on (-1 if never)
//   kind       i32  EV_RUNNABLE | EV_STOPPED | EV_EXITED
//   flags      i32  EVF_* bits
//   weight     i32  scheduling weight, 100 at nice 0 (see weights.ts), 1..10000
//   hint       i32  slot + 1 as registerTask returned it, or 0 when unknown: lets the scheduler skip the
//                   pid lookup (a cache miss with many tasks); a wrong hint is detected and ignored
//   sumExecNs  f64  CPU time the task has used since it was created, cumulative (the scheduler charges the
//                   difference from the previous record, so a backend never has to remember deltas)
//   nvcsw      f64  voluntary context switches so far, cumulative
//   tsNs       f64  backend clock when the event happened
//
// Dispatch record (scheduler -> backend), DISPATCH_RECORD_BYTES = 32:
//
//   0      4      8      12     16            24            32
//   +------+------+------+------+-------------+-------------+
//   | pid  | cpu  |flags | rsv  | sliceNs     | vruntime    |
//   +------+------+------+------+-------------+-------------+
//   pid        i32  task to run
//   cpu        i32  CPU to run it on (always one the backend reported idle)
//   flags      i32  DF_* bits
//   sliceNs    f64  how long it may run before the backend stops it and reports EV_STOPPED|EVF_RUNNABLE
//   vruntime   f64  the task's virtual runtime at dispatch, for tracing

import type { SpscRing } from '../ring/spsc.js';

export const Q_PID = 0;
export const Q_CPU = 4;
export const Q_KIND = 8;
export const Q_FLAGS = 12;
export const Q_WEIGHT = 16;
export const Q_SLOT_HINT = 20;
export const Q_SUM_EXEC_NS = 24;
export const Q_NVCSW = 32;
export const Q_TS_NS = 40;
export const QUEUED_RECORD_BYTES = 48;

export const D_PID = 0;
export const D_CPU = 4;
export const D_FLAGS = 8;
export const D_RSV = 12;
export const D_SLICE_NS = 16;
export const D_VRUNTIME = 24;
export const DISPATCH_RECORD_BYTES = 32;

/** The task became runnable after sleeping, or is new. */
export const EV_RUNNABLE = 1;
/** The task stopped running on `cpu`. With EVF_RUNNABLE it was preempted and still wants the CPU. */
export const EV_STOPPED = 2;
/** The task is gone; its slot is freed and it leaves the run queue. */
export const EV_EXITED = 3;

/** On EV_STOPPED: the task was preempted (slice used up) and is still runnable. */
export const EVF_RUNNABLE = 1 << 0;

/** The scheduler could not place the task in its tables (task table full) and sends it back to its CPU. */
export const DF_BOUNCE = 1 << 0;
/** The CPU is busy: stop what runs there now and run this task (a woken task preempting; preemptWakeups). */
export const DF_PREEMPT = 1 << 1;
/** A dispatch record's CPU for the backend's shared queue: the first CPU that frees runs it (queueAhead). */
export const CPU_SHARED = -1;
/** The most tasks SchedulerOptions.queueAhead may keep out on the shared queue. */
export const MAX_QUEUE_AHEAD = 64;

// Backend side: the one writer of queued records. A double passed to a call V8 does not inline is boxed (a
// heap allocation per record), so the three f64 fields never travel as arguments on a hot path: the caller
// stages them in a QueuedWriter's `f64` (slots QW_*) and passes the integer fields. pushQueued takes every
// field as an argument, for callers off any hot path (tests, tools), and writes through the same code.

/** Slots of QueuedWriter.f64: the record's f64 fields, staged by the caller before write() or push(). */
export const QW_SUM_EXEC_NS = 0;
export const QW_NVCSW = 1;
export const QW_TS_NS = 2;
export const QW_SLOTS = 3;

/**
 * Writes the queued record at byte offset `at` of `ring`: the integer fields from the arguments, the f64
 * fields from `staged` (QW_* slots). `slotHint` is the slot registerTask returned, or -1 when unknown.
 */
function writeQueued(
  ring: SpscRing,
  at: number,
  staged: Float64Array,
  kind: number,
  pid: number,
  cpu: number,
  flags: number,
  weight: number,
  slotHint: number,
): void {
  const i32 = ring.i32;
  const f64 = ring.f64;
  i32[(at + Q_PID) >> 2] = pid;
  i32[(at + Q_CPU) >> 2] = cpu;
  i32[(at + Q_KIND) >> 2] = kind;
  i32[(at + Q_FLAGS) >> 2] = flags;
  i32[(at + Q_WEIGHT) >> 2] = weight;
  i32[(at + Q_SLOT_HINT) >> 2] = slotHint + 1;
  f64[(at + Q_SUM_EXEC_NS) >> 3] = staged[QW_SUM_EXEC_NS]!;
  f64[(at + Q_NVCSW) >> 3] = staged[QW_NVCSW]!;
  f64[(at + Q_TS_NS) >> 3] = staged[QW_TS_NS]!;
}

/** Writes queued records into one ring; allocation-free, with the f64 fields staged in `f64`. */
export class QueuedWriter {
  /** sumExecNs, nvcsw and tsNs of the next record (slots QW_SUM_EXEC_NS, QW_NVCSW, QW_TS_NS). */
  readonly f64 = new Float64Array(QW_SLOTS);

  constructor(readonly ring: SpscRing) {}

  /** Writes a record at `at` (from ring.reserve() or ring.slot(i)); the caller publishes or commits it. */
  write(at: number, kind: number, pid: number, cpu: number, flags: number, weight: number, slotHint: number): void {
    writeQueued(this.ring, at, this.f64, kind, pid, cpu, flags, weight, slotHint);
  }

  /**
   * Appends one record. Returns false when the ring is full; the backend must then run the task itself (a
   * kernel dispatch) and count `nr_sched_congested`.
   */
  push(kind: number, pid: number, cpu: number, flags: number, weight: number, slotHint: number): boolean {
    const at = this.ring.reserve();
    if (at < 0) return false;
    writeQueued(this.ring, at, this.f64, kind, pid, cpu, flags, weight, slotHint);
    this.ring.publish();
    return true;
  }
}

const staged = new Float64Array(QW_SLOTS);

/**
 * Appends one queued record with every field as an argument (see QueuedWriter for a hot path). Returns
 * false when the ring is full; the backend must then run the task itself and count `nr_sched_congested`.
 */
export function pushQueued(
  ring: SpscRing,
  kind: number,
  pid: number,
  cpu: number,
  flags: number,
  weight: number,
  sumExecNs: number,
  nvcsw: number,
  tsNs: number,
  slotHint = -1,
): boolean {
  const at = ring.reserve();
  if (at < 0) return false;
  staged[QW_SUM_EXEC_NS] = sumExecNs;
  staged[QW_NVCSW] = nvcsw;
  staged[QW_TS_NS] = tsNs;
  writeQueued(ring, at, staged, kind, pid, cpu, flags, weight, slotHint);
  ring.publish();
  return true;
}

// Backend side: read the dispatch record at byte offset `at` (from `ring.peek()`).
export function dispatchPid(ring: SpscRing, at: number): number {
  return ring.i32[(at + D_PID) >> 2]!;
}
export function dispatchCpu(ring: SpscRing, at: number): number {
  return ring.i32[(at + D_CPU) >> 2]!;
}
export function dispatchFlags(ring: SpscRing, at: number): number {
  return ring.i32[(at + D_FLAGS) >> 2]!;
}
export function dispatchSliceNs(ring: SpscRing, at: number): number {
  return ring.f64[(at + D_SLICE_NS) >> 3]!;
}
export function dispatchVruntime(ring: SpscRing, at: number): number {
  return ring.f64[(at + D_VRUNTIME) >> 3]!;
}
