// The demo's HTML report: the comparison table (the very cells printed on the terminal), CPU shares per
// nice class against their ideal, probe lateness over time, and how the run was set up.

import { buildHtmlReport, type ReportBlock } from '../stats/html.js';
import type { RunFigures } from './analysis.js';
import { TABLE_COLUMNS, type Row, type TslandExtras } from './table.js';

export interface DemoSetup {
  seconds: number;
  nrCpus: number;
  nices: number[];
  probePeriodUs: number;
  policy: string;
  node: string;
  kernel: string;
  startedAt: string;
  /** 1-minute load average when the demo started: other load competes with both halves. */
  loadAverage: number;
}

export interface DemoData {
  setup: DemoSetup;
  rows: Row[];
  cells: string[][];
  kernel: RunFigures;
  tsland: RunFigures | null;
  extras: TslandExtras | null;
  /** Dispatches per second of the tsland scheduler over the run. */
  dispatchRate: { atS: number[]; perS: number[] };
  notes: string[];
}

export const COMPARISON_TABLE_ID = 'comparison';

export function demoReportHtml(d: DemoData): string {
  const s = d.setup;
  const summary: ReportBlock[] = [{ kind: 'table', id: COMPARISON_TABLE_ID, columns: [...TABLE_COLUMNS], rows: d.cells }];
  for (const n of d.notes) summary.push({ kind: 'text', text: n, tone: 'warning' });
  const categories = d.kernel.classes.map((c) => `nice ${c.nice}`);
  const shareSeries = [{ name: 'kernel', values: d.kernel.classes.map((c) => c.share * 100) }];
  if (d.tsland) shareSeries.push({ name: `tsland (${s.policy})`, values: d.tsland.classes.map((c) => c.share * 100) });
  shareSeries.push({ name: 'ideal (by weight)', values: d.kernel.classes.map((c) => c.idealShare * 100) });
  const latSeries = [{ name: 'kernel', x: d.kernel.latenessTimeline.atS, y: d.kernel.latenessTimeline.p99Ms }];
  if (d.tsland) latSeries.push({ name: 'tsland', x: d.tsland.latenessTimeline.atS, y: d.tsland.latenessTimeline.p99Ms });
  const pctCategories = d.kernel.latenessPercentiles.p.map((p) => (p === 100 ? 'max' : `p${p}`));
  const pctSeries = [{ name: 'kernel', values: d.kernel.latenessPercentiles.ms }];
  if (d.tsland) pctSeries.push({ name: `tsland (${s.policy})`, values: d.tsland.latenessPercentiles.ms });
  const charts: ReportBlock[] = [
    {
      kind: 'bar',
      title: "CPU share of each nice class (% of the hogs' CPU time)",
      yLabel: '%',
      categories,
      series: shareSeries,
    },
    {
      kind: 'bar',
      title: 'Probe wake-up lateness by percentile, ms (lower is better)',
      yLabel: 'ms',
      categories: pctCategories,
      series: pctSeries,
    },
    {
      kind: 'line',
      title: 'Probe wake-up lateness, p99 per 250 ms',
      xLabel: 'seconds into the window',
      yLabel: 'ms',
      series: latSeries,
      yFromZero: true,
    },
  ];
  if (d.dispatchRate.atS.length > 1) {
    charts.push({
      kind: 'line',
      title: 'tsland dispatches per second',
      xLabel: 'seconds into the window',
      yLabel: 'dispatches/s',
      series: [{ name: 'dispatches/s', x: d.dispatchRate.atS, y: d.dispatchRate.perS }],
      yFromZero: true,
    });
  }
  return buildHtmlReport({
    title: "tsland demo: the kernel's scheduler vs tsland",
    subtitle: `${s.nices.length} CPU hogs (nice ${s.nices.join(', ')}) + an interactive probe (sleeps ${s.probePeriodUs / 1000} ms), ${s.seconds} s each, ${s.nrCpus} CPUs`,
    generatedAt: s.startedAt,
    sections: [
      { heading: 'Side by side', blocks: summary },
      { heading: 'Charts', blocks: charts },
      {
        heading: 'How this was measured',
        blocks: [
          {
            kind: 'text',
            text:
              "The same process tree ran twice: first under the kernel's own scheduler, then under tsland with the " +
              `${s.policy} policy. Every process waited for a common start, so start-up is not measured. Shares are ` +
              "each nice class's part of the hogs' CPU time; the ideal is its part of the total weight. Jain's index " +
              'is computed over CPU time divided by weight (1.0 is perfectly weight-fair). Lateness is how much later than ' +
              "asked the probe woke up. Page faults and GCs are those of tsland's scheduler thread during the window. " +
              'Other load on the machine competes with both halves, so on a busy machine the figures vary from run to run.',
          },
          {
            kind: 'keyvalue',
            entries: [
              ['CPUs', s.nrCpus],
              ['hogs (nice values)', s.nices.join(', ')],
              ['probe period', `${s.probePeriodUs} µs`],
              ['window per run', `${s.seconds} s`],
              ['policy', s.policy],
              ['Node.js', s.node],
              ['kernel', s.kernel],
              ['started', s.startedAt],
              ['load average at start (1 min)', s.loadAverage],
            ],
          },
        ],
      },
    ],
    data: d,
  });
}
