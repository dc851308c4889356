// The warm-up drill of the proc backend: runs every branch of the scheduling round, before the first real
// task is adopted, so that V8 optimizes that code with type feedback for all of them. A branch first taken
// mid-run (a task gone between poll and read, a SIGSTOP or SIGCONT that fails, the first rewrite of the
// tasks file) deoptimizes the code around it, and installing the recompiled code faults in fresh code pages
// on the scheduler thread: the soak saw a handful of such faults a minute for the first minutes of every
// run until this drill.
//
// The drill's tasks are fake: pids above the kernel's largest possible pid (so no signal, affinity or wait
// can reach a real process), /proc files from a stand-in tree (DrillProc) or descriptors of -1. The only
// real processes it touches are its own two sleeps (their pidfds take its signals). The tasks file is
// rewritten empty at the end, and every counter is put back as it was.
//
// It lives apart from ProcBackend so that the production round reads without it; it drives the backend
// through the members the class leaves open to it (marked "drill" there). test/drill-coverage.test.ts runs
// it under V8's block coverage and fails if a block of the round's code is left untaken (apart from a
// listed few that end the run): keep it that way when the round changes.

import { CLOCK_NOW_NS } from '../../../sched/api.js';
import { D_CPU, D_FLAGS, D_PID, D_SLICE_NS, DF_BOUNCE, EV_EXITED, EV_RUNNABLE, EV_STOPPED } from '../../../sched/records.js';
import { readMonotonicNs } from '../../os/clock.js';
import { PROC_SCHEDSTAT, PROC_STAT, PROC_STATUS, ProcDir } from '../../os/proc-dir.js';
import { CLK_NOW_NS, type ProcBackend } from '../thread/backend.js';
import { M_FREE, M_RUNNING, M_WAITING } from '../thread/proc-tasks.js';
import { TASKS_FILE_MIN_RECORDS } from '../thread/tasks-file.js';
import { DrillProc, type FakeTask } from './drill-proc.js';

/** Fake pids of the drill start here: above PID_MAX_LIMIT (2^22), so no process can ever have one. */
const DRILL_PID_BASE = 0x7fff0000;
const DRILL_ROUNDS = 2;
const DRILL_STEPS = 8;
/** Fake tasks the lifecycle scenario runs at least. */
const DRILL_LIFE_TASKS = 8;
/** Fake pids of the lifecycle scenario: tasks from LIFE_BASE, processes that never exist from GHOST_BASE. */
const DRILL_LIFE_BASE = DRILL_PID_BASE + 0x1000;
const DRILL_GHOST_BASE = DRILL_PID_BASE + 0x2000;
const DRILL_JUMP_NS = 1_000_000_000;
/** Appends of one record: enough to pass the tasks file's rewrite threshold. */
const DRILL_APPENDS = TASKS_FILE_MIN_RECORDS + 1;
const DRILL_FILLS = 300;
const DRILL_REFRESHES = 200;
/** The lifecycle task that sleeps (from DRILL_LIFE_BASE); the others burn CPU. */
const SLEEPER = 1;

/** What the scenario does to the dispatched task it finds at a step (pid `p`, its runtime so far). */
type ToRunning = (fake: DrillProc, p: number, runtimeNs: number, d: LifeState) => void;

interface LifeStep {
  name: string;
  /** The sleeper: asleep with one thread, asleep with two, or awake (a hog from then on). */
  sleeper: 'asleep' | 'asleep, two threads' | 'awake';
  /** The sleeper's process-wide CPU ticks (a change means another thread ran). Default 1. */
  sleeperTicks?: number;
  /** Tasks 0 and 2 fork: a child with no process behind it, and a child that is a managed task. */
  fork?: boolean;
  /** What happens to the dispatched task found at this step. */
  running?: ToRunning;
  /** The clock moves a whole second before this round instead of one look (and, with `hogsJump`, the hogs' runtimes too). */
  clockJump?: boolean;
  /** The hogs have run a whole second: past any cap on a task's runtime. */
  hogsJump?: boolean;
  /** A thread change is noted for the dispatched task, which `running` makes fail before adoption reads it. */
  notesThreadChange?: boolean;
  /** Runs after this step's round. */
  after?: (b: ProcBackend) => void;
}

interface LifeState {
  /** The task that has two threads, one of them without a children file (-1: none yet). */
  twoThreads: number;
}

const writeStat =
  (text: string): ToRunning =>
  (fake, p) =>
    fake.writeFile(p, 'stat', text);
const writeSchedstat =
  (text: string): ToRunning =>
  (fake, p) =>
    fake.writeFile(p, 'schedstat', text);

/**
 * The lifecycle scenario, one round of the backend per step: tasks run, are preempted, fall asleep, wake,
 * gain and lose a thread, fork, turn zombie, exit, fail to read or parse.
 */
const LIFE_STEPS: LifeStep[] = [
  { name: 'the hogs run', sleeper: 'asleep' },
  { name: 'the hogs run on', sleeper: 'asleep' },
  { name: 'two hogs fork', sleeper: 'asleep', fork: true },
  {
    name: 'the dispatched task falls asleep',
    sleeper: 'asleep, two threads',
    running: (fake, p, runtimeNs) => fake.write(p, { state: 'S', runtimeNs }),
  },
  {
    name: 'the dispatched task gains a thread; another thread of the sleeper ran; a second passes',
    sleeper: 'asleep, two threads',
    sleeperTicks: 500,
    running: (_fake, p, _runtimeNs, d) => (d.twoThreads = p - DRILL_LIFE_BASE),
    clockJump: true,
  },
  { name: 'a stat line that does not parse', sleeper: 'asleep, two threads', running: writeStat('garbled') },
  {
    name: 'a schedstat that is empty; a thread change noted for a task that is gone before adoption gets to it',
    sleeper: 'asleep',
    running: writeSchedstat(''),
    notesThreadChange: true,
  },
  {
    name: 'the dispatched task turns zombie',
    sleeper: 'asleep',
    running: (fake, p, runtimeNs) => fake.write(p, { state: 'Z', runtimeNs }),
  },
  { name: 'the sleeper wakes as a hog; the hogs have run a whole second', sleeper: 'awake', clockJump: true, hogsJump: true },
  {
    name: 'a schedstat with no number; then the rare orderings',
    sleeper: 'awake',
    running: writeSchedstat('none'),
    after: drillOddities,
  },
  { name: 'a stat line with no state', sleeper: 'awake', running: writeStat('1 (drill)') },
  { name: 'a stat line cut short', sleeper: 'awake', running: writeStat('1 (drill) R 1 2') },
];

/**
 * Runs every branch of the round on fake tasks; call it before the first real task is adopted (the
 * scheduler thread does, see worker.ts).
 */
export function drillProcBackend(b: ProcBackend, rounds = DRILL_ROUNDS): void {
  const t = b.tasks;
  if (t.nLive !== 0) throw new Error('ProcBackend.drill: run it before adopting any task');
  const saved = Float64Array.from(b.cnt);
  const adoptions = b.adoptions;
  const realProc = b.proc;
  const noReapBefore = b.noReap.length;
  let drillProc: DrillProc | null = null;
  try {
    drillProc = new DrillProc(b.s);
  } catch {
    // No temp dir or no sleep(1): the drill on descriptors of -1 alone (fewer branches, see the test).
  }
  let fake = drillProc;
  readMonotonicNs(b.clock, CLK_NOW_NS);
  try {
    if (fake) {
      b.noReap.push(fake.alivePid, fake.deadPid);
      b.proc = new ProcDir(b.s, fake.root);
    }
    for (let r = 0; r < rounds; r++) {
      try {
        if (fake) drillLifecycle(b, fake);
      } catch {
        // The stand-in /proc failed mid-way (a full temp dir?): what ran of it still taught V8.
        fake = null;
      }
      drillFailures(b);
    }
  } finally {
    while (t.nLive > 0) b.exitTask(t.live[t.nLive - 1]!);
    b.sched.clock[CLOCK_NOW_NS] = b.clock[CLK_NOW_NS]!;
    b.sched.schedule();
    if (b.proc !== realProc) b.proc.close();
    b.proc = realProc;
    b.noReap.length = noReapBefore;
    drillProc?.dispose();
  }
  // The tasks-file compaction runs once every thousand or so adoptions: hot here, so it is compiled now.
  for (let k = 0; k < DRILL_FILLS; k++) b.tasksFile.fill(t);
  // The first rewrite of the tasks file (with no live task it writes an empty list: what it holds now).
  b.tasksFile.compact(t);
  // Re-reading tsland's own thread list happens at most once a second: compiled minutes into a run
  // unless it runs hot here.
  // Then the orphan scan over them (what it finds is dropped: the first real round scans again); the
  // drill's killed sleeps, not yet reaped, are children it finds.
  try {
    if (b.opts.subreaperPid > 0) {
      for (let k = 0; k < DRILL_REFRESHES; k++) {
        b.refreshOwnChildFds();
        b.scanOrphans();
      }
    }
  } finally {
    drillProc?.reap();
  }
  b.cnt.set(saved);
  b.adoptions = adoptions;
  b.nExitRetry = 0;
  b.nNew = 0;
  b.nThreadChanged = 0;
  b.orphanScanDue = false;
  for (let cpu = 0; cpu < b.cpuIds.length; cpu++) b.sched.setCpuIdle(cpu, true);
}

/**
 * Fake tasks whose /proc files (a DrillProc tree) say what a real task's would, and whose pidfds are
 * the drill's own sleep process: adoption (accepted, and refused for each reason), then the rounds of
 * LIFE_STEPS; the event ring filling up; a dispatch for a task that has gone and one bounced.
 */
function drillLifecycle(b: ProcBackend, fake: DrillProc): void {
  const t = b.tasks;
  const s = b.s;
  const alive = fake.alivePid;
  const dead = fake.deadPid;
  const ghost = DRILL_GHOST_BASE;
  const extraTid = DRILL_GHOST_BASE + 1;
  // Adoption of a real process (the sleep) with two threads and a child that has no process behind it,
  // twice: its leader's runtime below, then above, the process's CPU ticks.
  fake.write(ghost, {});
  for (const runtimeNs of [1e6, 5e9]) {
    const slot = b.sched.slotOf(alive);
    if (slot >= 0) {
      b.exitTask(slot);
      b.sched.clock[CLOCK_NOW_NS] = b.clock[CLK_NOW_NS]!;
      b.sched.schedule();
    }
    fake.write(alive, {
      state: 'S',
      tids: [alive, extraTid],
      children: [ghost],
      startTicks: fake.aliveStartTicks,
      runtimeNs,
      ticks: 10,
    });
    b.adopt(alive);
  }
  b.adopt(alive);
  const own = b.excluded[b.excluded.length - 1]!;
  if (own > 1) b.adopt(own);
  // Refused: a zombie, one gone before its stat was read, one without a status file, one without threads
  // (no task directory, then an empty one).
  fake.write(dead, { state: 'Z' });
  b.adopt(dead);
  fake.remove(dead, 'stat');
  b.adopt(dead);
  fake.write(dead, { state: 'S' });
  fake.remove(dead, 'status');
  b.adopt(dead);
  fake.write(dead, { state: 'S' });
  fake.remove(dead, 'task');
  b.adopt(dead);
  fake.write(dead, { state: 'S', tids: [] });
  b.adopt(dead);

  // The tasks file rewritten because it grew long (every thousand or so adoptions in a fork storm).
  const aliveSlot = b.sched.slotOf(alive);
  if (aliveSlot >= 0) for (let k = 0; k < DRILL_APPENDS; k++) b.tasksFile.append(t, aliveSlot);

  const n = Math.max(b.cpuIds.length + 2, DRILL_LIFE_TASKS);
  const runtime = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const p = DRILL_LIFE_BASE + i;
    fake.write(p, { state: i === SLEEPER ? 'S' : 'R' });
    const slot = b.sched.registerTask(p, 1024, -1);
    // One task exits by its pidfd (the dead process's polls readable); the others signal the sleep.
    const pidfd = s.pidfdOpen(i === n - 1 ? dead : alive);
    const nTids = b.proc.listTids(p, b.tidScratch);
    const proc = b.proc;
    t.open(
      slot,
      p,
      pidfd,
      proc.openFile(p, PROC_STAT),
      proc.openFile(p, PROC_SCHEDSTAT),
      proc.openFile(p, PROC_STATUS),
      1,
      b.tidScratch,
      nTids,
      proc,
    );
    t.weight[slot] = 1024;
    t.stopped[slot] = i % 2;
    b.readRuntime(slot);
  }
  const d: LifeState = { twoThreads: -1 };
  for (let k = 0; k < LIFE_STEPS.length; k++) {
    const step = LIFE_STEPS[k]!;
    for (let i = 0; i < n; i++) {
      const p = DRILL_LIFE_BASE + i;
      const sleeping = i === SLEEPER && step.sleeper !== 'awake';
      if (!sleeping) runtime[i]! += step.hogsJump ? DRILL_JUMP_NS : (k + 1) * 1e6;
      const extraThread = (i === SLEEPER && step.sleeper === 'asleep, two threads') || i === d.twoThreads;
      const tids = extraThread ? [p, DRILL_GHOST_BASE + 1 + i] : [p];
      const children = step.fork && (i === 0 || i === 2) ? [DRILL_GHOST_BASE, DRILL_LIFE_BASE + 3] : [];
      const ticks = i === SLEEPER ? (step.sleeperTicks ?? 1) : k;
      const task: FakeTask = { state: sleeping ? 'S' : 'R', runtimeNs: runtime[i]!, ticks, tids, children };
      fake.write(p, task);
      if (i === d.twoThreads) fake.remove(p, `task/${DRILL_GHOST_BASE + 1 + i}/children`);
    }
    const running = drillRunningIndex(b);
    if (running >= 0 && step.running) {
      const p = DRILL_LIFE_BASE + running;
      step.running(fake, p, runtime[running]!, d);
      const slot = step.notesThreadChange ? b.sched.slotOf(p) : -1;
      if (slot >= 0) b.threadChanged[b.nThreadChanged++] = slot;
    }
    b.clock[CLK_NOW_NS]! += step.clockJump ? DRILL_JUMP_NS : b.opts.lookNs;
    b.step();
    step.after?.(b);
  }
}

/** Index (from DRILL_LIFE_BASE) of a dispatched lifecycle task, or -1. */
function drillRunningIndex(b: ProcBackend): number {
  const t = b.tasks;
  for (let d = 0; d < t.nLive; d++) {
    const slot = t.live[d]!;
    const i = t.pid[slot]! - DRILL_LIFE_BASE;
    if (t.mode[slot] === M_RUNNING && i > 1 && i < DRILL_LIFE_TASKS) return i;
  }
  return -1;
}

/**
 * Rare orderings: the event ring full (an exit kept for later, a task left to the kernel), a task reported
 * twice before the scheduler saw it, a pid registered twice, a CPU marked busy twice, and dispatch records
 * for a task that has gone and for one the scheduler bounced.
 */
function drillOddities(b: ProcBackend): void {
  const t = b.tasks;
  const ghost = DRILL_GHOST_BASE + 5;
  b.sched.registerTask(ghost, 1024, -1);
  b.sched.registerTask(ghost, 1024, -1);
  b.reportExit(ghost);
  b.sched.setCpuIdle(0, false);
  b.sched.setCpuIdle(0, false);
  b.sched.setCpuIdle(0, true);
  for (let d = 0; d < t.nLive; d++) {
    const slot = t.live[d]!;
    if (t.mode[slot] === M_FREE) {
      b.report(slot, EV_RUNNABLE, 0);
      b.report(slot, EV_RUNNABLE, 0);
      b.report(slot, EV_STOPPED, 0);
      break;
    }
  }
  b.sched.clock[CLOCK_NOW_NS] = b.clock[CLK_NOW_NS]!;
  b.sched.schedule();
  b.enforce();
  while (b.push(EV_EXITED, DRILL_GHOST_BASE + 2, -1, 0, 0, -1));
  b.reportExit(DRILL_GHOST_BASE + 3);
  for (let d = 0; d < t.nLive; d++) {
    const slot = t.live[d]!;
    if (t.mode[slot] !== M_RUNNING) {
      b.report(slot, EV_RUNNABLE, 0);
      break;
    }
  }
  b.retryExits();
  b.sched.clock[CLOCK_NOW_NS] = b.clock[CLK_NOW_NS]!;
  b.sched.schedule();
  b.enforce();
  // A dispatch of a task that has gone, and one the scheduler bounced.
  const ring = b.sched.dispatched;
  let at = ring.reserve();
  if (at >= 0) {
    ring.i32[(at + D_PID) >> 2] = DRILL_GHOST_BASE + 4;
    ring.i32[(at + D_CPU) >> 2] = 0;
    ring.i32[(at + D_FLAGS) >> 2] = 0;
    ring.f64[(at + D_SLICE_NS) >> 3] = b.opts.lookNs;
    ring.publish();
  }
  at = t.nLive > 0 ? ring.reserve() : -1;
  if (at >= 0) {
    const slot = t.live[0]!;
    t.stopped[slot] = 1;
    ring.i32[(at + D_PID) >> 2] = t.pid[slot]!;
    ring.i32[(at + D_CPU) >> 2] = 0;
    ring.i32[(at + D_FLAGS) >> 2] = DF_BOUNCE;
    ring.f64[(at + D_SLICE_NS) >> 3] = b.opts.lookNs;
    ring.publish();
  }
  b.enforce();
  b.retryExits();
}

/**
 * Failures on fake tasks with descriptors of -1, so every read and signal fails: more runnable tasks than
 * CPUs, some dispatched (one already stopped, so its SIGCONT fails; one running, whose next look fails to
 * read), the others left to stopUnpicked, whose SIGSTOP fails. Every failure ends in exitTask and an
 * EV_EXITED for a task running, queued or sleeping.
 */
function drillFailures(b: ProcBackend): void {
  const t = b.tasks;
  const nrCpus = b.cpuIds.length;
  const tid = new Int32Array(1);
  let pid = DRILL_PID_BASE;
  for (let i = 0; i < nrCpus + 2; i++) {
    const p = pid++;
    const slot = b.sched.registerTask(p, 1024, -1);
    tid[0] = p;
    t.open(slot, p, -1, -1, -1, -1, 0, tid, 1, b.proc);
    t.mode[slot] = M_WAITING;
    t.stopped[slot] = i % 2;
    b.markStopPending(slot);
    b.markStopPending(slot);
    b.report(slot, EV_RUNNABLE, 0);
    // A thread-count change and a new child, both of processes that are gone by the time they are read.
    if (i === 0 && b.nThreadChanged < b.threadChanged.length) b.threadChanged[b.nThreadChanged++] = slot;
    if (b.nNew < b.newPids.length) b.newPids[b.nNew++] = pid++;
  }
  for (let step = 0; step < DRILL_STEPS && t.nLive > 0; step++) {
    b.clock[CLK_NOW_NS]! += b.opts.lookNs;
    b.step();
  }
  let last = -1;
  while (t.nLive > 0) b.exitTask((last = t.live[t.nLive - 1]!));
  if (last >= 0) {
    // Twice: the second finds the slot gone.
    b.exitTask(last);
    t.close(last);
  }
  b.sched.clock[CLOCK_NOW_NS] = b.clock[CLK_NOW_NS]!;
  b.sched.schedule();
}
