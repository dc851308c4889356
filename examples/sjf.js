// sjf: shortest expected burst first, with aging, in under 60 lines.
//
//   on stop after running ranNs:  avgRunNs = (7 * avgRunNs + ranNs) / 8     (a moving average of bursts)
//   run-queue key:                nowNs / 8 + avgRunNs * 100 / weight      (short bursts and heavy tasks go
//                                 first; the nowNs term ages waiting tasks, so nobody starves)
//   slice:                        4 * avgRunNs, between 1 ms and the base slice
//   CPU:                          the core's choice (the previous CPU if idle, else any idle one)
//
// Try it:  tsland sim --policy ./examples/sjf.js --workload interactive --tasks 64
//
// Rules of the hot path: callbacks get a task slot (a number) and must not allocate. Per-task numbers are
// read and written through the slab views: tasks.f64Of(t)[tasks.f64Index(t) + word].

import { F64_LAST_RAN_NS, F64_DEADLINE, F64_SLICE_NS, I32_WEIGHT, NSEC_PER_MSEC } from 'tsland/sched';

const MIN_SLICE_NS = 1 * NSEC_PER_MSEC;
const EWMA_OLD = 7;
const EWMA_DIV = 8;
const AGING_DIV = 8;

export default {
  name: 'sjf',
  fields: { avgRunNs: 'f64' },

  init(ctx) {
    this.ctx = ctx;
    this.tasks = ctx.tasks;
    this.avgRunWord = ctx.field('avgRunNs').word;
  },

  stopping(t) {
    const f = this.tasks.f64Of(t);
    const i = this.tasks.f64Index(t);
    f[i + this.avgRunWord] = (EWMA_OLD * f[i + this.avgRunWord] + f[i + F64_LAST_RAN_NS]) / EWMA_DIV;
  },

  enqueue(t) {
    const tasks = this.tasks;
    const f = tasks.f64Of(t);
    const i = tasks.f64Index(t);
    const weight = tasks.i32Of(t)[tasks.i32Index(t) + I32_WEIGHT];
    f[i + F64_DEADLINE] = this.ctx.nowNs() / AGING_DIV + (f[i + this.avgRunWord] * 100) / weight;
  },

  slice(t) {
    const f = this.tasks.f64Of(t);
    const i = this.tasks.f64Index(t);
    const want = 4 * f[i + this.avgRunWord];
    f[i + F64_SLICE_NS] = Math.min(this.ctx.baseSliceNs, Math.max(MIN_SLICE_NS, want));
  },
};
