import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { RING_NONE, RingError, SpscRing } from '../src/ring/spsc.js';
import { execFileSync } from 'node:child_process';
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

test('indexes wrap at 2^30: records stay in order across the wrap, and unoptimized code allocates nothing there', () => {
  // Unoptimized code (what runs once the compilers are frozen) allocates a heap number for any sum or
  // difference outside the 32-bit small-integer range: indexes below 2^30 never produce one.
  const spsc = new URL('../src/ring/spsc.js', import.meta.url).href;
  const measure = new URL('../src/mem/measure.js', import.meta.url).href;
  const src = `
    const { SpscRing, RING_NONE } = await import(${JSON.stringify(spsc)});
    const { measureHotPath } = await import(${JSON.stringify(measure)});
    const ring = SpscRing.create(8, 64);
    ring.i32[0] = 2 ** 30 - 1000; // head
    ring.i32[16] = 2 ** 30 - 1000; // tail
    const r = SpscRing.attach(ring.sab, 8, 64); // caches the tail set above
    let next = 0, bad = 0, maxIndex = 0;
    const iteration = () => {
      const n = Math.min(r.room(), 5);
      for (let i = 0; i < n; i++) r.i32[r.slot(i) >> 2] = next + i;
      r.commit(n);
      next += n;
      const k = r.available();
      for (let i = 0; i < k; i++) if (r.i32[r.record(i) >> 2] !== next - k + i) bad++;
      r.release(k);
      if (r.size() !== 0 || r.peek() !== RING_NONE) bad++;
      if (r.i32[0] > maxIndex) maxIndex = r.i32[0];
    };
    const report = await measureHotPath(iteration, { iterations: 20000, warmup: 1000 });
    process.stdout.write(JSON.stringify({ report, bad, next, maxIndex, head: r.i32[0] }));
  `;
  const out = execFileSync(
    process.execPath,
    ['--no-turbofan', '--no-maglev', '--no-sparkplug', '--input-type=module', '-e', src],
    { encoding: 'utf8' },
  );
  const r = JSON.parse(out) as {
    report: { heapGrowthBytes: number };
    bad: number;
    next: number;
    maxIndex: number;
    head: number;
  };
  assert.equal(r.bad, 0, 'records out of order, or the ring not empty after a drain');
  assert.ok(r.next > 5000, `the run crossed the wrap (${r.next} records)`);
  assert.equal(r.report.heapGrowthBytes, 0, `bytes allocated over 20,000 produce/consume rounds: ${r.report.heapGrowthBytes}`);
  assert.ok(r.maxIndex < 2 ** 30 && r.head < r.next, `indexes wrapped at 2^30 (max ${r.maxIndex}, now ${r.head})`);
});
