import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { FaultCounter } from '../src/mem/index.js';
import { getSys } from '../src/mem/sys.js';
import { slabLocker } from '../src/sched/lock.js';
import { createScheduler } from '../src/sched/index.js';
import { rustland } from '../src/sched/policies/index.js';

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

function slabFaultsAfterFork(lockMemory: boolean, retouch: boolean): number {
  // Small slabs, so a few of them lie side by side in malloc'd memory with pages shared between them.
  const scheduler = createScheduler({ nrCpus: 2, policy: rustland(), sliceNs: 5e6, lockMemory, slabTasks: 16, reserveTasks: 64 });
  const faults = new FaultCounter({ scope: 'thread' });
  try {
    for (let pid = 100; pid < 164; pid++) scheduler.registerTask(pid, 1024, -1);
    const slabs = scheduler.taskSlabs().slabs.map((sab) => new Uint8Array(sab));
    const writeSlabEnds = (views: Uint8Array[]): void => {
      for (const v of views) {
        v[0] = v[0]! ^ 0;
        v[v.length - 1] = v[v.length - 1]! ^ 0;
      }
    };
    writeSlabEnds([new Uint8Array(64), new Uint8Array(64)]);
    writeSlabEnds(slabs);
    assert.equal(spawnSync('true').status, 0);
    if (retouch) scheduler.retouchMemory();
    faults.sample();
    faults.sample();
    const before = faults.sample();
    writeSlabEnds(slabs);
    return faults.sample() - before;
  } finally {
    faults.close();
    scheduler.close();
  }
}

test('Scheduler.retouchMemory covers the task slabs too, locked or not', { skip: getSys() ? false : 'no libc' }, () => {
  for (const lockMemory of [true, false]) {
    let fewestPlain = Infinity;
    let fewestRetouched = Infinity;
    for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
      fewestPlain = Math.min(fewestPlain, slabFaultsAfterFork(lockMemory, false));
      if (fewestRetouched > 0) fewestRetouched = Math.min(fewestRetouched, slabFaultsAfterFork(lockMemory, true));
    }
    assert.ok(fewestPlain >= 1, `lockMemory ${lockMemory}: a fork leaves slab pages copy-on-write`);
    assert.equal(fewestRetouched, 0, `lockMemory ${lockMemory}`);
  }
});
