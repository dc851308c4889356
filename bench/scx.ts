// npm run bench:scx: tsland on the kernel's real sched_ext against the kernel's own scheduler (EEVDF), in one
// boot of a sched_ext machine (the guest, src/guest; `tsland guest setup` once). What runs inside is
// bench/scx/inside.ts. Prints one table and writes bench/results/scx.json.
//
// Every scheduler is visited twice, in an order that runs forward and then back (EEVDF, tsland, tsland
// --wait park --queue-ahead 8, scx_simple, scx_userland, then the same in reverse, EEVDF last): its field
// figures are the mean of its two visits, so a machine that drifts steadily over the run moves every column
// alike.
//
// Under software emulation (no KVM) absolute times mean nothing: every figure here is either a ratio
// between the two schedulers of the same boot, a share, a count, or tsland's CPU per decision against the
// scheduler core's own, measured in the same guest.
//
// Usage: npm run bench:scx [-- --seconds 20] [--storm-seconds 60] [--settle-seconds 30] [--policy rustland]
//                           [--mem-mib 2048] [--latency-seconds 15] [--keep-capture FILE] [--no-peers]
// Peers: scx_simple and scx_userland, built from Debian's linux-source package (bench/scx/peers.ts; the
// first run downloads and builds them, later runs use the cache); --no-peers leaves them out.
// --keep-capture copies the guest's record capture (bench/scx/replay.ts) to FILE for a closer look.

import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { guestAvailability } from '../src/guest/availability.js';
import { runInGuest } from '../src/guest/launch.js';
import { guestWorkDir, PACKAGE_ROOT } from '../src/guest/share.js';
import type { InsideResult } from './scx/inside.js';
import { meanOfVisits, type FieldRun } from './scx/field.js';
import { TSLAND_NAME } from './scx/peer-run.js';
import { CAPTURE_FILE, nativeFigure, type NativeFigure } from './scx/replay.js';
import { ensurePeers } from './scx/peers.js';
import { worstClassError, type HogRun } from './scx/hogs.js';

const INSIDE = fileURLToPath(new URL('./scx/inside.js', import.meta.url));
const GUEST_CPUS = 2;

const USAGE = [
  'Usage: npm run bench:scx [-- options]',
  '',
  "Boots the sched_ext guest once and runs the field's workloads (hackbench, cyclictest, a parallel build, hogs",
  'for fairness, a fork storm) under EEVDF, tsland and the peers scx_simple and scx_userland, as ratios to',
  'EEVDF in the same boot, each visited twice (the order forward, then back). Prints one table and writes',
  'bench/results/scx.json. Takes 30 to 45 minutes.',
  '',
  'Options:',
  '  --seconds N            hog phases, s (default 20)',
  '  --storm-seconds N      fork storm, s (default 60)',
  '  --settle-seconds N     settle before the storm is measured, s (default 30)',
  '  --latency-seconds N    each cyclictest run, s (default 15)',
  '  --mem-mib N            guest memory, MiB (default 2048)',
  '  --policy NAME|FILE     tsland policy (default rustland)',
  '  --keep-capture FILE    copy the guest record capture to FILE',
  '  --no-peers             EEVDF and tsland only',
  '  -h, --help             show this help',
].join('\n');
const VALUE_FLAGS = ['seconds', 'storm-seconds', 'settle-seconds', 'latency-seconds', 'mem-mib', 'policy', 'keep-capture'];
const SWITCHES = ['no-peers'];

/** --help prints the usage; an unknown flag or a missing value is a one-line error (exit 2), before any boot. */
function checkArgs(argv: readonly string[]): void {
  if (argv.includes('-h') || argv.includes('--help')) {
    console.log(USAGE);
    process.exit(0);
  }
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const name = a.startsWith('--') ? a.slice(2) : '';
    if (SWITCHES.includes(name)) continue;
    if (VALUE_FLAGS.includes(name) && argv[i + 1] !== undefined) {
      i++;
      continue;
    }
    const why = VALUE_FLAGS.includes(name) ? `${a} needs a value` : `unknown argument '${a}'`;
    console.error(`bench:scx: ${why} (npm run bench:scx -- --help)`);
    process.exit(2);
  }
}

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 && process.argv[i + 1] ? process.argv[i + 1]! : fallback;
}

function positive(name: string, fallback: number): number {
  const v = Number(arg(name, String(fallback)));
  if (!Number.isFinite(v) || v <= 0) {
    console.error(`bench:scx: --${name} must be a positive number, got ${arg(name, '')}`);
    process.exit(2);
  }
  return v;
}

const pct = (x: number): string => `${(x * 100).toFixed(1)}%`;

function classCells(run: HogRun, half: boolean): string {
  const c = half ? run.classesSecondHalf : run.classes;
  return ['nice0', 'nice5', 'nice10'].map((k) => pct(c[k]!.share)).join(' / ');
}

async function main(): Promise<void> {
  checkArgs(process.argv.slice(2));
  const seconds = positive('seconds', 20);
  const stormSeconds = positive('storm-seconds', 60);
  const memMiB = positive('mem-mib', 2048);
  const settleSeconds = positive('settle-seconds', 30);
  const latencySeconds = positive('latency-seconds', 15);
  const policy = arg('policy', 'rustland');
  const avail = guestAvailability();
  if (!avail.ok) {
    console.error(`bench:scx: needs a sched_ext machine; ${avail.reason}`);
    process.exit(2);
  }
  // The kernel tree's schedulers, built once and cached (peers.ts); without them the peers' table is left out.
  let peerDir = '';
  if (process.argv.includes('--no-peers')) {
    console.log('bench:scx: --no-peers: EEVDF and tsland only');
  } else {
    try {
      const peers = await ensurePeers({ say: (line) => console.log(`bench:scx: ${line}`) });
      peerDir = dirname(peers.simple);
      console.log(`bench:scx: peers scx_simple and scx_userland from Linux ${peers.version} (${peerDir})`);
    } catch (err) {
      console.error(`bench:scx: no peers (${(err as Error).message.split('\n')[0]}); EEVDF and tsland only`);
    }
  }
  const dir = mkdtempSync(join(os.tmpdir(), 'tsland-bench-scx-'));
  const outFile = join(dir, 'inside.json');
  console.log(`bench:scx: booting the guest (${GUEST_CPUS} CPUs, ${memMiB} MiB); the whole run takes several minutes`);
  try {
    const r = await runInGuest({
      argv: [
        process.execPath,
        INSIDE,
        outFile,
        '--seconds',
        String(seconds),
        '--storm-seconds',
        String(stormSeconds),
        '--policy',
        policy,
        '--settle-seconds',
        String(settleSeconds),
        '--latency-seconds',
        String(latencySeconds),
        ...(peerDir ? ['--peers', peerDir] : []),
      ],
      cpus: GUEST_CPUS,
      memMiB,
      timeoutMs: 90 * 60_000,
      // The guest's own /tmp is private: the result comes back through the working directory, which the
      // guest sees (writable) at the same path, widened to hold the package where the guest would hide it.
      cwd: guestWorkDir(dir, [PACKAGE_ROOT]),
      onStdout: (b) => process.stdout.write(b),
      onStderr: (b) => process.stderr.write(b),
    });
    const status = `status ${r.code}${r.timedOut ? ', timed out' : ''}`;
    if (!existsSync(outFile)) {
      throw new Error(
        `the guest run ended (${status}) without writing its result: the guest died or its command was killed; see the progress lines above for the step it was in`,
      );
    }
    // Written after EEVDF and tsland and again after each peer: a guest that ended under a peer still
    // returns the rest, and the peer is reported as failed.
    const res = JSON.parse(readFileSync(outFile, 'utf8')) as InsideResult;
    if (res.peerRunning) {
      const reason = `the guest's command ended during its run (${status}) before its result was written: the guest died or the command was killed`;
      console.error(`bench:scx: ${res.peerRunning}: FAILED: ${reason}`);
      res.peerFailures.push({ name: res.peerRunning, reason });
      delete res.peerRunning;
    } else if (r.code !== 0) {
      throw new Error(`the guest run failed with ${status}`);
    }
    const captureFile = join(dir, CAPTURE_FILE);
    let native: NativeFigure | null = null;
    const keep = arg('keep-capture', '');
    if (keep && existsSync(captureFile)) copyFileSync(captureFile, keep);
    if (existsSync(captureFile)) {
      console.log("bench:scx: replaying the guest's queued records on this machine (native cost per decision)");
      native = await nativeFigure(captureFile, policy);
    } else {
      console.error('bench:scx: tsland wrote no capture of its records: no native figure');
    }
    report(res, { accel: r.accel, bootMs: r.timings.bootMs, commandMs: r.timings.commandMs }, native);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function printTable(rows: string[][]): void {
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
  console.log('');
  for (const r of rows) console.log(r.map((x, c) => x.padEnd(widths[c]!)).join('  '));
}

/** One column per scheduler: tsland, then each peer; every time a ratio to EEVDF's mean. */
function peerFigures(
  res: InsideResult,
  eevdfMean: (pick: (r: FieldRun) => number) => number,
  tslandNsPerDispatch: number,
  tslandField: FieldRun,
): { rows: string[][]; figures: Record<string, Record<string, number | null>> } | null {
  if (!res.peers || res.peers.length === 0) return null;
  const cols = [
    {
      name: 'tsland',
      field: tslandField,
      fair: res.tsland.fair,
      nice: res.tsland.nice,
      nsPerDispatch: tslandNsPerDispatch,
    },
    ...res.peers.map((p) => ({
      name: p.name,
      field: meanOfVisits(p.field, backVisit(res, p.name)),
      fair: p.fair,
      nice: p.nice,
      nsPerDispatch: p.fairnessUserDispatches ? (p.fairnessCpuMs * 1e6) / p.fairnessUserDispatches : null,
    })),
  ];
  const r = (pick: (f: FieldRun) => number) => cols.map((c) => pick(c.field) / eevdfMean(pick));
  const figures: Record<string, Record<string, number | null>> = {};
  const lines: [string, (number | null)[], (x: number) => string][] = [
    ['hackbench time', r((f) => f.hackbenchMedianS), (x) => `${x.toFixed(2)}x`],
    ['cyclictest p50 among 8 hogs', r((f) => f.latencyHogs.p50Us), (x) => `${x.toFixed(2)}x`],
    ['cyclictest p99 among 8 hogs', r((f) => f.latencyHogs.p99Us), (x) => `${x.toFixed(2)}x`],
    ['cyclictest max among 8 hogs', r((f) => f.latencyHogs.maxUs), (x) => `${x.toFixed(2)}x`],
    ['cyclictest p99, no load', r((f) => f.latencyIdle.p99Us), (x) => `${x.toFixed(2)}x`],
    ['build time', r((f) => f.buildS), (x) => `${x.toFixed(2)}x`],
    ['8 hogs: Jain index', cols.map((c) => c.fair.jain), (x) => x.toFixed(4)],
    ['8 hogs: CPUs they got', cols.map((c) => c.fair.cpusUsed), (x) => x.toFixed(2)],
    ['nice: worst class error, whole run', cols.map((c) => worstClassError(c.nice.classes)), pct],
    [
      'scheduler CPU per 1,000 user dispatches (ms)',
      cols.map((c) => (c.nsPerDispatch === null ? null : c.nsPerDispatch / 1000)),
      (x) => x.toFixed(1),
    ],
  ];
  const rows: string[][] = [['figure (ratio to EEVDF)', ...cols.map((c) => c.name)]];
  for (const [label, values, fmt] of lines) {
    rows.push([label, ...values.map((v) => (v === null || !Number.isFinite(v) ? '-' : fmt(v)))]);
    figures[label] = Object.fromEntries(cols.map((c, i) => [c.name, values[i] ?? null]));
  }
  return { rows, figures };
}

/** The return leg's field figures of the scheduler named `name`, if it ran. */
function backVisit(res: InsideResult, name: string): FieldRun | null {
  return res.back?.find((p) => p.name === name)?.field ?? null;
}

function report(
  res: InsideResult,
  guest: { accel: string; bootMs: number; commandMs: number },
  native: NativeFigure | null,
): void {
  const e = res.eevdf;
  const t = res.tsland;
  const f = t.fairness;
  const nsPerDispatch = (f.cpuMs * 1e6) / Math.max(1, f.userDispatches);
  const costRatio = nsPerDispatch / res.core.cpuNsPerDecision;
  const worstT = worstClassError(t.nice.classes);
  const worstE = worstClassError(e.nice.classes);
  const weights = ['nice0', 'nice5', 'nice10'].map((k) => pct(t.nice.classes[k]!.weightShare)).join(' / ');
  // The field's workloads: EEVDF ran them first and last, every other scheduler once on the way out and
  // once on the way back (inside.ts); each figure is the mean of a scheduler's visits.
  const ef = e.fieldAfter ? [e.field, e.fieldAfter] : [e.field];
  const mean = (pick: (r: FieldRun) => number): number => ef.reduce((sum, r) => sum + pick(r), 0) / ef.length;
  const both = (pick: (r: FieldRun) => number, unit: string, digits = 0): string =>
    `${ef.map((r) => pick(r).toFixed(digits)).join(' / ')} ${unit}`;
  const tf = meanOfVisits(t.field, backVisit(res, TSLAND_NAME));
  const ratio = (pick: (r: FieldRun) => number, unit: string, digits = 0): string =>
    `${pick(tf).toFixed(digits)} ${unit} = ${(pick(tf) / mean(pick)).toFixed(2)}x EEVDF`;
  const field = {
    hackbench: tf.hackbenchMedianS / mean((r) => r.hackbenchMedianS),
    latencyHogsP99: tf.latencyHogs.p99Us / mean((r) => r.latencyHogs.p99Us),
    latencyHogsP50: tf.latencyHogs.p50Us / mean((r) => r.latencyHogs.p50Us),
    latencyIdleP99: tf.latencyIdle.p99Us / mean((r) => r.latencyIdle.p99Us),
    build: tf.buildS / mean((r) => r.buildS),
  };
  const rows: [string, string, string, string][] = [
    ['figure', 'EEVDF (first / last)', 'tsland (mean of 2 visits)', 'target (tsland)'],
    [
      'hackbench -p (median of 3 per visit)',
      both((r) => r.hackbenchMedianS, 's', 2),
      ratio((r) => r.hackbenchMedianS, 's', 2),
      '<= 2x',
    ],
    ['cyclictest among 8 hogs: p50', both((r) => r.latencyHogs.p50Us, 'us'), ratio((r) => r.latencyHogs.p50Us, 'us'), '-'],
    ['cyclictest among 8 hogs: p99', both((r) => r.latencyHogs.p99Us, 'us'), ratio((r) => r.latencyHogs.p99Us, 'us'), '<= 0.5x'],
    ['cyclictest among 8 hogs: max', both((r) => r.latencyHogs.maxUs, 'us'), ratio((r) => r.latencyHogs.maxUs, 'us'), '-'],
    [
      'cyclictest, no load: p50 / p99',
      both((r) => r.latencyIdle.p99Us, 'us p99'),
      `${tf.latencyIdle.p50Us.toFixed(0)} / ${tf.latencyIdle.p99Us.toFixed(0)} us = ${field.latencyIdleP99.toFixed(2)}x EEVDF p99`,
      '-',
    ],
    [
      'preemptions for woken tasks (hackbench, cyclictest, build; first visit)',
      '-',
      `${t.field.window.preemptions ?? 0} of ${t.field.window.userDispatches} user dispatches`,
      '-',
    ],
    ['parallel build (make -j)', both((r) => r.buildS, 's', 1), ratio((r) => r.buildS, 's', 1), '<= 1.15x'],
    ['8 hogs: Jain index of CPU time', e.fair.jain.toFixed(4), t.fair.jain.toFixed(4), '>= 0.98'],
    ['8 hogs: CPUs they got', e.fair.cpusUsed.toFixed(2), t.fair.cpusUsed.toFixed(2), '-'],
    [`nice 0/5/10 shares, whole run (weights ${weights})`, classCells(e.nice, false), classCells(t.nice, false), '-'],
    ['nice: worst class error, whole run', pct(worstE), pct(worstT), '<= 10%'],
    [
      'nice: worst class error, second half',
      pct(worstClassError(e.nice.classesSecondHalf)),
      pct(worstClassError(t.nice.classesSecondHalf)),
      '<= 10%',
    ],
    [
      'CPU per user dispatch, tsland process (ns)',
      '-',
      `${nsPerDispatch.toFixed(0)} (${costRatio.toFixed(2)}x core)`,
      '<= 2x core',
    ],
    ['core alone, same guest (ns per decision)', '-', `${res.core.cpuNsPerDecision.toFixed(0)}`, '-'],
    [
      'scheduler thread kernel entries per user dispatch',
      '-',
      `${(f.sleeps / Math.max(1, f.userDispatches)).toFixed(2)} sleeps + ${(f.yields / Math.max(1, f.userDispatches)).toFixed(2)} yields (${(f.rounds / Math.max(1, f.userDispatches)).toFixed(2)} rounds)`,
      '-',
    ],
    [
      'native: user side per decision, guest records replayed on the host',
      '-',
      native
        ? `${native.replay.cpuNsPerDecision.toFixed(0)} ns = ${native.ratio.toFixed(2)}x the core's ${native.core.cpuNsPerDecision.toFixed(0)} ns (${native.replay.decisions} decisions)`
        : 'no capture',
      '<= 2x core',
    ],
    [
      'who placed the tasks, fairness runs',
      '-',
      `policy ${f.userDispatches}; tsland's own threads ${f.selfDispatches}; kernel threads ${f.kernelDispatches - f.selfDispatches - f.congested}; congested ${f.congested}`,
      'all but exempt',
    ],
    [
      'tsland process CPU, fairness runs',
      '-',
      `${pct(f.cpuMs / f.wallMs / res.cpus)} of ${res.cpus} CPUs; ${f.userDispatches} user / ${f.kernelDispatches} kernel dispatches`,
      '-',
    ],
    [
      'tsland busiest threads, fairness runs (CPU ms)',
      '-',
      f.threads
        .slice(0, 5)
        .map(
          (th) =>
            `${th.thread.startsWith(`${res.tslandPid} `) ? th.thread.replace(/^\d+ \S+/, 'main') : th.thread} ${th.cpuMs.toFixed(0)}`,
        )
        .join(', '),
      '-',
    ],
    [
      `idle ${res.settleSeconds} s after loading: tsland CPU`,
      '-',
      `${pct(t.settle.cpuMs / t.settle.wallMs / res.cpus)} of ${res.cpus} CPUs; ${t.settle.userDispatches} user dispatches`,
      '-',
    ],
    [
      `fork storm ${res.stormSeconds} s ${t.storm.warmedUp === false ? 'BEFORE the end of warm-up' : 'after warm-up'}: page faults / GCs on the scheduler thread`,
      '-',
      `${t.storm.pageFaults} / ${t.storm.gcEvents} (${t.storm.forks} forks, ${t.storm.userDispatches} user dispatches, ${t.storm.rescues} rescues)`,
      '0 / 0',
    ],
  ];
  printTable(rows);
  console.log(`the visits, in the order they ran: ${(res.order ?? []).join(', ')}`);
  const peers = peerFigures(res, mean, nsPerDispatch, tf);
  if (peers) {
    console.log("\nthe same workloads under the kernel tree's sched_ext schedulers, as ratios to EEVDF (same boot):");
    printTable(peers.rows);
  }
  for (const f of res.peerFailures ?? []) console.log(`${f.name}: no figures: ${f.reason}`);
  console.log(
    `guest: ${res.kernel}, ${res.cpus} CPUs, ${guest.accel}; ${res.seconds} s per workload; tsland loaded in ${(t.startMs / 1000).toFixed(1)} s and exited with ${t.exitCode}` +
      (guest.accel === 'tcg' ? '; software emulation: compare within a column pair, not with the host' : ''),
  );
  const out = {
    benchmark: 'scx',
    date: new Date().toISOString(),
    host: {
      cpus: os.cpus().length,
      model: os.cpus()[0]?.model,
      node: process.version,
      kernel: os.release(),
      loadavg: os.loadavg(),
    },
    guest: { ...guest, kernel: res.kernel, cpus: res.cpus },
    config: { seconds: res.seconds, stormSeconds: res.stormSeconds, policy: res.policy },
    figures: {
      jain: { eevdf: e.fair.jain, tsland: t.fair.jain },
      niceWorstError: { eevdf: worstE, tsland: worstT },
      niceWorstErrorSecondHalf: {
        eevdf: worstClassError(e.nice.classesSecondHalf),
        tsland: worstClassError(t.nice.classesSecondHalf),
      },
      cpuNsPerUserDispatch: nsPerDispatch,
      coreCpuNsPerDecision: res.core.cpuNsPerDecision,
      costRatio,
      fieldRatios: field,
      peers: peers?.figures ?? null,
      peerFailures: res.peerFailures ?? [],
      stormPageFaults: t.storm.pageFaults,
      stormGcEvents: t.storm.gcEvents,
      stormAfterWarmUp: t.storm.warmedUp ?? null,
      sleepsPerUserDispatch: f.sleeps / Math.max(1, f.userDispatches),
      yieldsPerUserDispatch: f.yields / Math.max(1, f.userDispatches),
      nativeCpuNsPerDecision: native?.replay.cpuNsPerDecision ?? null,
      nativeCoreCpuNsPerDecision: native?.core.cpuNsPerDecision ?? null,
      nativeRatio: native?.ratio ?? null,
    },
    native,
    raw: res,
  };
  mkdirSync(new URL('../../bench/results/', import.meta.url), { recursive: true });
  writeFileSync(new URL('../../bench/results/scx.json', import.meta.url), JSON.stringify(out, null, 2) + '\n');
  console.log('wrote bench/results/scx.json');
}

main().catch((err: Error) => {
  console.error(`bench:scx: ${err.message}`);
  process.exit(1);
});
