// The guardian must tell a stalled scheduler from one the kernel gave no CPU. The soak's memory jump left
// the scheduler thread runnable but without any CPU time for over 500 ms while the guardian checked on
// time; the guardian took that for a stall, released every task and ended tsland with no fault at all.
// Here the same pressure is made on purpose and for a bounded time: the scheduler thread is pinned to one
// CPU and a SCHED_FIFO busy loop holds that CPU for WAIT_MS (the thread stays runnable, gets nothing);
// tsland must come out of it still scheduling, with no release recorded. A stopped scheduler is still
// released within the timeout: guardian.test.ts checks that.

import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { closeSync, openSync, readFileSync, readSync, readdirSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { judgeSilence, RUNQUEUE_WAIT_LIMIT } from '../src/backends/proc/guardian/guardian.js';
import { HOG, managedPids, sleep, startTsland, stateOf, waitFor } from './fixtures/proc-util.js';

const WATCHDOG_MS = 500;
/** How long the scheduler thread is kept from any CPU: well past the timeout, short of the hard limit (10x). */
const WAIT_MS = 1500;
const NSEC_PER_MSEC = 1e6;

function tools(): string | null {
  if (process.getuid?.() !== 0) return 'needs root (SCHED_FIFO, and the scheduler thread runs at nice -10)';
  if (availableParallelism() < 2) return 'needs 2 CPUs: one for the busy loop, one for the guardian';
  for (const tool of ['chrt', 'taskset', 'timeout']) {
    if (spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0) return `needs ${tool}`;
  }
  return null;
}

/** The scheduler thread: the one thread of tsland that runs at nice -10 (its main thread runs at 0). */
function schedulerTid(pid: number): number | null {
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
      const nice = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[16]);
      if (nice === -10 && Number(tid) !== pid) return Number(tid);
    } catch {
      // thread gone
    }
  }
  return null;
}

/** Age of the heartbeat in ms, or undefined when this process lost the CPU around the reading. */
function heartbeatAgeMs(fd: number, buf: Buffer): number | undefined {
  const before = Number(process.hrtime.bigint()) / NSEC_PER_MSEC;
  if (readSync(fd, buf, 0, 8, 0) < 8) return undefined;
  const after = Number(process.hrtime.bigint()) / NSEC_PER_MSEC;
  if (after - before > 2) return undefined;
  return after - buf.readDoubleLE(0);
}

test(
  'guardian: a scheduler thread runnable but given no CPU for 3x the timeout is not released',
  { timeout: 90_000 },
  async (t) => {
    const missing = tools();
    if (missing) {
      console.log(`# skipped: ${missing}`);
      t.skip(missing);
      return;
    }
    const script = `for i in 1 2 3; do sh -c '${HOG}' & echo $!; done; wait`;
    const run = startTsland(['run', '--cpus', '0-1', '--watchdog-ms', String(WATCHDOG_MS), '--', 'sh', '-c', script]);
    let hogs: number[] = [];
    let busy: ReturnType<typeof spawn> | null = null;
    try {
      hogs = await waitFor('three managed hogs, one stopped', () => {
        const printed = run.stdout().split('\n').filter(Boolean).map(Number);
        if (printed.length < 3) return null;
        const managed = new Set(managedPids(run.stateDir, run.pid));
        if (!printed.every((p) => managed.has(p))) return null;
        return printed.some((p) => stateOf(p) === 'T') ? printed : null;
      });
      const tid = await waitFor('the scheduler thread at nice -10', () => schedulerTid(run.pid));
      const cpu = String(availableParallelism() - 1);
      const mask = /: *([0-9a-f,]+)\s*$/.exec(execFileSync('taskset', ['-p', String(tid)], { encoding: 'utf8' }))![1]!;
      const hbFd = openSync(join(run.stateDir, `${run.pid}.heartbeat`), 'r');
      const hbBuf = Buffer.alloc(8);
      let maxAgeMs = 0;
      try {
        execFileSync('taskset', ['-pc', cpu, String(tid)], { stdio: 'ignore' });
        // timeout runs at a higher FIFO priority than the loop and on any CPU, so it always gets to end it;
        // it leads its own process group, which `finally` kills whole if this test is cut short.
        busy = spawn(
          'chrt',
          ['-f', '2', 'timeout', '-s', 'KILL', `${WAIT_MS / 1000}`, 'chrt', '-f', '1', 'taskset', '-c', cpu, 'sh', '-c', HOG],
          {
            stdio: 'ignore',
            detached: true,
          },
        );
        const busyExited = new Promise<void>((resolve) => busy!.once('exit', () => resolve()));
        let done = false;
        void busyExited.then(() => (done = true));
        while (!done) {
          const age = heartbeatAgeMs(hbFd, hbBuf);
          if (age !== undefined && age > maxAgeMs) maxAgeMs = age;
          await sleep(10);
        }
      } finally {
        try {
          execFileSync('taskset', ['-p', mask, String(tid)], { stdio: 'ignore' });
        } catch {
          // The thread is gone (tsland ended): the assertions below say why.
        }
        closeSync(hbFd);
      }
      // The pressure happened: without it this test would prove nothing.
      assert.ok(
        maxAgeMs > WATCHDOG_MS,
        `the scheduler thread was kept from its CPU (heartbeat at most ${maxAgeMs.toFixed(0)} ms old)`,
      );
      await sleep(1000);
      let release = '';
      try {
        release = readFileSync(join(run.stateDir, 'guardian.log'), 'utf8');
      } catch {
        // no release: what we want
      }
      assert.equal(release, '', 'no release recorded');
      assert.equal(stateOf(run.pid) !== '' && stateOf(run.pid) !== 'Z', true, `tsland still runs: ${run.stderr()}`);
      assert.notEqual(schedulerTid(run.pid), null, 'its scheduler thread still runs');
    } finally {
      if (busy?.pid) {
        try {
          process.kill(-busy.pid, 'SIGKILL');
        } catch {
          // already over
        }
      }
      await run.cleanup(hogs);
    }
  },
);

test('judgeSilence: only silence the guardian saw on time, less the wait for a CPU, counts', () => {
  const base = { lastBeatMs: 1000, watchingSinceMs: 0, blindMs: 0, cpuWaitMs: 0, watchdogMs: WATCHDOG_MS };
  // A stopped scheduler: silent and not runnable.
  assert.equal(judgeSilence({ ...base, nowMs: 1501 }).stalled, true);
  assert.equal(judgeSilence({ ...base, nowMs: 1499 }).stalled, false);
  // Runnable but given no CPU for most of it: not a stall...
  assert.equal(judgeSilence({ ...base, nowMs: 1800, cpuWaitMs: 700 }).stalled, false);
  // ...unless what is left is still longer than the timeout (a stuck policy sharing its CPU)...
  assert.equal(judgeSilence({ ...base, nowMs: 1800, cpuWaitMs: 250 }).stalled, true);
  // ...or the heartbeat is older than the hard limit, however it is explained.
  assert.equal(judgeSilence({ ...base, nowMs: 1000 + WATCHDOG_MS * RUNQUEUE_WAIT_LIMIT + 1, cpuWaitMs: 1e9 }).stalled, true);
  // The guardian itself was not running for 400 ms of it: it saw 300 ms of silence, not 700.
  const late = judgeSilence({ ...base, nowMs: 1700, blindMs: 400 });
  assert.equal(late.stalled, false);
  assert.equal(late.silentMs, 300);
  assert.equal(judgeSilence({ ...base, nowMs: 1901, blindMs: 400 }).stalled, true);
  // One late check does not throw away the silence seen before it (the soak's stopped scheduler, released
  // at 832 ms when a 62 ms late check restarted the count): 82 ms blind, 500 ms seen by 1582.
  assert.equal(judgeSilence({ ...base, nowMs: 1583, blindMs: 82 }).stalled, true);
  assert.equal(judgeSilence({ ...base, nowMs: 1581, blindMs: 82 }).stalled, false);
  // Silence before the guardian began to watch does not count.
  assert.equal(judgeSilence({ ...base, nowMs: 1700, watchingSinceMs: 1300 }).stalled, false);
});
