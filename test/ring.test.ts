import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { RING_NONE, RingError, SpscRing } from '../src/ring/spsc.js';
import { Worker } from 'node:worker_threads';

test('records come out in order, and a full ring refuses more', () => {
  const ring = SpscRing.create(16, 4);
  for (let i = 0; i < 4; i++) {
    const at = ring.reserve();
    assert.notEqual(at, RING_NONE);
    ring.i32[at >> 2] = i;
    ring.f64[(at + 8) >> 3] = i + 0.5;
    ring.publish();
  }
  assert.equal(ring.reserve(), RING_NONE);
  assert.equal(ring.size(), 4);
  for (let i = 0; i < 4; i++) {
    const at = ring.peek();
    assert.equal(ring.i32[at >> 2], i);
    assert.equal(ring.f64[(at + 8) >> 3], i + 0.5);
    ring.consume();
  }
  assert.equal(ring.peek(), RING_NONE);
});

test('batches behave like a FIFO queue across wrap-around (model check)', () => {
  fc.assert(
    fc.property(fc.array(fc.tuple(fc.boolean(), fc.integer({ min: 1, max: 9 })), { maxLength: 200 }), (ops) => {
      const ring = SpscRing.create(8, 8);
      const model: number[] = [];
      let next = 0;
      for (const [produce, k] of ops) {
        if (produce) {
          const n = Math.min(k, ring.room());
          // room() is a lower bound (the consumer's index is re-read only when it looks full), never 0 with space left.
          assert.ok(ring.room() <= 8 - model.length);
          assert.equal(ring.room() > 0, model.length < 8);
          for (let i = 0; i < n; i++) ring.i32[ring.slot(i) >> 2] = next + i;
          ring.commit(n);
          for (let i = 0; i < n; i++) model.push(next++);
        } else {
          const n = Math.min(k, ring.available());
          assert.equal(ring.available(), model.length);
          for (let i = 0; i < n; i++) assert.equal(ring.i32[ring.record(i) >> 2], model[i]);
          ring.release(n);
          model.splice(0, n);
        }
      }
    }),
  );
});

test('room() stays right when the producer writes on after the ring was drained behind its back', () => {
  for (const crossThread of [true, false]) {
    const ring = SpscRing.create(8, 4, { crossThread });
    for (let i = 0; i < 4; i++) {
      ring.i32[ring.slot(0) >> 2] = i;
      ring.commit(1);
    }
    assert.equal(ring.room(), 0);
    ring.release(ring.available()); // the consumer drains everything
    ring.i32[ring.slot(0) >> 2] = 4; // the producer writes without asking again, then asks
    ring.commit(1);
    assert.equal(ring.room(), 3);
    assert.equal(ring.available(), 1);
    assert.equal(ring.i32[ring.record(0) >> 2], 4);
  }
});

test('bad shapes are refused with a named error', () => {
  assert.throws(() => SpscRing.create(12, 8), RingError);
  assert.throws(() => SpscRing.create(16, 6), RingError);
  assert.throws(() => SpscRing.attach(new SharedArrayBuffer(64), 16, 8), RingError);
});

test('a consumer on another thread sees every record intact', async () => {
  const count = 20_000;
  const ring = SpscRing.create(16, 64);
  const src = `
    const { workerData, parentPort } = require('node:worker_threads');
    const { sab, count } = workerData;
    const i32 = new Int32Array(sab), f64 = new Float64Array(sab);
    let seen = 0, bad = 0;
    while (seen < count) {
      const head = Atomics.load(i32, 0), tail = i32[16];
      const n = (head - tail) | 0;
      for (let i = 0; i < n; i++) {
        const at = 128 + (((tail + i) & 63) * 16);
        if (i32[at >> 2] !== seen || f64[(at + 8) >> 3] !== seen * 1.5) bad++;
        seen++;
      }
      Atomics.store(i32, 16, (tail + n) | 0);
    }
    parentPort.postMessage(bad);
  `;
  const worker = new Worker(src, { eval: true, workerData: { sab: ring.sab, count } });
  try {
    const result = new Promise<number>((resolve, reject) => {
      worker.once('message', resolve);
      worker.once('error', reject);
    });
    let sent = 0;
    while (sent < count) {
      const n = Math.min(ring.room(), count - sent);
      for (let i = 0; i < n; i++) {
        const at = ring.slot(i);
        ring.i32[at >> 2] = sent + i;
        ring.f64[(at + 8) >> 3] = (sent + i) * 1.5;
      }
      ring.commit(n);
      sent += n;
      if (n === 0) await new Promise((r) => setImmediate(r));
    }
    assert.equal(await result, 0);
  } finally {
    await worker.terminate();
  }
});
