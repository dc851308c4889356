import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Worker } from 'node:worker_threads';
import { constants, type PerformanceEntry } from 'node:perf_hooks';
import { FaultCounter, GcCounter, processFaultCounter, settleGcEntries, threadFaultCounter } from '../src/mem/index.js';
import { GC_MAJOR, GC_MINOR, GC_PAUSE_NS, GC_TOTAL } from '../src/mem/gc.js';

const PAGE_BYTES = 4096;
const PAGES = 2048;

function touchFresh(pages: number): Uint8Array {
  const u8 = new Uint8Array(pages * PAGE_BYTES);
  for (let i = 0; i < u8.length; i += PAGE_BYTES) u8[i] = 1;
  return u8;
}

for (const method of ['rusage', 'procfs'] as const) {
  test(`thread fault counter (${method}) moves when fresh pages are first touched`, () => {
    const c = threadFaultCounter(method);
    try {
      touchFresh(16);
      const before = c.sample();
      touchFresh(PAGES);
      const delta = c.sample() - before;
      assert.ok(delta >= PAGES / 2, `${delta} faults for ${PAGES} fresh pages`);
      const total = c.sample();
      assert.equal(total, c.minor + c.major, 'sample() returns minor + major and keeps both');
      assert.ok(c.major >= 0 && c.minor > 0);
    } finally {
      c.close();
    }
  });
}

test('both methods read the same thread counter, and the process counter covers it', () => {
  const ru = threadFaultCounter('rusage');
  const fs = threadFaultCounter('procfs');
  const proc = processFaultCounter('procfs');
  const procRu = processFaultCounter('rusage');
  try {
    const a = ru.sample();
    const b = fs.sample();
    const c = ru.sample();
    assert.ok(a <= b && b <= c, `rusage ${a}, procfs ${b}, rusage ${c}`);
    assert.ok(proc.sample() >= c);
    assert.ok(procRu.sample() >= c);
    assert.equal(ru.scope, 'thread');
    assert.equal(proc.scope, 'process');
  } finally {
    ru.close();
    fs.close();
    proc.close();
    procRu.close();
  }
});

test('a thread counter counts only its own thread', async () => {
  const c = threadFaultCounter();
  try {
    const before = c.sample();
    const url = new URL('../src/mem/index.js', import.meta.url).href;
    const code = `import('${url}').then(({ threadFaultCounter }) => {
      const w = threadFaultCounter(); const b = w.sample();
      const u8 = new Uint8Array(${PAGES} * ${PAGE_BYTES}); for (let i = 0; i < u8.length; i += ${PAGE_BYTES}) u8[i] = 1;
      require('node:worker_threads').parentPort.postMessage(w.sample() - b);
    });`;
    const worker = new Worker(code, { eval: true });
    const workerFaults = await new Promise<number>((resolve, reject) => {
      worker.once('message', resolve);
      worker.once('error', reject);
    });
    await worker.terminate();
    const mine = c.sample() - before;
    assert.ok(workerFaults >= PAGES / 2, `worker counted ${workerFaults}`);
    assert.ok(mine < PAGES / 2, `main thread counted ${mine} of the worker's faults`);
  } finally {
    c.close();
  }
});

test('bad counter options throw', () => {
  assert.throws(() => new FaultCounter({ scope: 'cpu' as never }), /scope/);
  assert.throws(() => new FaultCounter({ method: 'perf' as never }), /method/);
});

test('GC counter counts collections after they are delivered', async () => {
  const gc = new GcCounter();
  try {
    let keep: object[] = [];
    for (let i = 0; i < 300_000; i++) keep.push({ i });
    keep = [];
    for (let i = 0; i < 300_000; i++) keep.push({ i });
    await settleGcEntries();
    assert.ok(gc.total >= 1, `total ${gc.total}`);
    assert.ok(gc.minor >= 1, `minor ${gc.minor}`);
    assert.ok(gc.pauseNs > 0);
    assert.equal(gc.total, gc.minor + gc.major + gc.incremental + gc.weakCallbacks);
    assert.equal(keep.length, 300_000);
  } finally {
    gc.close();
  }
});

test('a GC in a synchronous burst is counted within two setImmediate yields', async () => {
  const gc = new GcCounter();
  const yieldOnce = () => new Promise<void>((resolve) => setImmediate(resolve));
  try {
    await yieldOnce();
    const before = gc.total;
    let keep: object[] = [];
    for (let i = 0; i < 400_000; i++) keep.push({ i }); // a burst that must scavenge
    keep = [];
    await yieldOnce(); // the next burst would run here
    await yieldOnce(); // and the one after: by now the entry has been delivered
    assert.ok(gc.total > before, `no GC counted after two yields (total ${gc.total})`);
    assert.equal(keep.length, 0);
  } finally {
    gc.close();
  }
});

test('GC counter sorts entries by kind and sums their pauses', () => {
  const gc = new GcCounter();
  gc.close();
  const entry = (kind: number, duration: number) => ({ detail: { kind }, duration }) as unknown as PerformanceEntry;
  gc.record([
    entry(constants.NODE_PERFORMANCE_GC_MINOR, 0.5),
    entry(constants.NODE_PERFORMANCE_GC_MAJOR, 2),
    entry(constants.NODE_PERFORMANCE_GC_MINOR, 0.25),
  ]);
  assert.equal(gc.counts[GC_MINOR], 2);
  assert.equal(gc.counts[GC_MAJOR], 1);
  assert.equal(gc.counts[GC_TOTAL], 3);
  assert.equal(gc.counts[GC_PAUSE_NS], 2_750_000);
});
