// The data behind `tsland top`: successive stats replies from the socket, turned into the per-interval
// series the view draws (dispatch rate, mean wake-up latency, page faults) and the per-CPU view of tasks.

import type { CounterSnapshot } from './format.js';
import type { TaskRow } from './protocol.js';
import type { Health } from './sampler.js';
import { MSEC_PER_SEC, NSEC_PER_USEC } from '../base/units.js';

export interface StatsReply {
  atMs: number;
  counters: CounterSnapshot;
  health: Health;
  info: Record<string, unknown>;
}

export const TOP_HISTORY_SAMPLES = 240;

export class TopModel {
  readonly dispatchRate: number[] = [];
  readonly wakeLatencyUs: number[] = [];
  readonly pageFaults: number[] = [];
  latest: StatsReply | undefined;
  tasks: TaskRow[] = [];
  /** Managed tasks in all; `tasks` may hold only the first of them by vruntime. */
  totalTasks = 0;
  updates = 0;

  private prev: { atMs: number; counters: CounterSnapshot } | undefined;

  /** A new stats reply and task list: extends the series and becomes what the view shows. */
  push(reply: StatsReply, tasks: TaskRow[], totalTasks = tasks.length): void {
    this.observe(reply.atMs, reply.counters);
    this.latest = reply;
    this.tasks = tasks;
    this.totalTasks = Math.max(totalTasks, tasks.length);
    this.updates++;
  }

  /** Extends the series with one sample of the counters (also used to replay the server's history). */
  observe(atMs: number, counters: CounterSnapshot): void {
    const prev = this.prev;
    this.prev = { atMs, counters };
    if (!prev || atMs <= prev.atMs) return;
    const dtS = (atMs - prev.atMs) / MSEC_PER_SEC;
    const d = (k: string) => (counters[k] ?? 0) - (prev.counters[k] ?? 0);
    this.append(this.dispatchRate, (d('nr_user_dispatches') + d('nr_kernel_dispatches')) / dtS);
    const wakes = d('nr_wake_dispatches');
    this.append(this.wakeLatencyUs, wakes > 0 ? d('wake_latency_total_ns') / wakes / NSEC_PER_USEC : NaN);
    this.append(this.pageFaults, d('nr_page_faults'));
  }

  private append(series: number[], v: number): void {
    series.push(v);
    if (series.length > TOP_HISTORY_SAMPLES) series.shift();
  }

  /** Tasks ordered as a fair scheduler sees them: smallest vruntime (next to run) first. */
  byVruntime(): TaskRow[] {
    return [...this.tasks].sort((a, b) => a.vruntimeNs - b.vruntimeNs || a.pid - b.pid);
  }

  /** The task on each CPU (state R), or undefined when the CPU is idle for tsland. */
  perCpu(): (TaskRow | undefined)[] {
    const nrCpus = Math.max(0, this.latest?.counters.nr_cpus ?? 0, ...this.tasks.map((t) => t.cpu + 1));
    const out: (TaskRow | undefined)[] = new Array(nrCpus).fill(undefined);
    for (const t of this.tasks) if (t.state === 'R' && t.cpu >= 0 && t.cpu < nrCpus && !out[t.cpu]) out[t.cpu] = t;
    return out;
  }
}
