// Figures computed once a simulation has finished (off the hot path; allocation is fine here).

export interface Percentiles {
  p50: number;
  p99: number;
  p999: number;
}

/** Nearest-rank percentiles of the first `n` samples (sorted in place); null when there are none. */
export function percentiles(samples: Float64Array, n: number): Percentiles | null {
  if (n === 0) return null;
  const sorted = samples.subarray(0, n).sort();
  const rank = (q: number): number => sorted[Math.min(n - 1, Math.max(0, Math.ceil(q * n) - 1))]!;
  return { p50: rank(0.5), p99: rank(0.99), p999: rank(0.999) };
}

/** Jain's fairness index of x: (sum x)^2 / (n * sum x^2); 1 when all are equal. */
export function jainIndex(x: ArrayLike<number>): number {
  let sum = 0;
  let sumSq = 0;
  for (let i = 0; i < x.length; i++) {
    sum += x[i]!;
    sumSq += x[i]! * x[i]!;
  }
  return sumSq === 0 ? 1 : (sum * sum) / (x.length * sumSq);
}
