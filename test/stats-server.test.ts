import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync, existsSync, writeFileSync } from 'node:fs';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { COUNTER_NAMES, C, createCounters } from '../src/base/counters.js';
import { startStatsServer, type StatsServer } from '../src/stats/server.js';
import { connectStats, connectStatsResilient, findInstances, requestStats } from '../src/stats/client.js';
import type { TaskRow } from '../src/stats/protocol.js';
import { healthBetween } from '../src/stats/sampler.js';
import { CONTROL_BYTES, CTL_STOP, GAP_MAX_NS, GAP_STEPS, controlViews } from './fixtures/control-layout.js';
import { TaskTableReader } from '../src/sched/reader.js';
import type { TaskSlabsInfo } from '../src/sched/api.js';

const dir = mkdtempSync(join(tmpdir(), 'tsland-stats-test-'));
const socketPath = join(dir, 'run', `${process.pid}.sock`);
const counters = createCounters(new SharedArrayBuffer(8 * COUNTER_NAMES.length));
const controlSab = new SharedArrayBuffer(CONTROL_BYTES);
const { ctl, gaps } = controlViews(controlSab);
let worker: Worker;
let server: StatsServer;
let reader: TaskTableReader | undefined;

/** The real task table of the scheduler stepping in the worker, as the stats server serves it. */
function liveTasks(): TaskRow[] {
  return (reader?.list() ?? []).map((r) => ({
    pid: r.pid,
    comm: `task-${r.pid}`,
    weight: r.weight,
    vruntimeNs: r.vruntime,
    cpuTimeNs: r.cpuTimeNs,
    state: r.state.slice(0, 1).toUpperCase(),
    cpu: r.lastCpu,
  }));
}

before(async () => {
  // A real scheduler core (rustland policy) stepping in a worker, as under `tsland run`.
  worker = new Worker(new URL('./fixtures/sched-stepper.js', import.meta.url), {
    workerData: { countersSab: counters.sab, controlSab },
  });
  const slabs = await new Promise<TaskSlabsInfo>((resolve) =>
    worker.once('message', (m: { info: TaskSlabsInfo }) => resolve(m.info)),
  );
  reader = new TaskTableReader(slabs);
  server = await startStatsServer({
    counters,
    socketPath,
    tasks: liveTasks,
    idleTimeoutMs: 400,
    sampleIntervalMs: 100,
    info: () => ({ policy: 'test' }),
  });
});

after(async () => {
  await server?.close();
  Atomics.store(ctl, CTL_STOP, 1);
  await worker?.terminate();
  rmSync(dir, { recursive: true, force: true });
});

/** Resolves once the counter-writing thread has done `n` more iterations: proof it kept dispatching. */
async function workerAdvances(n = 20): Promise<void> {
  const start = gaps[GAP_STEPS]!;
  const deadline = Date.now() + 10_000;
  while (gaps[GAP_STEPS]! < start + n) {
    assert.ok(Date.now() < deadline, 'scheduler thread stopped advancing');
    await new Promise((r) => setTimeout(r, 5));
  }
}

test('socket is private to its owner', () => {
  assert.equal(statSync(socketPath).mode & 0o777, 0o600);
  assert.equal(statSync(join(dir, 'run')).mode & 0o777, 0o700);
});

test('stats returns every counter and the health', async () => {
  await workerAdvances();
  const resp = await requestStats<{
    counters: Record<string, number>;
    health: { healthy: boolean; reason: string };
    info: Record<string, unknown>;
  }>(socketPath, 'stats');
  assert.deepEqual(Object.keys(resp.counters), [...COUNTER_NAMES]);
  assert.ok(resp.counters.nr_user_dispatches! > 0, 'the scheduler dispatched');
  assert.equal(resp.health.healthy, true, resp.health.reason);
  assert.equal(resp.info.policy, 'test');
  // Health judges one interval: faults, GCs, congestion or failed dispatches in it make it unhealthy.
  const a = { atMs: 0, values: Float64Array.from(counters.f64) };
  const b = { atMs: 1000, values: Float64Array.from(counters.f64) };
  b.values[C.nr_page_faults]! += 3;
  b.values[C.nr_failed_dispatches]! += 1;
  const h = healthBetween(a, b);
  assert.equal(h.healthy, false);
  assert.equal(h.reason, '3 page faults, 1 failed dispatch');
  assert.equal(healthBetween(b, { atMs: 2000, values: b.values }).healthy, true);
});

test('stats_meta describes every counter; tasks lists the rows; history has samples', async () => {
  const meta = await requestStats<{ counters: Record<string, { desc: string; kind: string }> }>(socketPath, 'stats_meta');
  for (const name of COUNTER_NAMES) assert.ok(meta.counters[name]?.desc, name);
  assert.equal(meta.counters.nr_user_dispatches!.kind, 'counter');
  const tasks = await requestStats<{ tasks: TaskRow[] }>(socketPath, 'tasks');
  assert.deepEqual(tasks.tasks.map((t) => t.pid).sort(), [1000, 1001, 1002, 1003, 1004, 1005, 1006, 1007]);
  assert.ok(
    tasks.tasks.some((t) => t.cpuTimeNs > 0),
    'tasks ran',
  );
  assert.ok(
    tasks.tasks.every((t) => Number.isFinite(t.vruntimeNs) && 'RQS'.includes(t.state)),
    JSON.stringify(tasks.tasks[0]),
  );
  const conn = await connectStats(socketPath);
  try {
    const top3 = await conn.request<{ total: number; tasks: TaskRow[] }>('tasks', { limit: '3' });
    assert.equal(top3.total, 8);
    assert.equal(top3.tasks.length, 3);
    const vr = top3.tasks.map((t) => t.vruntimeNs);
    assert.deepEqual(
      vr,
      [...vr].sort((a, b) => a - b),
      'smallest vruntime first',
    );
    await assert.rejects(conn.request('tasks', { limit: 'many' }), /"limit" must be a whole number/);
  } finally {
    conn.close();
  }
  const hist = await requestStats<{ names: string[]; samples: { values: number[] }[] }>(socketPath, 'history');
  assert.ok(hist.samples.length >= 1);
  assert.equal(hist.samples[0]!.values.length, hist.names.length);
});

function rawExchange(lines: string): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const s = createConnection(socketPath);
    let text = '';
    const want = lines.split('\n').filter((l) => l.trim()).length;
    s.setEncoding('utf8');
    s.on('data', (d: string) => {
      text += d;
      if (text.split('\n').length - 1 >= want) {
        s.destroy();
        resolve(text.trim().split('\n'));
      }
    });
    s.on('error', reject);
    s.write(lines);
  });
}

test('malformed and unknown requests get a JSON error and the connection stays up', async () => {
  const replies = (
    await rawExchange('{nope\n[1,2]\n{"req":"reboot"}\n{"x":1}\n{"req":"stats"}\n{"req":"tasks","args":[1]}\n')
  ).map((l) => JSON.parse(l));
  assert.equal(replies.length, 6);
  assert.equal(replies[5].errno, 22);
  assert.equal(replies[0].errno, 22);
  assert.match(replies[0].args.resp.error, /malformed JSON/);
  assert.equal(replies[1].errno, 22);
  assert.equal(replies[2].errno, 2);
  assert.match(replies[2].args.resp.error, /unknown request 'reboot'/);
  assert.equal(replies[3].errno, 22);
  assert.equal(replies[4].errno, 0, 'the same connection still serves stats');
});

test('a 10 MiB line drops that connection only; a silent client is dropped; the scheduler keeps going', async () => {
  const before = gaps[GAP_STEPS]!;
  const silent = createConnection(socketPath);
  const silentClosed = new Promise<void>((r) => silent.once('close', () => r()));
  silent.on('error', () => {});
  const big = createConnection(socketPath);
  big.on('error', () => {});
  const bigClosed = new Promise<string>((resolve) => {
    let got = '';
    big.setEncoding('utf8');
    big.on('data', (d: string) => (got += d));
    big.once('close', () => resolve(got));
  });
  big.write(Buffer.alloc(10 * 1024 * 1024, 0x61));
  const got = await bigClosed;
  if (got) assert.match(JSON.parse(got.split('\n')[0]!).args.resp.error, /longer than/);
  // Meanwhile others are served.
  const ok = await requestStats<{ counters: Record<string, number> }>(socketPath, 'stats');
  assert.ok(ok.counters.nr_user_dispatches! > 0);
  await silentClosed; // idle timeout (400 ms here) closed it
  await workerAdvances();
  assert.ok(gaps[GAP_STEPS]! > before);
});

test('100 concurrent clients are all answered while the scheduler dispatches', async () => {
  const before = counters.f64[C.nr_user_dispatches]!;
  const conns = await Promise.all(Array.from({ length: 100 }, () => connectStats(socketPath, 20_000)));
  try {
    const replies = await Promise.all(
      conns.flatMap((c) => [c.request<{ counters: Record<string, number> }>('stats'), c.request<{ tasks: TaskRow[] }>('tasks')]),
    );
    assert.equal(replies.length, 200);
    for (let i = 0; i < replies.length; i += 2) {
      assert.ok((replies[i] as { counters: Record<string, number> }).counters.nr_cpus === 2);
      assert.equal((replies[i + 1] as { tasks: TaskRow[] }).tasks.length, 8);
    }
  } finally {
    for (const c of conns) c.close();
  }
  await workerAdvances();
  assert.ok(counters.f64[C.nr_user_dispatches]! > before, 'the scheduler kept dispatching');
  // Generous bound: a busy 2-core machine may deschedule the thread, but never for seconds.
  assert.ok(gaps[GAP_MAX_NS]! < 2e9, `longest scheduler-thread gap ${gaps[GAP_MAX_NS]! / 1e6} ms`);
});

test('discovery finds the live instance and skips stale sockets', async () => {
  const runDir = join(dir, 'run');
  writeFileSync(join(runDir, '999999999.sock'), ''); // pid that cannot exist
  writeFileSync(join(runDir, '1.sock'), ''); // pid alive (init) but not a socket
  const found = await findInstances([runDir]);
  assert.deepEqual(found, [{ pid: process.pid, socketPath }]);
});

test('a second server on a live socket is refused; a stale file is replaced; close removes the file', async () => {
  await assert.rejects(startStatsServer({ counters, socketPath }), /another instance/);
  const stalePath = join(dir, 'run', 'stale.sock');
  writeFileSync(stalePath, '');
  const s2 = await startStatsServer({ counters, socketPath: stalePath });
  assert.equal((await requestStats<{ counters: object }>(stalePath, 'stats')).counters !== undefined, true);
  await s2.close();
  assert.equal(existsSync(stalePath), false);
});

test('a long-lived reader reconnects after an idle drop', async () => {
  const conn = await connectStatsResilient(socketPath);
  try {
    await conn.request('stats');
    await new Promise((r) => setTimeout(r, 900)); // past this server's 400 ms idle timeout
    const again = await conn.request<{ counters: Record<string, number> }>('stats');
    assert.ok(again.counters.nr_user_dispatches! > 0);
  } finally {
    conn.close();
  }
});
