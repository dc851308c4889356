// One round of the scheduler thread, as a method that returns a small integer: the milliseconds to sleep,
// or why to leave the burst. Every time value stays in a Float64Array; the caller's loop handles
// integers only, so even the loop itself (re-entered once per burst, where V8 may run it unoptimized for
// a few rounds) boxes nothing.

import { CLK_NEXT_WAKE_NS, CLK_NOW_NS, type ProcBackend } from './backend.js';
import { readMonotonicMs, readMonotonicNs } from '../../os/clock.js';
import { NSEC_PER_MSEC } from '../../../base/units.js';
import { CTL_ADOPT_PID, CTL_STOP } from '../../session/control.js';
import { HB_BEAT_MS } from '../guardian/state.js';
import type { Sys } from '../../os/sys.js';

export const ROUND_STOP = -1;
export const ROUND_GUARDIAN_LOST = -2;
export const ROUND_EMPTY = -3;
export const ROUND_YIELD = -4;

// Slots of `times`.
const T_BURST_END = 0;
const T_AFTER = 1;
const T_LAST_BEAT = 2;
const T_HEARTBEAT = 3;
const T_BURST = 4;
const T_SLOTS = 5;

export class SchedulerLoop {
  private readonly times = new Float64Array(T_SLOTS);
  private readonly beat = new Float64Array(1);
  private readonly beatBytes = new Uint8Array(this.beat.buffer);

  constructor(
    private readonly backend: ProcBackend,
    private readonly ctl: Int32Array,
    private readonly s: Sys,
    private readonly hbFd: number,
    heartbeatNs: number,
    burstNs: number,
    private readonly endWhenEmpty: boolean,
  ) {
    this.times[T_LAST_BEAT] = -Infinity;
    this.times[T_HEARTBEAT] = heartbeatNs;
    this.times[T_BURST] = burstNs;
  }

  /** Length of the next bursts (short ones while warming up). */
  setBurstNs(burstNs: number): void {
    this.times[T_BURST] = burstNs;
  }

  startBurst(): void {
    readMonotonicNs(this.times, T_BURST_END);
    this.times[T_BURST_END]! += this.times[T_BURST]!;
  }

  /** One round; returns ms to sleep (>= 0) or a ROUND_* reason to leave the burst. */
  round(): number {
    const ctl = this.ctl;
    const backend = this.backend;
    const times = this.times;
    const clock = backend.clock;
    if (Atomics.load(ctl, CTL_STOP) !== 0) return ROUND_STOP;
    const rootPid = Atomics.load(ctl, CTL_ADOPT_PID);
    if (rootPid !== 0) {
      // Node reaps the command it spawned; the backend must not take its exit status.
      backend.keepUnreaped(rootPid);
      backend.adopt(rootPid);
      // Where the command could only be spawned now (no shell to hold it before this thread started),
      // that fork left the tables copy-on-write: break it now, not mid-run. Otherwise this is one write per
      // table page, once.
      backend.retouchMemory();
      Atomics.store(ctl, CTL_ADOPT_PID, 0);
    }
    readMonotonicNs(clock, CLK_NOW_NS);
    backend.step();
    if (backend.guardianLost) return ROUND_GUARDIAN_LOST;
    if (this.endWhenEmpty && backend.tasks.nLive === 0) return ROUND_EMPTY;
    if (clock[CLK_NOW_NS]! - times[T_LAST_BEAT]! >= times[T_HEARTBEAT]!) {
      readMonotonicMs(this.beat, 0);
      this.s.pwrite(this.hbFd, this.beatBytes, 8, HB_BEAT_MS);
      times[T_LAST_BEAT] = clock[CLK_NOW_NS]!;
    }
    readMonotonicNs(times, T_AFTER);
    const afterNs = times[T_AFTER]!;
    if (afterNs >= times[T_BURST_END]!) return ROUND_YIELD;
    let waitNs = clock[CLK_NEXT_WAKE_NS]! - afterNs;
    const beatDueNs = times[T_LAST_BEAT]! + times[T_HEARTBEAT]! - afterNs;
    if (beatDueNs < waitNs) waitNs = beatDueNs;
    if (times[T_BURST_END]! - afterNs < waitNs) waitNs = times[T_BURST_END]! - afterNs;
    // Whole milliseconds, rounded up: a fractional timeout would be boxed on its way into Atomics.wait.
    return waitNs > 0 ? Math.ceil(waitNs / NSEC_PER_MSEC) : 0;
  }
}
