// CLOCK_MONOTONIC read through libc into a preallocated timespec: the same clock in every process and
// thread (the guardian compares the scheduler's heartbeat against its own reading), and no allocation
// (process.hrtime.bigint() creates a BigInt per call).

import { libc } from '../../mem/libc.js';
import { ProcUnavailableError } from './sys.js';
import { MSEC_PER_SEC, NSEC_PER_MSEC, NSEC_PER_SEC } from '../../base/units.js';

const CLOCK_MONOTONIC = 1;

// struct timespec { long tv_sec; long tv_nsec; } on x86-64 and arm64: two little-endian 64-bit words whose
// values fit in 32 bits (seconds since boot, nanoseconds below 1e9), so the low halves are enough.
const timespec = new Int32Array(4);
let clockGettime: ((clock: number, ts: Int32Array) => number) | null = null;
let baseSec = -1;
/**
 * The base is set this far in the past, so readings are past the small-integer range from the first call:
 * V8 then compiles the arithmetic on them as doubles at once, instead of as integers that overflow (and
 * deoptimize, and run unoptimized and allocating for a while) a few seconds into the run.
 */
const BASE_BACKDATE_SEC = 10;

function read(): void {
  if (!clockGettime) {
    const lib = libc();
    if (!lib) throw new ProcUnavailableError('clock_gettime needs libc');
    clockGettime = lib.func('clock_gettime', 'int', ['int', 'void *']) as unknown as (c: number, ts: Int32Array) => number;
  }
  clockGettime(CLOCK_MONOTONIC, timespec);
}

/** Monotonic milliseconds since boot, with a fraction: comparable between processes. */
export function monotonicMs(): number {
  read();
  return timespec[0]! * MSEC_PER_SEC + timespec[2]! / NSEC_PER_MSEC;
}

/**
 * Monotonic nanoseconds since this module first ran in this thread: small enough that a double holds them
 * exactly for 104 days (less BASE_BACKDATE_SEC), unlike nanoseconds since boot on a long-running machine.
 */
export function monotonicNs(): number {
  read();
  if (baseSec < 0) baseSec = timespec[0]! - BASE_BACKDATE_SEC;
  return (timespec[0]! - baseSec) * NSEC_PER_SEC + timespec[2]!;
}

/** monotonicNs() written into out[index]: a double returned from a call is boxed, one stored in place is not. */
export function readMonotonicNs(out: Float64Array, index: number): void {
  read();
  if (baseSec < 0) baseSec = timespec[0]! - BASE_BACKDATE_SEC;
  out[index] = (timespec[0]! - baseSec) * NSEC_PER_SEC + timespec[2]!;
}

/** monotonicMs() written into out[index], allocation-free. */
export function readMonotonicMs(out: Float64Array, index: number): void {
  read();
  out[index] = timespec[0]! * MSEC_PER_SEC + timespec[2]! / NSEC_PER_MSEC;
}

/**
 * Reads the clock in place a few thousand times before the loop starts. The heartbeat reads it once per
 * beat: left to itself, readMonotonicMs became hot enough to be optimized only ~25 s into a run, and
 * installing its code faulted in a code page on the scheduler thread.
 */
export function warmClock(rounds = 2000): void {
  const out = new Float64Array(1);
  for (let i = 0; i < rounds; i++) {
    readMonotonicMs(out, 0);
    readMonotonicNs(out, 0);
  }
}
