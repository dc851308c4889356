// The scheduler's counters live in one SharedArrayBuffer so that another thread (stats server, `tsland top`,
// the guardian) can read them while the scheduler thread writes them, without touching that thread.
//
// Layout: one Float64 slot per counter, in the order of COUNTER_NAMES. Float64 holds integers exactly up to
// 2^53 and an aligned 8-byte store is never torn on the platforms Node runs on, so readers need no lock.
//
//   byte 0        8        16              8*i             8*COUNTER_COUNT
//        +--------+--------+-- ... --------+-------+--------+
//        | nr_cpus|nr_runn.|               | slot i|        |
//        +--------+--------+-- ... --------+-------+--------+
//
// New counters are appended, never reordered: readers in other processes index by position.
// The first eleven names are the ones scx_rustland reports, so its users feel at home.

export const COUNTER_NAMES = [
  'nr_cpus',
  'nr_running',
  'nr_queued',
  'nr_scheduled',
  'nr_user_dispatches',
  'nr_kernel_dispatches',
  'nr_cancel_dispatches',
  'nr_bounce_dispatches',
  'nr_failed_dispatches',
  'nr_sched_congested',
  'nr_page_faults',
  'nr_gc_events',
  'nr_tasks',
  'nr_decisions',
  'heartbeat_ns',
  'arena_locked',
  // Wake-up latency: time from a task's wake-up to its dispatch, summed, and how many such dispatches;
  // readers divide the deltas of the two for the mean over an interval (tsland top, metrics).
  'wake_latency_total_ns',
  'nr_wake_dispatches',
  'nr_creation_page_faults',
  // The sched_ext backend's kernel half (bpf/intf.h), copied by its scheduler thread; 0 under other
  // backends. Records it sent to user space, dispatch records user space posted and the kernel took, events
  // lost to a full ring, and the tsland process's own threads it ran without asking.
  'nr_kernel_events',
  'nr_dispatch_posted',
  'nr_dispatch_drained',
  'nr_events_lost',
  'nr_self_dispatches',
  // sched_ext: tasks the BPF half placed itself because the scheduler thread placed none for 250 ms while
  // tasks waited on it (blocked in the kernel), and how many such stalls there were.
  'nr_rescued',
  'nr_rescues',
  // sched_ext: the scheduler thread's rounds (drain, schedule, write), the sched_yield calls among them and
  // its sleeps in epoll on the ring: the kernel entries a decision costs, per dispatch.
  'nr_sched_rounds',
  'nr_sched_yields',
  'nr_sched_sleeps',
  // Woken tasks the core placed on a busy CPU, stopping the task there (SchedulerOptions.preemptWakeups).
  'nr_preemptions',
  // sched_ext: tasks the BPF half placed itself because they had waited on the policy for half the
  // kernel's watchdog timeout.
  'nr_starved',
  // 1 once the scheduler thread's warm-up is over (V8's compilers stopped: no code is compiled after it),
  // 0 before. Under software emulation it takes minutes (the thread stretches it by how slowly its drills
  // ran): the hot-path rule's "after warm-up" starts here.
  'warmed_up',
  // sched_ext, --wait park: times the scheduler thread parked in the BPF half (sched_yield with nothing to
  // read) and times the BPF half ran it again (a CPU ran out of work while records waited, a preempting
  // wake-up, or the heartbeat).
  'nr_parks',
  'nr_unparks',
] as const;

export type CounterName = (typeof COUNTER_NAMES)[number];

/** Slot index of each counter: `counters.f64[C.nr_queued]`. */
export const C = Object.freeze(
  Object.fromEntries(COUNTER_NAMES.map((name, i) => [name, i])) as { readonly [K in CounterName]: number },
);

export const COUNTER_COUNT = COUNTER_NAMES.length;
export const COUNTERS_BYTES = COUNTER_COUNT * Float64Array.BYTES_PER_ELEMENT;

export interface Counters {
  readonly sab: SharedArrayBuffer;
  readonly f64: Float64Array;
}

export function createCounters(sab: SharedArrayBuffer = new SharedArrayBuffer(COUNTERS_BYTES)): Counters {
  if (sab.byteLength < COUNTERS_BYTES) {
    throw new RangeError(`counters buffer has ${sab.byteLength} bytes, needs ${COUNTERS_BYTES}`);
  }
  return { sab, f64: new Float64Array(sab, 0, COUNTER_COUNT) };
}

/** A plain-object copy, for formatting off the hot path. */
export function snapshotCounters(counters: Counters): Record<CounterName, number> {
  const out = {} as Record<CounterName, number>;
  for (let i = 0; i < COUNTER_COUNT; i++) out[COUNTER_NAMES[i]!] = counters.f64[i]!;
  return out;
}
