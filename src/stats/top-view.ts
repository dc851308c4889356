// Draws one frame of `tsland top` as plain lines (no escape codes): the terminal layer adds cursor
// movement, and the non-TTY mode prints the same lines as a snapshot.

import { formatNumber } from './escape.js';
import { healthText } from './format.js';
import { sparkline } from './sparkline.js';
import type { TopModel } from './top-model.js';
import { NSEC_PER_MSEC, NSEC_PER_SEC } from '../base/units.js';

export interface ViewSize {
  cols: number;
  rows: number;
}

const SPARK_LABEL_CHARS = 16;

function last(series: readonly number[]): number | undefined {
  return series.length ? series[series.length - 1] : undefined;
}

function fit(line: string, cols: number): string {
  return line.length > cols ? line.slice(0, Math.max(0, cols - 1)) + '…' : line;
}

export function renderTop(model: TopModel, size: ViewSize, title = 'tsland top'): string[] {
  const lines: string[] = [];
  const r = model.latest;
  if (!r) return [fit(`${title}: waiting for the first stats reply...`, size.cols)];
  const c = r.counters;
  const facts = Object.entries(r.info)
    .map(([k, v]) => `${k}=${String(v)}`)
    .join('  ');
  lines.push(`${title}  ${facts}  ${new Date(r.atMs).toISOString().slice(11, 19)}  [q] quit`);
  lines.push(
    `health: ${healthText(r.health)}   tasks ${c.nr_tasks ?? 0}  running ${c.nr_running ?? 0}/${c.nr_cpus ?? 0}` +
      `  queued ${c.nr_queued ?? 0}  scheduled ${c.nr_scheduled ?? 0}`,
  );
  lines.push(
    `dispatches user ${c.nr_user_dispatches ?? 0}  kernel ${c.nr_kernel_dispatches ?? 0}  cancel ${c.nr_cancel_dispatches ?? 0}` +
      `  bounce ${c.nr_bounce_dispatches ?? 0}  failed ${c.nr_failed_dispatches ?? 0}  congested ${c.nr_sched_congested ?? 0}` +
      `  page faults ${c.nr_page_faults ?? 0}  GCs ${c.nr_gc_events ?? 0}`,
  );
  const sparkWidth = Math.max(8, Math.min(120, size.cols - SPARK_LABEL_CHARS - 14));
  const spark = (label: string, series: readonly number[], unit: string) => {
    const v = last(series);
    const shown = v === undefined || !Number.isFinite(v) ? '-' : formatNumber(Math.round(v * 10) / 10);
    lines.push(`${label.padEnd(SPARK_LABEL_CHARS)}${sparkline(series, sparkWidth)} ${shown}${unit}`);
  };
  spark('dispatch rate', model.dispatchRate, '/s');
  spark('wake latency', model.wakeLatencyUs, ' µs');
  spark('page faults', model.pageFaults, '');
  lines.push('');
  const perCpu = model.perCpu();
  lines.push('CPU  PID      COMMAND');
  perCpu.forEach((t, cpu) =>
    lines.push(`${String(cpu).padStart(3)}  ${t ? String(t.pid).padEnd(8) + ' ' + t.comm : '-        (idle)'}`),
  );
  lines.push('');
  lines.push(
    `${'PID'.padStart(8)}  ${'COMMAND'.padEnd(16)} ${'WEIGHT'.padStart(6)} ${'S'} ${'CPU'.padStart(3)} ${'VRUNTIME ms'.padStart(12)} ${'CPU TIME s'.padStart(10)}`,
  );
  const room = Math.max(0, size.rows - lines.length - 1);
  const tasks = model.byVruntime();
  for (const t of tasks.slice(0, room)) {
    lines.push(
      `${String(t.pid).padStart(8)}  ${t.comm.slice(0, 16).padEnd(16)} ${String(t.weight).padStart(6)} ${t.state.slice(0, 1)} ` +
        `${String(t.cpu).padStart(3)} ${(t.vruntimeNs / NSEC_PER_MSEC).toFixed(1).padStart(12)} ${(t.cpuTimeNs / NSEC_PER_SEC).toFixed(2).padStart(10)}`,
    );
  }
  const shown = Math.min(room, tasks.length);
  if (model.totalTasks > shown) lines.push(`... ${model.totalTasks - shown} more tasks (enlarge the terminal)`);
  return lines.map((l) => fit(l, size.cols));
}
