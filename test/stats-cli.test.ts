import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { COUNTER_NAMES } from '../src/base/counters.js';
import { start, type Started } from './fixtures/spawn.js';

const MAIN = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));
const FIXTURE = fileURLToPath(new URL('./fixtures/stats-instance.js', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'tsland-stats-cli-'));
const env = { ...process.env, TSLAND_STATS_DIR: dir };
let instance: Started;
let socketPath: string;

before(async () => {
  instance = start(process.execPath, [FIXTURE], { env });
  socketPath = (await instance.waitFor(/ready (\S+)/))[1]!;
});

after(async () => {
  instance?.kill('SIGTERM');
  await instance?.exited;
  rmSync(dir, { recursive: true, force: true });
});

async function tsland(
  args: string[],
  extraEnv: Record<string, string> = {},
): Promise<{ code: number; out: string; err: string }> {
  const p = start(process.execPath, [MAIN, ...args], { env: { ...env, ...extraEnv } });
  try {
    const code = await p.exited;
    return { code, out: p.stdout(), err: p.stderr() };
  } finally {
    p.kill('SIGKILL');
  }
}

test('finds the running instance and prints every counter and the health', async () => {
  const r = await tsland(['stats']);
  assert.equal(r.code, 0, r.err);
  for (const name of COUNTER_NAMES) assert.match(r.out, new RegExp(`^${name} `, 'm'));
  assert.match(r.out, /^health\s+OK/m);
  assert.match(r.out, /policy=rustland/);
});

test('--json prints the reply as one JSON object', async () => {
  const r = await tsland(['stats', '--json', '--socket', socketPath]);
  assert.equal(r.code, 0, r.err);
  const obj = JSON.parse(r.out);
  assert.ok(obj.counters.nr_decisions > 0);
  assert.equal(typeof obj.health.healthy, 'boolean');
});

test('--watch prints a line per interval until interrupted', async () => {
  const p = start(process.execPath, [MAIN, 'stats', '--watch', '0.2'], { env });
  try {
    await p.waitFor(/(\[tsland\][^\n]*\n[\s\S]*){3}/);
    p.kill('SIGINT');
    assert.equal(await p.exited, 0);
    const lines = p.stdout().trim().split('\n');
    const decisions = lines.map((l) => Number(/user=(\d+)/.exec(l)?.[1]));
    assert.ok(decisions.every(Number.isFinite), p.stdout());
    assert.ok(decisions.at(-1)! > decisions[0]!, 'counters advance between lines');
  } finally {
    p.kill('SIGKILL');
  }
});

test('no instance: one clear line, non-zero exit; contradictory flags: exit 2', async () => {
  const empty = mkdtempSync(join(tmpdir(), 'tsland-none-'));
  try {
    const r = await tsland(['stats'], { TSLAND_STATS_DIR: empty });
    assert.equal(r.code, 1);
    assert.match(r.err, /^tsland: no running tsland instance found/);
    assert.equal(r.err.trim().split('\n').length, 1);
  } finally {
    rmSync(empty, { recursive: true, force: true });
  }
  const bad = await tsland(['stats', '--socket', socketPath, '--pid', '1']);
  assert.equal(bad.code, 2);
  assert.match(bad.err, /^tsland: --socket and --pid are alternatives/);
  const gone = await tsland(['stats', '--socket', join(dir, 'nothing.sock')]);
  assert.equal(gone.code, 1);
  assert.match(gone.err, /cannot talk to/);
});

test('with two instances running, the newest is shown and --pid picks the other', async () => {
  const second = start(process.execPath, [FIXTURE], { env });
  try {
    await second.waitFor(/ready/);
    const pids = [instance.child.pid!, second.child.pid!].sort((a, b) => a - b);
    const r = await tsland(['stats', '--json']);
    assert.equal(r.code, 0, r.err);
    assert.match(r.err, new RegExp(`2 instances running \\(pids ${pids[0]}, ${pids[1]}\\); showing ${pids[1]}`));
    const picked = await tsland(['stats', '--json', '--pid', String(pids[0])]);
    assert.equal(picked.code, 0, picked.err);
    assert.equal(picked.err, '');
    const missing = await tsland(['stats', '--pid', '999999999']);
    assert.equal(missing.code, 1);
    assert.match(missing.err, /no tsland instance with pid 999999999/);
  } finally {
    second.kill('SIGTERM');
    await second.exited;
  }
});
