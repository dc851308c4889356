// One round of the sched_ext scheduler thread, as a method that returns a small integer: 0 to go on at once,
// a positive number of milliseconds it may sleep in epoll on the `queued` ring, or why to leave the burst.
//
//   drain `queued` ──▶ bridge ──▶ core.schedule() ──▶ bridge.flush ──▶ `dispatched` ──▶ sleep in epoll
//
// What the thread writes is placed when a CPU runs ops.dispatch, which drains `dispatched`. When the round
// found nothing more to read the thread sleeps in epoll_wait on the ring's fd at once: blocking makes its
// CPU look for the next task, and so run ops.dispatch; the kernel wakes the thread on the next record. Only
// when it will not block (more records already wait, or the kernel's ring was full) does it sched_yield
// first, so that what it wrote is placed meanwhile (scx_rustland's user scheduler yields after every batch;
// here a yield then a sleep cost the guest two kernel entries per decision for one).
// Time values stay in Float64Arrays; only integers cross the calls (see proc/loop.ts for why).

import type { Scheduler } from '../../../sched/api.js';
import { CLOCK_NOW_NS } from '../../../sched/api.js';
import { C, type Counters } from '../../../base/counters.js';
import type { ScxBridge } from './bridge.js';
import * as K from '../layout.js';
import type { DispatchRing, QueuedRing } from '../rings.js';
import type { RecordCapture } from './capture.js';

export const ROUND_STOP = -1;
export const ROUND_YIELD = -2;
export const ROUND_EJECTED = -3;

/** What the loop needs of the loaded scheduler (loader.ts ScxScheduler, or a stand-in in the drill). */
export interface KernelHalf {
  counter(offsetBytes: number): number;
  setScheduled(tasks: number): void;
  setDispatchPosted(records: number): void;
  /** enum scx_exit_kind once the kernel has unloaded or ejected the scheduler, 0 while it runs. */
  exitKind(): number;
}

/** Reads CLOCK_MONOTONIC in ns into `out[i]` (the clock bpf_ktime_get_ns counts). */
export type ReadClockNs = (out: Float64Array, i: number) => void;

// Slots of `times`.
const T_NOW = 0;
const T_BURST_END = 1;
const T_BURST = 2;
const T_LAST_COPY = 3;
const T_SLOTS = 4;
/** The kernel half's counters are copied into tsland's this often (each copy is a dozen reads). */
const COPY_COUNTERS_NS = 100_000_000;
/** Longest sleep in epoll: the stop flag and the burst end are checked at least this often. */
export const MAX_SLEEP_MS = 50;

export class ScxLoop {
  private readonly times = new Float64Array(T_SLOTS);
  private readonly cnt: Float64Array;
  /** [0] records drained, [1] dispatch records written, [2] rounds, [3] yields, [4] sleeps (in epoll, or parked). */
  readonly totals = new Float64Array(5);
  /** Records what the round reads, for bench:scx's replay (capture.ts); null in a normal run. */
  capture: RecordCapture | null = null;
  /** Called with the counter copy, every COPY_COUNTERS_NS (the thread publishes its faults there); allocation-free. */
  onTick: (() => void) | null = null;

  constructor(
    private readonly scheduler: Scheduler,
    private readonly bridge: ScxBridge,
    private readonly queued: QueuedRing,
    private readonly dispatch: DispatchRing,
    private readonly kernel: KernelHalf,
    counters: Counters,
    private readonly ctl: Int32Array,
    private readonly stopWord: number,
    private readonly readClockNs: ReadClockNs,
    private readonly sched_yield: () => number,
    burstNs: number,
  ) {
    this.cnt = counters.f64;
    this.times[T_BURST] = burstNs;
    this.times[T_LAST_COPY] = -Infinity;
  }

  setBurstNs(burstNs: number): void {
    this.times[T_BURST] = burstNs;
  }

  startBurst(): void {
    this.readClockNs(this.times, T_BURST_END);
    this.times[T_BURST_END] = this.times[T_BURST_END]! + this.times[T_BURST]!;
  }

  /** One round: 0 (go on), ms to sleep in epoll (> 0), or a ROUND_* reason to leave the burst. */
  round(): number {
    if (Atomics.load(this.ctl, this.stopWord) !== 0) return ROUND_STOP;
    // Ejected (the kernel's watchdog, an error in the BPF half, sysrq): nothing more will come.
    if (this.kernel.exitKind() !== 0) return ROUND_EJECTED;
    const q = this.queued;
    const bridge = this.bridge;
    const s = this.scheduler;
    const u32 = q.u32;
    const i32 = q.i32;
    this.readClockNs(s.clock, CLOCK_NOW_NS);
    const cap = this.capture;
    if (cap !== null) cap.startRound(s.clock, CLOCK_NOW_NS);
    let drained = 0;
    for (let at = q.next(); at >= 0; at = q.next()) {
      if (cap !== null) cap.add(u32, at);
      // The core's queued ring is larger than the kernel's, so this only happens if the core was not run
      // for a whole kernel ring: make room, then take the record.
      if (!bridge.handleQueued(u32, i32, at)) {
        s.schedule();
        bridge.flush();
        bridge.handleQueued(u32, i32, at);
      }
      drained++;
    }
    q.release();
    if (cap !== null) cap.endRound(drained);
    s.schedule();
    const written = bridge.flush();
    const k = this.kernel;
    k.setScheduled(s.nrWaiting);
    k.setDispatchPosted(this.dispatch.recordsPushed);
    const totals = this.totals;
    totals[0] = totals[0]! + drained;
    totals[1] = totals[1]! + written;
    totals[2] = totals[2]! + 1;
    const times = this.times;
    // The round's start time stands for its end: a second clock read per round cost ~12 us in the guest
    // (a libc call through koffi under emulation), against ~20 us for the whole round's JavaScript.
    times[T_NOW] = s.clock[CLOCK_NOW_NS]!;
    if (times[T_NOW]! - times[T_LAST_COPY]! >= COPY_COUNTERS_NS) {
      this.copyCounters();
      times[T_LAST_COPY] = times[T_NOW]!;
      if (this.onTick !== null) this.onTick();
    }
    // What we wrote is placed when a CPU runs ops.dispatch. Sleeping in epoll below lets this CPU do so (the
    // thread blocks, the kernel looks for the next task), so a yield is only needed when the thread will not
    // block: more records already wait, or the kernel's ring was full. Yielding and then sleeping cost the
    // guest two kernel entries and a context switch more per decision for nothing (bench:scx measured ~1.8
    // yields and ~0.9 sleeps per dispatch).
    const more = q.pending();
    if (bridge.heldDispatches > 0 || (written > 0 && more)) {
      this.sched_yield();
      totals[3] = totals[3]! + 1;
      return 0;
    }
    if (more) return 0;
    const leftNs = times[T_BURST_END]! - times[T_NOW]!;
    if (leftNs <= 0) return ROUND_YIELD;
    const ms = Math.ceil(leftNs / 1_000_000);
    totals[4] = totals[4]! + 1;
    return ms < MAX_SLEEP_MS ? ms : MAX_SLEEP_MS;
  }

  /** The kernel half's view, where tsland's stats read it (the names scx_rustland reports). */
  copyCounters(): void {
    const cnt = this.cnt;
    const k = this.kernel;
    cnt[C.nr_kernel_dispatches] = k.counter(K.C_KERNEL_DISPATCHES);
    cnt[C.nr_cancel_dispatches] = k.counter(K.C_CANCEL_DISPATCHES);
    cnt[C.nr_bounce_dispatches] = k.counter(K.C_BOUNCE_DISPATCHES) + this.bridge.tasksUnplaced;
    cnt[C.nr_failed_dispatches] = k.counter(K.C_FAILED_DISPATCHES);
    cnt[C.nr_sched_congested] = k.counter(K.C_SCHED_CONGESTED);
    cnt[C.nr_kernel_events] = k.counter(K.C_EVENTS);
    cnt[C.nr_dispatch_posted] = k.counter(K.C_DISPATCH_POSTED);
    cnt[C.nr_dispatch_drained] = k.counter(K.C_DISPATCH_DRAINED);
    cnt[C.nr_events_lost] = k.counter(K.C_EVENTS_LOST);
    cnt[C.nr_self_dispatches] = k.counter(K.C_SELF_DISPATCHES);
    cnt[C.nr_rescued] = k.counter(K.C_RESCUED);
    cnt[C.nr_rescues] = k.counter(K.C_RESCUES);
    cnt[C.nr_starved] = k.counter(K.C_STARVED);
    cnt[C.nr_parks] = k.counter(K.C_PARKS);
    cnt[C.nr_unparks] = k.counter(K.C_UNPARKS);
    const totals = this.totals;
    cnt[C.nr_sched_rounds] = totals[2]!;
    cnt[C.nr_sched_yields] = totals[3]!;
    cnt[C.nr_sched_sleeps] = totals[4]!;
  }
}
