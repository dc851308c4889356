// Axis arithmetic shared by the SVG charts: "nice" tick steps (1, 2, 5 times a power of ten) so that the
// labels read as round numbers whatever the data's range.

export interface Ticks {
  min: number;
  max: number;
  step: number;
  values: number[];
}

const NICE_STEPS = [1, 2, 5, 10] as const;

export function niceTicks(lo: number, hi: number, targetCount = 5): Ticks {
  if (!Number.isFinite(lo) || !Number.isFinite(hi)) {
    lo = 0;
    hi = 1;
  }
  if (hi < lo) [lo, hi] = [hi, lo];
  if (hi === lo) {
    const pad = lo === 0 ? 1 : Math.abs(lo) * 0.1;
    lo -= pad;
    hi += pad;
  }
  const rough = (hi - lo) / Math.max(1, targetCount);
  const power = 10 ** Math.floor(Math.log10(rough));
  const step = NICE_STEPS.find((s) => s * power >= rough)! * power;
  const min = Math.floor(lo / step) * step;
  const max = Math.ceil(hi / step) * step;
  const values: number[] = [];
  // Rounding each tick to the step's precision keeps 0.30000000000000004 out of the labels.
  const digits = Math.max(0, -Math.floor(Math.log10(step)));
  for (let v = min; v <= max + step / 2; v += step) values.push(Number(v.toFixed(digits)));
  return { min, max, step, values };
}

/** Maps a data value in [d0, d1] to a pixel in [p0, p1]. */
export function scale(d0: number, d1: number, p0: number, p1: number): (v: number) => number {
  const span = d1 - d0 || 1;
  return (v) => p0 + ((v - d0) / span) * (p1 - p0);
}

/** Colour-blind-safe palette (Okabe-Ito), cycled by series index. */
export const PALETTE = ['#0072B2', '#D55E00', '#009E73', '#CC79A7', '#E69F00', '#56B4E9', '#F0E442', '#000000'] as const;

export function colorAt(index: number): string {
  return PALETTE[index % PALETTE.length]!;
}
