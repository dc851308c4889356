// The scheduler thread's side of the health counters: publishes its own page faults and GC events into
// the counters SharedArrayBuffer, where other threads read them (see ./health.ts).
//
// `publish()` is cheap and allocation-free (one getrusage syscall, three Float64 stores, ~0.4 us here):
// call it once per tick or at the end of each burst. The page-fault figure is exact at the call; the GC
// figure lags by at most two event-loop yields (see ./gc.ts).

import { C, type Counters } from '../base/counters.js';
import { FaultCounter, type FaultMethod } from './faults.js';
import { GC_TOTAL, GcCounter } from './gc.js';
import type { LockHandle } from './lock.js';
import { getSys } from './sys.js';

export interface MemPublisherOptions {
  /** The lock of the arena the scheduler runs on: sets arena_locked (1 locked, 0 unlocked). */
  lock?: Pick<LockHandle, 'locked'> | boolean;
  /** How to read the thread's faults (default 'rusage', the cheaper one). */
  method?: FaultMethod;
}

/** Brackets the task-creation path so its page faults are counted apart (MemPublisher implements it). */
export interface CreationMeter {
  creationBegin(): void;
  creationEnd(): void;
}

export class MemPublisher implements CreationMeter {
  private readonly f64: Float64Array;
  private readonly faults: FaultCounter | null;
  private readonly gc: GcCounter;
  private readonly faultsAtStart: number;
  private readonly gcAtStart: number;
  private creationFaults = 0;
  private creationStartFaults = -1;

  /** Create it on the scheduler thread: the fault counter belongs to the thread that creates it. */
  constructor(counters: Counters, opts: MemPublisherOptions = {}) {
    this.f64 = counters.f64;
    this.faults = getSys() ? new FaultCounter({ scope: 'thread', method: opts.method ?? 'rusage' }) : null;
    this.gc = new GcCounter();
    this.faultsAtStart = this.faults ? this.faults.sample() : 0;
    this.gcAtStart = this.gc.counts[GC_TOTAL]!;
    if (opts.lock !== undefined) this.setLocked(typeof opts.lock === 'boolean' ? opts.lock : opts.lock.locked);
    this.publish();
  }

  setLocked(locked: boolean): void {
    this.f64[C.arena_locked] = locked ? 1 : 0;
  }

  /**
   * Brackets the task-creation path (adopting a new task: allocation-free, but it grows tables, and faults,
   * past what was reserved). Its faults are counted apart, in nr_creation_page_faults, so that nr_page_faults stays the scheduling
   * path's own figure, the one the hot-path rule and health are about. Two syscalls per bracket, taken only
   * in rounds that create tasks.
   */
  creationBegin(): void {
    this.creationStartFaults = this.faults !== null ? this.faults.sample() : -1;
  }

  creationEnd(): void {
    if (this.faults === null || this.creationStartFaults < 0) return;
    const now = this.faults.sample();
    if (now >= this.creationStartFaults) this.creationFaults += now - this.creationStartFaults;
    this.creationStartFaults = -1;
  }

  /** Writes nr_page_faults, nr_creation_page_faults and nr_gc_events: counts since this publisher was created. */
  publish(): void {
    const faults = this.faults;
    if (faults !== null) {
      const total = faults.sample();
      if (total >= 0) this.f64[C.nr_page_faults] = total - this.faultsAtStart - this.creationFaults;
      this.f64[C.nr_creation_page_faults] = this.creationFaults;
    }
    this.f64[C.nr_gc_events] = this.gc.counts[GC_TOTAL]! - this.gcAtStart;
  }

  /** The GC counter behind nr_gc_events (minor/major split, pause time). */
  get gcCounter(): GcCounter {
    return this.gc;
  }

  close(): void {
    this.publish();
    this.faults?.close();
    this.gc.close();
  }
}
