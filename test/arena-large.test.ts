// Offsets are unsigned 32-bit numbers: an arena of 3 GiB must serve, validate and free blocks above the
// 2 GiB mark, where a signed 32-bit conversion (x | 0) would turn an offset negative.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createArena, defineStruct, ArenaError, type Arena, type ArenaOptions } from '../src/arena/index.js';

const GIB = 2 ** 30;
const TWO_GIB = 2 * GIB;
const Rec = defineStruct({ id: 'u32', stampNs: 'u64', score: 'f64', small: 'u16' });

function tryCreate(options: ArenaOptions): Arena | string {
  try {
    return createArena(options);
  } catch (err) {
    return (err as Error).message;
  }
}

for (const options of [{ sizeBytes: 3 * GIB }, { sizeBytes: 3 * GIB, strategy: 'block', blockSize: 4096 }] as ArenaOptions[]) {
  test(`${options.strategy ?? 'tlsf'}: a 3 GiB arena serves and checks blocks above 2 GiB`, (t) => {
    const made = tryCreate(options);
    if (typeof made === 'string') {
      const reason = `cannot allocate a 3 GiB buffer here: ${made}`;
      console.log(`# skipped: ${reason}`);
      t.skip(reason);
      return;
    }
    const a = made;
    const emptyLargest = a.stats().largestFreeBytes;
    const low = a.alloc(TWO_GIB); // pushes everything after it above the 2 GiB mark
    assert.notEqual(low, 0);
    const rec = Rec.bind(a);
    const high: number[] = [];
    for (let i = 0; i < 64; i++) {
      const p = a.alloc(Rec.sizeBytes + 100 * i, i % 2 === 0 ? 8 : 4096);
      assert.ok(p > TWO_GIB, `block ${i} at ${p} is not above 2 GiB`);
      assert.equal(p % (i % 2 === 0 ? 8 : 4096), 0);
      rec.set.id(p, p);
      rec.set.stampNs(p, p * 1000);
      rec.set.score(p, -i);
      rec.set.small(p, i);
      a.u8[p + Rec.sizeBytes] = 0xa5;
      high.push(p);
    }
    for (const [i, p] of high.entries()) {
      assert.equal(rec.get.id(p), p);
      assert.equal(rec.get.stampNs(p), p * 1000);
      assert.equal(rec.get.score(p), -i);
      assert.equal(rec.get.small(p), i);
      assert.equal(a.view.getUint32(p + Rec.offsets.id, true), p);
      assert.equal(a.u8[p + Rec.sizeBytes], 0xa5);
    }
    // Validation above 2 GiB: interior and doubled pointers are still caught.
    assert.throws(() => a.free(high[3]! + 8), ArenaError);
    const grown = a.realloc(high[5]!, 20_000);
    assert.notEqual(grown, 0);
    assert.equal(rec.get.id(grown), high[5]);
    high[5] = grown;
    a.check();
    for (let i = high.length - 1; i >= 0; i -= 2) a.free(high[i]!);
    assert.throws(() => a.free(high[high.length - 1]!), ArenaError);
    for (let i = high.length - 2; i >= 0; i -= 2) a.free(high[i]!);
    a.free(low);
    a.check();
    const s = a.stats();
    assert.equal(s.liveBlocks, 0);
    assert.equal(s.largestFreeBytes, emptyLargest);
  });
}

test('tlsf: the largest arena, 4 GiB - 1, reaches its last bytes', (t) => {
  const made = tryCreate({ sizeBytes: 4 * GIB - 1 });
  if (typeof made === 'string') {
    console.log(`# skipped: ${made}`);
    t.skip(made);
    return;
  }
  const a = made;
  const all = a.alloc(a.stats().largestFreeBytes);
  assert.notEqual(all, 0);
  const end = all + a.usableSize(all);
  assert.ok(end > 4 * GIB - 64 && end <= a.sizeBytes);
  a.u8[end - 1] = 7;
  assert.equal(a.u8[end - 1], 7);
  assert.equal(a.alloc(8), 0);
  a.free(all);
  a.check();
});
