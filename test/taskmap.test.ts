import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { TaskMap, TaskMapError } from '../src/sched/taskmap.js';

test('pid map agrees with a Map model under random set/delete/get (backward-shift deletion)', () => {
  fc.assert(
    fc.property(
      fc.array(fc.tuple(fc.constantFrom('set', 'delete', 'get'), fc.integer({ min: 0, max: 300 }), fc.nat(1_000_000)), {
        maxLength: 600,
      }),
      (ops) => {
        const map = new TaskMap();
        const model = new Map<number, number>();
        for (const [op, pid, slot] of ops) {
          if (op === 'set') {
            map.set(pid, slot);
            model.set(pid, slot);
          } else if (op === 'delete') {
            assert.equal(map.delete(pid), model.get(pid) ?? -1);
            model.delete(pid);
          } else {
            assert.equal(map.get(pid), model.get(pid) ?? -1);
          }
          assert.equal(map.size, model.size);
        }
        for (const [pid, slot] of model) assert.equal(map.get(pid), slot);
        assert.deepEqual(new Map(map.pairs()), model);
      },
    ),
  );
});

test('colliding pids (same home bucket) survive deletes in the middle of a cluster', () => {
  const map = new TaskMap(8);
  const pids = Array.from({ length: 7 }, (_, i) => i * 16);
  pids.forEach((p, i) => map.set(p, i));
  map.delete(pids[2]!);
  map.delete(pids[0]!);
  pids.forEach((p, i) => assert.equal(map.get(p), i === 0 || i === 2 ? -1 : i));
});

test('grows on set, never on get/delete; rejects bad pids', () => {
  const map = new TaskMap();
  for (let i = 0; i < 100_000; i++) map.set(i * 7, i);
  assert.ok(map.capacity >= 200_000);
  const cap = map.capacity;
  for (let i = 0; i < 100_000; i += 2) map.delete(i * 7);
  assert.equal(map.capacity, cap);
  assert.equal(map.size, 50_000);
  assert.equal(map.get(7), 1);
  assert.throws(() => map.set(-1, 0), TaskMapError);
  assert.throws(() => map.set(1.5, 0), TaskMapError);
});
