// The scheduler thread: the scheduler core and the real-process backend, in synchronous bursts. Inside a
// burst the thread sleeps with Atomics.wait until the next slice end or look; between bursts it yields to
// its event loop (GC entries get counted there). Its own page faults and GCs are published to the shared
// counters; everything it prints goes through the main thread.

import { openSync, writeSync } from 'node:fs';
import { setPriority } from 'node:os';
import v8 from 'node:v8';
import { parentPort, workerData } from 'node:worker_threads';
import { drillArena } from '../../../arena/index.js';
import { collectGarbageNow } from '../../../mem/gc.js';
import { lockFileMappingsOrWarn } from '../../../mem/lock-files.js';
import { MemPublisher } from '../../../mem/publish.js';
import { C, createCounters } from '../../../base/counters.js';
import { createScheduler } from '../../../sched/scheduler.js';
import { RunQueue } from '../../../sched/runqueue.js';
import { TaskMap } from '../../../sched/taskmap.js';
import { SpscRing } from '../../../ring/spsc.js';
import { DEFAULT_RESERVE_TASKS, ProcBackend } from './backend.js';
import { drillProcBackend } from '../drill/drill.js';
import { warmParsers } from '../../os/procfs.js';
import { ROUND_GUARDIAN_LOST, ROUND_STOP, ROUND_YIELD, SchedulerLoop } from './loop.js';
import { warmClock } from '../../os/clock.js';
import { NSEC_PER_MSEC } from '../../../base/units.js';
import { CTL_SIGNAL, CTL_WAKE, type DoneReason, type WorkerMessage } from '../../session/control.js';
import { loadThreadPolicy } from '../../session/thread.js';
import type { WorkerConfig } from './config.js';
import { openVerifiedPidfd } from '../../os/identity.js';
import { sys } from '../../os/sys.js';
import { HB_TID } from '../guardian/state.js';

/**
 * A burst ends after this long and the thread yields to its event loop (GC entries are counted there). Each
 * yield allocates (an immediate), so bursts are long; stop requests come through Atomics, not messages.
 */
const BURST_NS = 1000 * NSEC_PER_MSEC;
const SLAB_TASKS = 1024;
/**
 * Bytecode a function may run before V8 optimizes it (V8's default is 132 KiB). The preemption path runs a
 * few hundred times a second; at the default it stays in baseline code for minutes, and baseline code boxes
 * every double it computes (measured: ~150 bytes per dispatch, against ~12 once optimized).
 */
const INTERRUPT_BUDGET_BYTES = 4096;
/**
 * Warm-up: the first bursts are short, so the code that runs once per burst (the yield through Node's
 * immediate queue, the counter publication) runs a thousand times and is optimized now rather than a
 * minute or two into the run, when installing its code would fault in a code page. The second burst ends
 * with one full collection: the garbage of start-up (module loading, the drills, adopting the first
 * tasks) is collected then, at a moment we choose and within the first second, instead of mid-run.
 */
const SHORT_BURSTS = 1500;
const SHORT_BURST_NS = 2 * NSEC_PER_MSEC;
const GC_AFTER_BURSTS = 2;
/**
 * End of warm-up for V8's compilers: after this long the process compiles no new code (optimizing and
 * baseline tiers off; what is compiled stays). Code compiled later is written into fresh code pages, a
 * page fault each on the thread that installs it: with every branch drilled, the soak still saw baseline
 * batches installed minutes in (functions that run a few times a minute), and, with only the baseline
 * tier stopped, `attach` restarts took a dozen faults each from optimizing compiles after warm-up. The
 * price: a function deoptimized after this (by a case no drill foresaw) runs unoptimized for good, boxing
 * numbers, so it allocates and faults (the soak saw that once, from a branch of the burst function itself,
 * since removed). The drills and their coverage test are what keep that from happening. The flags are
 * process-wide: the main thread stops compiling too.
 */
const FREEZE_COMPILERS_AFTER_MS = 12_000;
const FREEZE_COMPILERS_FLAGS = '--no-turbofan --no-sparkplug';

const PRIORITY_SCHEDULER = -10;
const GUARDIAN_LOST_MESSAGE = 'the guardian exited; every task was released and tsland will not run unguarded';

async function main(config: WorkerConfig): Promise<void> {
  v8.setFlagsFromString(`--interrupt-budget=${INTERRUPT_BUDGET_BYTES}`);
  // V8 allocates a function's feedback vector only after it has run a while, and records no type feedback
  // before: the drills below take some rare branches only once or twice, which would then teach V8 nothing.
  v8.setFlagsFromString('--no-lazy-feedback-allocation');
  // Drills: every branch of the hot code, on scratch data, often enough that V8 optimizes it now. A branch
  // first taken mid-run deoptimizes the code that inlined it, and a function first hot mid-run is compiled
  // then; either way installing the code faults in code pages on this thread. test/drill-coverage.test.ts
  // checks that the drills leave no block of the round untaken.
  warmParsers();
  warmClock();
  TaskMap.drill();
  SpscRing.drill();
  RunQueue.drill();
  drillArena('tlsf');
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
  const policy = await loadThreadPolicy(config.policy);
  const scheduler = createScheduler({
    nrCpus: config.cpuIds.length,
    policy,
    sliceNs: config.sliceNs,
    counters,
    slabTasks: SLAB_TASKS,
    maxTasks: config.maxTasks,
    // Sized for a burst up front: a slab, run queue or map that grows mid-run is new memory, faulted in
    // on the scheduler thread.
    reserveTasks: Math.min(DEFAULT_RESERVE_TASKS, config.maxTasks),
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
    reserveTasks: Math.min(DEFAULT_RESERVE_TASKS, config.maxTasks),
    lockMemory: config.lock,
  });
  // Before any real task: every branch of the round, on fake tasks (see drill/drill.ts).
  drillProcBackend(backend);
  // Code pages the round runs rarely go cold, and a reclaimer (kswapd, or DAMON's pageout scheme, active on
  // the machines this was measured on) drops them: the next run of that branch faults. Locked, they stay.
  if (config.lock) {
    lockFileMappingsOrWarn('a page fault on one can delay scheduling');
  }
  const guardianPidfd = openVerifiedPidfd(config.guardianPid, config.guardianStartTicks);
  backend.setGuardianPidfd(guardianPidfd);
  if (guardianPidfd < 0) backend.guardianLost = true;
  let adopted = 0;
  for (const pid of config.roots) if (backend.adopt(pid)) adopted++;

  const unlocked = (scheduler as { unlockedSlabs?: number }).unlockedSlabs ?? 0;
  const locked = config.lock && unlocked === 0;
  const publisher = new MemPublisher(counters, { lock: locked });
  backend.setCreationMeter(publisher);
  const hbFd = openSync(config.heartbeatFile, 'r+');
  const loop = new SchedulerLoop(backend, ctl, s, hbFd, config.heartbeatNs, SHORT_BURST_NS, config.endWhenEmpty);
  post({ type: 'ready', slabs: scheduler.taskSlabs(), policy: policy.name, locked, adopted });

  const finish = (reason: DoneReason): void => {
    const released = backend.releaseAll(reason === 'stopped' ? Atomics.load(ctl, CTL_SIGNAL) : 0);
    backend.close();
    publisher.publish();
    publisher.close();
    scheduler.close();
    if (guardianPidfd >= 0) s.close(guardianPidfd);
    if (reason === 'lost') post({ type: 'done', reason, released, message: GUARDIAN_LOST_MESSAGE });
    else post({ type: 'done', reason, released });
  };

  let bursts = 0;
  const burst = (): void => {
    ++bursts;
    if (bursts === GC_AFTER_BURSTS) collectGarbageNow();
    // Every burst, not once at the switch: a branch first taken at burst 1,500, with this function
    // optimized, deoptimized it (traced in the soak).
    loop.setBurstNs(bursts < SHORT_BURSTS ? SHORT_BURST_NS : BURST_NS);
    loop.startBurst();
    for (;;) {
      const r = loop.round();
      if (r > 0) Atomics.wait(ctl, CTL_WAKE, 0, r);
      else if (r === ROUND_YIELD) break;
      else if (r < 0) return finish(r === ROUND_STOP ? 'stopped' : r === ROUND_GUARDIAN_LOST ? 'lost' : 'empty');
    }
    publisher.publish();
    setImmediate(burst);
  };
  if (backend.guardianLost) return finish('lost');
  // From a timer, not a branch of burst(): a branch first taken there, late, deoptimizes it.
  setTimeout(() => {
    v8.setFlagsFromString(FREEZE_COMPILERS_FLAGS);
    counters.f64[C.warmed_up] = 1;
  }, FREEZE_COMPILERS_AFTER_MS).unref();
  // From its first round on this thread beats (until then the main thread does): the guardian watches
  // the named thread's state and CPU time (see guardian.ts), so the name changes hands only now.
  writeSync(hbFd, new Uint8Array(new Float64Array([s.gettid()]).buffer), 0, 8, HB_TID);
  burst();
}

void main(workerData as WorkerConfig);
