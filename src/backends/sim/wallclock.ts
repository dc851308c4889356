// A monotonic wall clock that allocates nothing: clock_gettime through the shared libc handle into a
// preallocated timespec. performance.now() and process.hrtime() both allocate a result on the JS heap,
// which would show up as GC events of the very loop being measured. Falls back to performance.now()
// where libc is unavailable.

import { libc } from '../../mem/libc.js';
import { NSEC_PER_SEC } from '../../base/units.js';

export const CLOCK_MONOTONIC = 1;
/** CPU time of the calling thread: what a step cost, whatever else the machine was doing. */
export const CLOCK_THREAD_CPUTIME_ID = 3;

export class WallClock {
  private readonly ts = new Int32Array(4);
  private readonly call: ((clk: number, ts: Int32Array) => number) | null;

  constructor(private readonly clockId = CLOCK_MONOTONIC) {
    const lib = libc();
    this.call = lib ? (lib.func('clock_gettime', 'int', ['int', 'void *']) as (clk: number, ts: Int32Array) => number) : null;
  }

  /** Reads the clock into `out[index]`, in ns. Only integers cross the call, so nothing is boxed. */
  readInto(out: Float64Array, index: number): void {
    if (this.call === null) {
      out[index] = this.clockId === CLOCK_MONOTONIC ? performance.now() * 1e6 : NaN;
      return;
    }
    const ts = this.ts;
    this.call(this.clockId, ts);
    // struct timespec on 64-bit little-endian Linux: tv_sec (int64: low, high word), tv_nsec (long).
    out[index] = ((ts[0]! >>> 0) + ts[1]! * 4294967296) * NSEC_PER_SEC + ts[2]!;
  }
}
