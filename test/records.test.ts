// The queued record has one writer (records.ts): QueuedWriter for hot loops, pushQueued for everyone
// else, both through the same code, so the two must write the same bytes; and the writer's hot form
// allocates nothing, fractional times included.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { measureHotPath } from '../src/mem/measure.js';
import { SpscRing } from '../src/ring/spsc.js';
import {
  EV_STOPPED,
  EVF_RUNNABLE,
  pushQueued,
  Q_CPU,
  Q_FLAGS,
  Q_KIND,
  Q_NVCSW,
  Q_PID,
  Q_SLOT_HINT,
  Q_SUM_EXEC_NS,
  Q_TS_NS,
  Q_WEIGHT,
  QUEUED_RECORD_BYTES,
  QueuedWriter,
  QW_NVCSW,
  QW_SUM_EXEC_NS,
  QW_TS_NS,
} from '../src/sched/records.js';

function bytesOf(ring: SpscRing): number[] {
  const at = ring.peek();
  assert.notEqual(at, -1);
  const out = [...new Uint8Array(ring.i32.buffer, ring.i32.byteOffset + at, QUEUED_RECORD_BYTES)];
  ring.consume();
  return out;
}

test('QueuedWriter and pushQueued write the same record, field by field at the Q_* offsets', () => {
  const a = SpscRing.create(QUEUED_RECORD_BYTES, 4);
  const b = SpscRing.create(QUEUED_RECORD_BYTES, 4);
  const w = new QueuedWriter(a);
  w.f64[QW_SUM_EXEC_NS] = 1.5e9 + 0.25;
  w.f64[QW_NVCSW] = 7;
  w.f64[QW_TS_NS] = 123456789.5;
  assert.equal(w.push(EV_STOPPED, 4242, 3, EVF_RUNNABLE, 100, 17), true);
  assert.equal(pushQueued(b, EV_STOPPED, 4242, 3, EVF_RUNNABLE, 100, 1.5e9 + 0.25, 7, 123456789.5, 17), true);
  const at = a.peek();
  assert.deepEqual(
    [
      a.i32[(at + Q_PID) >> 2],
      a.i32[(at + Q_CPU) >> 2],
      a.i32[(at + Q_KIND) >> 2],
      a.i32[(at + Q_FLAGS) >> 2],
      a.i32[(at + Q_WEIGHT) >> 2],
      a.i32[(at + Q_SLOT_HINT) >> 2],
    ],
    [4242, 3, EV_STOPPED, EVF_RUNNABLE, 100, 18],
  );
  assert.deepEqual(
    [a.f64[(at + Q_SUM_EXEC_NS) >> 3], a.f64[(at + Q_NVCSW) >> 3], a.f64[(at + Q_TS_NS) >> 3]],
    [1.5e9 + 0.25, 7, 123456789.5],
  );
  assert.deepEqual(bytesOf(a), bytesOf(b));
  // No slot known: the hint field says so with 0.
  pushQueued(b, EV_STOPPED, 1, 0, 0, 100, 0, 0, 0);
  assert.equal(b.i32[(b.peek() + Q_SLOT_HINT) >> 2], 0);
});

test('QueuedWriter.push allocates nothing with fractional times, and reports a full ring', async () => {
  const ring = SpscRing.create(QUEUED_RECORD_BYTES, 64);
  const w = new QueuedWriter(ring);
  const clock = new Float64Array(1);
  const report = await measureHotPath(
    () => {
      clock[0] = clock[0]! + 0.37;
      w.f64[QW_SUM_EXEC_NS] = clock[0]! * 3.1;
      w.f64[QW_NVCSW] = 2;
      w.f64[QW_TS_NS] = clock[0]!;
      w.push(EV_STOPPED, 99, 1, EVF_RUNNABLE, 100, 5);
      ring.consume();
    },
    { iterations: 200_000 },
  );
  assert.deepEqual([report.pageFaults, report.gcEvents, report.heapGrowthBytes], [0, 0, 0]);
  for (let i = 0; i < 64; i++) assert.equal(w.push(EV_STOPPED, i, 0, 0, 100, -1), true);
  assert.equal(w.push(EV_STOPPED, 65, 0, 0, 100, -1), false);
});
