// The scheduler thread: the scheduler core and the real-process backend, in synchronous bursts. Inside a
// burst the thread sleeps with Atomics.wait until the next slice end or look; between bursts it yields to
// its event loop (GC entries get counted there). Its own page faults and GCs are published to the shared
// counters; everything it prints goes through the main thread.

import { openSync } from 'node:fs';
import { setPriority } from 'node:os';
import v8 from 'node:v8';
import { pathToFileURL } from 'node:url';
import { parentPort, workerData } from 'node:worker_threads';
import { MemPublisher } from '../../mem/publish.js';
import type { Policy } from '../../sched/api.js';
import { createCounters } from '../../sched/counters.js';
import { BUILTIN_POLICIES } from '../../sched/policies/index.js';
import { createScheduler } from '../../sched/scheduler.js';
import { CLK_NEXT_WAKE_NS, CLK_NOW_NS, ProcBackend } from './backend.js';
import { readMonotonicMs, readMonotonicNs, NSEC_PER_MSEC } from './clock.js';
import { CTL_ADOPT_PID, CTL_SIGNAL, CTL_STOP, CTL_WAKE, type WorkerConfig, type WorkerMessage } from './control.js';
import { openVerifiedPidfd } from './identity.js';
import { HB_BEAT_MS, HEARTBEAT_BYTES } from './state.js';
import { sys } from './sys.js';

/** A burst ends after this long, so the event loop runs a few dozen times a second at most. */
const BURST_NS = 50 * NSEC_PER_MSEC;
const SLAB_TASKS = 1024;
/**
 * Bytecode a function may run before V8 optimizes it (V8's default is 132 KiB). The preemption path runs a
 * few hundred times a second; at the default it stays in baseline code for minutes, and baseline code boxes
 * every double it computes (measured: ~150 bytes per dispatch, against ~12 once optimized).
 */
const INTERRUPT_BUDGET_BYTES = 4096;
const PRIORITY_SCHEDULER = -10;

async function loadPolicy(spec: string): Promise<Policy> {
  const builtin = BUILTIN_POLICIES[spec];
  if (builtin) return builtin();
  const mod = (await import(pathToFileURL(spec).href)) as Record<string, unknown>;
  const exported = mod.default ?? mod.policy;
  return (typeof exported === 'function' ? (exported as () => Policy)() : exported) as Policy;
}

async function main(config: WorkerConfig): Promise<void> {
  v8.setFlagsFromString(`--interrupt-budget=${INTERRUPT_BUDGET_BYTES}`);
  const port = parentPort!;
  const post = (m: WorkerMessage): void => port.postMessage(m);
  const s = sys();
  try {
    // Wake-ups of this thread decide when hogs stop: late wake-ups are late slices.
    setPriority(s.gettid(), PRIORITY_SCHEDULER);
  } catch {
    // Not privileged: runs at the default priority.
  }
  const counters = createCounters(config.countersSab);
  const ctl = new Int32Array(config.ctlSab);
  const policy = await loadPolicy(config.policy);
  const scheduler = createScheduler({
    nrCpus: config.cpuIds.length,
    policy,
    sliceNs: config.sliceNs,
    counters,
    slabTasks: SLAB_TASKS,
    maxTasks: config.maxTasks,
    lockMemory: config.lock,
  });
  scheduler.onSlab((sab, index) => post({ type: 'slab', sab, index }));
  const backend = new ProcBackend({
    scheduler,
    counters,
    cpuIds: config.cpuIds,
    allCpus: config.allCpus,
    tasksFile: config.tasksFile,
    graceNs: config.graceNs,
    lookNs: config.lookNs,
    freeLookMinNs: config.freeLookMinNs,
    freeLookMaxNs: config.freeLookMaxNs,
    excludePids: config.excludePids,
    noReapPids: config.noReapPids,
    subreaperPid: config.subreaperPid,
  });
  const guardianPidfd = openVerifiedPidfd(config.guardianPid, config.guardianStartTicks);
  backend.setGuardianPidfd(guardianPidfd);
  if (guardianPidfd < 0) backend.guardianLost = true;
  let adopted = 0;
  for (const pid of config.roots) if (backend.adopt(pid)) adopted++;

  const unlocked = (scheduler as { unlockedSlabs?: number }).unlockedSlabs ?? 0;
  const locked = config.lock && unlocked === 0;
  const publisher = new MemPublisher(counters, { lock: locked });
  const hbFd = openSync(config.heartbeatFile, 'r+');
  const beat = new Float64Array(HEARTBEAT_BYTES / 8);
  const beatBytes = new Uint8Array(beat.buffer, 0, 8);
  // Loop times, kept in a Float64Array so that no time value is ever boxed.
  const T_BURST_END = 0;
  const T_AFTER = 1;
  const T_LAST_BEAT = 2;
  const times = new Float64Array(3);
  times[T_LAST_BEAT] = -Infinity;
  const clock = backend.clock;
  post({ type: 'ready', slabs: scheduler.taskSlabs(), policy: policy.name, locked, adopted });

  const finish = (reason: 'stopped' | 'guardian-lost' | 'empty'): void => {
    const released = backend.releaseAll(reason === 'stopped' ? Atomics.load(ctl, CTL_SIGNAL) : 0);
    backend.close();
    publisher.publish();
    publisher.close();
    scheduler.close();
    if (guardianPidfd >= 0) s.close(guardianPidfd);
    post({ type: 'done', reason, released });
  };

  const burst = (): void => {
    readMonotonicNs(times, T_BURST_END);
    times[T_BURST_END] += BURST_NS;
    for (;;) {
      if (Atomics.load(ctl, CTL_STOP) !== 0) return finish('stopped');
      const rootPid = Atomics.load(ctl, CTL_ADOPT_PID);
      if (rootPid !== 0) {
        // Node reaps the command it spawned; the backend must not take its exit status.
        backend.keepUnreaped(rootPid);
        backend.adopt(rootPid);
        Atomics.store(ctl, CTL_ADOPT_PID, 0);
      }
      readMonotonicNs(clock, CLK_NOW_NS);
      backend.step();
      if (backend.guardianLost) return finish('guardian-lost');
      if (config.endWhenEmpty && backend.tasks.nLive === 0) return finish('empty');
      if (clock[CLK_NOW_NS]! - times[T_LAST_BEAT]! >= config.heartbeatNs) {
        readMonotonicMs(beat, HB_BEAT_MS / 8);
        s.pwrite(hbFd, beatBytes, 8, HB_BEAT_MS);
        times[T_LAST_BEAT] = clock[CLK_NOW_NS]!;
      }
      readMonotonicNs(times, T_AFTER);
      const afterNs = times[T_AFTER]!;
      if (afterNs >= times[T_BURST_END]!) break;
      let waitNs = clock[CLK_NEXT_WAKE_NS]! - afterNs;
      const beatDueNs = times[T_LAST_BEAT]! + config.heartbeatNs - afterNs;
      if (beatDueNs < waitNs) waitNs = beatDueNs;
      if (times[T_BURST_END]! - afterNs < waitNs) waitNs = times[T_BURST_END]! - afterNs;
      // Whole milliseconds, rounded up: a fractional timeout would be boxed on its way into Atomics.wait.
      if (waitNs > 0) Atomics.wait(ctl, CTL_WAKE, 0, Math.ceil(waitNs / NSEC_PER_MSEC));
    }
    publisher.publish();
    setImmediate(burst);
  };
  if (backend.guardianLost) return finish('guardian-lost');
  burst();
}

void main(workerData as WorkerConfig);
