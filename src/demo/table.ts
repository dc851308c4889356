// The side-by-side comparison, defined once as rows of numbers and rendered from the same rows both to the
// terminal and into the HTML report, so the two can never disagree.

import type { RunFigures } from './analysis.js';

export interface TslandExtras {
  policy: string;
  locked: boolean;
  /** Page faults and GCs of the scheduler thread during the measured window. */
  pageFaults: number;
  gcEvents: number;
  /** CPU used by the tsland process (scheduler thread included) during the window, % of one core. */
  cpuPercent: number;
}

export type Unit = '' | '%' | 'ms' | 'CPUs' | 'text';

/** One scheduler's column: its name as the table heads it, and its figures (null: it did not run). */
export interface SchedulerColumn {
  name: string;
  figures: RunFigures | null;
}

export interface Row {
  key: string;
  label: string;
  /** One value per scheduler, in the order of the columns (the kernel's first). */
  values: (number | string | null)[];
  unit: Unit;
  digits: number;
}

export function formatValue(v: number | string | null, row: Pick<Row, 'unit' | 'digits'>): string {
  if (v === null) return '-';
  if (typeof v === 'string') return v;
  if (!Number.isFinite(v)) return 'n/a';
  const scaled = row.unit === '%' ? v * 100 : v;
  const text = scaled.toFixed(row.digits);
  return row.unit === '' || row.unit === 'text' ? text : row.unit === '%' ? `${text}%` : `${text} ${row.unit}`;
}

const pct = (v: number) => `${(v * 100).toFixed(1)}%`;

/**
 * The rows, one value per column. The first column is the kernel's own scheduler, the baseline of the
 * throughput row; `tsland` is the index of tsland's column, whose extras fill the rows only it has.
 */
export function comparisonRows(columns: readonly SchedulerColumn[], tsland: number, extras: TslandExtras | null): Row[] {
  const kernel = columns[0]!.figures!;
  const each = (pick: (f: RunFigures) => number | null): (number | null)[] =>
    columns.map((c) => (c.figures ? pick(c.figures) : null));
  const onlyTsland = (v: number | string | null): (number | string | null)[] => columns.map((_, i) => (i === tsland ? v : null));
  const rows: Row[] = [
    { key: 'jain', label: "fairness (Jain's index, weighted)", values: each((f) => f.jainIndex), unit: '', digits: 3 },
    { key: 'share_error', label: 'worst class share error', values: each((f) => f.shareError), unit: '%', digits: 1 },
  ];
  kernel.classes.forEach((c, i) => {
    rows.push({
      key: `share_nice_${c.nice}`,
      label: `CPU share nice ${c.nice} (ideal ${pct(c.idealShare)})`,
      values: each((f) => f.classes[i]?.share ?? null),
      unit: '%',
      digits: 1,
    });
  });
  rows.push(
    { key: 'probe_p50', label: 'probe wake-up lateness p50', values: each((f) => f.probeP50Ms), unit: 'ms', digits: 3 },
    { key: 'probe_p99', label: 'probe wake-up lateness p99', values: each((f) => f.probeP99Ms), unit: 'ms', digits: 3 },
    { key: 'probe_max', label: 'probe wake-up lateness max', values: each((f) => f.probeMaxMs), unit: 'ms', digits: 3 },
    { key: 'probe_wakeups', label: 'probe wake-ups', values: each((f) => f.probeWakeups), unit: '', digits: 0 },
    { key: 'hog_chunks', label: 'hog work done (chunks)', values: each((f) => f.hogChunks), unit: '', digits: 0 },
    {
      key: 'throughput',
      label: 'throughput vs kernel',
      values: each((f) => (kernel.hogChunks > 0 ? f.hogChunks / kernel.hogChunks : null)),
      unit: '%',
      digits: 1,
    },
    { key: 'hog_cpus', label: 'CPU time of hogs', values: each((f) => f.hogCpus), unit: 'CPUs', digits: 2 },
    {
      key: 'sched_faults',
      label: 'scheduler thread page faults',
      values: onlyTsland(extras ? extras.pageFaults : null),
      unit: '',
      digits: 0,
    },
    { key: 'sched_gcs', label: 'scheduler thread GCs', values: onlyTsland(extras ? extras.gcEvents : null), unit: '', digits: 0 },
    {
      key: 'sched_cpu',
      label: 'tsland CPU use (% of one core)',
      values: onlyTsland(extras ? extras.cpuPercent / 100 : null),
      unit: '%',
      digits: 1,
    },
    {
      key: 'locked',
      label: 'arena locked in RAM',
      values: onlyTsland(extras ? (extras.locked ? 'yes' : 'no') : null),
      unit: 'text',
      digits: 0,
    },
  );
  return rows;
}

/** The header: 'metric', then one column per scheduler. */
export function tableColumns(columns: readonly SchedulerColumn[]): string[] {
  return ['metric', ...columns.map((c) => c.name)];
}

/** The cells exactly as printed and as written into the report. */
export function tableCells(rows: readonly Row[]): string[][] {
  return rows.map((r) => [r.label, ...r.values.map((v) => formatValue(v, r))]);
}

export function renderTextTable(header: readonly string[], rows: readonly Row[]): string {
  const cells = [[...header], ...tableCells(rows)];
  const widths = header.map((_, c) => Math.max(...cells.map((r) => (r[c] ?? '').length)));
  const line = (r: string[]) => r.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!))).join('   ');
  return [line(cells[0]!), widths.map((w) => '-'.repeat(w)).join('   '), ...cells.slice(1).map(line)].join('\n');
}
