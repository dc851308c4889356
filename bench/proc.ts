// bench:proc - the same process trees under the kernel's scheduler and under `tsland run`, in one run:
//   hogs   8 counting CPU hogs + a 2 ms sleeper probe on 2 CPUs: Jain's index, total work, probe lateness
//   nice   6 hogs, two each at nice 0, 5 and 10: each class's share of the work against its weight share
//   spin   100 shell busy loops under tsland: tsland's own CPU use, page faults and GCs of its scheduler
//          thread after warm-up (from its stats line)
// Usage: node dist/bench/proc.js [--seconds 20] [--spin-seconds 20] [--tasks 100] [--autogroup-nice N]
//
// Each tree runs in a session of its own, so it is one autogroup that competes with the rest of the
// machine as one. On a shared machine, --autogroup-nice -10 gives that group more weight than its
// neighbours, so that what is measured is how the tree is scheduled, not how busy the neighbours are
// (kernel and tsland runs get the same treatment).

import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const CLI = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));
const TREE = fileURLToPath(new URL('./proc/tree.js', import.meta.url));
const RESULTS = fileURLToPath(new URL('../../bench/results/proc.json', import.meta.url));
const HOG_SOURCE = fileURLToPath(new URL('../../bench/proc/hog.c', import.meta.url));
const USER_HZ = 100;
const WARMUP_SECONDS = 5;
/**
 * The scheduler thread's faults and GCs are counted from here: past its warm-up, which ends when the
 * process stops compiling new code 12 s in (src/backends/proc/thread/worker.ts), as in the soak.
 */
const FAULT_WARMUP_SECONDS = 13;
const SAMPLE_MS = 500;
/** Weights of nice 0, 5, 10 in the kernel's table (sched_prio_to_weight). */
const NICE_WEIGHT: Record<number, number> = { 0: 1024, 5: 335, 10: 110 };

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
}

const seconds = arg('seconds', 20);
const spinSeconds = arg('spin-seconds', 20);
const spinTasks = arg('tasks', 100);
const autogroupNice = arg('autogroup-nice', 0);
const loadAtStart = loadavg()[0]!;
/** The nice classes are measured from this far into the run: rustland's exec-runtime term favours light hogs at first. */
const niceWarmupS = Math.floor(seconds / 2);
const stateDir = mkdtempSync(join(tmpdir(), 'tsland-bench-proc-'));

/** Builds the C hog; without a compiler the tree falls back to a JS hog (counts then vary with the JIT). */
function buildHog(): string | undefined {
  const out = join(stateDir, 'hog');
  try {
    execFileSync('gcc', ['-O1', '-o', out, HOG_SOURCE], { stdio: 'ignore' });
    return out;
  } catch {
    console.log('gcc not found: using the JS hog, whose iteration counts are noisier');
    return undefined;
  }
}
const hogBinary = buildHog();

interface HogReport {
  nice: number;
  count?: number;
  cpuUs?: number;
  cpuAfterWarmupUs?: number;
  probe?: boolean;
  p50Us?: number;
  p99Us?: number;
  maxUs?: number;
  samples?: number;
}

interface RunResult {
  reports: HogReport[];
  stderr: string;
  /** tsland's CPU time after warm-up, as a fraction of one core; per thread too. */
  cpuShare?: number;
  busiestThreadShare?: number;
  guardianCpuShare?: number;
}

function guardianPid(schedulerPid: number): number {
  try {
    return (JSON.parse(readFileSync(join(stateDir, `${schedulerPid}.run.json`), 'utf8')) as { guardianPid: number }).guardianPid;
  } catch {
    return -1;
  }
}

function procTicks(path: string): number {
  try {
    const text = readFileSync(path, 'utf8');
    const f = text.slice(text.lastIndexOf(')') + 2).split(' ');
    return Number(f[11]) + Number(f[12]);
  } catch {
    return NaN;
  }
}

function threadTicks(pid: number): Map<string, number> {
  const out = new Map<string, number>();
  try {
    for (const tid of readdirSync(`/proc/${pid}/task`)) out.set(tid, procTicks(`/proc/${pid}/task/${tid}/stat`));
  } catch {
    // gone
  }
  return out;
}

/** Runs the tree directly (kernel) or under tsland; samples tsland's CPU between warm-up and the end. */
function runTree(treeArgs: string[], underTsland: boolean): Promise<RunResult> {
  const cmd = underTsland
    ? [CLI, 'run', '--cpus', '0-1', '--stats', '1', '--no-stats-server', '--', process.execPath, TREE, ...treeArgs]
    : [TREE, ...treeArgs];
  const child = spawn(process.execPath, cmd, {
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: {
      ...process.env,
      TSLAND_STATE_DIR: stateDir,
      TSLAND_STATS_DIR: stateDir,
      ...(hogBinary ? { TSLAND_BENCH_HOG: hogBinary } : {}),
    },
  });
  let out = '';
  let err = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d));
  const pid = child.pid!;
  if (autogroupNice !== 0) writeFileSync(`/proc/${pid}/autogroup`, String(autogroupNice));
  const samples: { atMs: number; ticks: number; guardianTicks: number; threads: Map<string, number> }[] = [];
  const sample = (): void => {
    const guardian = guardianPid(pid);
    samples.push({
      atMs: Date.now(),
      ticks: procTicks(`/proc/${pid}/stat`),
      guardianTicks: guardian > 0 ? procTicks(`/proc/${guardian}/stat`) : NaN,
      threads: threadTicks(pid),
    });
  };
  // Sampled every half second while it runs; the figure is taken between warm-up and the last sample.
  const startMs = Date.now();
  const timers = underTsland ? [setInterval(sample, SAMPLE_MS)] : [];
  return new Promise((resolve, reject) => {
    child.once('exit', (code) => {
      timers.forEach(clearInterval);
      const usable = samples.filter((x) => Number.isFinite(x.ticks) && x.atMs - startMs >= WARMUP_SECONDS * 1000);
      samples.length = 0;
      if (usable.length >= 2) samples.push(usable[0]!, usable.at(-1)!);
      const line = out.trim().split('\n').at(-1) ?? '';
      if (code !== 0 || !line.startsWith('{')) {
        reject(new Error(`tree ${treeArgs.join(' ')} (tsland: ${underTsland}) exited ${code}: ${err.slice(-2000)}`));
        return;
      }
      const result: RunResult = { reports: (JSON.parse(line) as { reports: HogReport[] }).reports, stderr: err };
      if (samples.length === 2) {
        const [a, b] = samples as [(typeof samples)[0], (typeof samples)[0]];
        const wallS = (b.atMs - a.atMs) / 1000;
        result.cpuShare = (b.ticks - a.ticks) / USER_HZ / wallS;
        result.guardianCpuShare = (b.guardianTicks - a.guardianTicks) / USER_HZ / wallS;
        let busiest = 0;
        for (const [tid, t1] of b.threads) busiest = Math.max(busiest, t1 - (a.threads.get(tid) ?? t1));
        result.busiestThreadShare = busiest / USER_HZ / wallS;
      }
      resolve(result);
    });
  });
}

function jain(xs: number[]): number {
  const sum = xs.reduce((a, b) => a + b, 0);
  const sq = xs.reduce((a, b) => a + b * b, 0);
  return (sum * sum) / (xs.length * sq);
}

/** pf= and gc= of the stats line at warm-up and of the last line: their growth after warm-up. */
function faultsAfterWarmup(stderr: string): { pageFaults: number; gcEvents: number; lines: number } {
  const lines = stderr.split('\n').filter((l) => l.startsWith('[tsland]'));
  const read = (l: string | undefined, key: string): number => Number(new RegExp(`${key}=(\\d+)`).exec(l ?? '')?.[1] ?? NaN);
  const first = lines[Math.min(FAULT_WARMUP_SECONDS, lines.length - 1)];
  const last = lines.at(-1);
  return {
    pageFaults: read(last, 'pf') - read(first, 'pf'),
    gcEvents: read(last, 'gc') - read(first, 'gc'),
    lines: lines.length,
  };
}

/** Each nice class's share of the hogs' CPU time, against its share of the total weight. */
function classShares(reports: HogReport[]): Record<string, { share: number; weightShare: number; error: number }> {
  const cpu = (r: HogReport): number => r.cpuAfterWarmupUs ?? r.cpuUs ?? 0;
  const total = reports.reduce((a, r) => a + cpu(r), 0);
  const totalWeight = reports.reduce((a, r) => a + NICE_WEIGHT[r.nice]!, 0);
  const out: Record<string, { share: number; weightShare: number; error: number }> = {};
  for (const nice of [0, 5, 10]) {
    const members = reports.filter((r) => r.nice === nice);
    const share = members.reduce((a, r) => a + cpu(r), 0) / total;
    const weightShare = (members.length * NICE_WEIGHT[nice]!) / totalWeight;
    out[`nice${nice}`] = { share, weightShare, error: Math.abs(share - weightShare) / weightShare };
  }
  return out;
}

async function main(): Promise<void> {
  console.log(
    `bench:proc  ${cpus().length} CPUs, Node ${process.version}, ${seconds} s per run (spin ${spinSeconds} s),` +
      ` nice shares from ${niceWarmupS} s on, autogroup nice ${autogroupNice}, load average ${loadAtStart.toFixed(1)}`,
  );
  const hogsArgs = ['hogs', '8', String(seconds), 'probe'];
  const kernelHogs = await runTree(hogsArgs, false);
  const tslandHogs = await runTree(hogsArgs, true);
  const niceArgs = ['nice', String(seconds), String(niceWarmupS)];
  const kernelNice = await runTree(niceArgs, false);
  const tslandNice = await runTree(niceArgs, true);
  const spin = await runTree(['spin', String(spinTasks), String(spinSeconds)], true);

  const hogStats = (r: RunResult) => {
    const hogs = r.reports.filter((x) => !x.probe && x.count !== undefined);
    const lost = r.reports.filter((x) => !x.probe && x.count === undefined);
    if (lost.length > 0) console.log(`warning: ${lost.length} hog(s) gave no report: ${JSON.stringify(lost)}`);
    const probe = r.reports.find((x) => x.probe)!;
    return {
      jain: jain(hogs.map((h) => h.cpuUs!)),
      work: hogs.reduce((a, h) => a + h.count!, 0),
      probeP50Us: probe.p50Us!,
      probeP99Us: probe.p99Us!,
      probeMaxUs: probe.maxUs!,
      probeSamples: probe.samples!,
    };
  };
  const k = hogStats(kernelHogs);
  const t = hogStats(tslandHogs);
  const kn = classShares(kernelNice.reports);
  const tn = classShares(tslandNice.reports);
  const health = faultsAfterWarmup(spin.stderr);
  const hogHealth = faultsAfterWarmup(tslandHogs.stderr);

  const rows: [string, string, string, string][] = [
    ['8 hogs: Jain index of CPU time', k.jain.toFixed(4), t.jain.toFixed(4), '>= 0.98 (tsland)'],
    [
      '8 hogs: work (G iterations)',
      (k.work / 1e9).toFixed(2),
      (t.work / 1e9).toFixed(2),
      `tsland/kernel ${(t.work / k.work).toFixed(3)} (>= 0.95)`,
    ],
    ['probe 2 ms: p50 late (us)', k.probeP50Us.toFixed(0), t.probeP50Us.toFixed(0), ''],
    [
      'probe 2 ms: p99 late (us)',
      k.probeP99Us.toFixed(0),
      t.probeP99Us.toFixed(0),
      `tsland/kernel ${(t.probeP99Us / k.probeP99Us).toFixed(3)} (<= 0.5)`,
    ],
    ['probe 2 ms: max late (us)', k.probeMaxUs.toFixed(0), t.probeMaxUs.toFixed(0), ''],
    ...(['nice0', 'nice5', 'nice10'] as const).map((c): [string, string, string, string] => [
      `nice: ${c} share after ${niceWarmupS} s (weight ${(tn[c]!.weightShare * 100).toFixed(1)}%)`,
      `${(kn[c]!.share * 100).toFixed(1)}%`,
      `${(tn[c]!.share * 100).toFixed(1)}%`,
      `tsland off by ${(tn[c]!.error * 100).toFixed(1)}% (<= 10%)`,
    ]),
    [
      `tsland CPU, ${spinTasks} spinning tasks`,
      '-',
      `${((spin.cpuShare ?? NaN) * 100).toFixed(2)}% of a core`,
      `busiest thread ${((spin.busiestThreadShare ?? NaN) * 100).toFixed(2)}% (<= 3%)`,
    ],
    [`guardian CPU, ${spinTasks} spinning tasks`, '-', `${((spin.guardianCpuShare ?? NaN) * 100).toFixed(2)}% of a core`, ''],
    ['tsland CPU, 8 hogs + probe', '-', `${((tslandHogs.cpuShare ?? NaN) * 100).toFixed(2)}% of a core`, ''],
    [
      `scheduler thread after ${FAULT_WARMUP_SECONDS} s: faults / GCs (${spinTasks} tasks)`,
      '-',
      `${health.pageFaults} / ${health.gcEvents}`,
      '0 / 0',
    ],
    [
      `scheduler thread after ${FAULT_WARMUP_SECONDS} s: faults / GCs (8 hogs)`,
      '-',
      `${hogHealth.pageFaults} / ${hogHealth.gcEvents}`,
      '0 / 0',
    ],
  ];
  const width = [0, 1, 2, 3].map((i) =>
    Math.max(...rows.map((r) => r[i]!.length), ['measure', 'kernel', 'tsland', 'target'][i]!.length),
  );
  const fmt = (r: string[]): string => r.map((c, i) => c.padEnd(width[i]!)).join('  ');
  console.log(fmt(['measure', 'kernel', 'tsland', 'target']));
  for (const r of rows) console.log(fmt(r));

  const json = {
    benchmark: 'proc',
    date: new Date().toISOString(),
    machine: { cpus: cpus().length, node: process.version },
    seconds,
    niceWarmupS,
    autogroupNice,
    loadAverageAtStart: loadAtStart,
    spinSeconds,
    spinTasks,
    hogs: { kernel: k, tsland: t, workRatio: t.work / k.work, p99Ratio: t.probeP99Us / k.probeP99Us },
    nice: { kernel: kn, tsland: tn },
    overhead: {
      spinCpuShare: spin.cpuShare,
      spinBusiestThreadShare: spin.busiestThreadShare,
      spinGuardianCpuShare: spin.guardianCpuShare,
      hogsCpuShare: tslandHogs.cpuShare,
    },
    schedulerThreadAfterWarmup: { spin: health, hogs: hogHealth },
  };
  mkdirSync(fileURLToPath(new URL('../../bench/results/', import.meta.url)), { recursive: true });
  writeFileSync(RESULTS, JSON.stringify(json, null, 2) + '\n');
  console.log(`wrote ${RESULTS}`);
}

try {
  await main();
} finally {
  rmSync(stateDir, { recursive: true, force: true });
}
