// A fixed-size log-linear histogram of non-negative integers (latencies in ns), so recording a sample never
// allocates and never grows: values below 2^SUB_BITS are counted exactly; above, each power of two is split
// into 2^SUB_BITS buckets, so a bucket is at most 1/64 (1.6%) of its value wide. Percentiles report a
// bucket's lower bound. Counts live in a Float64Array; one histogram per class sits side by side.
//
//   bucket b:   b < 64            value b exactly
//               b = 64*(e-5)+s    values [2^e + s*2^(e-6), 2^e + (s+1)*2^(e-6)), e >= 6, 0 <= s < 64

import type { Percentiles } from './summary.js';

const SUB_BITS = 6;
const SUB_COUNT = 1 << SUB_BITS;
/** Up to 2^52 ns (52 days) before the last bucket absorbs everything. */
const MAX_EXP = 52;
export const HISTOGRAM_BUCKETS = (MAX_EXP - SUB_BITS + 2) * SUB_COUNT;

export class Histograms {
  private readonly counts: Float64Array;
  private readonly totals: Float64Array;

  constructor(readonly groups: number) {
    this.counts = new Float64Array(groups * HISTOGRAM_BUCKETS);
    this.totals = new Float64Array(groups);
  }

  /** Counts `valueNs` (rounded down to a whole number) in `group`. Never allocates. */
  record(group: number, valueNs: number): void {
    const b = bucketOf(valueNs < 0 ? 0 : Math.floor(valueNs));
    this.counts[group * HISTOGRAM_BUCKETS + b] = this.counts[group * HISTOGRAM_BUCKETS + b]! + 1;
    this.totals[group] = this.totals[group]! + 1;
  }

  count(group: number): number {
    return this.totals[group]!;
  }

  /** Percentiles of one group, or of all groups together when `group` is -1; null when empty. */
  percentiles(group: number): Percentiles | null {
    const merged = new Float64Array(HISTOGRAM_BUCKETS);
    let total = 0;
    for (let g = 0; g < this.groups; g++) {
      if (group !== -1 && g !== group) continue;
      for (let b = 0; b < HISTOGRAM_BUCKETS; b++) merged[b] = merged[b]! + this.counts[g * HISTOGRAM_BUCKETS + b]!;
      total += this.totals[g]!;
    }
    if (total === 0) return null;
    const at = (q: number): number => {
      const rank = Math.max(1, Math.ceil(q * total));
      let seen = 0;
      for (let b = 0; b < HISTOGRAM_BUCKETS; b++) {
        seen += merged[b]!;
        if (seen >= rank) return lowerBound(b);
      }
      return lowerBound(HISTOGRAM_BUCKETS - 1);
    };
    return { p50: at(0.5), p99: at(0.99), p999: at(0.999) };
  }
}

function bucketOf(v: number): number {
  if (v < SUB_COUNT) return v;
  let e = Math.floor(Math.log2(v));
  // log2 of a huge integer can round up across a power of two; step back so 2^e <= v holds.
  if (2 ** e > v) e--;
  if (e > MAX_EXP) return HISTOGRAM_BUCKETS - 1;
  const sub = Math.floor(v / 2 ** (e - SUB_BITS)) - SUB_COUNT;
  return (e - SUB_BITS + 1) * SUB_COUNT + sub;
}

function lowerBound(b: number): number {
  if (b < SUB_COUNT) return b;
  const e = Math.floor(b / SUB_COUNT) + SUB_BITS - 1;
  const sub = b % SUB_COUNT;
  return 2 ** e + sub * 2 ** (e - SUB_BITS);
}
