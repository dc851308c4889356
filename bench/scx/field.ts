// The benchmarks the field judges schedulers by, run inside the guest under whichever scheduler is loaded:
//   - hackbench (rt-tests): groups of senders and receivers over pipes; its completion time;
//   - wake-up latency: cyclictest (SCHED_OTHER, so the scheduler under test places it) with no load and
//     among 8 CPU hogs; percentiles from its histogram;
//   - a parallel build (`make -j` over the soak's generated C project); wall time.
// Absolute times in a software-emulated guest mean nothing: bench/scx.ts reports each as a ratio to EEVDF's
// in the same boot.

import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { generateProject } from '../../soak/project.js';

export interface Latency {
  samples: number;
  p50Us: number;
  p99Us: number;
  maxUs: number;
  /** Samples past the histogram (counted in p99 as past its end). */
  overflows: number;
}

export interface FieldRun {
  /** hackbench wall seconds per repetition, and their median. */
  hackbenchS: number[];
  hackbenchMedianS: number;
  latencyIdle: Latency;
  latencyHogs: Latency;
  buildS: number;
}

export interface FieldOptions {
  /** cyclictest duration per load, s. */
  latencySeconds: number;
  hackbenchReps: number;
  /** hackbench -g (groups of 20 tasks) and -l (messages per sender). */
  hackbenchGroups: number;
  hackbenchLoops: number;
  buildFiles: number;
  say: (line: string) => void;
}

export const FIELD_DEFAULTS: Omit<FieldOptions, 'say'> = {
  latencySeconds: 15,
  hackbenchReps: 3,
  hackbenchGroups: 4,
  hackbenchLoops: 100,
  buildFiles: 20,
};

/**
 * One figure per workload from a scheduler's two visits (bench:scx runs its order forward, then back):
 * the mean of each, the larger maximum; a scheduler visited once (the other visit failed) keeps its own.
 */
export function meanOfVisits(a: FieldRun, b: FieldRun | null | undefined): FieldRun {
  if (!b) return a;
  const lat = (x: Latency, y: Latency): Latency => ({
    samples: x.samples + y.samples,
    p50Us: (x.p50Us + y.p50Us) / 2,
    p99Us: (x.p99Us + y.p99Us) / 2,
    maxUs: Math.max(x.maxUs, y.maxUs),
    overflows: x.overflows + y.overflows,
  });
  return {
    hackbenchS: [...a.hackbenchS, ...b.hackbenchS],
    hackbenchMedianS: (a.hackbenchMedianS + b.hackbenchMedianS) / 2,
    latencyIdle: lat(a.latencyIdle, b.latencyIdle),
    latencyHogs: lat(a.latencyHogs, b.latencyHogs),
    buildS: (a.buildS + b.buildS) / 2,
  };
}

/** The histogram's end: latencies past it are overflows (100 ms; emulated guests see tens of ms). */
const HISTOGRAM_US = 100_000;
const HOG = 'while :; do :; done';

function run(
  cmd: string,
  args: string[],
  opts: { cwd?: string } = {},
): Promise<{ code: number | null; out: string; err: string; wallS: number }> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn(cmd, args, { cwd: opts.cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    child.once('error', reject);
    child.once('close', (code) =>
      resolve({
        code,
        out: Buffer.concat(out).toString(),
        err: Buffer.concat(err).toString(),
        wallS: (performance.now() - t0) / 1000,
      }),
    );
  });
}

/** Percentiles from cyclictest's histogram output (`-h N`: one "bucket count [count...]" line per microsecond). */
export function parseCyclictestHistogram(text: string): Latency {
  const counts: number[] = [];
  let overflows = 0;
  let maxUs = 0;
  for (const line of text.split('\n')) {
    if (line.startsWith('# Histogram Overflows:')) {
      overflows = line
        .slice(line.indexOf(':') + 1)
        .trim()
        .split(/\s+/)
        .reduce((a, x) => a + Number(x), 0);
    } else if (line.startsWith('# Max Latencies:')) {
      maxUs = Math.max(
        ...line
          .slice(line.indexOf(':') + 1)
          .trim()
          .split(/\s+/)
          .map(Number),
      );
    } else if (/^\d+(\s+\d+)+\s*$/.test(line)) {
      const [bucket, ...per] = line.trim().split(/\s+/).map(Number);
      counts[bucket!] = per.reduce((a, x) => a + x, 0);
    }
  }
  const inHistogram = counts.reduce((a, x) => a + (x ?? 0), 0);
  const samples = inHistogram + overflows;
  if (samples === 0) throw new Error('cyclictest printed no histogram');
  const pct = (p: number): number => {
    const want = Math.ceil(samples * p);
    let seen = 0;
    for (let us = 0; us < counts.length; us++) {
      seen += counts[us] ?? 0;
      if (seen >= want) return us;
    }
    return Math.max(counts.length, maxUs); // past the histogram: the best bound known is the max
  };
  return { samples, p50Us: pct(0.5), p99Us: pct(0.99), maxUs, overflows };
}

async function cyclictest(seconds: number): Promise<Latency> {
  const r = await run('cyclictest', ['-q', '-m', '-t', '1', '-i', '1000', '-D', String(seconds), '-h', String(HISTOGRAM_US)]);
  if (r.code !== 0) throw new Error(`cyclictest exited with ${r.code}: ${r.err.trim().split('\n').pop()}`);
  return parseCyclictestHistogram(r.out);
}

async function withHogs<T>(n: number, fn: () => Promise<T>): Promise<T> {
  const hogs = Array.from({ length: n }, () => spawn('sh', ['-c', HOG], { stdio: 'ignore' }));
  try {
    return await fn();
  } finally {
    for (const h of hogs) h.kill('SIGKILL');
    await Promise.all(
      hogs.map((h) => (h.exitCode !== null || h.signalCode !== null ? null : new Promise((r) => h.once('exit', r)))),
    );
  }
}

/** hackbench's own "Time: S" line, else the wall time. */
function hackbenchSeconds(out: string, wallS: number): number {
  const m = /^Time:\s*([\d.]+)/m.exec(out);
  return m ? Number(m[1]) : wallS;
}

export async function runField(o: FieldOptions): Promise<FieldRun> {
  const hackbenchS: number[] = [];
  for (let i = 0; i < o.hackbenchReps; i++) {
    const r = await run('hackbench', ['-p', '-g', String(o.hackbenchGroups), '-l', String(o.hackbenchLoops)]);
    if (r.code !== 0) throw new Error(`hackbench exited with ${r.code}: ${r.err.trim().split('\n').pop()}`);
    hackbenchS.push(hackbenchSeconds(r.out, r.wallS));
  }
  const sorted = [...hackbenchS].sort((a, b) => a - b);
  o.say(`  hackbench: ${hackbenchS.map((s) => s.toFixed(2)).join(' / ')} s`);
  const latencyIdle = await cyclictest(o.latencySeconds);
  const latencyHogs = await withHogs(8, () => cyclictest(o.latencySeconds));
  o.say(`  cyclictest p99: ${latencyIdle.p99Us} us idle, ${latencyHogs.p99Us} us among 8 hogs`);
  const dir = mkdtempSync(join(os.tmpdir(), 'tsland-field-build-'));
  try {
    generateProject(dir, o.buildFiles);
    const b = await run('make', ['-s', '-C', dir, `-j${os.cpus().length * 2}`, 'rebuild']);
    if (b.code !== 0) throw new Error(`make exited with ${b.code}: ${b.err.trim().split('\n').pop()}`);
    o.say(`  build: ${b.wallS.toFixed(1)} s`);
    return { hackbenchS, hackbenchMedianS: sorted[Math.floor(sorted.length / 2)]!, latencyIdle, latencyHogs, buildS: b.wallS };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
