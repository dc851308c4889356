// The sched_ext scheduler thread: loads the kernel half, then runs the scheduler core over its rings in
// synchronous bursts (loop.ts). Between bursts it yields to its event loop, where GC entries are counted.
// Its own page faults and GCs are published to the shared counters, as the real-process backend's are.
// The BPF object is loaded here, in the thread that reads its rings; it belongs to the whole process, so
// when the process dies the kernel unloads it and every task goes back to the fair class.
//
// It speaks the session's protocol (session/control.ts): 'ready', 'slab', 'done'; CTL_STOP ends it,
// CTL_ADOPT_PID is acknowledged (the main thread has already put the command into SCHED_EXT). A start-up
// failure (the kernel refused the object) is thrown: the session reports it as the thread's error.

import { readFileSync } from 'node:fs';
import { setPriority } from 'node:os';
import v8 from 'node:v8';
import { parentPort, workerData } from 'node:worker_threads';
import { drillArena } from '../../../arena/index.js';
import { C, createCounters } from '../../../base/counters.js';
import { NSEC_PER_MSEC } from '../../../base/units.js';
import { collectGarbageNow, settleGcEntries, YoungGenerationTouch } from '../../../mem/gc.js';
import { lockFileMappingsOrWarn } from '../../../mem/lock-files.js';
import { MemPublisher } from '../../../mem/publish.js';
import { SpscRing } from '../../../ring/spsc.js';
import type { Policy } from '../../../sched/api.js';
import { loadPolicy } from '../../../sched/load-policy.js';
import { RunQueue } from '../../../sched/runqueue.js';
import { createScheduler } from '../../../sched/scheduler.js';
import { TaskMap } from '../../../sched/taskmap.js';
import { readMonotonicNs, warmClock } from '../../os/clock.js';
import { CTL_ADOPT_PID, CTL_SIGNAL, CTL_STOP, type SessionThreadConfig, type WorkerMessage } from '../../session/control.js';
import { readTaskRows } from '../../session/task-rows.js';
import { loadScx, type ScxScheduler } from '../loader.js';
import { RingWaiter } from '../rings.js';
import { ScxBridge } from './bridge.js';
import { CAPTURE_ENV, RecordCapture } from './capture.js';
import type { ScxThreadConfig } from './config.js';
import { drillScxRound } from './drill.js';
import { ROUND_EJECTED, ROUND_STOP, ROUND_YIELD, ScxLoop, type KernelHalf } from './loop.js';
import { schedYield } from './sched-calls.js';

/**
 * A burst ends after this long and the thread yields to its event loop, where GC entries are counted. Each
 * yield allocates (Node's immediate and its queue: about 330 bytes, measured), so it is rare: at one a
 * second, that garbage walked V8's young generation onto a fresh page every few seconds in the guest (a
 * page fault each, 20 in a 2-minute trace) and filled it for a scavenge now and then. Faults are published
 * inside the burst (the loop's tick), so only the GC count waits for the yield.
 */
const BURST_NS = 10_000 * NSEC_PER_MSEC;
/** The first bursts are short, so per-burst code is optimized early (see proc/thread/worker.ts). */
const SHORT_BURSTS = 1500;
const SHORT_BURST_NS = 2 * NSEC_PER_MSEC;
const GC_AFTER_BURSTS = 2;
/** See proc/thread/worker.ts: bytecode before V8 optimizes a function (default 132 KiB). */
const INTERRUPT_BUDGET_BYTES = 4096;
/** End of warm-up for V8's compilers (see proc/thread/worker.ts FREEZE_COMPILERS_AFTER_MS). */
const FREEZE_COMPILERS_AFTER_MS = 12_000;
/** What the drills below take on the machine those 12 s were measured on (2 CPUs, Node 20: 92-112 ms). */
const DRILL_REFERENCE_MS = 100;
/** However slow the machine, the compilers stop this long after the start at the latest. */
const FREEZE_COMPILERS_MAX_MS = 600_000;

/**
 * The compilers' warm-up, stretched on a machine slower than the reference by as much as the drills ran
 * slower. Under software emulation (the sched_ext guest) JavaScript runs about 20x slower: a fixed 12 s
 * stopped the compilers before the round was optimized, and the unoptimized round allocated (boxed
 * numbers), so the scheduler thread took GCs and page faults on fresh heap pages.
 */
function freezeCompilersAfterMs(drillMs: number): number {
  const slower = Math.max(1, drillMs / DRILL_REFERENCE_MS);
  return Math.min(FREEZE_COMPILERS_MAX_MS, FREEZE_COMPILERS_AFTER_MS * slower);
}
const FREEZE_COMPILERS_FLAGS = '--no-turbofan --no-sparkplug';
const PRIORITY_SCHEDULER = -10;
const SLAB_TASKS = 1024;
/** Task table reserved up front: a whole machine's tasks, so that taking them on grows nothing. */
const RESERVE_TASKS = 8192;
/** The core's queued ring: larger than the kernel's (5,461 records), so one drain always fits. */
const CORE_QUEUED_CAPACITY = 8192;

type Config = SessionThreadConfig & ScxThreadConfig;

/** CPUs the kernel may ever run tasks on (/sys/devices/system/cpu/possible, e.g. "0-7"): sched_ext's CPU ids. */
function possibleCpus(): number {
  let last = 0;
  for (const range of readFileSync('/sys/devices/system/cpu/possible', 'utf8').trim().split(',')) {
    const hi = Number(range.split('-').pop());
    if (Number.isInteger(hi) && hi > last) last = hi;
  }
  return last + 1;
}

/** The loop's view of the loaded scheduler; the exit kind is read in place (exitInfo() builds strings). */
function kernelHalf(scx: ScxScheduler): KernelHalf {
  return {
    counter: (at) => scx.counter(at),
    setScheduled: (n) => scx.setScheduled(n),
    setDispatchPosted: (n) => scx.setDispatchPosted(n),
    exitKind: () => scx.exitKind(),
  };
}

/** One line for the user when the kernel ended the scheduler (its watchdog, an error, sysrq). */
export function ejectionMessage(scx: ScxScheduler): string {
  const info = scx.exitInfo();
  if (!info) return 'the kernel unloaded the sched_ext scheduler';
  const detail = info.message && info.message !== info.reason ? `: ${info.message.split('\n')[0]}` : '';
  return `the kernel unloaded the sched_ext scheduler (${info.reason || `exit kind ${info.kind}`}${detail}); every task is back on the kernel's scheduler`;
}

async function main(config: Config): Promise<void> {
  const port = parentPort!;
  const post = (m: WorkerMessage): void => port.postMessage(m);
  v8.setFlagsFromString(`--interrupt-budget=${INTERRUPT_BUDGET_BYTES}`);
  // Feedback from the drill's first runs (see proc/thread/worker.ts).
  v8.setFlagsFromString('--no-lazy-feedback-allocation');
  const counters = createCounters(config.countersSab);
  const ctl = new Int32Array(config.ctlSab);
  // Two instances: one for the drill's scratch scheduler, one for the real one. A file that exports a
  // single object gives the same object twice; init() binds it to the real scheduler last.
  const drillPolicy: Policy = await loadPolicy(config.policy);
  const policy: Policy = await loadPolicy(config.policy);

  // Drills, before the first real task (drill.ts; proc/thread/worker.ts says why).
  const drillStartMs = performance.now();
  warmClock();
  TaskMap.drill();
  SpscRing.drill();
  RunQueue.drill();
  drillArena('tlsf');
  drillScxRound(() => drillPolicy, readMonotonicNs);
  const drillMs = performance.now() - drillStartMs;

  try {
    // The loop's wake-ups decide how soon a woken task is placed.
    setPriority(0, PRIORITY_SCHEDULER);
  } catch {
    // Not privileged: runs at the default priority.
  }

  const scheduler = createScheduler({
    nrCpus: possibleCpus(),
    policy,
    sliceNs: config.sliceNs,
    counters,
    slabTasks: SLAB_TASKS,
    maxTasks: config.maxTasks,
    reserveTasks: Math.min(RESERVE_TASKS, config.maxTasks),
    queuedCapacity: CORE_QUEUED_CAPACITY,
    lockMemory: config.lock,
    crossThreadRings: false,
    // The kernel half stops the task on the target CPU at once (SCX_ENQ_PREEMPT), as EEVDF would on wake-up.
    preemptWakeups: true,
    queueAhead: config.queueAhead,
  });
  scheduler.onSlab((sab, index) => post({ type: 'slab', sab, index }));

  // Before the kernel hands us any task: no thread of ours may then wait on a file page that a task we
  // schedule holds locked (mem/lock-files.ts).
  if (config.lock) {
    lockFileMappingsOrWarn('a page fault on one can stall scheduling');
  }

  let scx: ScxScheduler;
  try {
    scx = loadScx({
      objectPath: config.objectPath ?? undefined,
      partial: config.partial,
      timeoutMs: config.timeoutMs,
      guestLibbpf: config.guestLibbpf,
      park: config.park,
    });
  } catch (err) {
    scheduler.close();
    throw err;
  }
  const rings = scx.mapRings();
  const waiter = new RingWaiter(scx.queuedFd);
  // Nothing to read: parked by the kernel half until a CPU runs out of work while records wait (the round's
  // sleep time is then only a bound the heartbeat keeps), or asleep in epoll until a record comes.
  const wait = config.park
    ? (): void => {
        scx.setParking();
        schedYield();
      }
    : (ms: number): void => void waiter.wait(ms);
  const bridge = new ScxBridge(scheduler, counters, rings.dispatch, RESERVE_TASKS);
  const loop = new ScxLoop(
    scheduler,
    bridge,
    rings.queued,
    rings.dispatch,
    kernelHalf(scx),
    counters,
    ctl,
    CTL_STOP,
    readMonotonicNs,
    schedYield,
    SHORT_BURST_NS,
  );
  const capturePath = process.env[CAPTURE_ENV];
  if (capturePath) loop.capture = new RecordCapture(capturePath, scheduler.nrCpus);
  const locked = config.lock && scheduler.unlockedSlabs === 0;
  const publisher = new MemPublisher(counters, { lock: locked });
  loop.onTick = () => publisher.publish();
  bridge.creationMeter = publisher;
  post({ type: 'ready', slabs: scheduler.taskSlabs(), policy: policy.name, locked, adopted: 0 });

  let finished = false;
  const finish = (ejected: boolean): void => {
    finished = true;
    loop.copyCounters();
    // A forwarded Ctrl-C or SIGTERM of `run`: every task of the tree gets it (in partial mode the tasks the
    // core knows are the tree's; `start` forwards none).
    const signal = Atomics.load(ctl, CTL_SIGNAL);
    if (signal > 0 && config.partial) {
      for (const row of readTaskRows(scheduler.taskSlabs())) {
        try {
          process.kill(row.pid, signal);
        } catch {
          // Gone meanwhile.
        }
      }
    }
    let message = ejected ? `${ejectionMessage(scx)}\n${stateAtEjection()}${kernelDump()}` : undefined;
    if (loop.capture) {
      try {
        loop.capture.write();
      } catch (err) {
        message = `${message ? `${message}\n` : ''}could not write the capture ${loop.capture.path}: ${(err as Error).message}`;
      }
    }
    scx.detach();
    waiter.close();
    rings.unmap();
    publisher.publish();
    publisher.close();
    scheduler.close();
    post({ type: 'done', reason: ejected ? 'lost' : 'stopped', released: scheduler.nrTasks, message });
  };

  // What each side held when the kernel gave up: which side a stuck task waited on.
  const stateAtEjection = (): string => {
    const k = scx.snapshot();
    const q = rings.queued;
    return (
      `state at ejection: kernel sent ${k.nr_events} records (${k.nr_queued} wanting a CPU, ${k.nr_events_lost} lost), ` +
      `tsland read ${q.recordsRead}${q.pending() ? ' (more waiting)' : ''}; ` +
      // the core's task counts are after the unload, which reports every task as gone
      `core: ${loop.totals[1]} dispatches in ${loop.totals[2]} rounds, ` +
      `${bridge.heldDispatches} held; kernel drained ${k.nr_dispatch_drained} of ${k.nr_dispatch_posted} posted ` +
      `(${k.nr_user_dispatches} inserted, ${k.nr_cancel_dispatches} stale, ${k.nr_failed_dispatches} failed), ` +
      `${k.nr_drain_errors} drain errors${k.nr_drain_errors > 0 ? ` (last errno ${k.drain_errno})` : ''}, ` +
      `${k.nr_dispatch_calls} ops.dispatch calls, ${k.nr_in_user} tasks waiting on tsland, ` +
      `${k.nr_rescued} placed by the kernel half in ${k.nr_rescues} stalls, ${k.nr_starved} after waiting on the policy half the timeout, ` +
      `${k.nr_running} running, ${k.nr_cpu_idle} CPU_IDLE, ${k.nr_timer_kicks} timer kicks (${k.nr_kick_sweeps} sweeps)`
    );
  };

  // The kernel's own dump of the ejection, where the stalled task waited (scx_exit_info.dump).
  const kernelDump = (): string => {
    const dump = scx.exitInfo()?.dump;
    // Indented: none of its lines may read as tsland's own last words ("tsland: ..."), which tools take as
    // the reason it ended.
    return dump ? `\nthe kernel's dump at ejection:\n${dump.replace(/^/gm, '  ')}` : '';
  };

  // The end of the warm-up: every page of the young generation written, so that the yields to the event
  // loop allocate on pages that are there (a 3-minute trace in the guest after the compilers stopped: 20
  // faults, all writes by V8's allocator and libc's memset to anonymous memory: consecutive fresh pages of
  // one region, then the headers of four fresh chunks at once and the pages after them); then the GCs this
  // took are counted, the compilers stopped and warmed_up said. The touch runs a round between short
  // bursts: all of it at once stalled scheduling for as long as it took, and a round per long burst spread
  // its garbage so thin in time that V8 kept reading the allocation rate as low (see YoungGenerationTouch).
  let touch: YoungGenerationTouch | null = null;
  const endWarmUp = (): void => {
    void settleGcEntries().then(() => {
      // The thread may have ended meanwhile (stopped, ejected): its publisher is closed then.
      if (finished) return;
      publisher.publish();
      v8.setFlagsFromString(FREEZE_COMPILERS_FLAGS);
      counters.f64[C.warmed_up] = 1;
    });
  };

  let bursts = 0;
  const burst = (): void => {
    ++bursts;
    if (bursts === GC_AFTER_BURSTS) collectGarbageNow();
    // The command of `run` was put into SCHED_EXT by the main thread before its gate opened.
    if (Atomics.load(ctl, CTL_ADOPT_PID) !== 0) Atomics.store(ctl, CTL_ADOPT_PID, 0);
    const touching = touch !== null && !touch.done;
    loop.setBurstNs(bursts < SHORT_BURSTS || touching ? SHORT_BURST_NS : BURST_NS);
    loop.startBurst();
    for (;;) {
      const r = loop.round();
      if (r > 0) wait(r);
      else if (r === ROUND_YIELD) break;
      else if (r === ROUND_STOP) return finish(false);
      else if (r === ROUND_EJECTED) return finish(true);
    }
    publisher.publish();
    if (touching && touch!.step()) endWarmUp();
    setImmediate(burst);
  };
  setTimeout(() => {
    if (!finished) touch = new YoungGenerationTouch();
  }, freezeCompilersAfterMs(drillMs)).unref();
  burst();
}

void main(workerData as Config).catch((err: Error) => {
  // Reported to the session as the thread's error (its message is what the user reads).
  queueMicrotask(() => {
    throw err;
  });
});
