// Samples the counters buffer at a fixed interval on the reading side (stats server, `tsland top`), keeps a
// bounded history and judges each interval with the memory part's health rule (mem/health.ts: page faults,
// GCs, congestion and failed dispatches must all be 0). The scheduler thread is never touched: reading a Float64Array slot of a SharedArrayBuffer is all this does.

import { evaluateHealth, type MemHealth } from '../mem/health.js';
import { C, COUNTER_COUNT, COUNTER_NAMES, type Counters } from '../base/counters.js';

export interface Sample {
  /** Wall-clock time of the sample, ms since the epoch. */
  atMs: number;
  values: Float64Array;
}

/** The memory part's health rule over one interval, plus how long that interval was. */
export interface Health extends MemHealth {
  intervalMs: number;
}

export const DEFAULT_SAMPLE_INTERVAL_MS = 1000;
export const DEFAULT_HISTORY_SAMPLES = 120;

export class CounterSampler {
  readonly history: Sample[] = [];
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly counters: Counters,
    private readonly capacity = DEFAULT_HISTORY_SAMPLES,
  ) {}

  sample(atMs = Date.now()): Sample {
    const values = new Float64Array(COUNTER_COUNT);
    values.set(this.counters.f64.subarray(0, COUNTER_COUNT));
    const s = { atMs, values };
    this.history.push(s);
    if (this.history.length > this.capacity) this.history.shift();
    return s;
  }

  /** Samples every `intervalMs` until stop(); the timer never keeps the process alive. */
  start(intervalMs = DEFAULT_SAMPLE_INTERVAL_MS): this {
    if (this.history.length === 0) this.sample();
    this.timer = setInterval(() => this.sample(), intervalMs);
    this.timer.unref();
    return this;
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Health over the last completed interval; before two samples exist, over everything counted so far. */
  health(): Health {
    const last = this.history.at(-1) ?? this.sample();
    const prev = this.history.length >= 2 ? this.history.at(-2)! : undefined;
    return healthBetween(prev, last);
  }

  /** Per-second rate of one counter over the history, for sparklines and charts. */
  rates(name: (typeof COUNTER_NAMES)[number]): number[] {
    const slot = C[name];
    const out: number[] = [];
    for (let i = 1; i < this.history.length; i++) {
      const a = this.history[i - 1]!;
      const b = this.history[i]!;
      const dtS = (b.atMs - a.atMs) / 1000;
      out.push(dtS > 0 ? (b.values[slot]! - a.values[slot]!) / dtS : 0);
    }
    return out;
  }
}

export function healthBetween(prev: Sample | undefined, last: Sample): Health {
  return { ...evaluateHealth(prev ? prev.values : null, last.values), intervalMs: prev ? last.atMs - prev.atMs : 0 };
}
