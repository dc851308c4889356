// The benchmark's workload, one process tree, run as is (kernel) or under `tsland run` (the same tree):
//   node tree.js hogs N SECONDS [probe]     N counting hogs, and optionally the 2 ms sleeper probe
//   node tree.js nice SECONDS [WARMUP]      six hogs, two each at nice 0, 5 and 10 (CPU also counted
//                                           from WARMUP seconds on)
//   node tree.js spin N SECONDS             N shell busy loops (cheap tasks, for the overhead figure)
// Prints one JSON line: every child's report (and its nice value), once all have exited.

import { spawn } from 'node:child_process';
import { setPriority } from 'node:os';
import { fileURLToPath } from 'node:url';

const NODE_HOG = fileURLToPath(new URL('./hog.js', import.meta.url));
/** The compiled C hog when the benchmark built one (counts then measure work, not a JIT's mood). */
const C_HOG = process.env.TSLAND_BENCH_HOG;
const hog = (seconds: string, warmup = '0'): [string, string[]] =>
  C_HOG ? [C_HOG, [seconds, warmup]] : [process.execPath, [NODE_HOG, seconds]];
const PROBE = fileURLToPath(new URL('./probe.js', import.meta.url));

interface Report {
  nice: number;
  [key: string]: unknown;
}

function child(cmd: string, args: string[], nice: number): Promise<Report> {
  return new Promise((resolve) => {
    const p = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'inherit'] });
    // Nice is set by the parent right after fork; the hog spends its first microseconds at nice 0.
    if (nice !== 0) setPriority(p.pid!, nice);
    let out = '';
    p.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
    // 'close', not 'exit': the report may still be in the pipe when the process has exited.
    p.once('close', (code, signal) => {
      const line = out.trim().split('\n').at(-1) ?? '';
      let report: object = {};
      try {
        report = JSON.parse(line) as object;
      } catch {
        // Reported below with how the child ended.
      }
      resolve({ nice, exit: signal ?? code, ...report });
    });
  });
}

const [mode = 'hogs', ...rest] = process.argv.slice(2);
const jobs: Promise<Report>[] = [];
if (mode === 'hogs') {
  const [n = '8', seconds = '5', probe] = rest;
  for (let i = 0; i < Number(n); i++) jobs.push(child(...hog(seconds), 0));
  if (probe === 'probe') jobs.push(child(process.execPath, [PROBE, seconds, '2'], 0));
} else if (mode === 'nice') {
  const [seconds = '5', warmup = '0'] = rest;
  for (const nice of [0, 0, 5, 5, 10, 10]) jobs.push(child(...hog(seconds, warmup), nice));
} else if (mode === 'spin') {
  const [n = '100', seconds = '5'] = rest;
  for (let i = 0; i < Number(n); i++) {
    const p = spawn('sh', ['-c', 'while :; do :; done'], { stdio: 'ignore' });
    jobs.push(new Promise((resolve) => p.once('exit', () => resolve({ nice: 0 }))));
    setTimeout(() => p.kill('SIGKILL'), Number(seconds) * 1000);
  }
}
const reports = await Promise.all(jobs);
process.stdout.write(JSON.stringify({ mode, reports }) + '\n');
