// fifo: first come, first served, like scx_rlfifo.
//
//   run-queue key:   the order in which tasks became runnable (a counter; ties cannot happen)
//   slice:           baseSliceNs for every task (the core's default, so no slice() callback)
//   CPU:             the previous CPU if idle, else any idle CPU (the core's default, so no selectCpu())
//
// Weights are ignored: this is the baseline every smarter policy is compared with.

import type { Policy, PolicyContext, TaskView } from '../api.js';

export class FifoPolicy implements Policy {
  readonly name = 'fifo';
  private tasks!: TaskView;
  // A counter kept in a Float64Array: it outgrows small integers after 2^31 enqueues, and a fractional
  // class field is re-boxed on every change.
  private readonly seq = new Float64Array(1);

  init(ctx: PolicyContext): void {
    this.tasks = ctx.tasks;
  }

  enqueue(t: number): void {
    const key = this.seq[0]!;
    this.seq[0] = key + 1;
    this.tasks.setDeadline(t, key);
  }
}

export function fifo(): FifoPolicy {
  return new FifoPolicy();
}
