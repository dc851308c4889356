// npm run bench:scx: tsland on the kernel's real sched_ext against the kernel's own scheduler (EEVDF), in one
// boot of a sched_ext machine (the guest, src/guest; `tsland guest setup` once). What runs inside is
// bench/scx/inside.ts. Prints one table and writes bench/results/scx.json.
//
// Under software emulation (no KVM) absolute times mean nothing: every figure here is either a ratio
// between the two schedulers of the same boot, a share, a count, or tsland's CPU per decision against the
// scheduler core's own, measured in the same guest.
//
// Usage: npm run bench:scx [-- --seconds 20] [--storm-seconds 60] [--settle-seconds 30] [--policy rustland]
//                           [--mem-mib 2048]

import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { guestAvailability } from '../src/guest/availability.js';
import { runInGuest } from '../src/guest/launch.js';
import type { InsideResult } from './scx/inside.js';
import { CAPTURE_FILE, nativeFigure, type NativeFigure } from './scx/replay.js';
import { worstClassError, type HogRun } from './scx/hogs.js';

const INSIDE = fileURLToPath(new URL('./scx/inside.js', import.meta.url));
const GUEST_CPUS = 2;

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
  const seconds = positive('seconds', 20);
  const stormSeconds = positive('storm-seconds', 60);
  const memMiB = positive('mem-mib', 2048);
  const settleSeconds = positive('settle-seconds', 30);
  const policy = arg('policy', 'rustland');
  const avail = guestAvailability();
  if (!avail.ok) {
    console.error(`bench:scx: needs a sched_ext machine; ${avail.reason}`);
    process.exit(2);
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
      ],
      cpus: GUEST_CPUS,
      memMiB,
      timeoutMs: 90 * 60_000,
      // The guest's own /tmp is private: the result comes back through the working directory, which the
      // guest sees (writable) at the same path.
      cwd: dir,
      onStdout: (b) => process.stdout.write(b),
      onStderr: (b) => process.stderr.write(b),
    });
    if (r.code !== 0) throw new Error(`the guest run failed with status ${r.code}${r.timedOut ? ' (timed out)' : ''}`);
    const res = JSON.parse(readFileSync(outFile, 'utf8')) as InsideResult;
    const captureFile = join(dir, CAPTURE_FILE);
    let native: NativeFigure | null = null;
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
  const rows: [string, string, string, string][] = [
    ['figure', 'EEVDF', 'tsland', 'target (tsland)'],
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
      `fork storm ${res.stormSeconds} s: page faults / GCs on the scheduler thread`,
      '-',
      `${t.storm.pageFaults} / ${t.storm.gcEvents} (${t.storm.forks} forks, ${t.storm.userDispatches} user dispatches, ${t.storm.rescues} rescues)`,
      '0 / 0',
    ],
  ];
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
  console.log('');
  for (const r of rows) console.log(r.map((x, c) => x.padEnd(widths[c]!)).join('  '));
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
      stormPageFaults: t.storm.pageFaults,
      stormGcEvents: t.storm.gcEvents,
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
