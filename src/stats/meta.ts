// What each counter means, in one place: the socket's `stats_meta` reply, the OpenMetrics HELP/TYPE lines
// and `tsland top` all read it. A counter appended to COUNTER_NAMES without an entry here is still served,
// described as undocumented, so adding a counter never breaks a reader.

import { COUNTER_NAMES, type CounterName } from '../base/counters.js';

/** `counter` only ever grows (rates are meaningful); `gauge` goes up and down. */
export type FieldKind = 'counter' | 'gauge';

export interface FieldMeta {
  desc: string;
  kind: FieldKind;
  /** Unit suffix for exposition formats: '' for plain counts. */
  unit: '' | 'ns' | 'bool';
}

const KNOWN: Partial<Record<CounterName, FieldMeta>> = {
  nr_cpus: { desc: 'CPUs the scheduler may use', kind: 'gauge', unit: '' },
  nr_running: { desc: 'managed tasks running on a CPU now', kind: 'gauge', unit: '' },
  nr_queued: { desc: 'tasks waiting in the queued ring for the scheduler', kind: 'gauge', unit: '' },
  nr_scheduled: { desc: 'tasks in the run queue, waiting to be dispatched', kind: 'gauge', unit: '' },
  nr_user_dispatches: { desc: 'dispatches decided by the policy', kind: 'counter', unit: '' },
  nr_kernel_dispatches: { desc: 'tasks the backend dispatched itself (scheduler bypassed)', kind: 'counter', unit: '' },
  nr_cancel_dispatches: { desc: 'dispatches cancelled before they took effect', kind: 'counter', unit: '' },
  nr_bounce_dispatches: { desc: 'dispatches sent back to the scheduler (target CPU unavailable)', kind: 'counter', unit: '' },
  nr_failed_dispatches: { desc: 'dispatches that failed (task gone, ring full)', kind: 'counter', unit: '' },
  nr_sched_congested: { desc: 'times the queued ring was full', kind: 'counter', unit: '' },
  nr_page_faults: {
    desc: 'page faults taken by the scheduler thread outside the task-creation path (the hot-path rule: 0 after warm-up)',
    kind: 'counter',
    unit: '',
  },
  nr_gc_events: { desc: 'garbage collections seen on the scheduler thread', kind: 'counter', unit: '' },
  nr_tasks: { desc: 'managed tasks known to the task table', kind: 'gauge', unit: '' },
  nr_decisions: { desc: 'scheduling decisions made (loop iterations that dispatched)', kind: 'counter', unit: '' },
  heartbeat_ns: { desc: "monotonic time of the scheduler loop's last iteration", kind: 'gauge', unit: 'ns' },
  arena_locked: { desc: '1 when the arena is locked in RAM, 0 when running unlocked', kind: 'gauge', unit: 'bool' },
  wake_latency_total_ns: {
    desc: 'sum over dispatches of woken tasks of the time from wake-up to dispatch',
    kind: 'counter',
    unit: 'ns',
  },
  nr_wake_dispatches: {
    desc: 'dispatches of tasks that had just woken up (divides wake_latency_total_ns)',
    kind: 'counter',
    unit: '',
  },
  nr_creation_page_faults: {
    desc: 'page faults the scheduler thread took while adopting new tasks (the task-creation path, which may allocate)',
    kind: 'counter',
    unit: '',
  },
  nr_kernel_events: {
    desc: 'sched_ext: records the BPF half sent to user space (wake-ups, stops, exits, idle CPUs)',
    kind: 'counter',
    unit: '',
  },
  nr_dispatch_posted: { desc: 'sched_ext: dispatch records user space posted to the BPF half', kind: 'counter', unit: '' },
  nr_dispatch_drained: {
    desc: 'sched_ext: dispatch records the BPF half took (each inserted, cancelled or failed)',
    kind: 'counter',
    unit: '',
  },
  nr_events_lost: {
    desc: 'sched_ext: stop, exit and idle records dropped because the ring to user space was full',
    kind: 'counter',
    unit: '',
  },
  nr_self_dispatches: {
    desc: 'sched_ext: threads of the tsland process the BPF half ran without asking user space (of nr_kernel_dispatches)',
    kind: 'counter',
    unit: '',
  },
  nr_rescued: {
    desc: 'sched_ext: tasks the BPF half placed itself (FIFO) while the scheduler thread was stalled',
    kind: 'counter',
    unit: '',
  },
  nr_rescues: {
    desc: 'sched_ext: stalls of the scheduler thread (no task placed for 250 ms while tasks waited on it)',
    kind: 'counter',
    unit: '',
  },
  nr_starved: {
    desc: 'sched_ext: tasks the BPF half placed itself (FIFO) after they had waited on the policy for half the watchdog timeout',
    kind: 'counter',
    unit: '',
  },
  warmed_up: {
    desc: "1 once the scheduler thread's warm-up is over (V8's compilers stopped), 0 before: the hot-path rule counts from here",
    kind: 'gauge',
    unit: '',
  },
  nr_sched_rounds: {
    desc: 'sched_ext: rounds of the scheduler thread (drain the ring, run the policy, write dispatches)',
    kind: 'counter',
    unit: '',
  },
  nr_sched_yields: {
    desc: 'sched_ext: sched_yield calls of the scheduler thread (more records waited while dispatches were pending)',
    kind: 'counter',
    unit: '',
  },
  nr_sched_sleeps: {
    desc: 'sched_ext: sleeps of the scheduler thread in epoll on the ring (each one a kernel entry and a wake-up)',
    kind: 'counter',
    unit: '',
  },
  nr_parks: {
    desc: 'sched_ext, --wait park: times the scheduler thread parked in the BPF half with nothing to read',
    kind: 'counter',
    unit: '',
  },
  nr_unparks: {
    desc: 'sched_ext, --wait park: times the BPF half ran the parked scheduler thread again (work came, or the heartbeat)',
    kind: 'counter',
    unit: '',
  },
  nr_preemptions: {
    desc: 'woken tasks placed on a busy CPU, stopping the task with a larger key there (sched_ext)',
    kind: 'counter',
    unit: '',
  },
};

export function fieldMeta(name: string): FieldMeta {
  return (KNOWN as Record<string, FieldMeta | undefined>)[name] ?? { desc: 'undocumented counter', kind: 'gauge', unit: '' };
}

export function allFieldMeta(): Record<string, FieldMeta> {
  const out: Record<string, FieldMeta> = {};
  for (const name of COUNTER_NAMES) out[name] = fieldMeta(name);
  return out;
}

/** Fields of the health object in `stats` replies, described for `stats_meta`. */
export const HEALTH_META: Record<string, string> = {
  healthy: 'true when no page fault, GC, congestion or failed dispatch happened in the last interval',
  reason: 'why not healthy; empty when healthy',
  status: 'one line for humans: OK, or WARNING with the reason; notes an unlocked arena',
  intervalMs: 'length of the interval the deltas cover',
  locked: 'whether the arena is locked in RAM (running unlocked is an explicit choice)',
};

/** Fields of each row of a `tasks` reply. */
export const TASK_META: Record<string, string> = {
  pid: 'process id',
  comm: 'command name',
  weight: 'scheduling weight (100 at nice 0)',
  vruntimeNs: 'virtual runtime charged by the policy, ns',
  cpuTimeNs: 'CPU time consumed, ns',
  state: 'R running on a CPU, Q queued, S sleeping, T stopped by the scheduler',
  cpu: 'CPU the task runs on or last ran on; -1 when unknown',
};
