// The real-process backend: turns a tree of Linux processes into the scheduler's events, and its dispatch
// decisions into SIGSTOP/SIGCONT and CPU affinity. One `step(nowNs)` is one round of the loop:
//
//   1. exits    one poll(2) over every task's pidfd (and the guardian's): exited tasks leave the tables
//   2. looks    read /proc for the tasks that can have changed: dispatched ones every round, free ones on a
//               backing-off timer, stopped ones never (a stopped task neither runs nor forks)
//               -> a dispatched task that fell asleep gives its CPU back at once (EV_STOPPED)
//               -> a dispatched task whose slice ran out is preempted (EV_STOPPED | EVF_RUNNABLE)
//               -> a free task that kept running past the wake-up grace asks for a CPU (EV_RUNNABLE)
//               -> children of every task that ran are read: new processes are adopted
//   3. adopt    creation path: new processes (and orphans reparented to us) get descriptors and a slot
//   4. schedule the policy decides
//   5. enforce  each dispatch: pin to the chosen CPU, SIGCONT if stopped; THEN stop the runnable tasks that
//               were not picked. Deciding stops after the dispatches means a preempted task that the policy
//               runs again at once is never stopped at all.
//
// The wake-up grace is how a task that sleeps does not waste a CPU's turn and an interactive task is not
// stopped just before the policy would run it: a task that wakes runs on its own (it holds no CPU of the
// policy's) until it has used graceNs of CPU since it last slept; only then does it queue for a dispatch.
// Short bursts (an interactive probe, a shell between commands) never wait for the scheduler; CPU hogs
// queue after one grace. The hogs, at most one per CPU, are what the policy arbitrates.
//
// Everything in step() is allocation-free after warm-up, adoption included: the task-creation path opens
// /proc files by bytes (proc-dir.ts), keeps thread lists in a TLSF arena (proc-tasks.ts) and appends to
// the tasks file with write(2) (tasks-file.ts). Only growth past the reserved task count allocates.

import { C, type Counters } from '../../../base/counters.js';
import { CLOCK_NOW_NS, type Scheduler } from '../../../sched/api.js';
import {
  D_CPU,
  D_FLAGS,
  D_PID,
  D_SLICE_NS,
  DF_BOUNCE,
  EV_EXITED,
  EV_RUNNABLE,
  EV_STOPPED,
  EVF_RUNNABLE,
  QueuedWriter,
  QW_NVCSW,
  QW_SUM_EXEC_NS,
  QW_TS_NS,
} from '../../../sched/records.js';
import { slabLocker, type SlabLocker } from '../../../sched/lock.js';
import { weightFromNice } from '../../../sched/weights.js';
import { PROC_SCHEDSTAT, PROC_STAT, PROC_STATUS, ProcDir } from '../../os/proc-dir.js';
import { M_FREE, M_RUNNING, M_WAITING, ProcTasks } from './proc-tasks.js';
import {
  NSEC_PER_TICK,
  parsePidList,
  parseSchedstatRuntimeNs,
  parseStat,
  parseVoluntarySwitches,
  STAT_CPU_TICKS,
  STAT_FIELDS,
  STAT_NICE,
  STAT_START_TICKS,
  STAT_STATE,
  STAT_THREADS,
  STATE_DEAD,
  STATE_RUNNING,
  STATE_ZOMBIE,
} from '../../os/procfs.js';
import { TasksFileWriter } from './tasks-file.js';
import { cpuMask, POLLIN, SIGCONT, SIGSTOP, sys, type Sys } from '../../os/sys.js';
import type { CreationMeter } from '../../../mem/publish.js';

const READ_BUFFER_BYTES = 64 * 1024;
/** Slots of `clock`: times live in a Float64Array, never in arguments or return values, which V8 boxes. */
const OWN_THREADS_REFRESH_NS = 1_000_000_000;
export const CLK_NOW_NS = 0;
export const CLK_NEXT_WAKE_NS = 1;
const CLK_SLOTS = 2;
const MAX_CHILDREN_PER_SCAN = 16384;
const MAX_NEW_PER_ROUND = 4096;
/** Adoption costs ~0.1-1 ms (descriptors, /proc reads, a line in the tasks file); 128 keep a round short. */
const MAX_ADOPT_PER_ROUND = 128;
/** Tasks the tables are sized for up front (a 1,000-process burst on top of a busy tree). */
export const DEFAULT_RESERVE_TASKS = 4096;
/** Threads listed without growing the scratch list (a process with more grows it, on the creation path). */
const TIDS_SCRATCH = 4096;

export interface ProcBackendOptions {
  scheduler: Scheduler;
  counters: Counters;
  /** Real CPU ids, indexed by the scheduler's CPU numbers. */
  cpuIds: readonly number[];
  /** CPUs a released task may use. */
  allCpus: readonly number[];
  /** Where the managed-task list is appended (the guardian reads it). */
  tasksFile: string;
  /** Wake-up grace: CPU a woken or new task may use before it must wait for a dispatch. */
  graceNs: number;
  /** How often dispatched tasks are looked at (to notice that one slept). */
  lookNs: number;
  /** Bounds of the backing-off look at free (sleeping) tasks. */
  freeLookMinNs: number;
  freeLookMaxNs: number;
  /** Never managed: PID 1, tsland, the guardian. */
  excludePids: readonly number[];
  /** Pids whose exit status belongs to someone else (Node reaps the command it spawned). */
  noReapPids: readonly number[];
  /** tsland's own pid when it is the subreaper that orphans of the tree are reparented to; -1 otherwise. */
  subreaperPid: number;
  /** Tasks the backend's tables are sized for (DEFAULT_RESERVE_TASKS); more grow them, which allocates. */
  reserveTasks?: number;
  /** Lock the backend's tables in RAM (as the scheduler's slabs); default false. */
  lockMemory?: boolean;
}

/**
 * The members below that are neither private nor documented as API are open to the warm-up drill
 * (drill/drill.ts), which drives the round on fake tasks before the first real one; nothing else uses them.
 */
export class ProcBackend {
  readonly tasks: ProcTasks;
  readonly s: Sys;
  /** /proc, read by bytes; the drill points it at a stand-in tree for a while. */
  proc: ProcDir;
  readonly tasksFile: TasksFileWriter;
  private readonly locker: SlabLocker;
  /** Locks the scratch buffers the round reads /proc into, and re-locks them when one grows. */
  private readonly scratchLocker: SlabLocker;
  /** Thread ids listed on the creation path (grown only for a process with more threads). */
  tidScratch = new Int32Array(TIDS_SCRATCH);
  readonly sched: Scheduler;
  /** Writes the scheduler's queued ring (records.ts). */
  private readonly queued: QueuedWriter;
  readonly cnt: Float64Array;
  readonly cpuIds: Int32Array;
  private readonly cpuMasks: Uint8Array[];
  private readonly allMask: Uint8Array;
  private readonly buf = new Uint8Array(READ_BUFFER_BYTES);
  private readonly stat = new Float64Array(STAT_FIELDS);
  private readonly childPids = new Int32Array(MAX_CHILDREN_PER_SCAN);
  readonly newPids = new Int32Array(MAX_NEW_PER_ROUND);
  nNew = 0;
  private pendingList: Int32Array;
  private nPending = 0;
  /** Pids whose EV_EXITED did not fit in the ring: retried first next round. */
  private readonly exitRetry = new Int32Array(MAX_NEW_PER_ROUND);
  nExitRetry = 0;
  readonly threadChanged = new Int32Array(MAX_NEW_PER_ROUND);
  nThreadChanged = 0;
  readonly excluded: Int32Array;
  readonly noReap: number[];
  /** Children files of tsland's own threads (where orphans of the tree appear). */
  private ownChildFds = new Int32Array(64);
  private nOwnChildFds = 0;
  /** When tsland's own thread list was last read: Node starts its threads early and rarely adds one. */
  private ownChildFdsAtNs = 0;
  orphanScanDue = false;
  readonly opts: ProcBackendOptions;
  private creationMeter: CreationMeter | null = null;
  /** Processes adopted since start (the drill's fake tasks are not adopted). */
  adoptions = 0;
  /** Set when the guardian's pidfd polled readable: the caller must release everything and stop. */
  guardianLost = false;
  /**
   * clock[CLK_NOW_NS]: the caller writes the time before each step(); clock[CLK_NEXT_WAKE_NS]: step() writes
   * when the next look is due (a slice end, a dispatched task's look, a free task's look).
   */
  readonly clock = new Float64Array(CLK_SLOTS);

  constructor(opts: ProcBackendOptions) {
    this.opts = opts;
    this.s = sys();
    this.locker = slabLocker(opts.lockMemory ?? false);
    this.tasks = new ProcTasks({ reserve: opts.reserveTasks ?? DEFAULT_RESERVE_TASKS, track: this.locker.track });
    this.scratchLocker = slabLocker(opts.lockMemory ?? false);
    this.proc = new ProcDir(this.s);
    this.tasksFile = new TasksFileWriter(this.s, opts.tasksFile, this.tasks.capacity);
    this.sched = opts.scheduler;
    this.queued = new QueuedWriter(opts.scheduler.queued);
    this.cnt = opts.counters.f64;
    this.cpuIds = Int32Array.from(opts.cpuIds);
    this.cpuMasks = opts.cpuIds.map((cpu) => cpuMask([cpu]));
    this.allMask = cpuMask(opts.allCpus);
    this.pendingList = new Int32Array(this.tasks.capacity);
    this.excluded = Int32Array.from(opts.excludePids);
    this.noReap = [...opts.noReapPids];
    for (let cpu = 0; cpu < opts.cpuIds.length; cpu++) this.sched.setCpuIdle(cpu, true);
    if (opts.subreaperPid > 0) this.refreshOwnChildFds();
    this.lockScratch();
  }

  /**
   * Locks (or, unlocked, touches) every scratch buffer: the kernel writes /proc reads and directory
   * listings into them, and a page written for the first time mid-run, or after tsland forked (the
   * command, the guardian), would fault on the scheduler thread. Called again after any of them grows.
   */
  private lockScratch(): void {
    this.scratchLocker.track([
      this.buf.buffer,
      this.childPids.buffer,
      this.newPids.buffer,
      this.exitRetry.buffer,
      this.threadChanged.buffer,
      this.tidScratch.buffer,
      this.pendingList.buffer,
      this.ownChildFds.buffer,
      ...this.proc.buffers(),
      ...this.tasksFile.buffers(),
    ]);
  }

  /** A pid whose exit status its parent collects (the command Node spawned): never reaped here. */
  keepUnreaped(pid: number): void {
    this.noReap.push(pid);
  }

  setCreationMeter(meter: CreationMeter): void {
    this.creationMeter = meter;
  }

  setGuardianPidfd(fd: number): void {
    this.tasks.setGuardianPidfd(fd);
  }

  // ---- creation path ----

  /**
   * Adopts a process into the managed tree: descriptors, a scheduler slot, a line in the tasks file (before
   * anything can stop it). Returns false for an excluded, vanished or zombie process.
   */
  adopt(pid: number): boolean {
    if (pid <= 1 || this.isExcluded(pid) || this.sched.slotOf(pid) >= 0) return false;
    const s = this.s;
    const proc = this.proc;
    const pidfd = s.pidfdOpen(pid);
    if (pidfd < 0) return false;
    const statFd = proc.openFile(pid, PROC_STAT);
    const schedstatFd = proc.openFile(pid, PROC_SCHEDSTAT);
    const statusFd = proc.openFile(pid, PROC_STATUS);
    const stat = this.stat;
    const n = statFd >= 0 ? s.pread(statFd, this.buf, this.buf.length, 0) : -1;
    const state = n > 0 && parseStat(this.buf, n, stat) ? stat[STAT_STATE]! : 0;
    const nTids = state === 0 || state === STATE_ZOMBIE || state === STATE_DEAD ? -1 : this.listTids(pid);
    if (schedstatFd < 0 || statusFd < 0 || nTids < 0) {
      this.closeAll(pidfd, statFd, schedstatFd, statusFd);
      return false;
    }
    const weight = weightFromNice(stat[STAT_NICE]!);
    const t = this.tasks;
    let slot: number;
    try {
      slot = this.sched.registerTask(pid, weight, -1);
    } catch {
      // Task table full: the process runs under the kernel alone, never stopped by us.
      this.closeAll(pidfd, statFd, schedstatFd, statusFd);
      this.cnt[C.nr_bounce_dispatches]!++;
      return false;
    }
    t.open(slot, pid, pidfd, statFd, schedstatFd, statusFd, stat[STAT_START_TICKS]!, this.tidScratch, nTids, proc);
    if (t.capacity > this.pendingList.length) {
      const next = new Int32Array(t.capacity);
      next.set(this.pendingList);
      this.pendingList = next;
      this.lockScratch();
    }
    // On record before anything can stop it: a task the guardian could not find is never managed.
    if (!this.tasksFile.append(t, slot)) {
      t.close(slot);
      this.reportExit(pid);
      return false;
    }
    t.weight[slot] = weight;
    this.readRuntime(slot);
    // CPU time used before adoption is not the scheduler's to charge: events carry time since now.
    const leaderNs = t.leaderNs[slot]!;
    const ticksNs = stat[STAT_CPU_TICKS]! * NSEC_PER_TICK;
    t.sumExecNs[slot] = nTids === 1 || leaderNs > ticksNs ? leaderNs : ticksNs;
    t.baseExecNs[slot] = t.sumExecNs[slot]!;
    t.sleepExecNs[slot] = t.sumExecNs[slot]!;
    this.adoptions++;
    // It may have forked before we looked: its children are adopted in this same round.
    this.scanChildren(slot);
    return true;
  }

  /** Thread ids of `pid` into tidScratch (grown if it has more threads): their number, or -1 when gone. */
  private listTids(pid: number): number {
    let n = this.proc.listTids(pid, this.tidScratch);
    while (n > this.tidScratch.length) {
      this.tidScratch = new Int32Array(n * 2);
      this.lockScratch();
      n = this.proc.listTids(pid, this.tidScratch);
    }
    return n;
  }

  private closeAll(a: number, b: number, c: number, d: number): void {
    if (a >= 0) this.s.close(a);
    if (b >= 0) this.s.close(b);
    if (c >= 0) this.s.close(c);
    if (d >= 0) this.s.close(d);
  }

  private isExcluded(pid: number): boolean {
    for (let i = 0; i < this.excluded.length; i++) if (this.excluded[i] === pid) return true;
    return false;
  }

  refreshOwnChildFds(): void {
    const own = this.opts.subreaperPid;
    this.ownChildFdsAtNs = this.clock[CLK_NOW_NS]!;
    for (let i = 0; i < this.nOwnChildFds; i++) this.s.close(this.ownChildFds[i]!);
    const n = this.listTids(own);
    if (n > this.ownChildFds.length) {
      this.ownChildFds = new Int32Array(n * 2);
      this.lockScratch();
    }
    let k = 0;
    for (let i = 0; i < n; i++) {
      const fd = this.proc.openChildren(own, this.tidScratch[i]!);
      if (fd >= 0) this.ownChildFds[k++] = fd;
    }
    this.nOwnChildFds = k;
  }

  private adoptNew(): void {
    // A fork storm must not hold the round (and the heartbeat) for long: the rest wait for the next round,
    // running meanwhile under the kernel alone.
    const n = Math.min(this.nNew, MAX_ADOPT_PER_ROUND);
    for (let i = 0; i < n; i++) this.adopt(this.newPids[i]!);
    this.newPids.copyWithin(0, n, this.nNew);
    this.nNew -= n;
    for (let i = 0; i < this.nThreadChanged; i++) {
      const slot = this.threadChanged[i]!;
      if (!this.tasks.isLive(slot)) continue;
      const pid = this.tasks.pid[slot]!;
      const n = this.listTids(pid);
      if (n < 0) continue;
      this.tasks.setThreads(slot, this.tidScratch, n, this.proc);
      const pinned = this.tasks.pinnedCpu[slot]!;
      if (pinned >= 0) this.pin(slot, this.cpuIndexOf(pinned));
    }
    this.nThreadChanged = 0;
  }

  private cpuIndexOf(realCpu: number): number {
    for (let i = 0; i < this.cpuIds.length; i++) if (this.cpuIds[i] === realCpu) return i;
    return -1;
  }

  // ---- the loop ----

  /** One round at time clock[CLK_NOW_NS]: exits, looks, adoption, schedule, enforcement. Returns dispatches enforced. */
  step(): number {
    this.retryExits();
    this.pollExits();
    if (this.guardianLost) return 0;
    this.look();
    // Finding and adopting new tasks is the task-creation path: allocation-free too, its faults counted apart.
    if (this.orphanScanDue || this.nNew > 0 || this.nThreadChanged > 0) {
      this.creationMeter?.creationBegin();
      if (this.orphanScanDue) this.scanOrphans();
      if (this.nNew > 0 || this.nThreadChanged > 0) this.adoptNew();
      this.creationMeter?.creationEnd();
    }
    this.sched.clock[CLOCK_NOW_NS] = this.clock[CLK_NOW_NS]!;
    this.sched.schedule();
    const dispatched = this.enforce();
    this.stopUnpicked();
    return dispatched;
  }

  retryExits(): void {
    const n = this.nExitRetry;
    this.nExitRetry = 0;
    for (let i = 0; i < n; i++) this.reportExit(this.exitRetry[i]!);
  }

  private pollExits(): void {
    const t = this.tasks;
    const ready = this.s.poll(t.pollfds, t.nLive + 1, 0);
    if (ready <= 0) return;
    if ((t.revents(0) & POLLIN) !== 0) {
      this.guardianLost = true;
      return;
    }
    // Walk backwards: removing dense entry d moves the last one into d, which was already visited.
    for (let d = t.nLive - 1; d >= 0; d--) {
      if ((t.revents(d + 1) & POLLIN) !== 0) this.exitTask(t.live[d]!);
    }
  }

  private look(): void {
    const t = this.tasks;
    const nowNs = this.clock[CLK_NOW_NS]!;
    let wake = nowNs + this.opts.freeLookMaxNs;
    for (let d = t.nLive - 1; d >= 0; d--) {
      const slot = t.live[d]!;
      const mode = t.mode[slot]!;
      if (mode === M_RUNNING) {
        this.lookAt(slot);
      } else if (mode === M_FREE && nowNs >= t.nextLookNs[slot]!) {
        this.lookAt(slot);
      }
      if (!t.isLive(slot)) continue;
      const m = t.mode[slot]!;
      if (m === M_RUNNING) {
        const due = Math.min(t.sliceEndNs[slot]!, nowNs + this.opts.lookNs);
        if (due < wake) wake = due;
      } else if (m === M_FREE && t.nextLookNs[slot]! < wake) {
        wake = t.nextLookNs[slot]!;
      }
    }
    this.clock[CLK_NEXT_WAKE_NS] = wake;
  }

  /** Reads the runtime of the leader thread; false when the task is gone. */
  readRuntime(slot: number): boolean {
    const t = this.tasks;
    const n = this.s.pread(t.schedstatFd[slot]!, this.buf, this.buf.length, 0);
    if (n <= 0) return false;
    return parseSchedstatRuntimeNs(this.buf, n, t.leaderNs, slot);
  }

  private lookAt(slot: number): void {
    const t = this.tasks;
    const nowNs = this.clock[CLK_NOW_NS]!;
    const before = t.leaderNs[slot]!;
    if (!this.readRuntime(slot)) {
      this.exitTask(slot);
      return;
    }
    const mode = t.mode[slot]!;
    let moved = t.leaderNs[slot] !== before;
    if (!moved && mode === M_FREE && t.threads[slot] === 1) {
      this.backOff(slot);
      return;
    }
    const n = this.s.pread(t.statFd[slot]!, this.buf, this.buf.length, 0);
    const stat = this.stat;
    if (n <= 0 || !parseStat(this.buf, n, stat)) {
      this.exitTask(slot);
      return;
    }
    // Another thread than the leader may have run (and forked): the process-wide tick count tells.
    if (stat[STAT_CPU_TICKS] !== t.lastTicks[slot]) {
      moved = true;
      t.lastTicks[slot] = stat[STAT_CPU_TICKS]!;
    }
    if (!moved && mode === M_FREE) {
      this.backOff(slot);
      return;
    }
    const state = stat[STAT_STATE]!;
    if (state === STATE_ZOMBIE || state === STATE_DEAD) {
      this.exitTask(slot);
      return;
    }
    const threads = stat[STAT_THREADS]!;
    const leaderNs = t.leaderNs[slot]!;
    const ticksNs = stat[STAT_CPU_TICKS]! * NSEC_PER_TICK;
    const cpuNs = threads === 1 ? leaderNs : leaderNs > ticksNs ? leaderNs : ticksNs;
    if (cpuNs > t.sumExecNs[slot]!) t.sumExecNs[slot] = cpuNs;
    t.weight[slot] = weightFromNice(stat[STAT_NICE]!);
    if (threads !== t.threads[slot] && this.nThreadChanged < this.threadChanged.length) {
      this.threadChanged[this.nThreadChanged++] = slot;
    }
    if (moved) this.scanChildren(slot);
    const runnable = state === STATE_RUNNING;
    t.lookGapNs[slot] = this.opts.freeLookMinNs;
    t.nextLookNs[slot] = nowNs + this.opts.freeLookMinNs;
    if (mode === M_RUNNING) {
      if (!runnable) {
        // Fell asleep (or was stopped by someone else): its CPU goes to the next task now, not at slice end.
        this.sched.setCpuIdle(t.cpu[slot]!, true);
        t.mode[slot] = M_FREE;
        t.sleepExecNs[slot] = t.sumExecNs[slot]!;
        this.report(slot, EV_STOPPED, 0);
      } else if (nowNs >= t.sliceEndNs[slot]!) {
        this.sched.setCpuIdle(t.cpu[slot]!, true);
        t.mode[slot] = M_WAITING;
        this.markStopPending(slot);
        this.report(slot, EV_STOPPED, EVF_RUNNABLE);
      }
    } else if (mode === M_FREE) {
      if (!runnable) {
        t.sleepExecNs[slot] = t.sumExecNs[slot]!;
      } else if (t.sumExecNs[slot]! - t.sleepExecNs[slot]! > this.opts.graceNs) {
        t.mode[slot] = M_WAITING;
        this.markStopPending(slot);
        this.report(slot, EV_RUNNABLE, 0);
      }
    }
  }

  /** Asleep since the last look: look again later, and later still next time. */
  private backOff(slot: number): void {
    const t = this.tasks;
    const nowNs = this.clock[CLK_NOW_NS]!;
    let gap = t.lookGapNs[slot]! * 2;
    if (gap < this.opts.freeLookMinNs) gap = this.opts.freeLookMinNs;
    if (gap > this.opts.freeLookMaxNs) gap = this.opts.freeLookMaxNs;
    t.lookGapNs[slot] = gap;
    t.nextLookNs[slot] = nowNs + gap;
  }

  markStopPending(slot: number): void {
    if (this.tasks.stopPending[slot] === 1) return;
    this.tasks.stopPending[slot] = 1;
    this.pendingList[this.nPending++] = slot;
  }

  /** Pushes an event for a live task. When the ring is full the task is left to the kernel (never stopped). */
  report(slot: number, kind: number, flags: number): void {
    const t = this.tasks;
    const n = this.s.pread(t.statusFd[slot]!, this.buf, this.buf.length, 0);
    if (n > 0) {
      const nvcsw = parseVoluntarySwitches(this.buf, n);
      if (nvcsw >= 0) t.nvcsw[slot] = nvcsw;
    }
    if (!this.push(kind, t.pid[slot]!, t.cpu[slot]!, flags, t.weight[slot]!, slot)) {
      this.cnt[C.nr_sched_congested]!++;
      t.mode[slot] = M_FREE;
      t.stopPending[slot] = 0;
      t.cpu[slot] = -1;
    }
  }

  reportExit(pid: number): void {
    if (!this.push(EV_EXITED, pid, -1, 0, 0, -1)) {
      this.cnt[C.nr_sched_congested]!++;
      if (this.nExitRetry < this.exitRetry.length) this.exitRetry[this.nExitRetry++] = pid;
    }
  }

  /**
   * Appends one queued record with the task's slot as its hint (the scheduler then skips the pid lookup).
   * The times and counts are staged from the task columns (slot -1: zeros) rather than passed in, so no
   * double crosses a call.
   */
  push(kind: number, pid: number, cpu: number, flags: number, weight: number, slot: number): boolean {
    const w = this.queued;
    const t = this.tasks;
    w.f64[QW_SUM_EXEC_NS] = slot >= 0 ? t.sumExecNs[slot]! - t.baseExecNs[slot]! : 0;
    w.f64[QW_NVCSW] = slot >= 0 ? t.nvcsw[slot]! : 0;
    w.f64[QW_TS_NS] = this.clock[CLK_NOW_NS]!;
    return w.push(kind, pid, cpu, flags, weight, slot);
  }

  private scanChildren(slot: number): void {
    const t = this.tasks;
    const L = t.lists;
    const first = t.listAt[slot]! >> 2;
    const n = t.threads[slot]!;
    let count = 0;
    for (let i = 0; i < n; i++) {
      const fd = L[first + 2 * i + 1]!;
      if (fd < 0) continue;
      const n = this.s.pread(fd, this.buf, this.buf.length, 0);
      if (n > 0) count = parsePidList(this.buf, n, this.childPids, count);
    }
    this.noteNew(count);
  }

  private noteNew(count: number): void {
    for (let i = 0; i < count; i++) {
      const pid = this.childPids[i]!;
      if (this.sched.slotOf(pid) >= 0 || this.isExcluded(pid)) continue;
      let known = false;
      for (let k = 0; k < this.nNew; k++) if (this.newPids[k] === pid) known = true;
      if (!known && this.nNew < this.newPids.length) this.newPids[this.nNew++] = pid;
    }
  }

  /** Orphans of the tree are reparented to tsland (the subreaper): look for them after any exit. */
  scanOrphans(): void {
    this.orphanScanDue = false;
    if (this.opts.subreaperPid <= 0) return;
    // Listing our own threads allocates (paths, arrays): not on every exit of a fork storm.
    if (this.clock[CLK_NOW_NS]! - this.ownChildFdsAtNs >= OWN_THREADS_REFRESH_NS) this.refreshOwnChildFds();
    let count = 0;
    for (let i = 0; i < this.nOwnChildFds; i++) {
      const n = this.s.pread(this.ownChildFds[i]!, this.buf, this.buf.length, 0);
      if (n > 0) count = parsePidList(this.buf, n, this.childPids, count);
    }
    this.noteNew(count);
  }

  exitTask(slot: number): void {
    const t = this.tasks;
    if (!t.isLive(slot)) return;
    const pid = t.pid[slot]!;
    if (t.mode[slot] === M_RUNNING) this.sched.setCpuIdle(t.cpu[slot]!, true);
    t.mode[slot] = M_FREE;
    t.stopPending[slot] = 0;
    t.close(slot);
    this.reportExit(pid);
    let reap = this.opts.subreaperPid > 0;
    for (let i = 0; i < this.noReap.length; i++) if (this.noReap[i] === pid) reap = false;
    if (reap) this.s.reap(pid);
    this.orphanScanDue = true;
  }

  private pin(slot: number, cpuIndex: number): void {
    const t = this.tasks;
    const mask = cpuIndex >= 0 ? this.cpuMasks[cpuIndex]! : this.allMask;
    const L = t.lists;
    const first = t.listAt[slot]! >> 2;
    const n = t.threads[slot]!;
    for (let i = 0; i < n; i++) this.s.setAffinity(L[first + 2 * i]!, mask);
    t.pinnedCpu[slot] = cpuIndex >= 0 ? this.cpuIds[cpuIndex]! : -1;
  }

  enforce(): number {
    const ring = this.sched.dispatched;
    const t = this.tasks;
    const nowNs = this.clock[CLK_NOW_NS]!;
    let done = 0;
    let at: number;
    while ((at = ring.peek()) >= 0) {
      const pid = ring.i32[(at + D_PID) >> 2]!;
      const cpu = ring.i32[(at + D_CPU) >> 2]!;
      const flags = ring.i32[(at + D_FLAGS) >> 2]!;
      const sliceNs = ring.f64[(at + D_SLICE_NS) >> 3]!;
      ring.consume();
      const slot = this.sched.slotOf(pid);
      if (slot < 0 || !t.isLive(slot) || t.pid[slot] !== pid) {
        this.cnt[C.nr_cancel_dispatches]!++;
        if (cpu >= 0 && cpu < this.cpuIds.length) this.sched.setCpuIdle(cpu, true);
        continue;
      }
      if ((flags & DF_BOUNCE) !== 0) {
        // The scheduler had no room for it: the kernel runs it, we never hold it stopped.
        if (t.stopped[slot] === 1 && this.s.pidfdSignal(t.pidfd[slot]!, SIGCONT) === 0) t.stopped[slot] = 0;
        t.mode[slot] = M_FREE;
        t.stopPending[slot] = 0;
        if (cpu >= 0 && cpu < this.cpuIds.length) this.sched.setCpuIdle(cpu, true);
        continue;
      }
      if (t.pinnedCpu[slot] !== this.cpuIds[cpu]) this.pin(slot, cpu);
      t.mode[slot] = M_RUNNING;
      t.cpu[slot] = cpu;
      t.stopPending[slot] = 0;
      t.sliceEndNs[slot] = nowNs + sliceNs;
      if (t.stopped[slot] === 1) {
        if (this.s.pidfdSignal(t.pidfd[slot]!, SIGCONT) !== 0) {
          this.cnt[C.nr_cancel_dispatches]!++;
          this.exitTask(slot);
          continue;
        }
        t.stopped[slot] = 0;
      }
      done++;
    }
    return done;
  }

  private stopUnpicked(): void {
    const t = this.tasks;
    for (let i = 0; i < this.nPending; i++) {
      const slot = this.pendingList[i]!;
      if (t.stopPending[slot] !== 1) continue;
      t.stopPending[slot] = 0;
      if (!t.isLive(slot) || t.mode[slot] !== M_WAITING || t.stopped[slot] === 1) continue;
      if (this.s.pidfdSignal(t.pidfd[slot]!, SIGSTOP) !== 0) {
        this.cnt[C.nr_failed_dispatches]!++;
        this.exitTask(slot);
        continue;
      }
      t.stopped[slot] = 1;
    }
    this.nPending = 0;
  }

  /**
   * Writes every page of the tables once (the scheduler's and this backend's). Call it after this process
   * forked (a command spawned once this thread ran): the pages a table shares with other memory are left
   * copy-on-write by a fork, and the first write to each would be a page fault in the middle of a run.
   * Only the tables: the thread's other memory stays copy-on-write, which is why tsland forks before the
   * scheduler thread starts (session/command.ts) and starts the drill's sleeps without a fork (drill-proc.ts).
   */
  retouchMemory(): void {
    this.sched.retouchMemory();
    this.locker.retouch();
    this.scratchLocker.retouch();
  }

  // ---- release ----

  /**
   * Lets every live task run free on every CPU: affinity reset, then SIGCONT. With `signal`, also sends it
   * (a forwarded Ctrl-C or SIGTERM) before the SIGCONT, so a stopped task handles it as soon as it resumes.
   */
  releaseAll(signal = 0): number {
    const t = this.tasks;
    let released = 0;
    for (let d = 0; d < t.nLive; d++) {
      const slot = t.live[d]!;
      this.pin(slot, -1);
      if (signal > 0) this.s.pidfdSignal(t.pidfd[slot]!, signal);
      this.s.pidfdSignal(t.pidfd[slot]!, SIGCONT);
      t.stopped[slot] = 0;
      t.mode[slot] = M_FREE;
      released++;
    }
    return released;
  }

  /** Closes every descriptor (after releaseAll). */
  close(): void {
    const t = this.tasks;
    while (t.nLive > 0) t.close(t.live[t.nLive - 1]!);
    for (let i = 0; i < this.nOwnChildFds; i++) this.s.close(this.ownChildFds[i]!);
    this.nOwnChildFds = 0;
    this.tasksFile.close();
    this.proc.close();
    this.locker.unlockAll();
    this.scratchLocker.unlockAll();
  }
}
