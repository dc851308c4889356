// End to end: a real `tsland run` over a few CPU hogs, read through its stats socket by `tsland stats` and
// `tsland top`, and scraped over its OpenMetrics endpoint.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer, type AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { start, type Started } from './fixtures/spawn.js';
import { parseOpenMetrics } from './fixtures/openmetrics-parser.js';
import { requestStats } from '../src/stats/client.js';
import type { TaskRow } from '../src/stats/protocol.js';

const MAIN = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'tsland-stats-run-'));
const socketPath = join(dir, 'sock', 'run.sock');
let port = 0;
let run: Started;

/** A loopback port that was free a moment ago (the kernel picks it). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const p = (srv.address() as AddressInfo).port;
      srv.close(() => resolve(p));
    });
  });
}

async function tsland(args: string[]): Promise<{ code: number; out: string; err: string }> {
  const p = start(process.execPath, [MAIN, ...args]);
  try {
    const code = await p.exited;
    return { code, out: p.stdout(), err: p.stderr() };
  } finally {
    p.kill('SIGKILL');
  }
}

async function until(what: string, fn: () => boolean | Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  // A request that fails while the run is starting (or under load) is just "not yet".
  const attempt = async () => {
    try {
      return await fn();
    } catch {
      return false;
    }
  };
  while (!(await attempt())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; tsland stderr: ${run?.stderr()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

before(async () => {
  port = await freePort();
  const hogs = 'yes > /dev/null & yes > /dev/null & yes > /dev/null & sleep 60; kill $(jobs -p)';
  run = start(
    process.execPath,
    [MAIN, 'run', '--stats-socket', socketPath, '--metrics', `127.0.0.1:${port}`, '--', 'sh', '-c', hogs],
    {
      env: { ...process.env, TSLAND_STATE_DIR: join(dir, 'state') },
    },
  );
  await until('the stats socket', () => existsSync(socketPath));
});

after(async () => {
  run?.kill('SIGTERM');
  const gone = await Promise.race([run?.exited, new Promise((r) => setTimeout(() => r('timeout'), 10_000))]);
  if (gone === 'timeout') run?.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

test('tsland run serves its counters and tasks on a private socket', async () => {
  assert.equal(statSync(socketPath).mode & 0o777, 0o600);
  await until('three hogs in the task table', async () => {
    const { tasks } = await requestStats<{ tasks: TaskRow[] }>(socketPath, 'tasks');
    return tasks.filter((t) => t.comm === 'yes').length === 3;
  });
  const r = await tsland(['stats', '--json', '--socket', socketPath]);
  assert.equal(r.code, 0, r.err);
  const first = JSON.parse(r.out);
  assert.equal(first.info.backend, 'proc');
  await until('dispatches', async () => {
    const again = await requestStats<{ counters: Record<string, number> }>(socketPath, 'stats');
    return again.counters.nr_user_dispatches! > first.counters.nr_user_dispatches;
  });
});

test('tsland top shows the managed tasks of the run', async () => {
  const r = await tsland(['top', '--socket', socketPath, '--plain', '--iterations', '2', '--interval', '0.3']);
  assert.equal(r.code, 0, r.err);
  assert.equal((r.out.match(/^ +\d+ {2}yes /gm) ?? []).length >= 3, true, r.out);
  assert.match(r.out, /health: /);
});

test("the metrics endpoint serves parseable OpenMetrics with the run's counters", async () => {
  const res = await fetch(`http://127.0.0.1:${port}/metrics`);
  assert.equal(res.status, 200);
  const parsed = parseOpenMetrics(await res.text());
  assert.ok(parsed.samples.get('tsland_nr_tasks')!.value >= 3);
  assert.ok(parsed.samples.get('tsland_nr_user_dispatches_total')!.value > 0);
  assert.equal(parsed.samples.get('tsland_build_info')!.labels.backend, 'proc');
});

test('the socket is removed when the run ends', async () => {
  run.kill('SIGTERM');
  await run.exited;
  assert.equal(existsSync(socketPath), false);
});
