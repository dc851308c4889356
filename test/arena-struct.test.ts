import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createArena, defineStruct, ArenaError } from '../src/arena/index.js';

const Task = defineStruct({ pid: 'u32', vruntimeNs: 'f64', weight: 'u16', flags: 'u8', lag: 'i32', load: 'f32', startNs: 'u64' });

test('struct packs fields by alignment with no holes', () => {
  assert.equal(Task.align, 8);
  assert.equal(Task.sizeBytes, 32);
  assert.deepEqual(Task.offsets, { vruntimeNs: 0, startNs: 8, pid: 16, lag: 20, load: 24, weight: 28, flags: 30 });
  assert.match(Task.describe(), /sizeBytes 32, align 8/);
});

test('struct accessors round-trip every type at offsets above 2^31', () => {
  const a = createArena({ sizeBytes: 64 * 1024 });
  const t = Task.bind(a);
  const p = a.alloc(Task.sizeBytes, Task.align);
  t.set.pid(p, 4_000_000_000);
  t.set.vruntimeNs(p, 1.25e15);
  t.set.weight(p, 65535);
  t.set.flags(p, 0x81);
  t.set.lag(p, -123456);
  t.set.load(p, 0.5);
  t.set.startNs(p, 2 ** 53 - 1);
  assert.equal(t.get.pid(p), 4_000_000_000);
  assert.equal(t.get.vruntimeNs(p), 1.25e15);
  assert.equal(t.get.weight(p), 65535);
  assert.equal(t.get.flags(p), 0x81);
  assert.equal(t.get.lag(p), -123456);
  assert.equal(t.get.load(p), 0.5);
  assert.equal(t.get.startNs(p), 2 ** 53 - 1);
  t.set.startNs(p, 2 ** 32 + 7);
  assert.equal(t.get.startNs(p), 2 ** 32 + 7);
  const q = a.alloc(Task.sizeBytes, Task.align);
  t.copy(q, p);
  assert.equal(t.get.startNs(q), 2 ** 32 + 7);
  t.clear(p);
  assert.equal(t.get.pid(p), 0);
  assert.equal(t.get.lag(q), -123456);
});

test('struct binds a bare buffer and its high offsets', () => {
  let buf: ArrayBuffer;
  try {
    buf = new ArrayBuffer(2 ** 31 + 4096);
  } catch {
    return; // covered by the large-arena test when memory allows
  }
  const t = Task.bind(buf);
  const p = 2 ** 31 + 64;
  t.set.pid(p, 77);
  t.set.startNs(p, 2 ** 40);
  assert.equal(t.get.pid(p), 77);
  assert.equal(t.get.startNs(p), 2 ** 40);
  assert.equal(new DataView(buf).getUint32(p + Task.offsets.pid, true), 77);
});

test('defineStruct rejects bad specs', () => {
  assert.throws(() => defineStruct({}), ArenaError);
  assert.throws(() => defineStruct({ x: 'u128' as 'u64' }), /unknown type/);
});
