// ProcBackend.drill: the round's rare branches run once on fake tasks before any real one, and leave
// nothing behind (no task, no counter moved, nothing in the tasks file, no real process touched).

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { ProcBackend } from '../src/backends/proc/backend.js';
import { SIGCONT, SIGSTOP } from '../src/backends/proc/sys.js';
import { createCounters } from '../src/sched/counters.js';
import { rustland } from '../src/sched/policies/index.js';
import { createScheduler } from '../src/sched/scheduler.js';
import { stateOf, waitFor } from './fixtures/proc-util.js';

/** The drill's methods, reached past TypeScript's private for instrumentation. */
interface Hooks {
  s: { pidfdSignal(fd: number, sig: number): number; setAffinity(tid: number, mask: Uint8Array): number };
  readRuntime(slot: number): boolean;
}

test('drill: takes every failure branch on fake tasks and leaves no trace', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tsland-drill-'));
  const tasksFile = join(dir, 'tasks');
  const counters = createCounters();
  const scheduler = createScheduler({ nrCpus: 2, policy: rustland(), sliceNs: 5e6, counters, lockMemory: false });
  const backend = new ProcBackend({
    scheduler, counters, cpuIds: [0, 1], allCpus: [0, 1], tasksFile, graceNs: 2e6, lookNs: 1e6, freeLookMinNs: 1e6,
    freeLookMaxNs: 4e6, excludePids: [1, process.pid], noReapPids: [], subreaperPid: process.pid,
  });
  const hooks = backend as unknown as Hooks;
  const signals = new Map<number, number>();
  const pinned: number[] = [];
  const { pidfdSignal, setAffinity } = hooks.s;
  const readRuntime = hooks.readRuntime.bind(backend);
  let failedReads = 0;
  hooks.s.pidfdSignal = (fd, sig) => {
    signals.set(sig, (signals.get(sig) ?? 0) + 1);
    assert.equal(fd, -1, 'the drill signals no real descriptor');
    return pidfdSignal(fd, sig);
  };
  hooks.s.setAffinity = (tid, mask) => {
    pinned.push(tid);
    return setAffinity(tid, mask);
  };
  hooks.readRuntime = (slot) => {
    const ok = readRuntime(slot);
    if (!ok) failedReads++;
    return ok;
  };
  const pidMax = Number(readFileSync('/proc/sys/kernel/pid_max', 'utf8'));
  const before = Float64Array.from(counters.f64);
  try {
    backend.drill();
    assert.ok((signals.get(SIGCONT) ?? 0) > 0, 'a dispatch whose SIGCONT failed');
    assert.ok((signals.get(SIGSTOP) ?? 0) > 0, 'an unpicked task whose SIGSTOP failed');
    assert.ok(failedReads > 0, 'a running task whose look failed to read');
    assert.ok(pinned.length > 0 && pinned.every((tid) => tid > pidMax), `only fake tids are pinned: ${pinned.slice(0, 4)}`);
    assert.equal(backend.tasks.nLive, 0);
    assert.equal(scheduler.nrTasks, 0);
    assert.equal(scheduler.nrWaiting, 0);
    assert.deepEqual([...counters.f64], [...before], 'counters are as they were');
    assert.equal(statSync(tasksFile).size, 0, 'no fake task in the tasks file');
    // With a real task adopted, the drill refuses to run.
    const sleeper = spawn('sleep', ['30'], { stdio: 'ignore' });
    try {
      await waitFor('sleep to start', () => stateOf(sleeper.pid!) !== '');
      assert.ok(backend.adopt(sleeper.pid!));
      assert.throws(() => backend.drill(), /before adopting/);
    } finally {
      sleeper.kill('SIGKILL');
    }
  } finally {
    hooks.s.pidfdSignal = pidfdSignal;
    hooks.s.setAffinity = setAffinity;
    backend.releaseAll();
    backend.close();
    scheduler.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
