import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { FaultCounter } from '../src/mem/index.js';
import { getSys } from '../src/mem/sys.js';
import { slabLocker } from '../src/sched/lock.js';

// A fork leaves every private page the child may see copy-on-write in the parent. Locked tables keep the
// whole pages inside them out of the child (MADV_DONTFORK), but not their first and last pages, which
// malloc shares with other memory: after a fork, the first write to each faults. retouch() takes those
// faults at once, right after the fork, instead of whenever a slot there is first used.

const TABLES = 16;

function makeTables(): Float64Array[] {
  // Sizes that are not whole pages, so each table starts and ends inside a page shared with something else.
  return Array.from({ length: TABLES }, (_, i) => new Float64Array(4096 + 3 * i));
}

function writeEnds(tables: Float64Array[]): void {
  for (const t of tables) {
    t[0] = t[0]! + 1;
    t[t.length - 1] = t[t.length - 1]! + 1;
  }
}

function faultsOfFirstWritesAfterFork(lockMemory: boolean, retouch: boolean): number {
  const locker = slabLocker(lockMemory);
  const tables = makeTables();
  const faults = new FaultCounter({ scope: 'thread' });
  try {
    locker.track(tables.map((t) => t.buffer));
    writeEnds(makeTables()); // the writer compiled, on other tables
    writeEnds(tables);
    const child = spawnSync('true');
    assert.equal(child.status, 0, 'the forked child ran');
    if (retouch) locker.retouch();
    // The counter's own memory (the buffer the kernel writes, koffi's call frame) is copy-on-write too:
    // its first samples after the fork take those faults, outside the window.
    faults.sample();
    faults.sample();
    const before = faults.sample();
    writeEnds(tables);
    return faults.sample() - before;
  } finally {
    faults.close();
    locker.unlockAll();
  }
}

/**
 * The fewest faults over a few forks. Anything else this thread does in the window (V8 may run a task of
 * its own at a loop's interrupt check, on heap pages the fork also left copy-on-write) only adds faults.
 */
function fewestFaults(lockMemory: boolean, retouch: boolean): number {
  let fewest = Infinity;
  for (let attempt = 0; attempt < ATTEMPTS && fewest > 0; attempt++) fewest = Math.min(fewest, faultsOfFirstWritesAfterFork(lockMemory, retouch));
  return fewest;
}

const ATTEMPTS = 5;

test('after a fork, the first write to a locked table faults, unless it was retouched', { skip: getSys() ? false : 'no libc' }, () => {
  // The failure this guards against: without retouch, the pages the tables share fault.
  assert.ok(fewestFaults(true, false) >= TABLES / 2, 'a fork leaves the shared pages copy-on-write');
  assert.equal(fewestFaults(true, true), 0);
});

test('retouch also covers unlocked tables (RLIMIT_MEMLOCK refused, or locking off)', { skip: getSys() ? false : 'no libc' }, () => {
  assert.ok(fewestFaults(false, false) >= TABLES / 2);
  assert.equal(fewestFaults(false, true), 0);
});

test('retouch keeps what the tables hold; after unlockAll it holds nothing', () => {
  const locker = slabLocker(false);
  const shared = new Uint8Array(new SharedArrayBuffer(3 * 4096 + 100));
  for (let i = 0; i < shared.length; i++) shared[i] = i & 0xff;
  locker.track([shared.buffer]);
  locker.retouch();
  for (let i = 0; i < shared.length; i++) assert.equal(shared[i], i & 0xff);
  locker.unlockAll();
  // After unlockAll nothing is held: retouch writes nothing.
  shared.fill(7);
  locker.retouch();
  assert.ok(shared.every((b) => b === 7));
});
