// The demo's HTML report: the comparison table (the very cells printed on the terminal, one column per
// scheduler that ran), CPU shares per nice class against their ideal, the probe's lateness by percentile and
// over time for every scheduler, and how the run was set up.

import { buildHtmlReport, type ReportBlock } from '../stats/html.js';
import type { RunFigures } from './analysis.js';
import type { Row, TslandExtras } from './table.js';

export interface DemoSetup {
  seconds: number;
  nrCpus: number;
  nices: number[];
  probePeriodUs: number;
  policy: string;
  /** The tsland half's backend: 'scx' (the kernel's sched_ext) or 'proc' (signals). */
  backend: 'scx' | 'proc';
  /** Whether the demo ran inside the sched_ext guest (tsland guest), where absolute times are emulation's. */
  inGuest: boolean;
  node: string;
  kernel: string;
  startedAt: string;
  /** 1-minute load average when the demo started: other load competes with both halves. */
  loadAverage: number;
}

/** A peer scheduler of the kernel tree (scx_simple, scx_userland) that ran the same workload. */
export interface PeerFigures {
  name: string;
  /** What /sys/kernel/sched_ext/root/ops said while it ran. */
  ops: string;
  figures: RunFigures;
}

export interface DemoData {
  setup: DemoSetup;
  /** The table's header: 'metric', then one column per scheduler (kernel, tsland, then the peers). */
  columns: string[];
  rows: Row[];
  cells: string[][];
  kernel: RunFigures;
  tsland: RunFigures | null;
  extras: TslandExtras | null;
  /** The peers that ran, in the order of their columns. */
  peers: PeerFigures[];
  /** Dispatches per second of the tsland scheduler over the run. */
  dispatchRate: { atS: number[]; perS: number[] };
  notes: string[];
}

export const COMPARISON_TABLE_ID = 'comparison';

/** Every scheduler that ran, in the order of the table's columns, with the name its charts give it. */
function schedulersOf(d: DemoData): { name: string; figures: RunFigures }[] {
  const out = [{ name: 'kernel', figures: d.kernel }];
  if (d.tsland) out.push({ name: `tsland (${d.setup.policy})`, figures: d.tsland });
  for (const p of d.peers) out.push({ name: p.name, figures: p.figures });
  return out;
}

export const PERCENTILE_CHART_TITLE = 'Probe wake-up lateness by percentile, ms (lower is better)';

export function demoReportHtml(d: DemoData): string {
  const s = d.setup;
  const summary: ReportBlock[] = [{ kind: 'table', id: COMPARISON_TABLE_ID, columns: [...d.columns], rows: d.cells }];
  for (const n of d.notes) summary.push({ kind: 'text', text: n, tone: 'warning' });
  const scheds = schedulersOf(d);
  const categories = d.kernel.classes.map((c) => `nice ${c.nice}`);
  const shareSeries = scheds.map((x) => ({ name: x.name, values: x.figures.classes.map((c) => c.share * 100) }));
  shareSeries.push({ name: 'ideal (by weight)', values: d.kernel.classes.map((c) => c.idealShare * 100) });
  const latSeries = scheds.map((x) => ({ name: x.name, x: x.figures.latenessTimeline.atS, y: x.figures.latenessTimeline.p99Ms }));
  const pctCategories = d.kernel.latenessPercentiles.p.map((p) => (p === 100 ? 'max' : `p${p}`));
  const pctSeries = scheds.map((x) => ({ name: x.name, values: x.figures.latenessPercentiles.ms }));
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
      title: PERCENTILE_CHART_TITLE,
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
  const tslandOn = s.backend === 'scx' ? 'tsland on sched_ext' : 'tsland (signals backend)';
  const peerNames = d.peers.map((p) => p.name);
  const where = s.inGuest ? ' (in the sched_ext guest)' : '';
  const how = [
    `The same workload ran ${scheds.length === 2 ? 'twice' : `${scheds.length} times`}, each time a fresh process tree: ` +
      `first under the kernel's own scheduler, then under tsland with the ${s.policy} policy ` +
      (s.backend === 'scx'
        ? `on the kernel's sched_ext (${s.inGuest ? 'every task of the guest, as the peers' : "its tree's tasks set to SCHED_EXT"}; the decisions made in TypeScript)`
        : 'through its signals backend (SIGSTOP/SIGCONT on the tree)') +
      (peerNames.length
        ? `, then under the kernel tree's own sched_ext schedulers ${peerNames.join(' and ')}, each loaded in turn`
        : '') +
      '. Every process waited for a common start, so start-up is not measured. Shares are ' +
      "each nice class's part of the hogs' CPU time; the ideal is its part of the total weight. Jain's index " +
      'is computed over CPU time divided by weight (1.0 is perfectly weight-fair). Lateness is how much later than ' +
      "asked the probe woke up. Page faults and GCs are those of tsland's scheduler thread during the window. " +
      'Other load on the machine competes with every run, so on a busy machine the figures vary from run to run.',
  ];
  if (s.inGuest)
    how.push(
      'This ran in a virtual machine with a sched_ext kernel (tsland guest). Without hardware virtualization it is ' +
        'emulated in software, several times slower than the host and unevenly so: compare the schedulers with each ' +
        'other, not with figures taken on the host.',
    );
  return buildHtmlReport({
    title: `tsland demo: the kernel's scheduler vs ${tslandOn}${peerNames.length ? ` vs ${peerNames.join(', ')}` : ''}${where}`,
    subtitle: `${s.nices.length} CPU hogs (nice ${s.nices.join(', ')}) + an interactive probe (sleeps ${s.probePeriodUs / 1000} ms), ${s.seconds} s each, ${s.nrCpus} CPUs`,
    generatedAt: s.startedAt,
    sections: [
      { heading: 'Side by side', blocks: summary },
      { heading: 'Charts', blocks: charts },
      {
        heading: 'How this was measured',
        blocks: [
          ...how.map((text): ReportBlock => ({ kind: 'text', text })),
          {
            kind: 'keyvalue',
            entries: [
              ['CPUs', s.nrCpus],
              ['hogs (nice values)', s.nices.join(', ')],
              ['probe period', `${s.probePeriodUs} µs`],
              ['window per run', `${s.seconds} s`],
              ['policy', s.policy],
              ['tsland backend', s.backend === 'scx' ? 'sched_ext' : 'signals (proc)'],
              ...(peerNames.length
                ? [['peers', d.peers.map((p) => `${p.name} (ops ${p.ops || '?'})`).join(', ')] as [string, string]]
                : []),
              ['machine', s.inGuest ? 'sched_ext guest (virtual machine)' : 'this machine'],
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
