// Watches a scheduler's heartbeat from outside, the way its guardian does: the heartbeat file holds the
// CLOCK_MONOTONIC milliseconds of the loop's last beat, and process.hrtime reads the same clock. Polled
// every POLL_MS, so a stall shorter than a sample interval still shows in that second's maximum age.

import { closeSync, openSync, readSync } from 'node:fs';
import { HB_BEAT_MS, HB_DONE, HB_FLAGS, HEARTBEAT_BYTES, runPaths } from '../src/backends/proc/guardian/state.js';

export const POLL_MS = 50;
const READ_NOISE_MS = 2;
const NSEC_PER_MSEC = 1e6;

export function monotonicNowMs(): number {
  return Number(process.hrtime.bigint()) / NSEC_PER_MSEC;
}

export class HeartbeatWatch {
  private fd = -1;
  private readonly buf = Buffer.alloc(HEARTBEAT_BYTES);
  private timer: NodeJS.Timeout | undefined;
  /** Largest age seen since the last take(); -1 when no beat was readable. */
  private windowMaxMs = -1;

  constructor(
    private readonly stateDir: string,
    private readonly schedulerPid: number,
  ) {}

  start(): this {
    this.timer = setInterval(() => this.poll(), POLL_MS);
    this.timer.unref();
    return this;
  }

  /** Age of the latest beat in ms, or undefined when there is no beat file (yet, or any more). */
  ageMs(): number | undefined {
    if (this.fd < 0) {
      try {
        this.fd = openSync(runPaths(this.stateDir, this.schedulerPid).heartbeat, 'r');
      } catch {
        return undefined;
      }
    }
    const beforeMs = monotonicNowMs();
    if (readSync(this.fd, this.buf, 0, HEARTBEAT_BYTES, 0) < HEARTBEAT_BYTES) return undefined;
    const afterMs = monotonicNowMs();
    // On a loaded machine this process can lose the CPU between the read and the clock: such a reading
    // would blame the scheduler for our own delay, so it is dropped.
    if (afterMs - beforeMs > READ_NOISE_MS) return undefined;
    const beatMs = this.buf.readDoubleLE(HB_BEAT_MS);
    if (beatMs <= 0 || this.buf.readDoubleLE(HB_FLAGS) === HB_DONE) return undefined;
    return Math.max(0, afterMs - beatMs);
  }

  private poll(): void {
    const age = this.ageMs();
    if (age === undefined) return;
    if (age > this.windowMaxMs) this.windowMaxMs = age;
  }

  /** The largest age seen since the previous call, then starts a new window. */
  take(): number | undefined {
    const v = this.windowMaxMs;
    this.windowMaxMs = -1;
    return v < 0 ? undefined : v;
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    if (this.fd >= 0) closeSync(this.fd);
    this.fd = -1;
  }
}
