// The sched_ext round's drill (src/backends/scx/drill.ts), run under V8's precise block coverage: every
// function of the round and every block in it must run before the scheduler is attached, except the few
// listed with the reason they cannot matter (see drill-coverage.test.ts for why a late block is a fault).

import assert from 'node:assert/strict';
import { Session } from 'node:inspector/promises';
import { test } from 'node:test';
import { POSITION_IN_ONE_WRITE, SMI_HOLDS_INT32 } from '../src/backends/scx/rings.js';
import { startBlockCoverage, untakenBlocks, type Allowance } from './fixtures/coverage.js';

const HOT: Record<string, string[]> = {
  'backends/scx/thread/bridge.js': ['handleQueued', 'flush', 'runUnplaced', 'register', 'registerSlot'],
  'backends/scx/thread/loop.js': ['round', 'copyCounters'],
  // The core's preemption runs only on sched_ext (test/drill-coverage.test.ts covers the rest of the core).
  'sched/scheduler.js': ['preemptForWakeups', 'placeAhead', 'heardOfAhead'],
  'backends/scx/rings.js': [
    'loadPosition32',
    'readU64',
    'writeU64',
    'ringOffset',
    'next',
    'release',
    'pending',
    'reserve',
    'commit',
    'store',
  ],
};

const GROWS = 'growth past the reserved size: allocates by design, on the creation path';
const DETACHED = 'taken only once the kernel has ejected or unloaded the scheduler: the run ends there';
const NOT_ON_THE_THREAD = 'the stop request: the round returns at once and the thread ends';
const OTHER_V8 = 'the header read of the other kind of V8 build (with or without pointer compression): chosen once per ring';
const OTHER_ARCH = 'the position store of the other kind of machine (x86-64 or not): chosen once per ring';
const CAPTURE = "recording for bench:scx's replay (TSLAND_SCX_CAPTURE): never in a user's run";

/** Blocks that may stay untaken: [file, function, the block's first characters, why]. */
const ALLOWED: Allowance[] = [
  ['backends/scx/thread/bridge.js', 'registerSlot', '{ let size', GROWS],
  ['backends/scx/thread/loop.js', 'round', 'return ROUND_STOP', NOT_ON_THE_THREAD],
  ['backends/scx/thread/loop.js', 'round', 'return ROUND_EJECTED', DETACHED],
  ['backends/scx/thread/loop.js', 'round', 'cap.startRound', CAPTURE],
  ['backends/scx/thread/loop.js', 'round', 'cap.add', CAPTURE],
  ['backends/scx/thread/loop.js', 'round', 'cap.endRound', CAPTURE],
  SMI_HOLDS_INT32
    ? ['backends/scx/rings.js', 'next', 'else { // The flags first', OTHER_V8]
    : ['backends/scx/rings.js', 'next', '{ // The header in one call', OTHER_V8],
  POSITION_IN_ONE_WRITE
    ? ['backends/scx/rings.js', 'store', 'const q = this.bitsU16', OTHER_ARCH]
    : ['backends/scx/rings.js', 'store', '{ this.f64[0]', OTHER_ARCH],
];

test('the sched_ext drill takes every block of the round before the scheduler is attached', async () => {
  const session = new Session();
  session.connect();
  try {
    await startBlockCoverage(session);
    const src = new URL('../src/', import.meta.url);
    const { drillScxRound } = await import(new URL('backends/scx/thread/drill.js', src).href);
    const { rustland } = await import(new URL('sched/policies/index.js', src).href);
    const { readMonotonicNs } = await import(new URL('backends/os/clock.js', src).href);
    drillScxRound(() => rustland(), readMonotonicNs);
    const { missing, stale } = await untakenBlocks(session, HOT, ALLOWED);
    assert.deepEqual(missing, [], `blocks the drill does not take:\n${missing.join('\n')}`);
    // An allowance nothing needs any more is dropped, so the list stays the truth.
    assert.deepEqual(stale, [], `allowed blocks that the drill now takes (remove them):\n${stale.join('\n')}`);
  } finally {
    session.disconnect();
  }
});
