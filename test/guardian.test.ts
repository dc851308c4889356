// The guardian and the failure paths of a scheduler that stops tasks: whatever happens to tsland, no task of
// the tree stays stopped. Every test kills what it started in `finally`.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import {
  exitedWithin,
  guardianPidOf,
  HOG,
  managedPids,
  sleep,
  startTsland,
  stateOf,
  waitFor,
  CLI,
} from './fixtures/proc-util.js';
import { requestStats } from '../src/stats/client.js';
import { beatWhileStarting, initHeartbeat } from '../src/backends/proc/guardian/guardian-process.js';
import { runPaths } from '../src/backends/proc/guardian/state.js';
import { exitStatus } from './fixtures/spawn.js';
import { defaultSocketPath } from '../src/stats/paths.js';

const WATCHDOG_MS = 500;

interface ReleaseLine {
  reason: string;
  schedulerPid: number;
  releasedBy: string;
  tasksContinued: number;
  lastBeatMs?: number;
  releasedMs?: number;
}

function releaseLines(stateDir: string): ReleaseLine[] {
  try {
    return readFileSync(join(stateDir, 'guardian.log'), 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as ReleaseLine);
  } catch {
    return [];
  }
}

/** tsland over four hogs on two CPUs, returned once some hog is held stopped. */
async function stoppedHogs() {
  const script = `for i in 1 2 3 4; do sh -c '${HOG}' & echo $!; done; wait`;
  const t = startTsland(['run', '--cpus', '0-1', '--watchdog-ms', String(WATCHDOG_MS), '--', 'sh', '-c', script]);
  const hogs = await waitFor('four managed hogs, one stopped', () => {
    const printed = t.stdout().split('\n').filter(Boolean).map(Number);
    if (printed.length < 4) return null;
    const managed = new Set(managedPids(t.stateDir, t.pid));
    if (!printed.every((p) => managed.has(p))) return null;
    return printed.some((p) => stateOf(p) === 'T') ? printed : null;
  });
  const guardian = await waitFor('the guardian pid', () => {
    const g = guardianPidOf(t.stateDir, t.pid);
    return g > 0 ? g : null;
  });
  return { t, hogs, guardian };
}

test('guardian: SIGKILL of the scheduler leaves no task stopped one second later', { timeout: 60_000 }, async () => {
  const { t, hogs } = await stoppedHogs();
  try {
    process.kill(t.pid, 'SIGKILL');
    await sleep(1000);
    const stopped = hogs.filter((p) => stateOf(p) === 'T');
    assert.deepEqual(stopped, [], 'no hog in state T');
    const line = releaseLines(t.stateDir).find((l) => l.schedulerPid === t.pid);
    assert.ok(line, 'the guardian recorded the release');
    assert.equal(line.releasedBy, 'guardian');
    // The guardian is spawned, not awaited: on a busy machine the scheduler can die before the guardian has
    // opened its pidfd, and the guardian then releases on start-up (from the tasks file written before any
    // task was stopped). Either way the reason names a dead scheduler.
    assert.match(line.reason, /scheduler died|scheduler was gone before the guardian started/);
  } finally {
    await t.cleanup(hogs);
  }
});

test(
  'guardian: a scheduler stopped for 2 s has its tasks released within the timeout + 100 ms',
  { timeout: 60_000 },
  async () => {
    const { t, hogs } = await stoppedHogs();
    try {
      process.kill(t.pid, 'SIGSTOP');
      await sleep(2000);
      const stopped = hogs.filter((p) => stateOf(p) === 'T');
      assert.deepEqual(stopped, [], 'no hog in state T while the scheduler is stopped');
      const line = releaseLines(t.stateDir).find((l) => l.schedulerPid === t.pid);
      assert.ok(line && line.lastBeatMs !== undefined && line.releasedMs !== undefined, 'release recorded with times');
      assert.match(line.reason, /heartbeat/);
      // The scheduler stopped after its last beat, so this over-estimates the delay, never under.
      const delayMs = line.releasedMs - line.lastBeatMs;
      assert.ok(delayMs <= WATCHDOG_MS + 100, `released ${delayMs.toFixed(1)} ms after the last heartbeat`);
      process.kill(t.pid, 'SIGCONT');
      const code = await exitedWithin(t);
      assert.notEqual(code, 0, 'a scheduler that lost its guardian exits non-zero');
      // It says why, in the guardian's own words: not just that the guardian went.
      assert.match(
        t.stderr(),
        /tsland: the guardian released \d+ of \d+ task\(s\) and exited: scheduler heartbeat [\d.]+ ms old/,
      );
      assert.deepEqual(
        hogs.filter((p) => stateOf(p) === 'T'),
        [],
        'nothing stopped again after resuming',
      );
      // The next scheduler over the same tree, in the same state directory, tells stats clients why the
      // last one went.
      const next = spawn(process.execPath, [CLI, 'attach', '--pid', String(hogs[0]), '--watchdog-ms', '2000'], {
        stdio: ['ignore', 'ignore', 'pipe'],
        detached: true,
        env: { ...process.env, TSLAND_STATE_DIR: t.stateDir, TSLAND_STATS_DIR: t.stateDir },
      });
      let nextErr = '';
      next.stderr!.setEncoding('utf8').on('data', (d: string) => (nextErr += d));
      const nextExit = new Promise<void>((r) => next.once('exit', () => r()));
      try {
        let info: Record<string, string> | null = null;
        for (const deadline = Date.now() + 30_000; !info && Date.now() < deadline; await sleep(100)) {
          try {
            info = (await requestStats<{ info: Record<string, string> }>(defaultSocketPath(next.pid!, t.stateDir), 'stats')).info;
          } catch {
            // not up yet
          }
        }
        assert.ok(info, `the attach served stats within 30 s; its stderr: ${nextErr}`);
        assert.match(
          info.last_release ?? '',
          new RegExp(`^guardian released \\d+ of \\d+ task\\(s\\) of pid ${t.pid} at .*: scheduler heartbeat`),
        );
      } finally {
        next.kill('SIGTERM');
        await Promise.race([nextExit, sleep(10_000)]);
        next.kill('SIGKILL');
      }
    } finally {
      await t.cleanup(hogs);
    }
  },
);

test(
  'guardian: SIGKILL of the guardian makes the scheduler release everything and exit non-zero',
  { timeout: 60_000 },
  async () => {
    const { t, hogs, guardian } = await stoppedHogs();
    try {
      process.kill(guardian, 'SIGKILL');
      const code = await exitedWithin(t);
      assert.notEqual(code, -1, 'tsland exited');
      assert.notEqual(code, 0);
      assert.match(t.stderr(), /guardian/);
      assert.deepEqual(
        hogs.filter((p) => stateOf(p) === 'T'),
        [],
        'no hog in state T',
      );
      assert.ok(
        hogs.every((p) => stateOf(p) !== ''),
        'the hogs were released, not killed',
      );
    } finally {
      await t.cleanup(hogs);
    }
  },
);

test(
  'guardian: a release while tsland starts is reported with its reason, not as a missing file',
  { timeout: 60_000 },
  async () => {
    // The soak's failed recovery: tsland held off the CPU while it starts, its guardian releases and removes
    // the run's files, and the scheduler thread then finds its heartbeat file gone. Stopped here with
    // SIGSTOP once the guardian runs, for far longer than the watchdog.
    const victim = spawn('sleep', ['60'], { stdio: 'ignore', detached: true });
    const t = startTsland(['attach', '--pid', String(victim.pid), '--watchdog-ms', '300']);
    try {
      await waitFor('the run record (the guardian is up)', () => existsSync(join(t.stateDir, `${t.pid}.run.json`)), 20_000);
      process.kill(t.pid, 'SIGSTOP');
      await waitFor('the guardian to release', () => releaseLines(t.stateDir).some((l) => l.schedulerPid === t.pid), 20_000);
      process.kill(t.pid, 'SIGCONT');
      const code = await exitedWithin(t);
      assert.equal(code, 1, t.stderr());
      // Whether the thread was still starting (its start fails) or already running (it loses its guardian),
      // the user reads the guardian's reason.
      assert.match(t.stderr(), /the guardian released \d+ of \d+ task\(s\) and exited: scheduler heartbeat [\d.]+ ms old/);
      assert.notEqual(stateOf(victim.pid!), 'T', 'the attached task is not left stopped');
    } finally {
      victim.kill('SIGKILL');
      await t.cleanup();
    }
  },
);

test('the start-up beat of a run whose guardian already removed its files does nothing, and does not throw', () => {
  // The race the test above meets only now and then: tsland stopped between writing its run record and
  // starting to beat, the guardian releasing meanwhile. The start must go on to fail with the guardian's
  // reason, not with ENOENT from here.
  const dir = mkdtempSync(join(tmpdir(), 'tsland-beat-'));
  try {
    initHeartbeat(dir, 4242);
    const stop = beatWhileStarting(dir, 4242, 5);
    stop();
    rmSync(runPaths(dir, 4242).heartbeat);
    const none = beatWhileStarting(dir, 4242, 5);
    none();
    assert.equal(existsSync(runPaths(dir, 4242).heartbeat), false, 'nothing recreated the file');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('recovery: a new run resumes tasks that a dead run left stopped', { timeout: 60_000 }, async () => {
  const stateDir = mkdtempSync(join(tmpdir(), 'tsland-recover-'));
  const victim = spawn('sleep', ['30'], { stdio: 'ignore', detached: true });
  // Stopped below: if this test is cancelled before it resumes it, it would stay stopped for ever.
  const killVictim = (): void => void victim.kill('SIGKILL');
  process.once('exit', killVictim);
  let run: ReturnType<typeof spawn> | null = null;
  try {
    mkdirSync(stateDir, { recursive: true });
    await waitFor('sleep to start', () => stateOf(victim.pid!) !== '');
    process.kill(victim.pid!, 'SIGSTOP');
    await waitFor('sleep stopped', () => stateOf(victim.pid!) === 'T');
    const stat = readFileSync(`/proc/${victim.pid}/stat`, 'utf8');
    const startTicks = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]);
    // A scheduler pid that is surely dead: a child we already reaped.
    const dead = spawn('true');
    await new Promise((r) => dead.once('exit', r));
    const record = Buffer.alloc(16);
    record.writeInt32LE(victim.pid!, 0);
    record.writeDoubleLE(startTicks, 8);
    writeFileSync(join(stateDir, `${dead.pid}.tasks`), record);
    writeFileSync(
      join(stateDir, `${dead.pid}.run.json`),
      JSON.stringify({
        schedulerPid: dead.pid,
        schedulerStartTicks: 1,
        guardianPid: dead.pid,
        guardianStartTicks: 1,
        watchdogMs: 500,
      }),
    );
    run = spawn(process.execPath, [CLI, 'run', '--', 'true'], {
      stdio: ['ignore', 'ignore', 'pipe'],
      env: { ...process.env, TSLAND_STATE_DIR: stateDir, TSLAND_STATS_DIR: stateDir },
    });
    let err = '';
    run.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d));
    const exit = exitStatus(run, {});
    const code = await Promise.race([exit, sleep(20_000).then(() => -1)]);
    assert.equal(code, 0, err);
    assert.notEqual(stateOf(victim.pid!), 'T', 'the stopped task was resumed');
    assert.match(err, /resumed 1 task/);
    const line = releaseLines(stateDir).find((l) => l.schedulerPid === dead.pid);
    assert.equal(line?.releasedBy, 'recovery');
  } finally {
    run?.kill('SIGKILL');
    victim.kill('SIGKILL');
    process.off('exit', killVictim);
    rmSync(stateDir, { recursive: true, force: true });
  }
});

test(
  'guardian: a scheduler thread stuck in its policy gets everything released, then tsland exits non-zero',
  { timeout: 60_000 },
  async () => {
    const policy = fileURLToPath(new URL('./fixtures/proc-stuck-policy.js', import.meta.url));
    const script = `for i in 1 2 3 4; do sh -c '${HOG}' & echo $!; done; wait`;
    const t = startTsland([
      'run',
      '--cpus',
      '0',
      '--policy',
      policy,
      '--watchdog-ms',
      String(WATCHDOG_MS),
      '--',
      'sh',
      '-c',
      script,
    ]);
    const hogs = await waitFor('four hogs', () => {
      const printed = t.stdout().split('\n').filter(Boolean).map(Number);
      return printed.length === 4 ? printed : null;
    });
    try {
      const code = await exitedWithin(t);
      assert.notEqual(code, -1, `tsland exited: ${t.stderr()}`);
      assert.notEqual(code, 0);
      assert.match(t.stderr(), /tsland: the guardian released \d+ of \d+ task\(s\) and exited: scheduler heartbeat/);
      const line = releaseLines(t.stateDir).find((l) => l.schedulerPid === t.pid);
      assert.match(line?.reason ?? '', /heartbeat/, 'the guardian saw the heartbeat stop');
      assert.deepEqual(
        hogs.filter((p) => stateOf(p) === 'T'),
        [],
        'no hog left stopped',
      );
    } finally {
      await t.cleanup(hogs);
    }
  },
);
