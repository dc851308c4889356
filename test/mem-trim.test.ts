// trimMalloc: what a thread freed through malloc in the middle of an arena goes back to the kernel (the
// main thread of a scheduler process calls it after each of its periodic collections).

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { collectGarbageNow, trimMalloc } from '../src/mem/gc.js';

const KIB_PER_PAGE = 4;
const GARBAGE_BYTES = 64 * 1024;
const KEEPER_BYTES = 1024;
const PAIRS = 1000;

function rssKiB(): number {
  return Number(readFileSync('/proc/self/statm', 'utf8').split(' ')[1]) * KIB_PER_PAGE;
}

test('trimMalloc returns freed holes of the malloc arena to the kernel', async () => {
  // 64 MiB of buffers, each followed by a small one that stays: freeing the big ones leaves holes malloc
  // cannot give back by itself (only the top of an arena shrinks on free).
  const keep: Buffer[] = [];
  let garbage: Buffer[] | null = [];
  for (let i = 0; i < PAIRS; i++) {
    garbage.push(Buffer.alloc(GARBAGE_BYTES, 1));
    keep.push(Buffer.alloc(KEEPER_BYTES, 1));
  }
  garbage = null;
  collectGarbageNow();
  // V8 frees buffers' memory from its sweeper, which may finish after the collection returns.
  await new Promise((resolve) => setTimeout(resolve, 200));
  const before = rssKiB();
  assert.equal(trimMalloc(), true, 'glibc malloc_trim is available on Linux');
  const after = rssKiB();
  const givenBackKiB = before - after;
  assert.ok(
    givenBackKiB >= (PAIRS * GARBAGE_BYTES) / 1024 / 4,
    `gave back ${givenBackKiB} KiB of ${(PAIRS * GARBAGE_BYTES) / 1024}`,
  );
  assert.equal(keep.length, PAIRS);
});
