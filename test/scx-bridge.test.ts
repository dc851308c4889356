// The sched_ext bridge's logic, kernel records faked in plain buffers laid out as intf.h lays them out:
// which CPUs the core may dispatch to, the enqueue generation carried back, nothing lost when a ring is
// full, and no allocation on the path once warm.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ScxBridge, type KernelDispatchSink } from '../src/backends/scx/thread/bridge.js';
import * as K from '../src/backends/scx/layout.js';
import { measureHotPath } from '../src/mem/measure.js';
import { createCounters } from '../src/base/counters.js';
import { createScheduler, fifo, rustland } from '../src/sched/index.js';
import { CLOCK_NOW_NS, type Policy, type PolicyContext, type Scheduler } from '../src/sched/api.js';
import { FifoPolicy } from '../src/sched/policies/fifo.js';

interface RecordOpts {
  flags?: number;
  weight?: number;
  sumExecNs?: number;
  enqCnt?: number;
}

/** A queued record in a buffer of its own. */
class FakeQueued {
  readonly buf = new ArrayBuffer(K.QUEUED_BYTES);
  readonly u32 = new Uint32Array(this.buf);
  readonly i32 = new Int32Array(this.buf);
  set(kind: number, pid: number, cpu: number, opts: RecordOpts = {}): this {
    return this.fill(kind, pid, cpu, opts.flags ?? 0, opts.weight ?? 100, opts.sumExecNs ?? 0, opts.enqCnt ?? 0);
  }

  /** The same without an options object, for the allocation test. */
  fill(kind: number, pid: number, cpu: number, flags: number, weight: number, sumExecNs: number, enqCnt: number): this {
    this.u32.fill(0);
    this.i32[K.Q_PID >> 2] = pid;
    this.i32[K.Q_CPU >> 2] = cpu;
    this.u32[K.Q_KIND >> 2] = kind;
    this.u32[K.Q_FLAGS >> 2] = flags;
    this.u32[K.Q_WEIGHT >> 2] = weight;
    this.u32[K.Q_SUM_EXEC_RUNTIME >> 2] = sumExecNs % 2 ** 32;
    this.u32[(K.Q_SUM_EXEC_RUNTIME >> 2) + 1] = Math.floor(sumExecNs / 2 ** 32);
    this.u32[K.Q_ENQ_CNT >> 2] = enqCnt % 2 ** 32;
    this.u32[(K.Q_ENQ_CNT >> 2) + 1] = Math.floor(enqCnt / 2 ** 32);
    return this;
  }
}

/** The kernel's dispatch ring, faked: a fixed number of 40-byte records, read back by the test. */
class FakeSink implements KernelDispatchSink {
  readonly buf: ArrayBuffer;
  readonly u32: Uint32Array;
  readonly i32: Int32Array;
  reserved = 0;
  submitted = 0;
  constructor(readonly capacity: number) {
    this.buf = new ArrayBuffer(capacity * K.DISPATCH_BYTES);
    this.u32 = new Uint32Array(this.buf);
    this.i32 = new Int32Array(this.buf);
  }
  reserve(): number {
    // Like the real ring: the same offset until it is committed.
    this.reserved = this.submitted;
    return this.reserved < this.capacity ? this.reserved * K.DISPATCH_BYTES : -1;
  }
  commit(at: number): void {
    assert.equal(at, this.submitted * K.DISPATCH_BYTES, 'records are committed in the order they were reserved');
    this.submitted++;
  }
  take(): { pid: number; cpu: number; enqCnt: number; sliceNs: number; flags: number }[] {
    const out = [];
    for (let i = 0; i < this.submitted; i++) {
      const at = i * K.DISPATCH_BYTES;
      out.push({
        pid: this.i32[(at + K.D_PID) >> 2]!,
        cpu: this.i32[(at + K.D_CPU) >> 2]!,
        enqCnt: this.u32[(at + K.D_ENQ_CNT) >> 2]! + this.u32[(at + K.D_ENQ_CNT + 4) >> 2]! * 2 ** 32,
        sliceNs: this.u32[(at + K.D_SLICE_NS) >> 2]! + this.u32[(at + K.D_SLICE_NS + 4) >> 2]! * 2 ** 32,
        flags: this.u32[(at + K.D_FLAGS) >> 2]!,
      });
    }
    this.reserved = 0;
    this.submitted = 0;
    return out;
  }
}

interface Setup {
  s: Scheduler;
  bridge: ScxBridge;
  sink: FakeSink;
  rec: FakeQueued;
  /** Hands the bridge one kernel record; returns what handleQueued returned. */
  feed: (kind: number, pid: number, cpu: number, opts?: RecordOpts) => boolean;
  /** One round of the core, then the decisions into the fake kernel ring. */
  step: () => void;
}

function setup(
  nrCpus: number,
  opts: { sinkCapacity?: number; policy?: Policy; queuedCapacity?: number; maxTasks?: number; preemptWakeups?: boolean } = {},
): Setup {
  const counters = createCounters();
  const s = createScheduler({
    nrCpus,
    policy: opts.policy ?? fifo(),
    counters,
    crossThreadRings: false,
    lockMemory: false,
    queuedCapacity: opts.queuedCapacity,
    maxTasks: opts.maxTasks,
    slabTasks: opts.maxTasks,
    preemptWakeups: opts.preemptWakeups,
  });
  const sink = new FakeSink(opts.sinkCapacity ?? 64);
  const bridge = new ScxBridge(s, counters, sink, 64);
  const rec = new FakeQueued();
  const feed = (kind: number, pid: number, cpu: number, o?: RecordOpts): boolean =>
    bridge.handleQueued(rec.set(kind, pid, cpu, o).u32, rec.i32, 0);
  const step = (): void => {
    s.clock[CLOCK_NOW_NS] = s.clock[CLOCK_NOW_NS]! + 1000;
    s.schedule();
    bridge.flush();
  };
  return { s, bridge, sink, rec, feed, step };
}

test("one dispatch per CPU, each carrying the enqueue generation of its task's latest record", () => {
  const { feed, sink, step, s } = setup(2);
  for (const pid of [100, 101, 102]) assert.ok(feed(K.EV_RUNNABLE, pid, 0, { enqCnt: pid * 10 + 2 ** 33 }));
  step();
  const first = sink.take();
  assert.deepEqual(
    first.map((d) => d.pid),
    [100, 101],
  );
  assert.deepEqual(
    first.map((d) => d.enqCnt),
    [1000 + 2 ** 33, 1010 + 2 ** 33],
  );
  assert.deepEqual(new Set(first.map((d) => d.cpu)), new Set([0, 1]));
  assert.ok(first.every((d) => d.sliceNs === 20_000_000));
  assert.equal(s.nrWaiting, 1);
  // 101 went to sleep on its CPU: that CPU is free, and 102 gets it.
  const cpuOf101 = first[1]!.cpu;
  feed(K.EV_STOPPED, 101, cpuOf101, { enqCnt: 1011, sumExecNs: 5e6 });
  step();
  assert.deepEqual(sink.take(), [{ pid: 102, cpu: cpuOf101, enqCnt: 1020 + 2 ** 33, sliceNs: 20_000_000, flags: 0 }]);
});

test('a fractional slice from the policy reaches the kernel as whole nanoseconds, rounded down', () => {
  class FractionalSlice extends FifoPolicy {
    private ctx!: PolicyContext;
    override init(ctx: PolicyContext): void {
      super.init(ctx);
      this.ctx = ctx;
    }
    slice(t: number): void {
      this.ctx.tasks.setSliceNs(t, 2 ** 33 + 1234.75);
    }
  }
  const policy = new FractionalSlice();
  const { feed, sink, step } = setup(1, { policy });
  assert.ok(feed(K.EV_RUNNABLE, 100, 0));
  step();
  assert.deepEqual(
    sink.take().map((d) => d.sliceNs),
    [2 ** 33 + 1234],
  );
});

test('a preempted task is queued again with its new generation; a CPU the kernel reports idle is free', () => {
  const { feed, sink, step } = setup(1);
  feed(K.EV_RUNNABLE, 7, 0, { enqCnt: 1 });
  feed(K.EV_RUNNABLE, 8, 0, { enqCnt: 1 });
  step();
  assert.deepEqual(
    sink.take().map((d) => d.pid),
    [7],
  );
  // 7's slice ran out: it stops, still runnable, and its CPU goes to 8.
  feed(K.EV_STOPPED, 7, 0, { flags: K.QF_RUNNABLE, enqCnt: 2, sumExecNs: 20e6 });
  step();
  assert.deepEqual(
    sink.take().map((d) => [d.pid, d.enqCnt]),
    [[8, 1]],
  );
  // The core thinks 8 runs on CPU 0; the kernel says CPU 0 found nothing (8 was dequeued): 7 goes there.
  feed(K.EV_CPU_IDLE, 0, 0);
  step();
  assert.deepEqual(
    sink.take().map((d) => [d.pid, d.cpu, d.enqCnt]),
    [[7, 0, 2]],
  );
});

test("a woken task preempts a hog (PREEMPT and HEAD to the kernel); the hog's own stop then frees no CPU", () => {
  const { feed, sink, step } = setup(1, { policy: rustland(), preemptWakeups: true });
  feed(K.EV_RUNNABLE, 7, 0, { enqCnt: 1 });
  step();
  assert.deepEqual(
    sink.take().map((d) => [d.pid, d.flags]),
    [[7, 0]],
  );
  // 7 is a hog: slice after slice, never sleeping.
  for (let i = 1; i <= 5; i++) {
    feed(K.EV_STOPPED, 7, 0, { flags: K.QF_RUNNABLE, enqCnt: 1 + i, sumExecNs: i * 20e6 });
    step();
    assert.deepEqual(
      sink.take().map((d) => d.pid),
      [7],
    );
  }
  // 8 wakes up while 7 holds the only CPU: it takes it at once.
  feed(K.EV_RUNNABLE, 8, 0, { enqCnt: 1 });
  step();
  assert.deepEqual(
    sink.take().map((d) => [d.pid, d.cpu, d.flags]),
    [[8, 0, K.DF_PREEMPT | K.DF_HEAD]],
  );
  // The kernel stopped 7 for it: 7 waits, and CPU 0 stays 8's in the core's view.
  feed(K.EV_STOPPED, 7, 0, { flags: K.QF_RUNNABLE, enqCnt: 7, sumExecNs: 101e6 });
  step();
  assert.deepEqual(sink.take(), []);
  // 8 goes back to sleep: now CPU 0 is free and 7 gets it, without preempting anyone.
  feed(K.EV_STOPPED, 8, 0, { enqCnt: 2, sumExecNs: 1e5 });
  step();
  assert.deepEqual(
    sink.take().map((d) => [d.pid, d.enqCnt, d.flags]),
    [[7, 7, 0]],
  );
});

test('an exited task leaves the core; its exit frees its CPU', () => {
  const { feed, sink, step, s } = setup(1);
  feed(K.EV_RUNNABLE, 50, 0);
  feed(K.EV_RUNNABLE, 51, 0);
  step();
  assert.deepEqual(
    sink.take().map((d) => d.pid),
    [50],
  );
  assert.equal(s.nrTasks, 2);
  feed(K.EV_EXITED, 50, 0);
  step();
  assert.equal(s.nrTasks, 1);
  assert.deepEqual(
    sink.take().map((d) => d.pid),
    [51],
  );
  // An exit of a task never seen is ignored.
  assert.ok(feed(K.EV_EXITED, 999, 0));
  assert.equal(s.nrTasks, 1);
});

test('a full kernel dispatch ring holds the decisions back, it never drops one', () => {
  const { bridge, feed, sink, step } = setup(4, { sinkCapacity: 2 });
  for (const pid of [1, 2, 3, 4]) feed(K.EV_RUNNABLE, pid, 0, { enqCnt: pid });
  step();
  assert.deepEqual(
    sink.take().map((d) => d.pid),
    [1, 2],
  );
  assert.equal(bridge.heldDispatches, 2);
  bridge.flush();
  assert.deepEqual(
    sink.take().map((d) => d.pid),
    [3, 4],
  );
  assert.equal(bridge.heldDispatches, 0);
});

test('a full core ring leaves the kernel record unread', () => {
  const { feed, s } = setup(1, { queuedCapacity: 2 });
  assert.equal(feed(K.EV_RUNNABLE, 1, 0), true);
  assert.equal(feed(K.EV_RUNNABLE, 2, 0), true);
  assert.equal(feed(K.EV_RUNNABLE, 3, 0), false);
  s.schedule();
  assert.equal(feed(K.EV_RUNNABLE, 3, 0), true);
});

test('a task the core cannot place is handed back to the kernel to run anywhere, with its generation', () => {
  const { bridge, feed, sink } = setup(1, { maxTasks: 1 });
  feed(K.EV_RUNNABLE, 1, 0, { enqCnt: 3 });
  feed(K.EV_RUNNABLE, 2, 0, { enqCnt: 9 });
  assert.deepEqual(
    sink.take().map((d) => [d.pid, d.cpu, d.enqCnt]),
    [[2, K.CPU_ANY, 9]],
  );
  assert.equal(bridge.tasksUnplaced, 1);
});

test('events in, decisions out: nothing allocated and no page fault once warm', async () => {
  const { bridge, sink, rec, s } = setup(2, { sinkCapacity: 1024, policy: rustland() });
  const pids = 64;
  let i = 0;
  const body = (): void => {
    // A task wakes, the core places it, and the one that ran stops (sleeping or preempted): the round of a
    // busy machine. Pids stay within a fixed set, so nothing is created after warm-up.
    const pid = 1000 + (i % pids);
    rec.fill(K.EV_RUNNABLE, pid, i & 1, 0, 100, i * 1000, i);
    bridge.handleQueued(rec.u32, rec.i32, 0);
    rec.fill(K.EV_STOPPED, 1000 + ((i + 7) % pids), i & 1, i & 2 ? K.QF_RUNNABLE : 0, 100, i * 1000 + 500, i);
    bridge.handleQueued(rec.u32, rec.i32, 0);
    if ((i & 15) === 0) {
      rec.fill(K.EV_CPU_IDLE, 0, i & 1, 0, 0, 0, 0);
      bridge.handleQueued(rec.u32, rec.i32, 0);
    }
    s.clock[CLOCK_NOW_NS] = s.clock[CLOCK_NOW_NS]! + 1000;
    s.schedule();
    bridge.flush();
    sink.reserved = 0;
    sink.submitted = 0;
    i++;
  };
  const report = await measureHotPath(body, { iterations: 50_000, warmup: 50_000 });
  assert.equal(report.gcEvents, 0, JSON.stringify(report));
  assert.ok(report.heapGrowthBytes < 1024, JSON.stringify(report));
  assert.ok(!(report.pageFaults > 0), JSON.stringify(report));
});
