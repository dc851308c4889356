// The health rule, as scx_rustland judged it: over each reporting interval, page faults on the scheduler
// thread, GC events on it, congested queues and failed dispatches must all be 0. Anything else is a
// WARNING that names what moved. Running with the arena unlocked is an explicit choice (--no-lock): it
// does not by itself make the interval unhealthy, but every status line says so.
//
// Works on the counters SharedArrayBuffer alone, so any thread can judge without touching the scheduler's.

import { C, COUNTER_COUNT, type Counters } from '../base/counters.js';

export interface MemHealth {
  healthy: boolean;
  /** What made the interval unhealthy, e.g. "3 page faults, 1 GC event" (empty when healthy). */
  reason: string;
  /** One line for humans: "OK", "OK (arena unlocked)", "WARNING: 3 page faults (arena unlocked)". */
  status: string;
  pageFaults: number;
  gcEvents: number;
  congested: number;
  failedDispatches: number;
  /** Whether arena_locked was 1 at the end of the interval. */
  locked: boolean;
}

export const UNLOCKED_NOTE = 'arena unlocked: page faults on the scheduling path are possible';

/** Judges the interval between two copies of the counters (`prev` null: everything counted so far). */
export function evaluateHealth(prev: Float64Array | null, cur: Float64Array): MemHealth {
  const delta = (slot: number): number => cur[slot]! - (prev ? prev[slot]! : 0);
  const pageFaults = delta(C.nr_page_faults);
  const gcEvents = delta(C.nr_gc_events);
  const congested = delta(C.nr_sched_congested);
  const failedDispatches = delta(C.nr_failed_dispatches);
  const locked = cur[C.arena_locked] === 1;
  const why: string[] = [];
  if (pageFaults !== 0) why.push(plural(pageFaults, 'page fault'));
  if (gcEvents !== 0) why.push(plural(gcEvents, 'GC event'));
  if (congested !== 0) why.push(plural(congested, 'congested queue'));
  if (failedDispatches !== 0) why.push(plural(failedDispatches, 'failed dispatch', 'failed dispatches'));
  const healthy = why.length === 0;
  const reason = why.join(', ');
  const head = healthy ? 'OK' : `WARNING: ${reason}`;
  const status = locked ? head : `${head} (${UNLOCKED_NOTE})`;
  return { healthy, reason, status, pageFaults, gcEvents, congested, failedDispatches, locked };
}

/** Judges successive reporting intervals: each `check()` covers the time since the previous one. */
export class HealthMonitor {
  private readonly prev = new Float64Array(COUNTER_COUNT);
  private readonly cur = new Float64Array(COUNTER_COUNT);

  /** The first interval starts now: what was counted before construction is not judged. */
  constructor(private readonly counters: Counters) {
    this.prev.set(counters.f64.subarray(0, COUNTER_COUNT));
  }

  check(): MemHealth {
    this.cur.set(this.counters.f64.subarray(0, COUNTER_COUNT));
    const health = evaluateHealth(this.prev, this.cur);
    this.prev.set(this.cur);
    return health;
  }
}

function plural(n: number, one: string, many = `${one}s`): string {
  return `${n} ${n === 1 ? one : many}`;
}
