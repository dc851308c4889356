import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HeapKeeper, oldSpaceUsedBytes } from '../src/mem/index.js';

const KIB = 1024;
const MIB = 1024 * KIB;

test('a heap keeper collects on its first tick, then only once the heap has grown by its threshold', () => {
  let used = 10 * MIB;
  const keeper = new HeapKeeper(512 * KIB, () => used);
  assert.equal(keeper.tick(), true, 'the first tick collects (nothing known yet)');
  assert.equal(keeper.collections, 1);
  used += 511 * KIB;
  assert.equal(keeper.tick(), false, 'one KiB short of the threshold');
  used += KIB;
  assert.equal(keeper.tick(), true, 'at the threshold');
  assert.equal(keeper.collections, 2);
  // The floor is what the collection left, read after it: here the heap stayed where it was.
  used += 100 * KIB;
  assert.equal(keeper.tick(), false, 'measured from the last collection, not from the first');
  used -= 4 * MIB; // shrinking (another collection ran meanwhile) never collects
  assert.equal(keeper.tick(), false);
  assert.equal(keeper.collections, 2);
});

test("a heap keeper's collection is a real one: old-generation garbage is gone after it", () => {
  const keeper = new HeapKeeper(MIB);
  keeper.tick();
  const floor = oldSpaceUsedBytes();
  // Objects that live through two scavenges are promoted to the old generation; dropping them then makes
  // old-generation garbage that only a full collection takes.
  let keep: number[][] = [];
  for (let i = 0; i < 40_000; i++) keep.push([i, i + 1, i + 2, i + 3]);
  const churn: number[][] = new Array(1024);
  for (let round = 0; round < 3; round++) {
    for (let i = 0; i < 200_000; i++) churn[i & 1023] = [i]; // stored, so never optimized away: scavenges
  }
  const grown = oldSpaceUsedBytes();
  keep = [];
  assert.equal(keep.length, 0);
  assert.ok(grown - floor >= MIB, `old space grew ${((grown - floor) / MIB).toFixed(2)} MiB (needs >= 1 to test)`);
  assert.equal(keeper.tick(), true, 'grown past the threshold: collects');
  const after = oldSpaceUsedBytes();
  assert.ok(after < grown - MIB / 2, `old space ${(grown / MIB).toFixed(2)} -> ${(after / MIB).toFixed(2)} MiB`);
  assert.equal(keeper.tick(), false, 'nothing grew since');
});
