// The sched_ext round's drill (src/backends/scx/drill.ts), run under V8's precise block coverage: every
// function of the round and every block in it must run before the scheduler is attached, except the few
// listed with the reason they cannot matter (see drill-coverage.test.ts for why a late block is a fault).

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { test } from 'node:test';

interface Range {
  startOffset: number;
  endOffset: number;
  count: number;
}
interface FunctionCoverage {
  functionName: string;
  ranges: Range[];
}
interface ScriptCoverage {
  url: string;
  functions: FunctionCoverage[];
}

const HOT: Record<string, string[]> = {
  'backends/scx/thread/bridge.js': ['handleQueued', 'flush', 'runUnplaced', 'register', 'writeU64'],
  'backends/scx/thread/loop.js': ['round', 'copyCounters'],
  // The core's preemption runs only on sched_ext (test/drill-coverage.test.ts covers the rest of the core).
  'sched/scheduler.js': ['preemptForWakeups'],
  'backends/scx/rings.js': [
    'loadPositionInto',
    'readU64',
    'writeU64',
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
const CAPTURE = "recording for bench:scx's replay (TSLAND_SCX_CAPTURE): never in a user's run";

/** Blocks that may stay untaken: [file, function, the block's first characters, why]. */
const ALLOWED: [string, string, string, string][] = [
  ['backends/scx/thread/bridge.js', 'register', '{ let size', GROWS],
  ['backends/scx/thread/loop.js', 'round', 'return ROUND_STOP', NOT_ON_THE_THREAD],
  ['backends/scx/thread/loop.js', 'round', 'return ROUND_EJECTED', DETACHED],
  ['backends/scx/thread/loop.js', 'round', 'cap.startRound', CAPTURE],
  ['backends/scx/thread/loop.js', 'round', 'cap.add', CAPTURE],
  ['backends/scx/thread/loop.js', 'round', 'cap.endRound', CAPTURE],
];

test('the sched_ext drill takes every block of the round before the scheduler is attached', async () => {
  const session = new Session();
  session.connect();
  try {
    await session.post('Profiler.enable');
    await session.post('Profiler.startPreciseCoverage', { callCount: true, detailed: true });
    const src = new URL('../src/', import.meta.url);
    const { drillScxRound } = await import(new URL('backends/scx/thread/drill.js', src).href);
    const { rustland } = await import(new URL('sched/policies/index.js', src).href);
    const { readMonotonicNs } = await import(new URL('backends/os/clock.js', src).href);
    drillScxRound(() => rustland(), readMonotonicNs);
    const { result } = (await session.post('Profiler.takePreciseCoverage')) as { result: ScriptCoverage[] };
    await session.post('Profiler.stopPreciseCoverage');

    const missing: string[] = [];
    const used = new Set<string>();
    for (const [file, names] of Object.entries(HOT)) {
      const script = result.find((s) => s.url.endsWith(`/src/${file}`));
      assert.ok(script, `${file} was not loaded`);
      const text = readFileSync(new URL(script.url), 'utf8');
      for (const name of names) {
        const fns = script.functions.filter((f) => f.functionName === name);
        assert.ok(fns.length > 0, `${file}: no function ${name} (renamed? update HOT)`);
        for (const fn of fns) {
          if (fn.ranges[0]!.count === 0) {
            missing.push(`${file} ${name}: never runs`);
            continue;
          }
          for (const r of fn.ranges.slice(1)) {
            if (r.count > 0) continue;
            const block = text.slice(r.startOffset, r.endOffset).replace(/\s+/g, ' ').trimStart();
            const allowed = ALLOWED.find(([f, n, start]) => f === file && n === name && block.startsWith(start));
            if (allowed) {
              used.add(allowed.join('|'));
              continue;
            }
            const line = text.slice(0, r.startOffset).split('\n').length;
            missing.push(`${file}:${line} ${name}: ${block.slice(0, 80)}`);
          }
        }
      }
    }
    assert.deepEqual(missing, [], `blocks the drill does not take:\n${missing.join('\n')}`);
    const stale = ALLOWED.filter((a) => !used.has(a.join('|'))).map(([f, n, start]) => `${f} ${n}: ${start}`);
    assert.deepEqual(stale, [], `allowed blocks that the drill now takes (remove them):\n${stale.join('\n')}`);
  } finally {
    session.disconnect();
  }
});
