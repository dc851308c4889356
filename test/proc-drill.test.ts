// ProcBackend.drill: the round's rare branches run on fake tasks before any real one, and leave nothing
// behind (no task, no counter moved, nothing in the tasks file, no process touched but its own two sleeps,
// which are gone after it). test/drill-coverage.test.ts checks that it takes every branch.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { drillProcBackend } from '../src/backends/proc/drill/drill.js';
import { ProcBackend } from '../src/backends/proc/thread/backend.js';
import { SIGCONT, SIGSTOP } from '../src/backends/os/sys.js';
import { createCounters } from '../src/base/counters.js';
import { rustland } from '../src/sched/policies/index.js';
import { createScheduler } from '../src/sched/scheduler.js';
import { stateOf, waitFor } from './fixtures/proc-util.js';

/** The drill's methods, reached past TypeScript's private for instrumentation. */
interface Hooks {
  s: { pidfdSignal(fd: number, sig: number): number; setAffinity(tid: number, mask: Uint8Array): number };
  readRuntime(slot: number): boolean;
}

/** The pid a pidfd refers to (its fdinfo), or -1. */
function pidOfPidfd(fd: number): number {
  try {
    const m = /^Pid:\s+(-?\d+)/m.exec(readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8'));
    return m ? Number(m[1]) : -1;
  } catch {
    return -1;
  }
}

/** Whether pid is a `sleep` child of this process (the drill's own). */
function isOwnSleep(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const after = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return stat.includes('(sleep)') && Number(after[1]) === process.pid;
  } catch {
    return false;
  }
}

/** A two-CPU backend over a fresh tasks file, as both tests drill it. */
function drillSetup() {
  const dir = mkdtempSync(join(tmpdir(), 'tsland-drill-'));
  const tasksFile = join(dir, 'tasks');
  const counters = createCounters();
  const scheduler = createScheduler({ nrCpus: 2, policy: rustland(), sliceNs: 5e6, counters, lockMemory: false });
  const backend = new ProcBackend({
    scheduler,
    counters,
    cpuIds: [0, 1],
    allCpus: [0, 1],
    tasksFile,
    graceNs: 2e6,
    lookNs: 1e6,
    freeLookMinNs: 1e6,
    freeLookMaxNs: 4e6,
    excludePids: [1, process.pid],
    noReapPids: [],
    subreaperPid: process.pid,
  });
  return { dir, tasksFile, counters, scheduler, backend };
}

test('drill: takes the failure branches on fake tasks and leaves no trace', async () => {
  const { dir, tasksFile, counters, scheduler, backend } = drillSetup();
  const hooks = backend as unknown as Hooks;
  const pidMax = Number(readFileSync('/proc/sys/kernel/pid_max', 'utf8'));
  const signals = new Map<number, number>();
  const pinned: number[] = [];
  const touched = new Set<number>();
  const strangers: string[] = [];
  const { pidfdSignal, setAffinity } = hooks.s;
  const readRuntime = hooks.readRuntime.bind(backend);
  let failedReads = 0;
  hooks.s.pidfdSignal = (fd, sig) => {
    signals.set(sig, (signals.get(sig) ?? 0) + 1);
    if (fd >= 0) {
      const pid = pidOfPidfd(fd);
      touched.add(pid);
      if (pid > 0 && !isOwnSleep(pid)) strangers.push(`signal ${sig} to pid ${pid}`);
    }
    return pidfdSignal(fd, sig);
  };
  hooks.s.setAffinity = (tid, mask) => {
    pinned.push(tid);
    if (tid <= pidMax && !isOwnSleep(tid)) strangers.push(`affinity of tid ${tid}`);
    return setAffinity(tid, mask);
  };
  hooks.readRuntime = (slot) => {
    const ok = readRuntime(slot);
    if (!ok) failedReads++;
    return ok;
  };
  const before = Float64Array.from(counters.f64);
  try {
    drillProcBackend(backend);
    assert.ok((signals.get(SIGCONT) ?? 0) > 0, 'a dispatch whose SIGCONT failed');
    assert.ok((signals.get(SIGSTOP) ?? 0) > 0, 'an unpicked task whose SIGSTOP failed');
    assert.ok(failedReads > 0, 'a running task whose look failed to read');
    assert.ok(pinned.length > 0, 'tasks were pinned');
    assert.deepEqual(strangers, [], "only fake tids and the drill's own sleeps are signalled or pinned");
    assert.ok(touched.size > 0, "the drill's sleep took real signals (dispatches that succeed)");
    // Its sleeps are killed: gone, or zombies until this thread's event loop reaps them.
    await waitFor('the drill sleeps to end', () => [...touched].every((pid) => pid < 0 || ['', 'Z'].includes(stateOf(pid))));
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
      assert.throws(() => drillProcBackend(backend), /before adopting/);
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

test('drill: without sleep(1) it falls back to fake descriptors and still leaves no trace', () => {
  const { dir, tasksFile, counters, scheduler, backend } = drillSetup();
  const path = process.env.PATH;
  const before = Float64Array.from(counters.f64);
  try {
    // No directory on the search path: the stand-in /proc's sleep processes cannot start.
    process.env.PATH = dir;
    drillProcBackend(backend);
    assert.equal(backend.tasks.nLive, 0);
    assert.equal(scheduler.nrTasks, 0);
    assert.deepEqual([...counters.f64], [...before], 'counters are as they were');
    assert.equal(statSync(tasksFile).size, 0, 'nothing in the tasks file');
  } finally {
    process.env.PATH = path;
    backend.close();
    scheduler.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
