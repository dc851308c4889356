// Random sequences of alloc, calloc, realloc, free and bad calls against a reference model of the live
// blocks. After each step: no two live blocks overlap, each is aligned and inside the arena, content
// survives (each block is filled with its own byte), calloc'd bytes are zero, counters match the model,
// check() passes. Bad calls must throw ArenaError and leave every byte of the buffer as it was.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { createArena, ArenaError, type Arena, type ArenaStrategy } from '../src/arena/index.js';

type Op =
  | { kind: 'alloc'; size: number; alignLog2: number; zero: boolean }
  | { kind: 'realloc'; pick: number; size: number }
  | { kind: 'free'; pick: number }
  | { kind: 'bad'; pick: number; how: 'double' | 'interior' | 'foreign' };

interface Live {
  ptr: number;
  size: number;
  align: number;
  fill: number;
}

const sizeArb = fc.oneof(
  { weight: 6, arbitrary: fc.integer({ min: 0, max: 300 }) },
  { weight: 2, arbitrary: fc.integer({ min: 300, max: 4000 }) },
  { weight: 1, arbitrary: fc.integer({ min: 4000, max: 40_000 }) },
);
const opArb: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 5,
    arbitrary: fc.record({
      kind: fc.constant('alloc' as const),
      size: sizeArb,
      alignLog2: fc.integer({ min: 0, max: 12 }),
      zero: fc.boolean(),
    }),
  },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('realloc' as const), pick: fc.nat(), size: sizeArb }) },
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('free' as const), pick: fc.nat() }) },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('bad' as const),
      pick: fc.nat(),
      how: fc.constantFrom('double' as const, 'interior' as const, 'foreign' as const),
    }),
  },
);

class Model {
  live: Live[] = [];
  dead: number[] = [];
  allocs = 0;
  frees = 0;
  failed = 0;
  nextFill = 1;

  constructor(readonly a: Arena) {}

  fill(b: Live): void {
    this.a.u8.fill(b.fill, b.ptr, b.ptr + b.size);
  }

  verify(b: Live, upTo = b.size): void {
    const u8 = this.a.u8;
    for (let i = 0; i < upTo; i++) {
      if (u8[b.ptr + i] !== b.fill) assert.fail(`block ${b.ptr} byte ${i} is ${u8[b.ptr + i]}, expected ${b.fill}`);
    }
  }

  step(op: Op): void {
    const a = this.a;
    switch (op.kind) {
      case 'alloc': {
        const align = 1 << op.alignLog2;
        const ptr = op.zero ? a.calloc(op.size, align) : a.alloc(op.size, align);
        if (ptr === 0) {
          this.failed++;
          return;
        }
        this.allocs++;
        const b = { ptr, size: op.size, align, fill: (this.nextFill++ % 255) + 1 };
        assert.equal(ptr % align, 0, `alloc(${op.size}, ${align}) gave ${ptr}`);
        assert.ok(a.usableSize(ptr) >= op.size);
        if (op.zero) for (let i = 0; i < op.size; i++) assert.equal(a.u8[ptr + i], 0, `calloc byte ${i} not zero`);
        this.fill(b);
        this.live.push(b);
        return;
      }
      case 'realloc': {
        if (this.live.length === 0) return;
        const i = op.pick % this.live.length;
        const b = this.live[i]!;
        const ptr = a.realloc(b.ptr, op.size);
        if (ptr === 0) {
          this.failed++;
          this.verify(b);
          return;
        }
        if (ptr !== b.ptr) {
          this.allocs++;
          this.frees++;
          this.dead.push(b.ptr);
        }
        const kept = Math.min(b.size, op.size);
        const moved = { ptr, size: op.size, align: b.align, fill: b.fill };
        assert.equal(ptr % b.align, 0, 'realloc lost the alignment');
        this.verify(moved, kept);
        this.fill(moved);
        this.live[i] = moved;
        return;
      }
      case 'free': {
        if (this.live.length === 0) return;
        const i = op.pick % this.live.length;
        const b = this.live[i]!;
        this.verify(b);
        a.free(b.ptr);
        this.frees++;
        this.live.splice(i, 1);
        if (!this.live.some((l) => l.ptr === b.ptr)) this.dead.push(b.ptr);
        return;
      }
      case 'bad': {
        let bad: number;
        if (op.how === 'double') {
          const candidates = this.dead.filter((p) => !this.live.some((l) => l.ptr === p));
          if (candidates.length === 0) return;
          bad = candidates[op.pick % candidates.length]!;
        } else if (op.how === 'interior') {
          const owner = this.live.find((l) => a.usableSize(l.ptr) > 8);
          if (!owner) return;
          bad = owner.ptr + 8 * (1 + (op.pick % Math.floor((a.usableSize(owner.ptr) - 1) / 8)));
        } else {
          bad = [a.sizeBytes + 8 * (op.pick % 100), 8, -8, 0.5][op.pick % 4]!;
        }
        const before = Buffer.from(a.u8);
        for (const call of [() => a.free(bad), () => a.realloc(bad, 16), () => a.usableSize(bad)]) {
          assert.throws(call, (e: unknown) => e instanceof ArenaError && e.message.includes(String(bad)));
        }
        assert.ok(before.equals(a.u8), `a rejected call on ${bad} changed the arena`);
        return;
      }
    }
  }

  invariants(): void {
    const a = this.a;
    const sorted = [...this.live].sort((x, y) => x.ptr - y.ptr);
    for (let i = 0; i < sorted.length; i++) {
      const b = sorted[i]!;
      assert.ok(b.ptr > 0 && b.ptr + b.size <= a.sizeBytes, `block ${b.ptr}+${b.size} outside the arena`);
      const end = b.ptr + Math.max(b.size, 1);
      if (i + 1 < sorted.length) assert.ok(end <= sorted[i + 1]!.ptr, `blocks ${b.ptr} and ${sorted[i + 1]!.ptr} overlap`);
    }
    const s = a.stats();
    assert.equal(s.liveBlocks, this.live.length);
    assert.equal(s.allocs, this.allocs);
    assert.equal(s.frees, this.frees);
    assert.equal(s.failedAllocs, this.failed);
    assert.ok(s.usedBytes >= this.live.reduce((n, b) => n + b.size, 0));
    assert.equal(s.usedBytes + s.freeBytes <= s.sizeBytes, true);
    a.check();
  }
}

function run(strategy: ArenaStrategy, sizeBytes: number, numRuns: number): void {
  fc.assert(
    fc.property(fc.array(opArb, { minLength: 1, maxLength: 250 }), (ops) => {
      const a = createArena({ sizeBytes, strategy });
      const emptyLargest = a.stats().largestFreeBytes;
      const m = new Model(a);
      for (const op of ops) {
        m.step(op);
        m.invariants();
      }
      for (const b of m.live) m.verify(b);
      for (const b of [...m.live].reverse()) a.free(b.ptr);
      a.check();
      assert.equal(a.stats().largestFreeBytes, emptyLargest, 'freeing everything merges the heap back whole');
    }),
    { numRuns },
  );
}

test('tlsf survives random call sequences (property)', () => run('tlsf', 128 * 1024, 150));
test('block survives random call sequences (property)', () => run('block', 256 * 1024, 60));
