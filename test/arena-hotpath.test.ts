// alloc, calloc, realloc, free, usableSize and struct accessors must create nothing on the JS heap once
// warmed up. A loop of millions of calls that allocated even a few bytes per call would fill the young
// generation many times over, so it must see zero GC events.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PerformanceObserver } from 'node:perf_hooks';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { createArena, defineStruct, type Arena, type ArenaStrategy } from '../src/arena/index.js';

setFlagsFromString('--expose-gc');
const collect = runInNewContext('gc') as () => void;

const Rec = defineStruct({ pid: 'u32', deadlineNs: 'u64', weight: 'u16', vruntimeNs: 'f64' });

const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** GC entries reach observers from the event loop, so let it turn before and after the synchronous loop. */
async function gcEventsDuring(loop: () => void): Promise<number> {
  let events = 0;
  const observer = new PerformanceObserver((list) => {
    events += list.getEntries().length;
  });
  observer.observe({ entryTypes: ['gc'] });
  try {
    collect();
    for (let i = 0; i < 3; i++) await tick();
    const before = events;
    loop();
    for (let i = 0; i < 3; i++) await tick();
    return events - before;
  } finally {
    observer.disconnect();
  }
}

/** Replace random live blocks with new ones of random size, touching them through every entry point. */
function churn(a: Arena, live: Uint32Array, ops: number, seed: number): number {
  const rec = Rec.bind(a);
  // A 30-bit LCG: its state stays a small integer, so the loop itself never boxes a number.
  let x = seed;
  let sum = 0;
  for (let i = 0; i < ops; i++) {
    x = (Math.imul(x, 1103515245) + 12345) & 0x3fffffff;
    const r = x >>> 12;
    const slot = r % live.length;
    a.free(live[slot]!);
    const size = 16 + ((r >>> 4) % 241);
    let p = (r & 3) === 0 ? a.calloc(size) : a.alloc(size, (r & 4) === 0 ? 8 : 64);
    if ((r & 24) === 0) p = a.realloc(p, size + 64);
    sum = (sum + a.usableSize(p)) & 0x3fffffff;
    rec.set.pid(p, i);
    rec.set.deadlineNs(p, 2 ** 40 + i);
    rec.set.vruntimeNs(p, i * 0.5);
    sum = (sum + rec.get.pid(p) + rec.get.weight(p)) & 0x3fffffff;
    live[slot] = p;
  }
  return sum;
}

function prepare(strategy: ArenaStrategy, liveCount: number): { a: Arena; live: Uint32Array } {
  const a = createArena({ sizeBytes: 16 * 2 ** 20, strategy });
  const live = new Uint32Array(liveCount);
  for (let i = 0; i < liveCount; i++) live[i] = a.alloc(16 + (i % 241));
  return { a, live };
}

const CASES: { strategy: ArenaStrategy; live: number; ops: number }[] = [
  { strategy: 'tlsf', live: 10_000, ops: 2_000_000 },
  { strategy: 'block', live: 500, ops: 200_000 },
];

for (const c of CASES) {
  test(`${c.strategy}: ${c.ops} calls after warm-up trigger no garbage collection`, async () => {
    const { a, live } = prepare(c.strategy, c.live);
    // Warm-up: until the optimizing tier has compiled the loop and the allocator, unoptimized code boxes
    // some numbers.
    for (let round = 0; round < 2; round++) churn(a, live, c.ops / 2, 7 + round);
    let sum = 0;
    const events = await gcEventsDuring(() => {
      sum = churn(a, live, c.ops, 99);
    });
    assert.ok(sum >= 0);
    assert.equal(events, 0, `${events} GC events during ${c.ops} allocator calls`);
    a.check();
  });
}

test('the GC probe itself sees allocation (control)', async () => {
  let keep: unknown[] = [];
  const events = await gcEventsDuring(() => {
    for (let i = 0; i < 2_000_000; i++) keep.push({ i });
    keep = [];
  });
  assert.ok(events > 0, 'a loop creating objects must show GC events, or the probe is blind');
});
