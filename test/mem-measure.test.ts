import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createArena, defineStruct } from '../src/arena/index.js';
import { FaultCounter, lockArena, measureHotPath } from '../src/mem/index.js';

const MIB = 1024 * 1024;
const PAGE_BYTES = 4096;
const isRoot = process.getuid?.() === 0;

// Module-level sinks so that the allocating loops cannot be optimized into allocating nothing.
// eslint-disable-next-line @typescript-eslint/no-unused-vars -- written only, so the allocations stay live
let sink: unknown = null;
let counter = 0;

test(
  'a warmed-up typed-array loop over a locked arena: no faults, no GC, no heap growth',
  { skip: !isRoot && 'needs root' },
  async () => {
    const arena = createArena({ sizeBytes: 8 * MIB });
    const lock = lockArena(arena);
    try {
      const f64 = arena.f64;
      const mask = f64.length - 1;
      let i = 0;
      const report = await measureHotPath(
        () => {
          f64[i & mask] = f64[(i + 1) & mask]! + 1;
          // Kept below 2^31: an unbounded `i += 4099` leaves the small-integer range in the third window,
          // after which every store of it boxes a number on the heap, and every window the harness retries
          // (after a code install in the first two) is dirty by the test's own doing.
          i = (i + 4099) & mask;
        },
        { iterations: 200_000, warmup: 20_000 },
      );
      const figures = { pageFaults: report.pageFaults, gcEvents: report.gcEvents, heap: report.heapGrowthBytes };
      assert.deepEqual(figures, { pageFaults: 0, gcEvents: 0, heap: 0 }, `windows run: ${report.windows}`);
      assert.equal(report.iterations, 200_000);
    } finally {
      lock.unlock();
    }
  },
);

test('arena alloc/free with struct writes on a locked arena: clean', { skip: !isRoot && 'needs root' }, async () => {
  const arena = createArena({ sizeBytes: 8 * MIB });
  const lock = lockArena(arena);
  try {
    const Task = defineStruct({ pid: 'u32', vruntimeNs: 'f64', weight: 'u16' });
    const task = Task.bind(arena);
    const ring = new Uint32Array(256);
    let n = 0;
    const body = (): void => {
      const slot = n & 255;
      if (ring[slot] !== 0) arena.free(ring[slot]!);
      const p = arena.alloc(Task.sizeBytes + (n & 63));
      task.set.pid(p, n);
      task.set.vruntimeNs(p, n * 1000);
      task.set.weight(p, 100);
      ring[slot] = p;
      n++;
    };
    const opts = { iterations: 200_000, warmup: 50_000 };
    // The first measurement is part of the warm-up: on the first few hundred thousand calls V8 is still
    // tiering the allocator (a few KB of code metadata, once). A loop that allocates per call is dirty in
    // every measurement; this one must be exactly clean in the next.
    await measureHotPath(body, opts);
    const report = await measureHotPath(body, opts);
    assert.deepEqual([report.pageFaults, report.gcEvents, report.heapGrowthBytes], [0, 0, 0]);
  } finally {
    lock.unlock();
  }
});

test('a closure per iteration is caught', async () => {
  const report = await measureHotPath(
    () => {
      const n = counter++;
      sink = () => n;
    },
    { iterations: 2_000, warmup: 2_000 },
  );
  assert.ok(report.heapGrowthBytes > 0 || report.gcEvents > 0, JSON.stringify(report));
  assert.ok(report.heapGrowthBytes >= 2_000 * 16 || report.gcEvents > 0, `only ${report.heapGrowthBytes} bytes`);
});

test('a string per iteration is caught, small or long-running', async () => {
  const small = await measureHotPath(
    () => {
      sink = `task-${counter++}`;
    },
    { iterations: 1_000, warmup: 1_000 },
  );
  assert.ok(small.heapGrowthBytes > 0 || small.gcEvents > 0, JSON.stringify(small));
  const long = await measureHotPath(
    () => {
      sink = `task-${counter++}`;
    },
    { iterations: 300_000, warmup: 1_000 },
  );
  assert.ok(long.gcEvents > 0, JSON.stringify(long));
});

test('a loop that touches fresh pages is caught as page faults', async () => {
  const fresh = new Uint8Array(64 * MIB); // room for every window the harness may run
  let offset = 0;
  const report = await measureHotPath(
    () => {
      fresh[offset] = 1;
      offset += PAGE_BYTES;
    },
    { iterations: 2_000, warmup: 100 },
  );
  assert.ok(report.pageFaults >= 1_000, JSON.stringify(report));
});

test('with touchYoungGeneration, an allocating window is heap growth, not also faults on pages its collection gave back', async () => {
  // A thread that allocates slowly (a few bytes a millisecond, like a scheduler loop that waits between
  // rounds) has V8 keep its young generation small and give back what a collection empties; the full
  // collection the harness runs before a window then leaves fresh pages for the window to allocate onto
  // (without the option: 3 faults for these 12 KB, measured). The option writes them first.
  const pause = new Int32Array(new SharedArrayBuffer(4));
  const kept: unknown[] = new Array<unknown>(64);
  let k = 0;
  const report = await measureHotPath(
    () => {
      kept[k++ & 63] = { k, at: k + 1 };
      Atomics.wait(pause, 0, 0, 1);
    },
    { iterations: 300, warmup: 3_000, touchYoungGeneration: true },
  );
  assert.ok(report.heapGrowthBytes >= 300 * 16, `the objects are seen: ${JSON.stringify(report)}`);
  assert.equal(report.pageFaults, 0, `no fault for them: ${JSON.stringify(report)}`);
});

test('the harness reports nothing for an empty function', async () => {
  const report = await measureHotPath(() => {}, { iterations: 10_000 });
  assert.deepEqual([report.pageFaults, report.gcEvents, report.heapGrowthBytes], [0, 0, 0]);
});

test('reading the thread fault counter is itself clean', async () => {
  const c = new FaultCounter({ scope: 'thread' });
  const p = new FaultCounter({ scope: 'thread', method: 'procfs' });
  try {
    for (const counterUnderTest of [c, p]) {
      // A long warm-up: on a busy machine V8 may still be installing optimized code after a short one.
      const report = await measureHotPath(
        () => {
          counterUnderTest.sample();
        },
        { iterations: 5_000, warmup: 30_000 },
      );
      assert.deepEqual([report.pageFaults, report.gcEvents, report.heapGrowthBytes], [0, 0, 0], counterUnderTest.method);
    }
  } finally {
    c.close();
    p.close();
  }
});

test('bad options throw', async () => {
  await assert.rejects(
    measureHotPath(() => {}, { iterations: 0 }),
    RangeError,
  );
  await assert.rejects(
    measureHotPath(() => {}, { iterations: 10, warmup: -1 }),
    RangeError,
  );
  await assert.rejects(measureHotPath(null as never, { iterations: 10 }), TypeError);
});
