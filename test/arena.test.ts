import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createArena, ArenaError, type Arena, type ArenaStrategy } from '../src/arena/index.js';

const STRATEGIES: ArenaStrategy[] = ['tlsf', 'block'];
const MIB = 2 ** 20;

function snapshot(a: Arena): string {
  return Buffer.from(a.u8).toString('base64');
}

for (const strategy of STRATEGIES) {
  test(`${strategy}: alloc returns distinct, aligned, in-bounds offsets and free merges back whole`, () => {
    const a = createArena({ sizeBytes: MIB, strategy });
    const empty = a.stats();
    const ptrs: number[] = [];
    for (let i = 0; i < 200; i++) {
      const align = 1 << (i % 13);
      const size = (i * 37) % 300;
      const p = a.alloc(size, align);
      assert.notEqual(p, 0);
      assert.equal(p % align, 0, `offset ${p} not aligned to ${align}`);
      assert.ok(p + size <= a.sizeBytes);
      assert.ok(a.usableSize(p) >= size);
      ptrs.push(p);
    }
    assert.equal(new Set(ptrs).size, ptrs.length);
    a.check();
    for (let i = 0; i < ptrs.length; i += 2) a.free(ptrs[i]!);
    a.check();
    for (let i = 1; i < ptrs.length; i += 2) a.free(ptrs[i]!);
    a.check();
    const s = a.stats();
    assert.equal(s.liveBlocks, 0);
    assert.equal(s.usedBytes, 0);
    assert.equal(s.largestFreeBytes, empty.largestFreeBytes, 'heap merged back into one block');
    assert.equal(s.allocs, 200);
    assert.equal(s.frees, 200);
  });

  test(`${strategy}: exhaustion returns 0 and counts a failed alloc, never throws`, () => {
    const a = createArena({ sizeBytes: 64 * 1024, strategy });
    let n = 0;
    while (a.alloc(100) !== 0) n++;
    assert.ok(n > 100);
    assert.equal(a.stats().failedAllocs, 1);
    assert.equal(a.alloc(a.sizeBytes), 0);
    assert.equal(a.stats().failedAllocs, 2);
    a.check();
  });

  test(`${strategy}: bad calls throw ArenaError naming the offset and change nothing`, () => {
    const a = createArena({ sizeBytes: MIB, strategy });
    const p = a.alloc(200);
    const q = a.alloc(64);
    a.free(q);
    const before = snapshot(a);
    const badPointers = [p + 8, p + 64, q, 8, 4, a.sizeBytes + 64, -64, 1.5, NaN, 2 ** 32 + p];
    for (const bad of badPointers) {
      assert.throws(
        () => a.free(bad),
        (e: unknown) => e instanceof ArenaError && e.message.includes(String(bad)),
      );
      assert.throws(() => a.usableSize(bad), ArenaError);
      assert.throws(() => a.realloc(bad, 10), ArenaError);
    }
    for (const size of [-1, 1.5, NaN, Infinity, 2 ** 32]) {
      assert.throws(() => a.alloc(size), ArenaError);
      assert.throws(() => a.realloc(p, size), ArenaError);
    }
    for (const align of [0, 3, 12, 8192, -8, 0.5, NaN]) assert.throws(() => a.alloc(8, align), ArenaError);
    assert.equal(snapshot(a), before);
    a.free(0);
    a.check();
  });

  test(`${strategy}: realloc keeps the content, grows in place into a free neighbour, fails intact`, () => {
    const a = createArena({ sizeBytes: 256 * 1024, strategy });
    const p = a.alloc(100);
    for (let i = 0; i < 100; i++) a.u8[p + i] = i;
    const grown = a.realloc(p, 1000);
    assert.equal(grown, p, 'the space after p is free, so it grows in place');
    for (let i = 0; i < 100; i++) assert.equal(a.u8[grown + i], i);
    const blocker = a.alloc(16);
    const moved = a.realloc(grown, 5000);
    assert.notEqual(moved, 0);
    for (let i = 0; i < 100; i++) assert.equal(a.u8[moved + i], i);
    assert.equal(a.realloc(moved, 10 * a.sizeBytes > 2 ** 32 - 1 ? 2 ** 32 - 1 : 10 * a.sizeBytes), 0);
    for (let i = 0; i < 100; i++) assert.equal(a.u8[moved + i], i);
    const shrunk = a.realloc(moved, 10);
    assert.equal(shrunk, moved);
    a.free(blocker);
    a.free(shrunk);
    a.check();
    assert.equal(a.stats().liveBlocks, 0);
  });

  test(`${strategy}: calloc zeroes reused memory`, () => {
    const a = createArena({ sizeBytes: 64 * 1024, strategy });
    const p = a.alloc(512);
    a.u8.fill(0xab, p, p + 512);
    a.free(p);
    const q = a.calloc(512);
    assert.ok(a.u8.subarray(q, q + 512).every((b) => b === 0));
  });
}

test('tlsf: realloc that swallows a free neighbour whole keeps the neighbour flags right', () => {
  const a = createArena({ sizeBytes: 64 * 1024 });
  const p = a.alloc(100);
  const q = a.alloc(100);
  const r = a.alloc(100);
  a.free(q);
  // The merged block is p's block plus q's block (header included): ask for all of it.
  const whole = a.usableSize(p) + (q - p);
  assert.equal(a.realloc(p, whole - (q - p) + (r - q)), p);
  a.check();
  a.free(r);
  a.check();
  a.free(p);
  a.check();
});

test('tlsf: growing into a long free neighbour leaves the next block flags right', () => {
  for (const leftOverBytes of [0, 8, 40, 200, 400]) {
    const a = createArena({ sizeBytes: 64 * 1024 });
    const p = a.alloc(100);
    const q = a.alloc(1000);
    const r = a.alloc(100);
    a.free(q);
    a.check();
    const whole = r - p - 4; // p's payload up to r's header: p's block and q's block
    assert.equal(a.realloc(p, whole - leftOverBytes), p);
    a.check();
    a.free(r);
    a.free(p);
    a.check();
  }
});

test('tlsf: an alignment gap too small for a free block skips to the next aligned offset', () => {
  const a = createArena({ sizeBytes: 64 * 1024 });
  for (let i = 0; i < 64; i++) {
    const pad = a.alloc(8 * (i % 8));
    const p = a.alloc(24, 16 << (i % 4));
    assert.equal(p % (16 << (i % 4)), 0);
    a.check();
    a.free(pad);
  }
  a.check();
});

test('tlsf: caller bytes that look like a back reference never make free merge with a stranger', () => {
  const a = createArena({ sizeBytes: 64 * 1024 });
  const [p, , r, s] = [a.alloc(100), a.alloc(100), a.alloc(100), a.alloc(100)];
  a.free(p);
  // The last u32 before s's header is r's data; write p's header offset there, as a free block's back
  // reference would hold it.
  a.u32[(s - 8) >>> 2] = p - 4;
  a.u32[(s - 4 - 8) >>> 2] = p - 4;
  a.free(s);
  a.check();
  assert.equal(a.usableSize(r), a.usableSize(r));
  a.free(r);
  a.check();
});

test('tlsf: taking the last small free block empties its class bitmaps', () => {
  const a = createArena({ sizeBytes: 64 * 1024 });
  const [, q] = [a.alloc(100), a.alloc(100), a.alloc(100)];
  a.free(q);
  a.check();
  assert.equal(a.alloc(100), q, 'the hole fits exactly');
  a.check();
  const r = a.alloc(40);
  a.free(r);
  a.check();
});

test('the smallest arena, 4 KiB, serves blocks with either strategy', () => {
  for (const strategy of STRATEGIES) {
    const a = createArena({ sizeBytes: 4096, strategy });
    const p = a.alloc(100);
    assert.notEqual(p, 0, strategy);
    assert.ok(p + 100 <= 4096);
    a.free(p);
    a.check();
  }
});

test('createArena validates its options', () => {
  assert.throws(() => createArena({ sizeBytes: 1000 }), /sizeBytes/);
  assert.throws(() => createArena({ sizeBytes: 2 ** 32 }), /sizeBytes/);
  assert.throws(() => createArena({ sizeBytes: 4096.5 }), /sizeBytes/);
  assert.throws(() => createArena({ sizeBytes: MIB, strategy: 'buddy' as ArenaStrategy }), /strategy/);
  assert.throws(() => createArena({ sizeBytes: MIB, blockSize: 64 }), /blockSize/);
  assert.throws(() => createArena({ sizeBytes: MIB, strategy: 'block', blockSize: 48 }), /blockSize/);
  const shared = createArena({ sizeBytes: MIB, shared: true });
  assert.ok(shared.buffer instanceof SharedArrayBuffer);
  assert.equal(shared.strategy, 'tlsf');
});
