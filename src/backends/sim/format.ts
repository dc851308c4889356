// Human-readable output of a simulation: the table `tsland sim` prints.

import type { SimOutcome } from './simulator.js';
import { NSEC_PER_MSEC, NSEC_PER_SEC } from '../../base/units.js';

function ms(ns: number | undefined): string {
  return ns === undefined ? '-' : (ns / NSEC_PER_MSEC).toFixed(ns < 10 * NSEC_PER_MSEC ? 3 : 1);
}

function pct(x: number): string {
  return `${(x * 100).toFixed(2)}%`;
}

function table(rows: string[][]): string[] {
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
  return rows.map((r) =>
    r
      .map((cell, c) => (c === 0 ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!)))
      .join('  ')
      .trimEnd(),
  );
}

export function formatSimTable(o: SimOutcome): string {
  const r = o.results;
  const p = o.perf;
  const lines: string[] = [];
  lines.push(
    `policy ${r.policy} · workload ${r.workload} · ${r.cpus} CPUs · ${r.tasks} tasks · ${r.durationNs / NSEC_PER_SEC}s virtual` +
      ` · slice ${ms(r.sliceNs)} ms · seed ${r.seed}` +
      (r.warmupNs > 0 ? ` · shares after ${r.warmupNs / NSEC_PER_SEC}s` : ''),
    '',
  );
  const rows = [['class', 'tasks', 'cpu share', 'wake-ups', 'wake p50 ms', 'p99 ms', 'p99.9 ms', 'longest wait ms']];
  for (const c of r.classes) {
    rows.push([
      c.name,
      String(c.tasks),
      pct(c.share),
      String(c.wakeups),
      ms(c.wakeLatencyNs?.p50),
      ms(c.wakeLatencyNs?.p99),
      ms(c.wakeLatencyNs?.p999),
      ms(c.maxWaitNs),
    ]);
  }
  lines.push(...table(rows), '');
  const kv: [string, string][] = [
    ["Jain's fairness index (hogs, per weight)", r.jainIndex.toFixed(4)],
    ['weighted-share error (hogs)', pct(r.weightedShareError)],
    [
      'wake-up latency p50 / p99 / p99.9',
      r.wakeLatencyNs
        ? `${ms(r.wakeLatencyNs.p50)} / ${ms(r.wakeLatencyNs.p99)} / ${ms(r.wakeLatencyNs.p999)} ms`
        : '- (no task slept)',
    ],
    ['longest wait of a runnable task (the watchdog bounds it)', `${ms(r.maxWaitNs)} ms`],
    ['running tasks preempted by a woken one', String(r.preemptions)],
    ['wake-ups that found no idle CPU', `${r.wakeupsWithNoIdleCpu} of ${r.wakeups}`],
    ['CPU utilization', pct(r.cpuUtilization)],
    ['decisions', String(r.decisions)],
    ['exits (while queued) / cancelled dispatches', `${r.exits} (${r.exitsWhileQueued}) / ${r.cancelledDispatches}`],
    ['memory per task', `${r.bytesPerTask.toFixed(0)} bytes`],
    ['decisions per second (wall, whole run)', p.decisionsPerSec.toFixed(0)],
    ['scheduler core per decision', `${p.schedulerNsPerDecision.toFixed(0)} ns`],
    ['GC events / page faults (event loop)', `${p.gcEvents} / ${Number.isNaN(p.pageFaults) ? '-' : p.pageFaults}`],
    ['wall time', `${p.wallMs.toFixed(0)} ms`],
  ];
  const w = Math.max(...kv.map(([k]) => k.length));
  for (const [k, v] of kv) lines.push(`${k.padEnd(w)}  ${v}`);
  return lines.join('\n');
}
