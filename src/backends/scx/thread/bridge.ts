// The sched_ext backend's half of the scheduler thread: it turns the kernel half's queued records into the
// core's queued records, runs the core, and turns the core's dispatch records into the kernel half's.
//
//   BPF `queued` ring ──handleQueued──▶ core queued ring ──schedule()──▶ core dispatch ring ──flush──▶ BPF `dispatched`
//        (88 B, layout.ts)                 (48 B, records.ts)                 (32 B, records.ts)         (40 B, layout.ts)
//
// What the kernel half knows and the core does not, kept here per task slot and per CPU:
// - the enqueue generation (enq_cnt) of each task's latest queued record: a dispatch record must carry it
//   back, or the kernel half drops it as stale;
// - which task the core last dispatched to each CPU, so that the event that ends that run (the task went
//   to sleep, was preempted, exited) frees the CPU in the core's view: one dispatch per free CPU is the
//   core's contract. A CPU the kernel half reports idle (CPU_IDLE) is free whatever the core thought.
//
// Everything here runs on the scheduling path: integers and typed arrays only, nothing allocated after
// warm-up except on the task-creation path (a task's first record registers it with the core).

import type { Scheduler } from '../../../sched/api.js';
import { C, type Counters } from '../../../base/counters.js';
import {
  D_CPU,
  D_FLAGS,
  D_PID,
  D_SLICE_NS,
  D_VRUNTIME,
  DF_PREEMPT,
  EV_EXITED,
  EV_RUNNABLE,
  EV_STOPPED,
  EVF_RUNNABLE,
  QueuedWriter,
  QW_NVCSW,
  QW_SUM_EXEC_NS,
  QW_TS_NS,
} from '../../../sched/records.js';
import type { CreationMeter } from '../../../mem/publish.js';
import * as K from '../layout.js';
import { writeU64 } from '../rings.js';

const TWO_32 = 4294967296;

/** The kernel's dispatch ring, as the bridge writes it (rings.ts DispatchRing): reserve, fill, commit. */
export interface KernelDispatchSink {
  readonly u32: Uint32Array;
  readonly i32: Int32Array;
  /** Byte offset of the next record in the views, or -1 when the ring is full. */
  reserve(): number;
  /** Makes the record reserved at `at` visible to the kernel. */
  commit(at: number): void;
}

// Slots of the bridge's Float64Array of counters of its own.
const B_TASKS_UNPLACED = 0;
const B_HELD_DISPATCHES = 1;
const B_SLOTS = 2;

export class ScxBridge {
  /** Enqueue generation of each slot's latest queued record (u64 kept as a double: exact up to 2^53). */
  private enqCnt: Float64Array;
  /** CPU each slot was last dispatched to while that run lasts, else -1. */
  private slotCpu: Int32Array;
  /** Slot the core last dispatched to each CPU, -1 when the CPU is free in the core's view. */
  private readonly owner: Int32Array;
  private readonly nrCpus: number;
  private readonly cnt: Float64Array;
  readonly stats = new Float64Array(B_SLOTS);
  private readonly writer: QueuedWriter;
  /**
   * Brackets the task-creation path (a task's first record registers it, which may grow tables): the
   * scheduler thread counts that path's page faults apart (nr_creation_page_faults), as the signals
   * backend's does, so that nr_page_faults stays the scheduling path's own.
   */
  creationMeter: CreationMeter | null = null;

  constructor(
    private readonly scheduler: Scheduler,
    counters: Counters,
    private readonly sink: KernelDispatchSink,
    reserveTasks: number,
  ) {
    this.nrCpus = scheduler.nrCpus;
    this.owner = new Int32Array(this.nrCpus).fill(-1);
    this.enqCnt = new Float64Array(Math.max(1024, reserveTasks));
    this.slotCpu = new Int32Array(this.enqCnt.length).fill(-1);
    this.cnt = counters.f64;
    this.writer = new QueuedWriter(scheduler.queued);
    for (let cpu = 0; cpu < this.nrCpus; cpu++) scheduler.setCpuIdle(cpu, true);
  }

  /** Tasks the core could not take (task table full): each was handed back to the kernel to run. */
  get tasksUnplaced(): number {
    return this.stats[B_TASKS_UNPLACED]!;
  }

  /**
   * One record of the kernel's `queued` ring, at byte `at` of the views. Returns false when the core's
   * queued ring is full: leave the record where it is and call again after `schedule()` made room.
   */
  handleQueued(u32: Uint32Array, i32: Int32Array, at: number): boolean {
    const kind = u32[(at + K.Q_KIND) >> 2]!;
    const cpu = i32[(at + K.Q_CPU) >> 2]!;
    if (kind === K.EV_CPU_IDLE) {
      if (cpu >= 0 && cpu < this.nrCpus) {
        this.owner[cpu] = -1;
        this.scheduler.setCpuIdle(cpu, true);
      }
      return true;
    }
    const q = this.scheduler.queued;
    if (q.room() === 0) return false;
    const pid = i32[(at + K.Q_PID) >> 2]!;
    const weight = u32[(at + K.Q_WEIGHT) >> 2]!;
    let slot = this.scheduler.slotOf(pid);
    if (slot < 0) {
      if (kind === K.EV_EXITED) return true;
      slot = this.register(pid, weight, cpu);
      if (slot < 0) return this.runUnplaced(u32, i32, at, pid);
    }
    this.enqCnt[slot] = u32[(at + K.Q_ENQ_CNT) >> 2]! + u32[(at + K.Q_ENQ_CNT + 4) >> 2]! * TWO_32;
    // Whatever the event, the run the core gave this task has ended: its CPU is free in the core's view.
    const ran = this.slotCpu[slot]!;
    if (ran >= 0) {
      this.slotCpu[slot] = -1;
      if (this.owner[ran] === slot) {
        this.owner[ran] = -1;
        this.scheduler.setCpuIdle(ran, true);
      }
    }
    const flags = u32[(at + K.Q_FLAGS) >> 2]!;
    const coreKind = kind === K.EV_RUNNABLE ? EV_RUNNABLE : kind === K.EV_STOPPED ? EV_STOPPED : EV_EXITED;
    // The core's one writer of the queued record (records.ts); the fractional fields go through its f64.
    const w = this.writer;
    w.f64[QW_SUM_EXEC_NS] = u32[(at + K.Q_SUM_EXEC_RUNTIME) >> 2]! + u32[(at + K.Q_SUM_EXEC_RUNTIME + 4) >> 2]! * TWO_32;
    w.f64[QW_NVCSW] = u32[(at + K.Q_NVCSW) >> 2]! + u32[(at + K.Q_NVCSW + 4) >> 2]! * TWO_32;
    w.f64[QW_TS_NS] = u32[(at + K.Q_TS_NS) >> 2]! + u32[(at + K.Q_TS_NS + 4) >> 2]! * TWO_32;
    w.push(
      coreKind,
      pid,
      cpu >= 0 && cpu < this.nrCpus ? cpu : -1,
      (flags & K.QF_RUNNABLE) !== 0 ? EVF_RUNNABLE : 0,
      weight,
      slot,
    );
    return true;
  }

  // The core has no room for this task (its table is full): the kernel half runs it on the first free CPU
  // rather than leave it waiting for a decision that will never come.
  private runUnplaced(u32: Uint32Array, i32: Int32Array, at: number, pid: number): boolean {
    const sink = this.sink;
    const d = sink.reserve();
    if (d < 0) return false;
    sink.i32[(d + K.D_PID) >> 2] = pid;
    sink.i32[(d + K.D_CPU) >> 2] = K.CPU_ANY;
    sink.u32[(d + K.D_FLAGS) >> 2] = 0;
    sink.u32[(d + K.D_RSV) >> 2] = 0;
    writeU64(sink.u32, d + K.D_SLICE_NS, 0);
    writeU64(sink.u32, d + K.D_VTIME, 0);
    sink.u32[(d + K.D_ENQ_CNT) >> 2] = u32[(at + K.Q_ENQ_CNT) >> 2]!;
    sink.u32[(d + K.D_ENQ_CNT + 4) >> 2] = u32[(at + K.Q_ENQ_CNT + 4) >> 2]!;
    sink.commit(d);
    this.stats[B_TASKS_UNPLACED] = this.stats[B_TASKS_UNPLACED]! + 1;
    this.cnt[C.nr_bounce_dispatches] = this.cnt[C.nr_bounce_dispatches]! + 1;
    return true;
  }

  /**
   * Copies the core's dispatch records into the kernel's ring. Returns how many were copied; those that
   * do not fit stay in the core's ring for the next call (a dispatch is never dropped).
   */
  flush(): number {
    const sink = this.sink;
    const ring = this.scheduler.dispatched;
    const n = ring.available();
    const ri = ring.i32;
    const rf = ring.f64;
    const u32 = sink.u32;
    const i32 = sink.i32;
    let copied = 0;
    for (; copied < n; copied++) {
      const at = sink.reserve();
      if (at < 0) break;
      const d = ring.record(copied);
      const pid = ri[(d + D_PID) >> 2]!;
      // The core dispatches to CPUs it was told are free, or with DF_PREEMPT to a busy one (the task there
      // is stopped, and its record then finds this CPU owned by the new task, so it does not free it). It
      // never bounces a task here: every task is registered before its first record reaches the core.
      const cpu = ri[(d + D_CPU) >> 2]!;
      const slot = this.scheduler.slotOf(pid);
      i32[(at + K.D_PID) >> 2] = pid;
      i32[(at + K.D_CPU) >> 2] = cpu;
      // A preempting task runs next on that CPU, ahead of anything already waiting in its local DSQ.
      u32[(at + K.D_FLAGS) >> 2] = (ri[(d + D_FLAGS) >> 2]! & DF_PREEMPT) !== 0 ? K.DF_PREEMPT | K.DF_HEAD : 0;
      u32[(at + K.D_RSV) >> 2] = 0;
      // Slices and vtimes are computed as doubles: writeU64 drops their fraction.
      writeU64(u32, at + K.D_SLICE_NS, rf[(d + D_SLICE_NS) >> 3]!);
      const vtime = rf[(d + D_VRUNTIME) >> 3]!;
      writeU64(u32, at + K.D_VTIME, vtime > 0 ? vtime : 0);
      writeU64(u32, at + K.D_ENQ_CNT, this.enqCnt[slot]!);
      // Placed ahead on the shared queue (CPU_ANY, -1): no CPU is its until it runs, and its record frees none.
      if (cpu >= 0) this.owner[cpu] = slot;
      this.slotCpu[slot] = cpu;
      sink.commit(at);
    }
    if (copied > 0) ring.release(copied);
    this.stats[B_HELD_DISPATCHES] = n - copied;
    this.cnt[C.nr_scheduled] = this.scheduler.nrWaiting;
    return copied;
  }

  /** Dispatch records the kernel's ring had no room for at the last flush (they wait in the core's ring). */
  get heldDispatches(): number {
    return this.stats[B_HELD_DISPATCHES]!;
  }

  // ---- task creation path (may allocate) ----

  private register(pid: number, weight: number, cpu: number): number {
    this.creationMeter?.creationBegin();
    const slot = this.registerSlot(pid, weight, cpu);
    this.creationMeter?.creationEnd();
    return slot;
  }

  private registerSlot(pid: number, weight: number, cpu: number): number {
    let slot: number;
    try {
      slot = this.scheduler.registerTask(pid, weight > 0 ? weight : 100, cpu >= 0 && cpu < this.nrCpus ? cpu : -1);
    } catch {
      return -1;
    }
    if (slot >= this.enqCnt.length) {
      let size = this.enqCnt.length;
      while (size <= slot) size *= 2;
      const enqCnt = new Float64Array(size);
      enqCnt.set(this.enqCnt);
      this.enqCnt = enqCnt;
      const slotCpu = new Int32Array(size).fill(-1);
      slotCpu.set(this.slotCpu);
      this.slotCpu = slotCpu;
    }
    this.slotCpu[slot] = -1;
    return slot;
  }
}
