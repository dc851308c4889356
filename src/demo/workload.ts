// The demo's embedded workload, one program with three roles, so that the very same process tree runs
// first under the kernel's scheduler and then under tsland:
//
//   mix    starts the hogs and the probe, waits for them, writes their results as JSON to --out
//   hog    burns CPU in fixed chunks of integer work during the common window, at its own
//          nice value, then prints {chunks, cpuMs}
//   probe  sleeps --period-us again and again and records how late each wake-up was: what an interactive
//          task (a UI thread, an audio callback) feels
//
// Every child reports "ready" once started, and the mix then hands all of them the same window on stdin, so
// process start-up (and, under tsland, adoption) is not measured; all work and lateness is counted in the
// same window. The mix prints "window <startAtMs> <endAtMs>" so its caller can sample its own counters.

import { spawn } from 'node:child_process';
import { readSync, writeFileSync } from 'node:fs';
import { setPriority } from 'node:os';
import { fileURLToPath } from 'node:url';
import { USEC_PER_MSEC } from '../base/units.js';

export interface HogResult {
  nice: number;
  pid: number;
  chunks: number;
  cpuMs: number;
}

export interface ProbeResult {
  periodUs: number;
  /** How late each wake-up was, µs, in order. */
  latenessUs: number[];
  /** When each sleep began, ms after the window opened. */
  atMs: number[];
}

export interface MixResult {
  startAtMs: number;
  endAtMs: number;
  hogs: HogResult[];
  probe: ProbeResult;
}

const SELF = fileURLToPath(import.meta.url);
const CHUNK_ITERATIONS = 50_000;
const MAX_PROBE_SAMPLES = 1_000_000;

function arg(argv: string[], name: string, fallback?: string): string {
  const i = argv.indexOf(`--${name}`);
  const v = i >= 0 ? argv[i + 1] : fallback;
  if (v === undefined) throw new Error(`workload: missing --${name}`);
  return v;
}

/** Says ready, then blocks until the mix writes "<startAtMs> <endAtMs>\n" on stdin. */
function awaitWindow(): [number, number] {
  process.stdout.write('ready\n');
  const buf = Buffer.alloc(64);
  let text = '';
  while (!text.includes('\n')) {
    const n = readSync(0, buf, 0, buf.length, null);
    if (n === 0) throw new Error('workload: no window on stdin');
    text += buf.toString('utf8', 0, n);
  }
  const [startAt, endAt] = text.trim().split(' ').map(Number) as [number, number];
  return [startAt, endAt];
}

const sleepWord = new Int32Array(new SharedArrayBuffer(4));
function sleepMs(ms: number): void {
  if (ms > 0) Atomics.wait(sleepWord, 0, 0, ms);
}

function hog(argv: string[]): void {
  const nice = Number(arg(argv, 'nice', '0'));
  setPriority(0, nice);
  const [startAt, endAt] = awaitWindow();
  sleepMs(startAt - Date.now());
  const cpu0 = process.cpuUsage();
  let chunks = 0;
  let x = 0x2545f491;
  while (Date.now() < endAt) {
    for (let i = 0; i < CHUNK_ITERATIONS; i++) {
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
    }
    chunks++;
  }
  const cpu = process.cpuUsage(cpu0);
  // x is printed so the loop cannot be optimised away.
  process.stdout.write(
    JSON.stringify({ nice, pid: process.pid, chunks, cpuMs: (cpu.user + cpu.system) / USEC_PER_MSEC, x }) + '\n',
  );
}

function probe(argv: string[]): void {
  const periodUs = Number(arg(argv, 'period-us', '2000'));
  const [startAt, endAt] = awaitWindow();
  const periodMs = periodUs / USEC_PER_MSEC;
  const lateness = new Float64Array(MAX_PROBE_SAMPLES);
  const at = new Float64Array(MAX_PROBE_SAMPLES);
  sleepMs(startAt - Date.now());
  const origin = performance.now() - (Date.now() - startAt);
  let n = 0;
  while (Date.now() < endAt && n < MAX_PROBE_SAMPLES) {
    const t0 = performance.now();
    Atomics.wait(sleepWord, 0, 0, periodMs);
    const t1 = performance.now();
    lateness[n] = Math.max(0, (t1 - t0 - periodMs) * USEC_PER_MSEC);
    at[n] = t0 - origin;
    n++;
  }
  const out: ProbeResult = {
    periodUs,
    latenessUs: Array.from(lateness.subarray(0, n), (v) => Math.round(v)),
    atMs: Array.from(at.subarray(0, n), (v) => Math.round(v)),
  };
  process.stdout.write(JSON.stringify(out) + '\n');
}

interface Child {
  ready: Promise<void>;
  result: Promise<unknown>;
  start(startAtMs: number, endAtMs: number): void;
  kill(): void;
}

function startChild(role: string, args: string[]): Child {
  const child = spawn(process.execPath, [SELF, role, ...args], { stdio: ['pipe', 'pipe', 'inherit'] });
  let out = '';
  let markReady!: () => void;
  const ready = new Promise<void>((res) => (markReady = res));
  child.stdout.setEncoding('utf8').on('data', (d: string) => {
    out += d;
    if (out.startsWith('ready\n')) markReady();
  });
  const result = new Promise<unknown>((resolve, reject) => {
    child.once('error', reject);
    // 'close', not 'exit': only then has everything the child wrote been read from its pipe.
    child.once('close', (code, signal) => {
      if (code !== 0) return reject(new Error(`workload ${role} exited with ${code ?? signal}`));
      const last = out.trimEnd().split('\n').at(-1) ?? '';
      try {
        resolve(JSON.parse(last));
      } catch {
        reject(new Error(`workload ${role} printed no result (got ${JSON.stringify(out.slice(0, 200))})`));
      }
    });
  });
  return { ready, result, start: (a, b) => child.stdin.end(`${a} ${b}\n`), kill: () => child.kill('SIGTERM') };
}

/** Lead time between handing out the window and its start, so every child is waiting when it opens. */
const WINDOW_LEAD_MS = 100;

async function mix(argv: string[]): Promise<void> {
  const seconds = Number(arg(argv, 'seconds'));
  const nices = arg(argv, 'nices').split(',').map(Number);
  const children = [
    startChild('probe', ['--period-us', arg(argv, 'period-us', '2000')]),
    ...nices.map((nice) => startChild('hog', ['--nice', String(nice)])),
  ];
  // Stopped by the demo (Ctrl-C, or the run being torn down): take the hogs and the probe along.
  const stop = () => {
    for (const c of children) c.kill();
    process.exit(1);
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
  await Promise.all(children.map((c) => c.ready));
  const startAtMs = Date.now() + WINDOW_LEAD_MS;
  const endAtMs = startAtMs + seconds * 1000;
  process.stdout.write(`window ${startAtMs} ${endAtMs}\n`);
  for (const c of children) c.start(startAtMs, endAtMs);
  const [probeResult, ...hogs] = (await Promise.all(children.map((c) => c.result))) as [ProbeResult, ...HogResult[]];
  const result: MixResult = {
    startAtMs,
    endAtMs,
    hogs: hogs.map(({ nice, pid, chunks, cpuMs }) => ({ nice, pid, chunks, cpuMs })),
    probe: probeResult,
  };
  writeFileSync(arg(argv, 'out'), JSON.stringify(result));
}

export const WORKLOAD_SCRIPT = SELF;

if (process.argv[1] === SELF) {
  const [role, ...rest] = process.argv.slice(2);
  if (role === 'hog') hog(rest);
  else if (role === 'probe') probe(rest);
  else if (role === 'mix') {
    mix(rest).catch((err: unknown) => {
      process.stderr.write(`${(err as Error).message}\n`);
      process.exitCode = 1;
    });
  } else {
    process.stderr.write('usage: workload.js mix --seconds S --nices LIST --out FILE | hog --nice N | probe --period-us N\n');
    process.exitCode = 2;
  }
}
