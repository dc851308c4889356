// measureHotPath: proves that a function, once warm, allocates nothing on the JS heap and takes no page
// fault. It calls the function `iterations` times inside a measured window and reports, for that window
// alone, the page faults of the calling thread, the GC events and the growth of the used heap.
//
// How the harness stays out of its own figures:
//  - inside the window there is only a counted loop calling fn; everything the harness allocates (heap
//    statistics, the GC profile) happens before or after it;
//  - heap growth is read from the spaces where new objects are born (see ALLOCATION_SPACES);
//  - what those readings themselves add to the heap is measured by identical windows of 0 iterations
//    right before and right after, and subtracted; the figure is trusted only when both agree (they do
//    not when V8 recompiled the harness in between);
//  - each measurement gets a loop of its own, warmed in short calls (see makeLoop and warm);
//  - GC events come from v8.GCProfiler, which V8 fills synchronously in C++ during the window, cross-checked
//    with PerformanceObserver entries whose start time falls inside it (those arrive late, so they are
//    awaited after the window closes; see ./gc.ts);
//  - the heap is collected and the event loop turned before the window, so no collection the warm-up
//    started can finish inside it (and, on request, the young generation written: touchYoungGeneration).
// A loop that allocates shows up either as heap growth or, once it has allocated enough, as GC events.

import v8 from 'node:v8';
import vm from 'node:vm';
import { PerformanceObserver } from 'node:perf_hooks';
import { setTimeout as delay } from 'node:timers/promises';
import { FaultCounter } from './faults.js';
import { settleGcEntries, touchYoungGeneration } from './gc.js';
import { getSys } from './sys.js';
import { NSEC_PER_MSEC } from '../base/units.js';

export interface MeasureOptions {
  /** Calls inside the measured window. */
  iterations: number;
  /** Calls before it, so that the function is compiled and its feedback allocated (default 10,000). */
  warmup?: number;
  /**
   * Write every page of the young generation before each window, as a scheduler thread does at the end of
   * its warm-up (touchYoungGeneration). For a function allowed a little allocation (reported as heap
   * growth): on a thread that allocates slowly, the full collection before a window gives young-generation
   * pages back, and that allocation would then also fault once per fresh page. Off by default: the touch's
   * own code gets optimized at a time of V8's choosing, and installing it inside the first window faults.
   */
  touchYoungGeneration?: boolean;
}

export interface HotPathReport {
  /** Page faults (minor + major) on the calling thread during the measured calls; NaN where uncountable. */
  pageFaults: number;
  /** GC events of any kind during the measured calls. */
  gcEvents: number;
  /**
   * Bytes the measured calls left allocated in the spaces new objects go to (young generation and large
   * objects), harness excluded; negative when a GC inside the window freed more than was allocated.
   */
  heapGrowthBytes: number;
  iterations: number;
  /** Mean wall time per measured call, in nanoseconds (harness loop included). */
  nsPerIteration: number;
  /** Measured windows run (1 unless a window was not clean; see MAX_WINDOWS). */
  windows: number;
}

const DEFAULT_WARMUP = 10_000;
const REWARM_CALLS = 1_000;
const WARM_CHUNK_CALLS = 100;
/**
 * V8 tiers code up on its own schedule: an optimized version of the loop, of fn or of the harness may be
 * installed inside a window, which allocates a few hundred bytes or faults in a code page once. A window
 * that is not clean is therefore run again, up to this many times, and the first clean one is reported.
 * Code that allocates or faults on every call is dirty in every window, so nothing real is hidden; the
 * report of the last window is returned then.
 */
const MAX_WINDOWS = 5;
/**
 * Optimizing compiles run on a background thread (5-15 ms each for a small function here, much longer on
 * a busy machine) and are installed at the main thread's next interrupt check, which may fall inside a
 * window. Before a window is run again the harness therefore waits, so that compiles in flight finish,
 * and rewarms, so that they are installed outside the window: 5 ms, then 4 times longer each retry.
 */
const RETRY_PAUSE_MS = 5;
const RETRY_PAUSE_GROWTH = 4;

// Slots of the one Float64Array the window writes into, so that no number is boxed inside it.
const M_FAULTS_BEFORE = 0;
const M_FAULTS_AFTER = 1;
const M_HEAP_BEFORE = 2;
const M_HEAP_AFTER = 3;
const M_TIME_BEFORE_MS = 4;
const M_TIME_AFTER_MS = 5;
const M_SLOTS = 6;

interface Window {
  faults: number;
  gcProfiled: number;
  heapBytes: number;
  startMs: number;
  endMs: number;
}

export async function measureHotPath(fn: () => unknown, opts: MeasureOptions): Promise<HotPathReport> {
  if (typeof fn !== 'function') throw new TypeError('measureHotPath: fn must be a function');
  const iterations = opts?.iterations;
  const warmup = opts?.warmup ?? DEFAULT_WARMUP;
  const touch = opts?.touchYoungGeneration === true;
  if (!Number.isSafeInteger(iterations) || iterations < 1) {
    throw new RangeError(`measureHotPath: iterations must be a positive integer, got ${String(iterations)}`);
  }
  if (!Number.isSafeInteger(warmup) || warmup < 0) {
    throw new RangeError(`measureHotPath: warmup must be a non-negative integer, got ${String(warmup)}`);
  }

  const faults = getSys() ? new FaultCounter({ scope: 'thread' }) : null;
  const gcStarts: number[] = [];
  const observer = new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) gcStarts.push(entry.startTime);
  });
  observer.observe({ entryTypes: ['gc'] });
  const m = new Float64Array(M_SLOTS);
  try {
    const loop = makeLoop();
    warm(loop, fn, warmup);
    await settle(touch);
    rewarm(loop, fn, warmup, faults, m);
    let report: HotPathReport | null = null;
    for (let windows = 1; windows <= MAX_WINDOWS; windows++) {
      const before = runWindow(loop, fn, 0, faults, m);
      const measured = runWindow(loop, fn, iterations, faults, m);
      const after = runWindow(loop, fn, 0, faults, m);
      await settleGcEntries();
      let observed = 0;
      for (const t of gcStarts) if (t >= measured.startMs && t <= measured.endMs) observed++;
      // The harness's own share is only known when it was the same on both sides of the window; it is
      // not when V8 recompiled the harness in between.
      const harnessSteady = before.heapBytes === after.heapBytes;
      const candidate: HotPathReport = {
        pageFaults: faults ? measured.faults : NaN,
        gcEvents: Math.max(measured.gcProfiled, observed),
        heapGrowthBytes: measured.heapBytes - after.heapBytes,
        iterations,
        nsPerIteration: ((measured.endMs - measured.startMs) * NSEC_PER_MSEC) / iterations,
        windows,
      };
      if (harnessSteady || report === null) report = candidate;
      const clean = candidate.pageFaults === 0 && candidate.gcEvents === 0 && candidate.heapGrowthBytes === 0;
      if (harnessSteady && clean) break;
      if (windows < MAX_WINDOWS) {
        await delay(RETRY_PAUSE_MS * RETRY_PAUSE_GROWTH ** (windows - 1));
        await settle(touch);
        rewarm(loop, fn, warmup, faults, m);
      }
    }
    return report!;
  } finally {
    observer.disconnect();
    faults?.close();
  }
}

type Loop = (fn: () => unknown, n: number) => void;

let loopsMade = 0;

/**
 * A loop of its own for each measurement. Shared by every caller, one loop's call site would turn
 * megamorphic and be deoptimized and recompiled inside later windows; the unique comment keeps V8's
 * compilation cache from handing back a loop that already carries another caller's feedback.
 */
function makeLoop(): Loop {
  loopsMade++;
  return new Function('fn', 'n', `// tsland measureHotPath loop ${loopsMade}\nfor (let i = 0; i < n; i++) fn();`) as Loop;
}

/**
 * Warm-up in short calls of the loop, so V8 optimizes the loop as a whole function: a loop warmed by one
 * long call is only optimized on-stack (OSR), and entering it again later re-enters through the OSR path
 * inside the window, which allocates.
 */
function warm(loop: Loop, fn: () => unknown, calls: number): void {
  let left = calls;
  while (left > 0) {
    const n = Math.min(left, WARM_CHUNK_CALLS);
    loop(fn, n);
    left -= n;
  }
}

/**
 * After a pause: code that finished compiling meanwhile is installed at its next call, so make those calls
 * now; then two empty windows, because the first window after a warm-up reads differently from the ones
 * after it (the harness's own first calls).
 */
function rewarm(loop: Loop, fn: () => unknown, warmup: number, faults: FaultCounter | null, m: Float64Array): void {
  warm(loop, fn, Math.min(warmup, REWARM_CALLS));
  runWindow(loop, fn, 0, faults, m);
  runWindow(loop, fn, 0, faults, m);
}

function runWindow(loop: Loop, fn: () => unknown, n: number, faults: FaultCounter | null, m: Float64Array): Window {
  const profiler = new v8.GCProfiler();
  m[M_HEAP_BEFORE] = allocatedHeapBytes();
  m[M_TIME_BEFORE_MS] = performance.now();
  profiler.start(); // before the first fault reading: starting it mallocs, and that may fault
  m[M_FAULTS_BEFORE] = faults ? faults.sample() : 0;
  // ---- the measured window: nothing but the calls ----
  loop(fn, n);
  // ----
  m[M_FAULTS_AFTER] = faults ? faults.sample() : 0;
  const profile = profiler.stop();
  m[M_TIME_AFTER_MS] = performance.now();
  m[M_HEAP_AFTER] = allocatedHeapBytes();
  return {
    faults: m[M_FAULTS_AFTER]! - m[M_FAULTS_BEFORE]!,
    gcProfiled: profile?.statistics.length ?? 0,
    heapBytes: m[M_HEAP_AFTER]! - m[M_HEAP_BEFORE]!,
    startMs: m[M_TIME_BEFORE_MS]!,
    endMs: m[M_TIME_AFTER_MS]!,
  };
}

// New objects land in the young generation, big ones in a large-object space; V8 moves old space and code
// space on its own (concurrent sweeping finishing, optimized code being installed), which would be noise.
const ALLOCATION_SPACES = new Set(['new_space', 'new_large_object_space', 'large_object_space']);

function allocatedHeapBytes(): number {
  let bytes = 0;
  for (const space of v8.getHeapSpaceStatistics()) {
    if (ALLOCATION_SPACES.has(space.space_name)) bytes += space.space_used_size;
  }
  return bytes;
}

let collect: (() => void) | null | undefined;

/**
 * A full collection (then, with `touch`, every page of the young generation written: see
 * MeasureOptions.touchYoungGeneration), then event-loop turns so pending GC work and entries are done
 * before a window.
 */
async function settle(touch: boolean): Promise<void> {
  const gc = fullGc();
  if (gc) gc();
  if (touch) touchYoungGeneration();
  await settleGcEntries();
}

function fullGc(): (() => void) | null {
  if (collect !== undefined) return collect;
  const exposed = (globalThis as { gc?: () => void }).gc;
  if (typeof exposed === 'function') return (collect = exposed);
  try {
    // The usual way to reach gc() without --expose-gc: the flag applies to contexts created afterwards.
    v8.setFlagsFromString('--expose-gc');
    collect = vm.runInNewContext('gc') as () => void;
  } catch {
    collect = null;
  }
  return collect;
}
