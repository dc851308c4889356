// A garbage-collection counter for the calling thread (each worker has its own heap and its own counter).
//
// Node reports GCs as PerformanceObserver entries, and delivers them late: the GC callback queues a native
// immediate that builds the entry, and the observer is then flushed from a later setImmediate. So the
// counts only move while the thread's event loop runs. A scheduler loop that runs synchronous bursts and
// yields with setImmediate between them sees a GC of burst k in its counts after at most two yields
// (one for Node to build the entry, one for the observer flush). Reading the counter at the end of every
// burst is therefore correct, only late; nothing is ever lost or counted twice.
//
// The counts live in a Float64Array so that reading them never boxes a number.
//
//   byte 0       8       16            24           32          40         48
//        +-------+-------+-------------+------------+-----------+----------+
//        | minor | major | incremental | weak-cb    | total     | pause ns |
//        +-------+-------+-------------+------------+-----------+----------+

import { constants, PerformanceObserver, type PerformanceEntry } from 'node:perf_hooks';
import v8 from 'node:v8';
import vm from 'node:vm';
import { libc } from './libc.js';
import { NSEC_PER_MSEC } from '../base/units.js';

export const GC_MINOR = 0;
export const GC_MAJOR = 1;
export const GC_INCREMENTAL = 2;
export const GC_WEAKCB = 3;
export const GC_TOTAL = 4;
export const GC_PAUSE_NS = 5;
export const GC_SLOTS = 6;

interface GcDetail {
  kind?: number;
}

export class GcCounter {
  /** Slots GC_MINOR..GC_PAUSE_NS; read them directly on a hot path. */
  readonly counts = new Float64Array(GC_SLOTS);
  private observer: PerformanceObserver | null;

  constructor() {
    this.observer = new PerformanceObserver((list) => this.record(list.getEntries()));
    this.observer.observe({ entryTypes: ['gc'] });
  }

  get minor(): number {
    return this.counts[GC_MINOR]!;
  }
  get major(): number {
    return this.counts[GC_MAJOR]!;
  }
  get incremental(): number {
    return this.counts[GC_INCREMENTAL]!;
  }
  get weakCallbacks(): number {
    return this.counts[GC_WEAKCB]!;
  }
  /** Every GC event of any kind. */
  get total(): number {
    return this.counts[GC_TOTAL]!;
  }
  /** Sum of the GC pauses, in nanoseconds. */
  get pauseNs(): number {
    return this.counts[GC_PAUSE_NS]!;
  }

  /** Stops observing; the counts keep their last values. */
  close(): void {
    this.observer?.disconnect();
    this.observer = null;
  }

  /** Counts entries (exported for tests that feed synthetic entries). */
  record(entries: readonly PerformanceEntry[]): void {
    const c = this.counts;
    for (const entry of entries) {
      const kind = (entry as PerformanceEntry & { detail?: GcDetail }).detail?.kind;
      if (kind === constants.NODE_PERFORMANCE_GC_MINOR) c[GC_MINOR]!++;
      else if (kind === constants.NODE_PERFORMANCE_GC_MAJOR) c[GC_MAJOR]!++;
      else if (kind === constants.NODE_PERFORMANCE_GC_INCREMENTAL) c[GC_INCREMENTAL]!++;
      else if (kind === constants.NODE_PERFORMANCE_GC_WEAKCB) c[GC_WEAKCB]!++;
      c[GC_TOTAL]!++;
      c[GC_PAUSE_NS]! += entry.duration * NSEC_PER_MSEC;
    }
  }
}

/** Resolves after the event loop has turned often enough for every GC so far to reach the observers. */
export async function settleGcEntries(): Promise<void> {
  for (let i = 0; i < 3; i++) await new Promise<void>((resolve) => setImmediate(resolve));
}

let collect: (() => void) | null = null;

/**
 * A full, synchronous collection of the calling thread's heap now, without --expose-gc on the command
 * line. For moments the caller chooses: the end of a warm-up, or a main thread keeping its heap small.
 */
export function collectGarbageNow(): void {
  if (!collect) {
    v8.setFlagsFromString('--expose-gc');
    collect = vm.runInNewContext('gc') as () => void;
  }
  collect();
}

/** Rounds of garbage (each the young generation's size) a touch allocates at least and at most. */
const YOUNG_TOUCH_MIN_ROUNDS = 3;
const YOUNG_TOUCH_MAX_ROUNDS = 32;
/**
 * The garbage: arrays of 1,024 holes, 8 KiB each, which V8 fills in its own code at memory speed. Small
 * objects made one by one in a loop the interpreter runs were too slow under emulation: V8 judged that
 * allocation rate low, and shrank the young generation and gave back the emptied half at every scavenge.
 */
const TOUCH_ARRAY_LENGTH = 1024;
const TOUCH_ARRAY_BYTES = TOUCH_ARRAY_LENGTH * 8 + 16;

function youngGeneration(): { bytes: number; residentBytes: number; usedBytes: number } {
  for (const space of v8.getHeapSpaceStatistics()) {
    if (space.space_name === 'new_space') {
      return { bytes: space.space_size, residentBytes: space.physical_space_size, usedBytes: space.space_used_size };
    }
  }
  return { bytes: 0, residentBytes: 0, usedBytes: 0 };
}

/** Arrays a round's tail allocates between two looks at the young generation (64 KiB). */
const TOUCH_TAIL_ARRAYS = 8;

/**
 * Writes every page of the calling thread's young generation, by allocating garbage until V8 reports
 * all of it written (its physical size equal to its size), in rounds as large as the young generation
 * (three at least: the scavenges they take flip its two halves, so both are written). For the end of a
 * warm-up. Whatever a thread then allocates now and then (Node's event loop allocates a few hundred bytes
 * each time it turns) lands on pages that are already there: without it, each fresh page the allocation
 * walks onto is a page fault, one every few turns. Measured natively over 20,000 turns of a worker's event
 * loop: 339 faults without, 7 with.
 *
 * Rounds until all of it is written, not a fixed amount: a heap that allocated slowly for minutes (a
 * scheduler thread at the end of its warm-up) has its young generation at the minimum, and V8 goes on
 * shrinking it, giving back the half each scavenge empties, as long as its recent allocation rate reads
 * low, which its record of the last collections says until enough fast ones have replaced the slow. Three
 * rounds then left 274 KiB of 1 MiB written (natively, and the same figure in the sched_ext guest), and
 * the turns after took a fault every five; sixteen left all of it written.
 *
 * `step()` runs one round, so a thread with other work (a scheduler) can do it between its own.
 */
export class YoungGenerationTouch {
  /** Bytes of garbage allocated so far. */
  bytes = 0;
  rounds = 0;
  /** Whether every byte of the young generation was written when the last round ended. */
  resident = false;
  private readonly sink: unknown[][] = new Array<unknown[]>(4);

  /** Whether the touch is over (all of it written after the minimum rounds, or the most rounds run). */
  get done(): boolean {
    return this.rounds >= YOUNG_TOUCH_MAX_ROUNDS || (this.rounds >= YOUNG_TOUCH_MIN_ROUNDS && this.resident);
  }

  /** One round of garbage as large as the young generation; returns `done`. */
  step(): boolean {
    if (this.done) return true;
    const n = Math.ceil(youngGeneration().bytes / TOUCH_ARRAY_BYTES);
    // Four kept at a time, so next to nothing survives a scavenge.
    const sink = this.sink;
    for (let i = 0; i < n; i++) sink[i & 3] = new Array<unknown>(TOUCH_ARRAY_LENGTH);
    this.bytes += n * TOUCH_ARRAY_BYTES;
    // Then on until a scavenge empties it, so that the round ends at the start of a half written before:
    // a round that ended with a half nearly full left the next scavenge to the slow allocation after it,
    // and that one gave the other half back.
    let used = youngGeneration().usedBytes;
    for (let k = 0; k < n; k += TOUCH_TAIL_ARRAYS) {
      for (let i = 0; i < TOUCH_TAIL_ARRAYS; i++) sink[i & 3] = new Array<unknown>(TOUCH_ARRAY_LENGTH);
      this.bytes += TOUCH_TAIL_ARRAYS * TOUCH_ARRAY_BYTES;
      const now = youngGeneration().usedBytes;
      if (now < used) break;
      used = now;
    }
    this.rounds++;
    const young = youngGeneration();
    this.resident = young.residentBytes >= young.bytes;
    return this.done;
  }
}

/** The whole touch at once (see YoungGenerationTouch). */
export function touchYoungGeneration(): YoungGenerationTouch {
  const touch = new YoungGenerationTouch();
  while (!touch.step());
  return touch;
}

/** The bytes the calling thread's old generation holds, live or not yet collected. */
export function oldSpaceUsedBytes(): number {
  for (const space of v8.getHeapSpaceStatistics()) {
    if (space.space_name === 'old_space') return space.space_used_size;
  }
  return v8.getHeapStatistics().used_heap_size;
}

/**
 * Keeps a thread's heap small by collecting it only once it has grown: each tick() reads how much its old
 * generation holds and runs a full collection when that is `growthBytes` above what the last collection
 * left. Garbage that dies young never gets there (the scavenger takes it); what survives a scavenge and
 * then dies waits here at most until `growthBytes` of it have piled up. A full collection on a timer
 * instead marks the whole heap every time, whether a byte changed or not: measured under emulation, the
 * main thread spent 2.5% of a CPU on it while tsland had nothing to say.
 */
export class HeapKeeper {
  private floorBytes = -1;
  private nrCollections = 0;

  constructor(
    private readonly growthBytes: number,
    private readonly usedBytes: () => number = oldSpaceUsedBytes,
  ) {}

  /** Collects if the heap has grown enough since the last collection (the first tick always does). */
  tick(): boolean {
    if (this.floorBytes >= 0 && this.usedBytes() - this.floorBytes < this.growthBytes) return false;
    collectGarbageNow();
    this.floorBytes = this.usedBytes();
    this.nrCollections++;
    return true;
  }

  /** Full collections this keeper ran. */
  get collections(): number {
    return this.nrCollections;
  }
}

let mallocTrim: ((pad: number) => number) | null | undefined;

/**
 * Gives the free pages of every malloc arena back to the kernel (glibc's malloc_trim(0): the top of each
 * arena and whole free pages inside it). V8's compiler and GC threads allocate and free through malloc;
 * their arenas keep what they freed, and a long-running process's RSS creeps up with them. Returns false
 * where there is no glibc.
 */
export function trimMalloc(): boolean {
  if (mallocTrim === undefined) {
    const lib = libc();
    mallocTrim = lib ? (lib.func('int malloc_trim(size_t)') as unknown as (pad: number) => number) : null;
  }
  if (!mallocTrim) return false;
  mallocTrim(0);
  return true;
}
