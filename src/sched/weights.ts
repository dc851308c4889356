// Scheduling weights from nice values. The kernel's CFS table (sched_prio_to_weight: 1024 at nice 0, each
// nice step ~1.25x) scaled to sched_ext's range, where nice 0 is 100: round(w * 100 / 1024), at least 1.

export const WEIGHT_NICE_0 = 100;
export const WEIGHT_MIN = 1;
export const WEIGHT_MAX = 10000;
export const NICE_MIN = -20;
export const NICE_MAX = 19;
const KERNEL_WEIGHT_NICE_0 = 1024;

// Index 0 is nice -20.
const KERNEL_PRIO_TO_WEIGHT = [
  88761, 71755, 56483, 46273, 36291, 29154, 23254, 18705, 14949, 11916, 9548, 7620, 6100, 4904, 3906, 3121, 2501, 1991, 1586,
  1277, 1024, 820, 655, 526, 423, 335, 272, 215, 172, 137, 110, 87, 70, 56, 45, 36, 29, 23, 18, 15,
] as const;

const SCALED = Int32Array.from(KERNEL_PRIO_TO_WEIGHT, (w) =>
  Math.max(WEIGHT_MIN, Math.round((w * WEIGHT_NICE_0) / KERNEL_WEIGHT_NICE_0)),
);

/** Weight (100 at nice 0) of a nice value; nice is clamped to [-20, 19] as the kernel does. */
export function weightFromNice(nice: number): number {
  const n = nice < NICE_MIN ? NICE_MIN : nice > NICE_MAX ? NICE_MAX : nice | 0;
  return SCALED[n - NICE_MIN]!;
}

/** Clamps a weight into the range the scheduler accepts. */
export function clampWeight(weight: number): number {
  return weight < WEIGHT_MIN ? WEIGHT_MIN : weight > WEIGHT_MAX ? WEIGHT_MAX : weight | 0;
}
