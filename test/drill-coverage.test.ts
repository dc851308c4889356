// The scheduler thread's drills, run under V8's precise block coverage: every function of the scheduling
// round and the task-creation path must run, and every block in it, except the few listed below with the
// reason they cannot matter. A block first taken minutes into a run deoptimizes the optimized code around
// it, and its recompilation faults in fresh code pages on the scheduler thread (the soak's page-fault check
// found them that way); a function first run late is compiled late, with the same result. When the round
// gains a branch, this test names it until a drill takes it.

import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { startBlockCoverage, untakenBlocks, type Allowance } from './fixtures/coverage.js';

/** Functions of the round and the creation path, per compiled file under src/. */
const HOT: Record<string, string[]> = {
  'backends/proc/thread/backend.js': [
    'adopt',
    'listTids',
    'closeAll',
    'isExcluded',
    'refreshOwnChildFds',
    'adoptNew',
    'cpuIndexOf',
    'step',
    'retryExits',
    'pollExits',
    'look',
    'readRuntime',
    'lookAt',
    'backOff',
    'markStopPending',
    'report',
    'reportExit',
    'push',
    'scanChildren',
    'noteNew',
    'scanOrphans',
    'exitTask',
    'pin',
    'enforce',
    'stopUnpicked',
  ],
  'backends/proc/thread/proc-tasks.js': [
    'open',
    'setThreads',
    'close',
    'isLive',
    'dropList',
    'allocList',
    'writePollfd',
    'revents',
  ],
  'backends/os/proc-dir.js': [
    'parseDirentNumbers',
    'openFile',
    'openChildren',
    'listTids',
    'openPath',
    'byte',
    'bytes',
    'number',
  ],
  'backends/os/procfs.js': ['parseStat', 'parseSchedstatRuntimeNs', 'parseVoluntarySwitches', 'parsePidList'],
  'backends/proc/thread/tasks-file.js': ['append', 'keep', 'fill', 'compact'],
  'sched/records.js': ['writeQueued', 'push'],
  'sched/scheduler.js': [
    'slotOf',
    'registerTask',
    'setCpuIdle',
    'markBusy',
    'schedule',
    'handle',
    'enqueue',
    'exit',
    'dispatch',
    'place',
  ],
  'sched/policies/rustland.js': ['enqueue', 'stopping'],
  'sched/runqueue.js': ['has', 'push', 'peek', 'peekKey', 'pop', 'remove', 'tieBefore', 'removeAt', 'siftUp', 'siftDown'],
  'sched/taskmap.js': ['home', 'get', 'set', 'hasRoom', 'insert', 'delete'],
  'ring/spsc.js': ['room', 'slot', 'commit', 'reserve', 'publish', 'available', 'record', 'release', 'peek', 'consume'],
  'arena/tlsf.js': [
    'mappingInsert',
    'mappingSearch',
    'clearClassBits',
    'statusWord',
    'statusBit',
    'ctz',
    'insertFree',
    'clearFreeBit',
    'isFreeStart',
    'removeFree',
    'popHead',
    'takeFree',
    'takeExactFit',
    'isLive',
    'markLive',
    'writeBackRef',
    'clearLeftLong',
    'freeLeftOf',
    'alloc',
    'blockSizeFor',
    'allocBlock',
    'free',
    'freeMerging',
  ],
};

const ENDS_RUN = 'taken only when the run ends (the guardian lost, tasks released)';
const GROWS = 'growth past the reserved size: allocates by design, on the creation path';
const IO_FAILURE = 'a write or rename of the tasks file failing';
const PER_RUN = 'fixed for a whole run by its options or policy: one side only is ever taken';
const CANNOT = 'cannot happen with the real-process backend';
const NO_QUEUE_AHEAD = 'the real-process backend places no task ahead (queueAhead 0); the sched_ext drill takes it';
const GUARD = "a guard against a caller's bad argument or damaged memory";

/** Blocks that may stay untaken: [file, function, the block's first characters, why]. */
const ALLOWED: Allowance[] = [
  ['backends/proc/thread/backend.js', 'adopt', 'catch', 'the scheduler at maxTasks: the process runs under the kernel alone'],
  ['backends/proc/thread/backend.js', 'adopt', '{ const next = new Int32Array', GROWS],
  ['backends/proc/thread/backend.js', 'adopt', '{ t.close(slot); this.reportExit(pid)', IO_FAILURE],
  ['backends/proc/thread/backend.js', 'listTids', '{ this.tidScratch = new Int32Array', GROWS],
  ['backends/proc/thread/backend.js', 'refreshOwnChildFds', '{ this.ownChildFds = new Int32Array', GROWS],
  ['backends/proc/thread/backend.js', 'cpuIndexOf', 'return -1', CANNOT],
  ['backends/proc/thread/backend.js', 'step', 'return 0', ENDS_RUN],
  [
    'backends/proc/thread/backend.js',
    'step',
    '?.creationBegin',
    'the meter is set after the drill: the first real adoption takes it',
  ],
  [
    'backends/proc/thread/backend.js',
    'step',
    '?.creationEnd',
    'the meter is set after the drill: the first real adoption takes it',
  ],
  ['backends/proc/thread/backend.js', 'pollExits', '{ this.guardianLost = true', ENDS_RUN],
  ['backends/proc/thread/backend.js', 'scanOrphans', 'return', PER_RUN],
  ['backends/proc/thread/backend.js', 'pin', ': this.allMask', ENDS_RUN],
  ['backends/proc/thread/backend.js', 'pin', ': -1', ENDS_RUN],
  ['backends/proc/thread/proc-tasks.js', 'allocList', ': 1', CANNOT],
  ['backends/proc/thread/proc-tasks.js', 'allocList', '{ this.growLists(', GROWS],
  ['backends/os/proc-dir.js', 'parseDirentNumbers', 'break', CANNOT],
  ['backends/os/proc-dir.js', 'listTids', ': out.length', GROWS],
  ['backends/os/proc-dir.js', 'openPath', 'return -1', CANNOT],
  ['backends/proc/thread/tasks-file.js', 'append', 'return false', IO_FAILURE],
  ['backends/proc/thread/tasks-file.js', 'keep', '{ const grown', GROWS],
  ['backends/proc/thread/tasks-file.js', 'fill', '{ // Creation path, and only when more tasks are live', GROWS],
  ['backends/proc/thread/tasks-file.js', 'compact', 'return', IO_FAILURE],
  ['backends/proc/thread/tasks-file.js', 'compact', '{ this.s.close(fd); return; }', IO_FAILURE],
  ['sched/scheduler.js', 'registerTask', 'throw', GUARD],
  ['sched/scheduler.js', 'registerTask', 'this.lockTables()', GROWS],
  ['sched/scheduler.js', 'setCpuIdle', 'throw', GUARD],
  [
    'sched/scheduler.js',
    'handle',
    ' t = this.registerInPlace(',
    'the real-process backend registers every task before its events',
  ],
  ['sched/scheduler.js', 'enqueue', '{ key = Infinity', 'a policy that computes a NaN deadline'],
  ['sched/scheduler.js', 'exit', 'this.p.exiting(', PER_RUN],
  ['sched/scheduler.js', 'dispatch', '? this.p.selectCpu(', PER_RUN],
  ['sched/scheduler.js', 'dispatch', '&& cpu < nrCpus', PER_RUN],
  ['sched/scheduler.js', 'dispatch', '&& this.idle[cpu] === 1', PER_RUN],
  ['sched/scheduler.js', 'place', 'sliceNs = baseSliceNs', 'a policy that returns no valid slice'],
  [
    'sched/scheduler.js',
    'dispatch',
    'written += this.preemptForWakeups()',
    'the real-process backend does not preempt (preemptWakeups off); the sched_ext drill takes it',
  ],
  ['sched/scheduler.js', 'handle', 'this.heardOfAhead(t);', NO_QUEUE_AHEAD],
  ['sched/scheduler.js', 'exit', 'this.heardOfAhead(t);', NO_QUEUE_AHEAD],
  ['sched/scheduler.js', 'dispatch', '&& tasks.f64Of(t)[tasks.f64Index(t) + F64_WOKE_TS_NS] > 0', NO_QUEUE_AHEAD],
  ['sched/scheduler.js', 'dispatch', '? DF_PREEMPT', NO_QUEUE_AHEAD],
  ['sched/scheduler.js', 'dispatch', 'written += this.placeAhead()', NO_QUEUE_AHEAD],
  ['sched/runqueue.js', 'push', 'throw', GUARD],
  ['sched/taskmap.js', 'set', 'throw', GUARD],
  ['sched/taskmap.js', 'set', 'this.grow()', GROWS],
  ['arena/tlsf.js', 'alloc', 'throwBad', GUARD],
  ['arena/tlsf.js', 'free', 'throwBad', GUARD],
  ['arena/tlsf.js', 'freeLeftOf', 'return 0', GUARD],
  ['arena/tlsf.js', 'freeLeftOf', ': 0', GUARD],
  ['arena/tlsf.js', 'mappingSearch', 'rounded = MAX_U32', 'a size near 2^32: larger than any arena, refused before the search'],
  ['arena/tlsf.js', 'takeExactFit', '? MAX_U32', 'a size near 2^32: larger than any arena, refused before the search'],
];

test('drills: every block of the round and the creation path runs before the first real task', async () => {
  const session = new Session();
  session.connect();
  const dir = mkdtempSync(join(tmpdir(), 'tsland-drillcov-'));
  try {
    await startBlockCoverage(session);
    // Loaded only now: V8 counts blocks of code compiled after coverage started.
    const src = new URL('../src/', import.meta.url);
    const { DEFAULT_RESERVE_TASKS, ProcBackend } = await import(new URL('backends/proc/thread/backend.js', src).href);
    const { drillProcBackend } = await import(new URL('backends/proc/drill/drill.js', src).href);
    const { warmParsers } = await import(new URL('backends/os/procfs.js', src).href);
    const { createCounters } = await import(new URL('base/counters.js', src).href);
    const { rustland } = await import(new URL('sched/policies/index.js', src).href);
    const { createScheduler } = await import(new URL('sched/scheduler.js', src).href);
    const { RunQueue } = await import(new URL('sched/runqueue.js', src).href);
    const { TaskMap } = await import(new URL('sched/taskmap.js', src).href);
    const { SpscRing } = await import(new URL('ring/spsc.js', src).href);
    const { drillArena } = await import(new URL('arena/index.js', src).href);
    // What the scheduler thread runs before its first real task (worker.ts).
    warmParsers();
    TaskMap.drill();
    SpscRing.drill();
    RunQueue.drill();
    drillArena('tlsf');
    const counters = createCounters();
    // Sized as the scheduler thread sizes them, so that nothing grows.
    const reserveTasks = DEFAULT_RESERVE_TASKS;
    const scheduler = createScheduler({ nrCpus: 2, policy: rustland(), sliceNs: 5e6, counters, lockMemory: false, reserveTasks });
    const backend = new ProcBackend({
      scheduler,
      counters,
      cpuIds: [0, 1],
      allCpus: [0, 1],
      tasksFile: join(dir, 'tasks'),
      graceNs: 2e6,
      lookNs: 1e6,
      freeLookMinNs: 1e6,
      freeLookMaxNs: 4e6,
      excludePids: [1, process.pid],
      noReapPids: [],
      subreaperPid: process.pid,
      reserveTasks,
    });
    try {
      drillProcBackend(backend);
    } finally {
      backend.close();
      scheduler.close();
    }
    const { missing, stale } = await untakenBlocks(session, HOT, ALLOWED);
    assert.deepEqual(missing, [], `blocks no drill takes:\n${missing.join('\n')}`);
    // An allowance nothing needs any more is dropped, so the list stays the truth.
    assert.deepEqual(stale, [], `allowed blocks that the drills now take (remove them):\n${stale.join('\n')}`);
  } finally {
    session.disconnect();
    rmSync(dir, { recursive: true, force: true });
  }
});
