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

/**
 * Writes the first and last element of each table, allocating nothing even unoptimized: the window must
 * take no fault of its own. Written as `for...of` with `t[0] + 1`, the interpreter's iterator results and the
 * sum of two doubles were heap objects, and whenever the young generation's next free byte sat at the start
 * of an untouched page the window took that page's fault. Each attempt allocated a whole number of pages
 * (48 KiB) between windows, so a run whose first window met a page boundary met one in all five: 1 fault in
 * every attempt (traced with perf: a write to a page not present, by `ArrayIteratorPrototypeNext`,
 * `AddSmi_Baseline` or `KeyedLoadIC`; one CI run failed so, and 1 run in 11 to 18 here).
 */
function writeEnds(tables: Float64Array[]): void {
  for (let i = 0; i < tables.length; i++) {
    const t = tables[i]!;
    t[0] = i;
    t[t.length - 1] = i;
  }
}

/**
 * Writes once, forks (a spawned `true`), calls `afterFork`, then counts this thread's faults while it writes
 * again. The counter's own memory (the buffer the kernel writes, koffi's call frame) is copy-on-write too:
 * its first samples after the fork take those faults, outside the window. Those samples also make the
 * counter's page private again, so callers create the counter before the memory under test, which then
 * lies elsewhere rather than beside it.
 */
function faultsOfWriteAfterFork(faults: FaultCounter, write: () => void, afterFork: () => void): number {
  write();
  assert.equal(spawnSync('true').status, 0, 'the forked child ran');
  afterFork();
  faults.sample();
  faults.sample();
  const before = faults.sample();
  write();
  return faults.sample() - before;
}

/**
 * The fewest faults over a few forks. Anything else this thread does in the window (V8 may run a task of
 * its own at a loop's interrupt check, on heap pages the fork also left copy-on-write) only adds faults.
 */
function fewest(measure: () => number): Fewest {
  const seen: number[] = [];
  let least = Infinity;
  for (let attempt = 0; attempt < ATTEMPTS && least > 0; attempt++) {
    const n = measure();
    seen.push(n);
    least = Math.min(least, n);
  }
  return { least, why: `faults in the window, attempt by attempt: ${seen.join(', ')}` };
}

interface Fewest {
  least: number;
  /** Every attempt's count, for a failure's message. */
  why: string;
}

function tableFaultsAfterFork(lockMemory: boolean, retouch: boolean): number {
  const faults = new FaultCounter({ scope: 'thread' });
  const locker = slabLocker(lockMemory);
  const tables = makeTables();
  try {
    locker.track(tables.map((t) => t.buffer));
    writeEnds(makeTables()); // the writer compiled, on other tables
    return faultsOfWriteAfterFork(
      faults,
      () => writeEnds(tables),
      () => retouch && locker.retouch(),
    );
  } finally {
    locker.unlockAll();
    faults.close();
  }
}

const ATTEMPTS = 5;

test(
  'after a fork, the first write to a locked table faults, unless it was retouched',
  { skip: getSys() ? false : 'no libc' },
  () => {
    // The failure this guards against: without retouch, the pages the tables share fault.
    const without = fewest(() => tableFaultsAfterFork(true, false));
    assert.ok(without.least >= TABLES / 2, `a fork leaves the shared pages copy-on-write; ${without.why}`);
    const retouched = fewest(() => tableFaultsAfterFork(true, true));
    assert.equal(retouched.least, 0, retouched.why);
  },
);

test(
  'retouch also covers unlocked tables (RLIMIT_MEMLOCK refused, or locking off)',
  { skip: getSys() ? false : 'no libc' },
  () => {
    const without = fewest(() => tableFaultsAfterFork(false, false));
    assert.ok(without.least >= TABLES / 2, without.why);
    const retouched = fewest(() => tableFaultsAfterFork(false, true));
    assert.equal(retouched.least, 0, retouched.why);
  },
);

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
  const faults = new FaultCounter({ scope: 'thread' });
  // Slabs of a page or two (64 tasks), so each starts and ends in a page shared with other memory.
  const scheduler = createScheduler({
    nrCpus: 2,
    policy: rustland(),
    sliceNs: 5e6,
    lockMemory,
    slabTasks: 64,
    reserveTasks: 256,
  });
  try {
    for (let pid = 100; pid < 356; pid++) scheduler.registerTask(pid, 1024, -1);
    const slabs = scheduler.taskSlabs().slabs.map((sab) => new Uint8Array(sab));
    // Allocation-free, as writeEnds above.
    const writeSlabEnds = (views: Uint8Array[]): void => {
      for (let i = 0; i < views.length; i++) {
        const v = views[i]!;
        v[0] = v[0]! ^ 0;
        v[v.length - 1] = v[v.length - 1]! ^ 0;
      }
    };
    writeSlabEnds([new Uint8Array(64), new Uint8Array(64)]); // the writer compiled, on other bytes
    return faultsOfWriteAfterFork(
      faults,
      () => writeSlabEnds(slabs),
      () => retouch && scheduler.retouchMemory(),
    );
  } finally {
    scheduler.close();
    faults.close();
  }
}

test('Scheduler.retouchMemory covers the task slabs too, locked or not', { skip: getSys() ? false : 'no libc' }, () => {
  for (const lockMemory of [true, false]) {
    const without = fewest(() => slabFaultsAfterFork(lockMemory, false));
    assert.ok(without.least >= 1, `lockMemory ${lockMemory}: a fork leaves slab pages copy-on-write; ${without.why}`);
    const retouched = fewest(() => slabFaultsAfterFork(lockMemory, true));
    assert.equal(retouched.least, 0, `lockMemory ${lockMemory}: ${retouched.why}`);
  }
});
