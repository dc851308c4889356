import { test } from 'node:test';
import assert from 'node:assert/strict';
import { C, createCounters } from '../src/base/counters.js';
import { evaluateHealth, HealthMonitor, MemPublisher, measureHotPath, settleGcEntries } from '../src/mem/index.js';

test('an interval with nothing counted is healthy', () => {
  const counters = createCounters();
  counters.f64[C.arena_locked] = 1;
  const h = new HealthMonitor(counters).check();
  assert.equal(h.healthy, true);
  assert.equal(h.reason, '');
  assert.equal(h.status, 'OK');
});

test('each counter that moved in the interval is named in the reason', () => {
  const counters = createCounters();
  counters.f64[C.arena_locked] = 1;
  counters.f64[C.nr_page_faults] = 10; // before the monitor: not judged
  const monitor = new HealthMonitor(counters);
  counters.f64[C.nr_page_faults] = 13;
  counters.f64[C.nr_gc_events] = 1;
  counters.f64[C.nr_sched_congested] = 2;
  counters.f64[C.nr_failed_dispatches] = 1;
  const h = monitor.check();
  assert.equal(h.healthy, false);
  assert.deepEqual([h.pageFaults, h.gcEvents, h.congested, h.failedDispatches], [3, 1, 2, 1]);
  assert.equal(h.reason, '3 page faults, 1 GC event, 2 congested queues, 1 failed dispatch');
  assert.equal(h.status, `WARNING: ${h.reason}`);
  // The next interval starts where this one ended.
  const next = monitor.check();
  assert.equal(next.healthy, true);
});

test('an unlocked arena is visible in the status but is not by itself unhealthy', () => {
  const counters = createCounters();
  counters.f64[C.arena_locked] = 0;
  const h = evaluateHealth(null, counters.f64);
  assert.equal(h.healthy, true);
  assert.equal(h.locked, false);
  assert.match(h.status, /^OK \(arena unlocked/);
  counters.f64[C.nr_gc_events] = 2;
  assert.match(evaluateHealth(null, counters.f64).status, /^WARNING: 2 GC events \(arena unlocked/);
});

test("the publisher puts this thread's faults and GCs into the counters and sets arena_locked", async () => {
  const counters = createCounters();
  const pub = new MemPublisher(counters, { lock: { locked: true } });
  try {
    assert.equal(counters.f64[C.arena_locked], 1);
    const faultsBefore = counters.f64[C.nr_page_faults]!;
    const u8 = new Uint8Array(1024 * 4096);
    for (let i = 0; i < u8.length; i += 4096) u8[i] = 1;
    let keep: object[] = [];
    for (let i = 0; i < 200_000; i++) keep.push({ i });
    keep = [];
    await settleGcEntries();
    pub.publish();
    assert.ok(counters.f64[C.nr_page_faults]! - faultsBefore >= 512, `${counters.f64[C.nr_page_faults]} faults`);
    assert.ok(counters.f64[C.nr_gc_events]! >= 1, `${counters.f64[C.nr_gc_events]} GCs`);
    assert.equal(keep.length, 0);
    pub.setLocked(false);
    assert.equal(counters.f64[C.arena_locked], 0);
  } finally {
    pub.close();
  }
});

test('publish() itself allocates nothing and takes no fault', async () => {
  const counters = createCounters();
  const pub = new MemPublisher(counters, { lock: true });
  try {
    // The first measurement warms V8's tiering of publish() and the counters it calls; the next must be clean.
    await measureHotPath(() => pub.publish(), { iterations: 5_000, warmup: 5_000 });
    const report = await measureHotPath(() => pub.publish(), { iterations: 5_000, warmup: 5_000 });
    assert.deepEqual([report.pageFaults, report.gcEvents, report.heapGrowthBytes], [0, 0, 0]);
  } finally {
    pub.close();
  }
});
