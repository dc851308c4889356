// `tsland attach`: takes over a running tree, schedules it, and leaves it running when it exits.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { test } from 'node:test';
import { exitedWithin, trackPids, HOG, managedPids, sleep, startTsland, stateOf, waitFor } from './fixtures/proc-util.js';

test('attach: schedules a running tree, then leaves it running on SIGINT', { timeout: 60_000 }, async () => {
  const root = spawn('sh', ['-c', `for i in 1 2 3; do sh -c '${HOG}' & echo $!; done; wait`], {
    stdio: ['ignore', 'pipe', 'ignore'],
    detached: true,
  });
  let out = '';
  root.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
  const hogs = await waitFor('three hogs', () => {
    const pids = out.split('\n').filter(Boolean).map(Number);
    return pids.length === 3 ? pids : null;
  });
  const t = startTsland(['attach', '--pid', String(root.pid), '--cpus', '0']);
  trackPids(t, [-root.pid!]);
  try {
    await waitFor('the hogs adopted', () => {
      const managed = new Set(managedPids(t.stateDir, t.pid));
      return hogs.every((p) => managed.has(p));
    });
    // One CPU, three hogs: at least one is held stopped at any time.
    await waitFor('a hog held stopped', () => hogs.some((p) => stateOf(p) === 'T'));
    process.kill(t.pid, 'SIGINT');
    assert.equal(await exitedWithin(t), 0, t.stderr());
    await sleep(100);
    for (const p of hogs) {
      const s = stateOf(p);
      assert.ok(s !== '' && s !== 'T' && s !== 'Z', `hog ${p} left running (state '${s}')`);
    }
  } finally {
    await t.cleanup();
    try {
      process.kill(-root.pid!, 'SIGKILL');
    } catch {
      // gone
    }
  }
});

test('attach: refuses PID 1 and a missing process with a usage error', { timeout: 60_000 }, async () => {
  for (const pid of ['1', '999999999']) {
    const t = startTsland(['attach', '--pid', pid]);
    try {
      assert.equal(await exitedWithin(t), 2, t.stderr());
      assert.match(t.stderr(), /^tsland: .*(PID 1|no process)/);
    } finally {
      await t.cleanup();
    }
  }
});
