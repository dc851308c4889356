// `tsland run` on real processes: exit status, a forking tree fully adopted, fair sharing of hogs, nice
// values changing shares, SIGTERM passed to the tree. Bounds are generous: CI machines have 2 busy cores.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { exitedWithin, cpuNs, HOG, jain, managedPids, sleep, startTsland, stateOf, waitFor } from './fixtures/proc-util.js';

const MEASURE_MS = 3000;

test('run: exit status of the command, 128+signal when it was killed', { timeout: 60_000 }, async () => {
  const ok = startTsland(['run', '--', 'sh', '-c', 'exit 7']);
  try {
    assert.equal(await exitedWithin(ok), 7, ok.stderr());
  } finally {
    await ok.cleanup();
  }
  const killed = startTsland(['run', '--', 'sh', '-c', 'kill -TERM $$']);
  try {
    assert.equal(await exitedWithin(killed), 128 + 15, killed.stderr());
  } finally {
    await killed.cleanup();
  }
});

test('run: the command runs in place of its gate: a child of tsland, the gate pipe closed', { timeout: 60_000 }, async () => {
  // It prints its parent's pid and what its descriptor 3 (where the gate's pipe was) is.
  const script = 'sed -n "s/^PPid:[[:space:]]*//p" /proc/$$/status; readlink /proc/$$/fd/3 || echo closed';
  const t = startTsland(['run', '--', 'sh', '-c', script]);
  try {
    assert.equal(await exitedWithin(t), 0, t.stderr());
    const [ppidLine, fd3] = t.stdout().split('\n').filter(Boolean);
    // The gate execs the command in its own process: the command is tsland's child, not a grandchild.
    assert.equal(Number(ppidLine), t.pid, t.stdout());
    // The gate's pipe (a socket) is closed before the command runs.
    assert.ok(!fd3?.startsWith('socket:'), `descriptor 3: ${fd3}`);
  } finally {
    await t.cleanup();
  }
});

test('run: every process of a forking tree is adopted, grandchildren included', { timeout: 60_000 }, async () => {
  // Three subshells, each forking two workers that print their pid and spin for a while.
  const worker = `sh -c 'echo $$; i=0; while [ $i -lt 50000 ]; do i=$((i+1)); done'`;
  const script = `for a in 1 2 3; do (for b in 1 2; do ${worker} & done; wait) & done; wait`;
  const t = startTsland(['run', '--cpus', '0-1', '--', 'sh', '-c', script]);
  const seen = new Set<number>();
  const poll = setInterval(() => managedPids(t.stateDir, t.pid).forEach((p) => seen.add(p)), 10);
  try {
    assert.equal(await exitedWithin(t), 0, t.stderr());
    clearInterval(poll);
    const workers = t.stdout().split('\n').filter(Boolean).map(Number);
    assert.equal(workers.length, 6, `six workers printed their pid: ${t.stdout()}`);
    for (const pid of workers) assert.ok(seen.has(pid), `worker ${pid} was managed (managed: ${[...seen].join(',')})`);
    // Root + 3 subshells + 6 workers at least.
    assert.ok(seen.size >= 10, `managed ${seen.size} tasks`);
  } finally {
    clearInterval(poll);
    await t.cleanup();
  }
});

/** Starts `tsland run` over hogs that print their pids; returns the run and the hog pids once managed. */
async function runHogs(args: string[], hogs: string[]) {
  const script = hogs.map((prefix) => `${prefix} sh -c '${HOG}' & echo $!;`).join(' ') + ' wait';
  const t = startTsland(['run', ...args, '--', 'sh', '-c', script]);
  const pids = await waitFor('hogs to start and be managed', () => {
    const printed = t.stdout().split('\n').filter(Boolean).map(Number);
    if (printed.length < hogs.length) return null;
    const managed = new Set(managedPids(t.stateDir, t.pid));
    return printed.every((p) => managed.has(p)) ? printed : null;
  });
  return { t, pids };
}

test('run: equal hogs share the CPUs fairly, and SIGTERM is passed to the tree', { timeout: 60_000 }, async () => {
  // rustland's deadline adds each hog's CPU time since it woke, capped at 100 slices: until every hog has
  // reached that cap, a late starter is favoured and an early one held back. A 5 ms slice makes the cap
  // 0.5 s, so the window measures the steady state even when a busy machine slows the start.
  const { t, pids } = await runHogs(['--cpus', '0-1', '--slice-us', '5000'], ['', '', '', '']);
  try {
    await sleep(300);
    const before = pids.map(cpuNs);
    // Stopped tasks show up: tsland holds back the hogs that are not dispatched.
    await waitFor('a hog held stopped', () => pids.some((p) => stateOf(p) === 'T'));
    await sleep(MEASURE_MS);
    const used = pids.map((p, i) => cpuNs(p) - before[i]!);
    const index = jain(used);
    assert.ok(
      used.every((ns) => ns > 0),
      `every hog ran: ${used.join(', ')}`,
    );
    assert.ok(index >= 0.9, `Jain's index ${index.toFixed(3)} over ${used.map((n) => (n / 1e6).toFixed(0)).join('/')} ms`);
    process.kill(t.pid, 'SIGTERM');
    assert.equal(await exitedWithin(t), 128 + 15, `the command died of the forwarded SIGTERM: ${t.stderr()}`);
    for (const p of pids) assert.ok(['', 'Z'].includes(stateOf(p)), `hog ${p} ended (state '${stateOf(p)}')`);
  } finally {
    await t.cleanup(pids);
  }
});

test('run: a nice 5 hog gets a smaller share than a nice 0 hog on one CPU', { timeout: 60_000 }, async () => {
  const { t, pids } = await runHogs(['--cpus', '0'], ['', 'nice -n 5']);
  try {
    await sleep(300);
    const before = pids.map(cpuNs);
    await sleep(MEASURE_MS);
    const [nice0, nice5] = pids.map((p, i) => cpuNs(p) - before[i]!) as [number, number];
    // Weights 100 and 33 (the kernel's table scaled): nice 0 should get ~3x; demand at least 1.5x.
    assert.ok(nice0 > 1.5 * nice5, `nice 0 ran ${(nice0 / 1e6).toFixed(0)} ms, nice 5 ran ${(nice5 / 1e6).toFixed(0)} ms`);
    assert.ok(nice5 > 0, 'the nice 5 hog still ran');
  } finally {
    await t.cleanup(pids);
  }
});
