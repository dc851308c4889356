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

export interface Row {
  key: string;
  label: string;
  kernel: number | string | null;
  tsland: number | string | null;
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

export function comparisonRows(kernel: RunFigures, tsland: RunFigures | null, extras: TslandExtras | null): Row[] {
  const t = <K extends keyof RunFigures>(k: K) => (tsland ? tsland[k] : null) as RunFigures[K] | null;
  const rows: Row[] = [
    {
      key: 'jain',
      label: "fairness (Jain's index, weighted)",
      kernel: kernel.jainIndex,
      tsland: t('jainIndex'),
      unit: '',
      digits: 3,
    },
    {
      key: 'share_error',
      label: 'worst class share error',
      kernel: kernel.shareError,
      tsland: t('shareError'),
      unit: '%',
      digits: 1,
    },
  ];
  kernel.classes.forEach((c, i) => {
    rows.push({
      key: `share_nice_${c.nice}`,
      label: `CPU share nice ${c.nice} (ideal ${pct(c.idealShare)})`,
      kernel: c.share,
      tsland: tsland ? (tsland.classes[i]?.share ?? null) : null,
      unit: '%',
      digits: 1,
    });
  });
  rows.push(
    {
      key: 'probe_p50',
      label: 'probe wake-up lateness p50',
      kernel: kernel.probeP50Ms,
      tsland: t('probeP50Ms'),
      unit: 'ms',
      digits: 3,
    },
    {
      key: 'probe_p99',
      label: 'probe wake-up lateness p99',
      kernel: kernel.probeP99Ms,
      tsland: t('probeP99Ms'),
      unit: 'ms',
      digits: 3,
    },
    {
      key: 'probe_max',
      label: 'probe wake-up lateness max',
      kernel: kernel.probeMaxMs,
      tsland: t('probeMaxMs'),
      unit: 'ms',
      digits: 3,
    },
    {
      key: 'probe_wakeups',
      label: 'probe wake-ups',
      kernel: kernel.probeWakeups,
      tsland: t('probeWakeups'),
      unit: '',
      digits: 0,
    },
    { key: 'hog_chunks', label: 'hog work done (chunks)', kernel: kernel.hogChunks, tsland: t('hogChunks'), unit: '', digits: 0 },
    {
      key: 'throughput',
      label: 'throughput vs kernel',
      kernel: 1,
      tsland: tsland && kernel.hogChunks > 0 ? tsland.hogChunks / kernel.hogChunks : null,
      unit: '%',
      digits: 1,
    },
    { key: 'hog_cpus', label: 'CPU time of hogs', kernel: kernel.hogCpus, tsland: t('hogCpus'), unit: 'CPUs', digits: 2 },
    {
      key: 'sched_faults',
      label: 'scheduler thread page faults',
      kernel: null,
      tsland: extras ? extras.pageFaults : null,
      unit: '',
      digits: 0,
    },
    {
      key: 'sched_gcs',
      label: 'scheduler thread GCs',
      kernel: null,
      tsland: extras ? extras.gcEvents : null,
      unit: '',
      digits: 0,
    },
    {
      key: 'sched_cpu',
      label: 'tsland CPU use (% of one core)',
      kernel: null,
      tsland: extras ? extras.cpuPercent / 100 : null,
      unit: '%',
      digits: 1,
    },
    {
      key: 'locked',
      label: 'arena locked in RAM',
      kernel: null,
      tsland: extras ? (extras.locked ? 'yes' : 'no') : null,
      unit: 'text',
      digits: 0,
    },
  );
  return rows;
}

export const TABLE_COLUMNS = ['metric', 'kernel', 'tsland'] as const;

/** The cells exactly as printed and as written into the report. */
export function tableCells(rows: readonly Row[]): string[][] {
  return rows.map((r) => [r.label, formatValue(r.kernel, r), formatValue(r.tsland, r)]);
}

export function renderTextTable(rows: readonly Row[]): string {
  const cells = [[...TABLE_COLUMNS], ...tableCells(rows)];
  const widths = TABLE_COLUMNS.map((_, c) => Math.max(...cells.map((r) => r[c]!.length)));
  const line = (r: string[]) => r.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!))).join('   ');
  return [line(cells[0]!), widths.map((w) => '-'.repeat(w)).join('   '), ...cells.slice(1).map(line)].join('\n');
}
