// Benchmark: does serving stats cost the scheduler anything? The same scheduler loop (a real core with the
// rustland policy, stepping every millisecond in a worker) runs three ways, side by side in one run:
//
//   none        no stats at all: the floor
//   off-thread  tsland's design: the stats server on the main thread, 100 clients (another process, as
//               tsland top would be) asking for stats and tasks every 100 ms each
//   inline      the stats formatted on the scheduling thread itself every 10 ms, as an exporter in the loop
//
// For each: the scheduler thread's step gaps (the 1 ms sleep plus whatever held it up; p50, p99, p99.9, max)
// and its GC events; for off-thread also the requests served. Writes bench/results/stats.json.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir, cpus, release } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { createCounters } from '../src/base/counters.js';
import { TaskTableReader, type TaskSlabsInfo } from '../src/sched/index.js';
import { startStatsServer } from '../src/stats/server.js';
import type { LoopConfig, LoopResult } from './stats/loop.js';

const SECONDS = Number(process.env.BENCH_STATS_SECONDS ?? 10);
const TASKS = 1000;
const CLIENTS = 100;
const POLL_MS = 100;
const FORMAT_MS = 10;

function pct(sorted: number[], p: number): number {
  return sorted.length ? sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]! : NaN;
}

interface Row {
  peer: string;
  steps: number;
  gapP50Us: number;
  gapP99Us: number;
  gapP999Us: number;
  gapMaxUs: number;
  gcEvents: number;
  requests: number;
}

async function runPeer(mode: LoopConfig['mode']): Promise<Row> {
  const counters = createCounters();
  const cfg: LoopConfig = { mode, countersSab: counters.sab, tasks: TASKS, seconds: SECONDS, formatMs: FORMAT_MS };
  const worker = new Worker(new URL('./stats/loop.js', import.meta.url), { workerData: cfg });
  const slabs = await new Promise<TaskSlabsInfo>((resolve) =>
    worker.once('message', (m: { info: TaskSlabsInfo }) => resolve(m.info)),
  );
  const done = new Promise<LoopResult>((resolve) =>
    worker.on('message', (m: { type: string; result: LoopResult }) => m.type === 'done' && resolve(m.result)),
  );
  let clients: ChildProcess | undefined;
  let clientOut = '';
  const dir = mkdtempSync(join(tmpdir(), 'tsland-bench-stats-'));
  let server: Awaited<ReturnType<typeof startStatsServer>> | undefined;
  if (mode === 'off-thread') {
    const reader = new TaskTableReader(slabs);
    server = await startStatsServer({
      counters,
      socketPath: join(dir, 'bench.sock'),
      tasks: () =>
        reader.list().map((r) => ({
          pid: r.pid,
          comm: 'task',
          weight: r.weight,
          vruntimeNs: r.vruntime,
          cpuTimeNs: r.cpuTimeNs,
          state: r.state,
          cpu: r.lastCpu,
        })),
    });
    clients = spawn(
      process.execPath,
      [fileURLToPath(new URL('./stats/clients.js', import.meta.url)), server.socketPath, String(CLIENTS), String(POLL_MS)],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    clients.stdout!.setEncoding('utf8').on('data', (d: string) => (clientOut += d));
  }
  const result = await done;
  let requests = 0;
  if (clients) {
    const exited = new Promise((r) => clients!.once('close', r));
    clients.kill('SIGTERM');
    await exited;
    requests = Number(clientOut.trim()) || 0;
  }
  await server?.close();
  await worker.terminate();
  rmSync(dir, { recursive: true, force: true });
  const g = result.gapsUs;
  return {
    peer:
      mode === 'none'
        ? 'no stats (floor)'
        : mode === 'off-thread'
          ? `tsland: server off-thread, ${CLIENTS} clients`
          : `inline: formatted in the loop every ${FORMAT_MS} ms`,
    steps: result.steps,
    gapP50Us: pct(g, 50),
    gapP99Us: pct(g, 99),
    gapP999Us: pct(g, 99.9),
    gapMaxUs: g.at(-1) ?? NaN,
    gcEvents: result.gcEvents,
    requests,
  };
}

const rows: Row[] = [];
for (const mode of ['none', 'off-thread', 'inline'] as const) {
  process.stderr.write(`stats bench: ${mode} (${SECONDS} s)\n`);
  rows.push(await runPeer(mode));
}
const fmt = (v: number) => (Number.isFinite(v) ? v.toFixed(0) : '-');
const head = ['peer', 'steps', 'gap p50 µs', 'gap p99 µs', 'gap p99.9 µs', 'gap max µs', 'scheduler GCs', 'requests served'];
const cells = rows.map((r) => [
  r.peer,
  String(r.steps),
  fmt(r.gapP50Us),
  fmt(r.gapP99Us),
  fmt(r.gapP999Us),
  fmt(r.gapMaxUs),
  String(r.gcEvents),
  String(r.requests),
]);
const widths = head.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)));
const line = (c: string[]) => c.map((x, i) => (i === 0 ? x.padEnd(widths[i]!) : x.padStart(widths[i]!))).join('  ');
process.stdout.write([line(head), line(widths.map((w) => '-'.repeat(w))), ...cells.map(line)].join('\n') + '\n');
mkdirSync(new URL('../../bench/results/', import.meta.url), { recursive: true });
const out = {
  date: new Date().toISOString(),
  machine: { cpus: cpus().length, node: process.version, kernel: release(), loadAverage1m: loadavg()[0] },
  config: { seconds: SECONDS, tasks: TASKS, clients: CLIENTS, pollMs: POLL_MS, formatMs: FORMAT_MS },
  rows,
};
writeFileSync(new URL('../../bench/results/stats.json', import.meta.url), JSON.stringify(out, null, 2) + '\n');
