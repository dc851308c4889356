// Writes the soak's record as JSON and as a self-contained HTML page (the shared report builder: inline
// SVG, no script, no network), each injected fault marked on every chart.

import { writeFileSync } from 'node:fs';
import { buildHtmlReport, type ChartMarker, type LineChartSpec, type LineSeries, type ReportSection } from '../src/stats/html.js';
import { MIN_DRIFT_SPAN_S, rssDriftLimitKiB } from './checks.js';
import { RELEASE_SLACK_MS } from './faults.js';
import type { SoakRecord, SoakSample } from './record.js';

const KIB_PER_MIB = 1024;

function perInstance(record: SoakRecord, name: string, value: (s: SoakSample) => number | null): LineSeries[] {
  return record.instances.map((inst) => {
    const mine = record.samples.filter((s) => s.instance === inst.index);
    return { name: `${name} #${inst.index} (${inst.mode})`, x: mine.map((s) => s.tS), y: mine.map((s) => value(s) ?? NaN) };
  });
}

function chart(title: string, yLabel: string, series: LineSeries[], markers: ChartMarker[], yFromZero = true): LineChartSpec {
  return { kind: 'line', title, xLabel: 'seconds since start', yLabel, series, markers, yFromZero };
}

function fmt(v: number | null | undefined, digits = 0): string {
  return v === null || v === undefined ? '-' : v.toFixed(digits);
}

/** The sched_ext soak's targets: the kernel's watchdog, not a guardian, takes tsland out. */
function scxTargetRows(r: SoakRecord, driftRow: (string | number)[], yes: (b: boolean) => string): (string | number)[][] {
  const s = r.summary;
  const of = (kind: string) => r.faults.filter((f) => f.kind === kind);
  const ms = (v: number | undefined) => (v === undefined ? '-' : `${v} ms`);
  const stops = of('stop-scheduler');
  const kills = of('kill-scheduler');
  const stalled = r.faults.reduce((n, f) => n + (f.stalled ?? 0), 0);
  const runnable = r.faults.reduce((n, f) => n + (f.runnable ?? 0), 0);
  return [
    ['page faults on the scheduler thread after warm-up', '0', s.pageFaultsAfterWarmup, yes(s.pageFaultsAfterWarmup === 0)],
    ['GCs on the scheduler thread after warm-up', '0', s.gcEventsAfterWarmup, yes(s.gcEventsAfterWarmup === 0)],
    driftRow,
    ['ejections by the kernel with no fault injected', '0', s.watchdogTripsWithoutFault, yes(s.watchdogTripsWithoutFault === 0)],
    [
      'faults recovered (tsland scheduling again)',
      `${s.faultsInjected}`,
      s.faultsRecovered,
      yes(s.faultsRecovered === s.faultsInjected),
    ],
    [
      'stopped tsland ejected after (watchdog timeout)',
      `${r.options.watchdogMs} ms + the kernel's check`,
      stops.map((f) => ms(f.releaseMs)).join(', ') || '-',
      stops.length === 0 ? '-' : yes(stops.every((f) => f.releaseMs !== undefined)),
    ],
    [
      'killed tsland: fair class back after',
      '< 5000 ms',
      kills.map((f) => ms(f.releaseMs)).join(', ') || '-',
      kills.length === 0 ? '-' : yes(kills.every((f) => f.releaseMs !== undefined)),
    ],
    ['runnable tasks that never ran again after a fault', '0', `${stalled} of ${runnable}`, yes(stalled === 0)],
    ['tasks lost', '0', s.tasksLost, yes(s.tasksLost === 0)],
    ['OOM kills', '0', s.oomKills, yes(s.oomKills === 0)],
  ];
}

export function targetRows(r: SoakRecord): (string | number)[][] {
  const s = r.summary;
  const watchdogMs = r.options.watchdogMs;
  const driftOk =
    s.maxRssDriftKiB === null ||
    s.longestMeasuredS < MIN_DRIFT_SPAN_S ||
    Math.abs(s.maxRssDriftKiB) <= rssDriftLimitKiB(s.longestMeasuredS);
  const yes = (b: boolean) => (b ? 'yes' : 'NO');
  const driftRow = [
    'RSS drift of the longest-lived scheduler',
    `<= 1 MiB per 10 min (judged over >= ${MIN_DRIFT_SPAN_S} s)`,
    `${fmt(s.maxRssDriftKiB === null ? null : s.maxRssDriftKiB / KIB_PER_MIB, 2)} MiB over ${s.longestMeasuredS.toFixed(0)} s`,
    yes(driftOk),
  ];
  if (r.options.backend === 'scx') return scxTargetRows(r, driftRow, yes);
  return [
    ['page faults on the scheduler thread after warm-up', '0', s.pageFaultsAfterWarmup, yes(s.pageFaultsAfterWarmup === 0)],
    ['GCs on the scheduler thread after warm-up', 'reported (the hot-path rule wants 0)', s.gcEventsAfterWarmup, '-'],
    driftRow,
    ['watchdog trips with no fault injected', '0', s.watchdogTripsWithoutFault, yes(s.watchdogTripsWithoutFault === 0)],
    ['faults recovered', `${s.faultsInjected}`, s.faultsRecovered, yes(s.faultsRecovered === s.faultsInjected)],
    [
      'slowest release after a scheduler fault',
      `<= ${watchdogMs + RELEASE_SLACK_MS} ms`,
      (s.maxReleaseMs === null ? '-' : `${s.maxReleaseMs} ms`) +
        (s.releasesMissed > 0 ? `; ${s.releasesMissed} fault(s) left a task stopped` : ''),
      yes(s.releasesMissed === 0 && (s.maxReleaseMs === null || s.maxReleaseMs <= watchdogMs + RELEASE_SLACK_MS)),
    ],
    ['tasks lost', '0', s.tasksLost, yes(s.tasksLost === 0)],
    ['OOM kills', '0', s.oomKills, yes(s.oomKills === 0)],
    ['longest stop seen while a scheduler ran (200 ms resolution)', 'reported', `${s.maxSteadyStopMs} ms`, '-'],
    [
      'oldest heartbeat seen with no fault in flight',
      'reported',
      s.maxSteadyHeartbeatAgeMs === null ? '-' : `${s.maxSteadyHeartbeatAgeMs.toFixed(0)} ms`,
      '-',
    ],
  ];
}

export function htmlReport(r: SoakRecord): string {
  const markers: ChartMarker[] = r.faults.map((f) => ({ x: f.atS, label: f.kind }));
  const all = r.samples;
  const t = all.map((s) => s.tS);
  const verdict = r.summary.passed
    ? `PASSED: ${r.options.durationS} s of load, ${r.summary.faultsInjected} fault(s) injected and recovered, nothing lost.`
    : `FAILED: ${r.violations.length} violation(s); see the list below.`;
  const sections: ReportSection[] = [
    {
      heading: 'Verdict',
      blocks: [
        { kind: 'text', text: verdict, tone: r.summary.passed ? 'note' : 'warning' },
        { kind: 'table', id: 'targets', columns: ['check', 'target', 'measured', 'met'], rows: targetRows(r) },
      ],
    },
    {
      heading: 'Scheduler over time',
      blocks: [
        chart(
          'Scheduler RSS',
          'MiB',
          perInstance(r, 'RSS', (s) => (s.rssKiB === null ? null : s.rssKiB / KIB_PER_MIB)),
          markers,
          false,
        ),
        chart(
          'Page faults and GCs of the scheduler thread (cumulative)',
          'count',
          [...perInstance(r, 'page faults', (s) => s.pageFaults), ...perInstance(r, 'GCs', (s) => s.gcEvents)],
          markers,
        ),
        // Inside a fault window the age is the fault's (seconds, for a stopped scheduler): left out so the
        // steady milliseconds stay readable; the fault table has the release times.
        r.options.backend === 'scx'
          ? chart(
              'sched_ext enabled (1) or not (0)',
              'enabled',
              [{ name: 'sched_ext enabled', x: t, y: all.map((s) => (s.scxState === 'enabled' ? 1 : 0)) }],
              markers,
            )
          : chart(
              'Heartbeat age, largest each second (fault windows left out)',
              'ms',
              [{ name: 'heartbeat age', x: t, y: all.map((s) => (s.inFault ? NaN : (s.heartbeatAgeMaxMs ?? NaN))) }],
              markers,
            ),
        chart(
          'Dispatch rate',
          'dispatches/s',
          [{ name: 'dispatches/s', x: t, y: all.map((s) => s.dispatchPerS ?? NaN) }],
          markers,
        ),
      ],
    },
    {
      heading: 'Workload and machine',
      blocks: [
        chart(
          'Workload processes',
          'processes',
          [
            { name: 'alive', x: t, y: all.map((s) => s.workloadProcs) },
            { name: 'stopped', x: t, y: all.map((s) => s.stoppedProcs) },
            { name: 'orphaned', x: t, y: all.map((s) => s.orphanProcs) },
          ],
          markers,
        ),
        chart('Memory available', 'MiB', [{ name: 'MemAvailable', x: t, y: all.map((s) => s.memAvailableMiB) }], markers),
      ],
    },
    {
      heading: 'Injected faults',
      blocks: [
        {
          kind: 'table',
          id: 'faults',
          columns: [
            'fault',
            'at (s)',
            r.options.backend === 'scx' ? 'sched_ext off after (ms)' : 'released (ms)',
            'scheduling again (ms)',
            'recovered',
            'notes',
          ],
          rows: r.faults.map((f) => [
            f.kind,
            f.atS,
            fmt(f.releaseMs),
            fmt(f.recoveredMs),
            f.ok ? 'yes' : 'NO',
            f.notes.join('; '),
          ]),
        },
      ],
    },
    {
      heading: 'Scheduler instances',
      blocks: [
        {
          kind: 'table',
          id: 'instances',
          columns: [
            '#',
            'mode',
            'start (s)',
            'end (s)',
            'exit',
            'measured (s)',
            'RSS drift (KiB)',
            'RSS range (KiB)',
            'RSS trend (KiB/min)',
            'faults',
            'GCs',
            'trips',
          ],
          rows: r.instances.map((i) => [
            i.index,
            i.mode,
            i.startS,
            fmt(i.endS, 1),
            i.exitCode ?? i.exitSignal ?? '-',
            i.measuredS,
            fmt(i.rssDriftKiB),
            i.rssMinKiB === null || i.rssMaxKiB === null ? '-' : `${i.rssMinKiB}-${i.rssMaxKiB}`,
            fmt(i.rssTrendKiBPerMin),
            fmt(i.pageFaultsAfterWarmup),
            fmt(i.gcEventsAfterWarmup),
            i.watchdogTrips,
          ]),
        },
      ],
    },
    {
      heading: 'Accounting',
      blocks: [{ kind: 'keyvalue', entries: Object.entries(r.accounting).map(([k, v]) => [k, v] as const) }],
    },
    {
      heading: 'Violations',
      blocks: [
        r.violations.length === 0
          ? { kind: 'text', text: 'None.' }
          : {
              kind: 'table',
              id: 'violations',
              columns: ['at (s)', 'check', 'detail'],
              rows: r.violations.map((v) => [v.tS, v.check, v.detail]),
            },
      ],
    },
  ];
  return buildHtmlReport({
    title: `tsland soak: ${r.summary.passed ? 'passed' : 'FAILED'}`,
    subtitle:
      `${(r.options.durationS / 60).toFixed(1)} min, ${r.options.load} load${r.options.baseline ? ', baseline (no tsland)' : ''}${r.options.backend === 'scx' ? `, tsland start on sched_ext (watchdog ${r.options.watchdogMs} ms)` : ''}, ` +
      `${r.machine.cpus} CPUs, Linux ${r.machine.kernel}, Node ${r.machine.node}` +
      (r.source?.commit ? `, commit ${r.source.commit}${r.source.dirty ? ' with local changes' : ''}` : ''),
    generatedAt: r.finishedAt,
    sections,
    data: r,
  });
}

export function writeReports(r: SoakRecord): void {
  writeFileSync(r.files.json, JSON.stringify(r, null, 1) + '\n');
  writeFileSync(r.files.html, htmlReport(r));
}
