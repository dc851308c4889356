// rustland: the policy of scx_rustland, in tsland's policy API.
//
//   on stop after running ranNs:   vruntime   += ranNs * 100 / weight
//                                  vruntimeNow = max(vruntimeNow, vruntime)
//                                  execRunNs  += ranNs            (the core resets it on every wake-up)
//   on wake-up:                    vruntime    = max(vruntime, vruntimeNow - baseSliceNs)
//                                  (a sleeper's credit is capped at one slice)
//   a new task (never ran):        vruntime    = max(vruntime, vruntimeNow)   (no credit)
//   run-queue key:                 deadline    = vruntime + min(execRunNs * 100 / weight, 100 * baseSliceNs)
//   slice:                         sliceNs     = baseSliceNs * weight / 100 * nrCpus / (nrCpus + nrWaiting)
//                                  (at least baseSliceNs / 10 * weight / 100)
//   CPU:                           the previous CPU if idle, else any idle CPU (the core's default, so no
//                                  selectCpu callback)
//
//   vruntimeNow is the largest vruntime of a task dispatched or stopped: it only moves forward. weight is
//   100 at nice 0 (the kernel's sched_prio_to_weight scaled 1024 -> 100, see weights.ts).
//
// New tasks start at vruntimeNow, as scx_rustland re-aligns them, and their runs move it on. With the
// sleepers' one-slice credit for new tasks too, and vruntimeNow moved only by dispatches, a stream of
// short-lived tasks (a fork storm, a build) each started below vruntimeNow, ran less than a slice and
// exited without ever moving it: a CPU hog, whose deadline carries its exec-runtime term, waited as long as
// the stream lasted (simulator, 2 CPUs, 8,000 forked tasks over 5 s: 7.6 s; sched_ext's watchdog ejects at
// 5 s). Now that hog waits 2.2 s there, which is the queue's own length (FIFO: 2.4 s).
//
// The execRunNs term favours tasks that sleep often (interactive) over CPU hogs. It is weighted like the
// vruntime before it is capped: both terms grow by 100 / weight per ns of CPU, and hogs of every weight
// reach the cap after the same share of their weight, so nice classes share by weight from the first
// slice. scx_rustland's term was unweighted: until each hog had run 100 slices it grew alike for all, and
// light hogs took more than their weight (simulator, weights 1:2:4, first 3 s: 77% share error; now 2.7%).
//
// The slice shrinks as tasks queue up, as scx_rustland's does (it divides by the number waiting plus one):
// a task that wakes goes to the head of the queue but waits for the first CPU whose slice ends, so with
// W tasks waiting on C CPUs it now waits about baseSliceNs / (C + W) instead of baseSliceNs / C. The
// floor bounds the decisions this costs the hogs to ten per base slice.

import type { Policy, PolicyContext, TaskView } from '../api.js';
import {
  F64_DEADLINE,
  F64_EXEC_RUNTIME_NS,
  F64_SUM_EXEC_NS,
  F64_LAST_RAN_NS,
  F64_SLICE_NS,
  F64_VRUNTIME,
  I32_WEIGHT,
} from '../task-layout.js';
import { WEIGHT_NICE_0 } from '../weights.js';

const EXEC_RUNTIME_CAP_SLICES = 100;
const MIN_SLICE_DIVISOR = 10;
// Policy-wide numbers live in a Float64Array: a fractional class field that changes is re-boxed by V8.
const S_VRUNTIME_NOW = 0;
const S_BASE_SLICE_NS = 1;

export class RustlandPolicy implements Policy {
  readonly name = 'rustland';
  private tasks!: TaskView;
  private ctx!: PolicyContext;
  private nrCpus = 1;
  private readonly state = new Float64Array(2);

  init(ctx: PolicyContext): void {
    this.tasks = ctx.tasks;
    this.ctx = ctx;
    this.nrCpus = ctx.nrCpus;
    this.state[S_BASE_SLICE_NS] = ctx.baseSliceNs;
  }

  // Fields are read through the slab views (tasks.f64Of / f64Index): only objects and small integers cross
  // those calls, so nothing is boxed even when the optimizer inlines this policy into a large caller and
  // runs out of inlining budget for the accessors.

  stopping(t: number): void {
    const tasks = this.tasks;
    const f = tasks.f64Of(t);
    const i = tasks.f64Index(t);
    const weight = tasks.i32Of(t)[tasks.i32Index(t) + I32_WEIGHT]!;
    const vruntime = f[i + F64_VRUNTIME]! + (f[i + F64_LAST_RAN_NS]! * WEIGHT_NICE_0) / weight;
    f[i + F64_VRUNTIME] = vruntime;
    this.state[S_VRUNTIME_NOW] = Math.max(this.state[S_VRUNTIME_NOW]!, vruntime);
  }

  enqueue(t: number, wokeUp: boolean): void {
    const tasks = this.tasks;
    const f = tasks.f64Of(t);
    const i = tasks.f64Index(t);
    const baseSliceNs = this.state[S_BASE_SLICE_NS]!;
    let vruntime = f[i + F64_VRUNTIME]!;
    if (wokeUp) {
      // One slice of credit for a sleeper, none for a new task (no CPU time yet: sums are whole ns, so
      // min(1, sum) is 0 or 1; arithmetic, not a branch, as in slice()).
      const floor = this.state[S_VRUNTIME_NOW]! - baseSliceNs * Math.min(1, f[i + F64_SUM_EXEC_NS]!);
      if (vruntime < floor) {
        vruntime = floor;
        f[i + F64_VRUNTIME] = vruntime;
      }
    }
    const execCapNs = EXEC_RUNTIME_CAP_SLICES * baseSliceNs;
    const weight = tasks.i32Of(t)[tasks.i32Index(t) + I32_WEIGHT]!;
    const execVNs = (f[i + F64_EXEC_RUNTIME_NS]! * WEIGHT_NICE_0) / weight;
    f[i + F64_DEADLINE] = vruntime + (execVNs < execCapNs ? execVNs : execCapNs);
  }

  slice(t: number): void {
    const tasks = this.tasks;
    const weight = tasks.i32Of(t)[tasks.i32Index(t) + I32_WEIGHT]!;
    const fullNs = (this.state[S_BASE_SLICE_NS]! * weight) / WEIGHT_NICE_0;
    const nrCpus = this.nrCpus;
    const scaledNs = (fullNs * nrCpus) / (nrCpus + this.ctx.nrWaiting());
    const floorNs = fullNs / MIN_SLICE_DIVISOR;
    // Whole nanoseconds: backends keep time in integer ns (the kernel in a u64).
    // Math.max, not a branch: the floor is first reached with many tasks queued, long after warm-up, and a
    // branch first taken then would send this function back to the interpreter (policy-guide, habit 4).
    tasks.f64Of(t)[tasks.f64Index(t) + F64_SLICE_NS] = Math.floor(Math.max(scaledNs, floorNs));
  }

  running(t: number): void {
    const v = this.tasks.f64Of(t)[this.tasks.f64Index(t) + F64_VRUNTIME]!;
    if (v > this.state[S_VRUNTIME_NOW]!) this.state[S_VRUNTIME_NOW] = v;
  }

  /** The policy's current vruntime (slow paths and tests). */
  get currentVruntime(): number {
    return this.state[S_VRUNTIME_NOW]!;
  }
}

export function rustland(): RustlandPolicy {
  return new RustlandPolicy();
}
