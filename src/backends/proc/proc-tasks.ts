// The operating-system side of each managed task, indexed by the scheduler's own task slot (so one pid map
// serves both): descriptors opened once on the task-creation path, the last values read from /proc, and
// what the backend did to the task (stopped it, pinned it). Columns are typed arrays that grow only on the
// creation path; the scheduling path reads and writes them by slot number.
//
// Live tasks are also kept in a dense list whose order matches an array of struct pollfd, so one poll(2)
// call tells which tasks exited (a pidfd polls readable on exit) whatever their number.
//
//   pollfds (8 bytes per entry, entry 0 is the guardian's pidfd, entry 1 + d the task at dense index d):
//   0      4      6       8
//   +------+------+-------+
//   | fd   |events|revents|
//   +------+------+-------+

import { O_CLOEXEC, O_RDONLY, POLLIN, sys } from './sys.js';

/** Not stopped and holding no CPU: sleeping, or running briefly after a wake-up (the wake-up grace). */
export const M_FREE = 0;
/** Runnable and waiting for a dispatch: stopped, or about to be unless dispatched at once. */
export const M_WAITING = 1;
/** Dispatched: holds one of the scheduler's CPUs until its slice ends or it sleeps. */
export const M_RUNNING = 2;

export const POLLFD_BYTES = 8;
const PFD_FD = 0;
const PFD_EVENTS = 4;
const PFD_REVENTS = 6;
const INITIAL_SLOTS = 256;
const NO_FDS = new Int32Array(0);

export class ProcTasks {
  capacity = 0;
  pid = new Int32Array(0);
  startTicks = new Float64Array(0);
  pidfd = new Int32Array(0);
  statFd = new Int32Array(0);
  schedstatFd = new Int32Array(0);
  statusFd = new Int32Array(0);
  mode = new Uint8Array(0);
  /** 1 while the backend holds the task stopped with SIGSTOP. */
  stopped = new Uint8Array(0);
  /** 1 when the task must be stopped after this round's dispatches unless one of them picked it. */
  stopPending = new Uint8Array(0);
  /** Scheduler CPU the task is dispatched to, -1 when none. */
  cpu = new Int32Array(0);
  /** Real CPU its threads are pinned to, -1 when they may run anywhere. */
  pinnedCpu = new Int32Array(0);
  weight = new Int32Array(0);
  threads = new Int32Array(0);
  /** Cumulative CPU time reported to the scheduler. */
  sumExecNs = new Float64Array(0);
  /** sumExecNs at adoption: what ran before is not charged. */
  baseExecNs = new Float64Array(0);
  /** The leader thread's runtime at the last look: unchanged means the task neither ran nor forked. */
  leaderNs = new Float64Array(0);
  /** utime + stime of the whole process at the last stat read (moves when any thread ran). */
  lastTicks = new Float64Array(0);
  /** sumExecNs when the task was last seen asleep: what it ran since is its current burst. */
  sleepExecNs = new Float64Array(0);
  nvcsw = new Float64Array(0);
  sliceEndNs = new Float64Array(0);
  nextLookNs = new Float64Array(0);
  /** Gap between looks at a free task: doubles while it sleeps on, so idle sleepers cost almost nothing. */
  lookGapNs = new Float64Array(0);
  /** Thread ids and their /proc/<pid>/task/<tid>/children descriptors, per slot (creation path only). */
  tids: Int32Array[] = [];
  childFds: Int32Array[] = [];
  /** Position of each slot in the dense list, -1 when not live. */
  dense = new Int32Array(0);
  live = new Int32Array(0);
  nLive = 0;
  pollfds = new Uint8Array(POLLFD_BYTES);
  pollView = new DataView(this.pollfds.buffer);

  constructor() {
    this.grow(INITIAL_SLOTS);
  }

  /** Creation path: makes sure `slot` has room in every column. */
  ensure(slot: number): void {
    if (slot < this.capacity) return;
    let next = this.capacity;
    while (next <= slot) next *= 2;
    this.grow(next);
  }

  private grow(capacity: number): void {
    const i32 = (old: Int32Array, fill = 0) => {
      const a = new Int32Array(capacity).fill(fill);
      a.set(old);
      return a;
    };
    const f64 = (old: Float64Array) => {
      const a = new Float64Array(capacity);
      a.set(old);
      return a;
    };
    const u8 = (old: Uint8Array) => {
      const a = new Uint8Array(capacity);
      a.set(old);
      return a;
    };
    const old = this.capacity;
    this.pid = i32(this.pid);
    this.startTicks = f64(this.startTicks);
    this.pidfd = i32(this.pidfd, -1);
    this.statFd = i32(this.statFd, -1);
    this.schedstatFd = i32(this.schedstatFd, -1);
    this.statusFd = i32(this.statusFd, -1);
    this.mode = u8(this.mode);
    this.stopped = u8(this.stopped);
    this.stopPending = u8(this.stopPending);
    this.cpu = i32(this.cpu, -1);
    this.pinnedCpu = i32(this.pinnedCpu, -1);
    this.weight = i32(this.weight);
    this.threads = i32(this.threads);
    this.sumExecNs = f64(this.sumExecNs);
    this.leaderNs = f64(this.leaderNs);
    this.baseExecNs = f64(this.baseExecNs);
    this.lastTicks = f64(this.lastTicks);
    this.sleepExecNs = f64(this.sleepExecNs);
    this.nvcsw = f64(this.nvcsw);
    this.sliceEndNs = f64(this.sliceEndNs);
    this.nextLookNs = f64(this.nextLookNs);
    this.lookGapNs = f64(this.lookGapNs);
    this.dense = i32(this.dense, -1);
    this.live = i32(this.live);
    for (let s = old; s < capacity; s++) {
      this.tids.push(NO_FDS);
      this.childFds.push(NO_FDS);
    }
    const pollfds = new Uint8Array(POLLFD_BYTES * (capacity + 1));
    pollfds.set(this.pollfds);
    this.pollfds = pollfds;
    this.pollView = new DataView(pollfds.buffer);
    this.capacity = capacity;
  }

  /** Entry 0 of the poll array: the guardian, whose exit must stop the scheduler. */
  setGuardianPidfd(fd: number): void {
    this.pollView.setInt32(PFD_FD, fd, true);
    this.pollView.setInt16(PFD_EVENTS, fd >= 0 ? POLLIN : 0, true);
  }

  /**
   * Creation path: opens the task's descriptors and adds it to the live list. Returns false when the
   * process vanished before its files could be opened (nothing is kept open then).
   */
  open(slot: number, pid: number, pidfd: number, startTicks: number, tids: readonly number[]): boolean {
    const s = sys();
    this.ensure(slot);
    const flags = O_RDONLY | O_CLOEXEC;
    const statFd = s.open(`/proc/${pid}/stat`, flags);
    const schedstatFd = s.open(`/proc/${pid}/schedstat`, flags);
    const statusFd = s.open(`/proc/${pid}/status`, flags);
    if (statFd < 0 || schedstatFd < 0 || statusFd < 0) {
      for (const fd of [statFd, schedstatFd, statusFd]) if (fd >= 0) s.close(fd);
      return false;
    }
    this.pid[slot] = pid;
    this.pidfd[slot] = pidfd;
    this.startTicks[slot] = startTicks;
    this.statFd[slot] = statFd;
    this.schedstatFd[slot] = schedstatFd;
    this.statusFd[slot] = statusFd;
    this.mode[slot] = M_FREE;
    this.stopped[slot] = 0;
    this.stopPending[slot] = 0;
    this.cpu[slot] = -1;
    this.pinnedCpu[slot] = -1;
    this.sumExecNs[slot] = 0;
    this.leaderNs[slot] = -1;
    this.baseExecNs[slot] = 0;
    this.lastTicks[slot] = -1;
    this.sleepExecNs[slot] = 0;
    this.nvcsw[slot] = 0;
    this.sliceEndNs[slot] = 0;
    this.nextLookNs[slot] = 0;
    this.lookGapNs[slot] = 0;
    this.setThreads(slot, tids);
    const d = this.nLive++;
    this.live[d] = slot;
    this.dense[slot] = d;
    this.writePollfd(d, pidfd);
    return true;
  }

  /** Creation path: the thread list changed; opens children files of new threads, closes those of gone ones. */
  setThreads(slot: number, tids: readonly number[]): void {
    const s = sys();
    const oldTids = this.tids[slot]!;
    const oldFds = this.childFds[slot]!;
    const nextTids = new Int32Array(tids.length);
    const nextFds = new Int32Array(tids.length).fill(-1);
    const pid = this.pid[slot]!;
    for (let i = 0; i < tids.length; i++) {
      const tid = tids[i]!;
      nextTids[i] = tid;
      const was = oldTids.indexOf(tid);
      if (was >= 0) {
        nextFds[i] = oldFds[was]!;
        oldFds[was] = -1;
      } else {
        nextFds[i] = s.open(`/proc/${pid}/task/${tid}/children`, O_RDONLY | O_CLOEXEC);
      }
    }
    for (const fd of oldFds) if (fd >= 0) s.close(fd);
    this.tids[slot] = nextTids;
    this.childFds[slot] = nextFds;
    this.threads[slot] = tids.length;
  }

  /** Closes every descriptor of a task and drops it from the live list. Allocation-free. */
  close(slot: number): void {
    const d = this.dense[slot]!;
    if (d < 0) return;
    const s = sys();
    s.close(this.statFd[slot]!);
    s.close(this.schedstatFd[slot]!);
    s.close(this.statusFd[slot]!);
    s.close(this.pidfd[slot]!);
    const fds = this.childFds[slot]!;
    for (let i = 0; i < fds.length; i++) if (fds[i]! >= 0) s.close(fds[i]!);
    this.statFd[slot] = -1;
    this.schedstatFd[slot] = -1;
    this.statusFd[slot] = -1;
    this.pidfd[slot] = -1;
    this.tids[slot] = NO_FDS;
    this.childFds[slot] = NO_FDS;
    // Swap-remove from the dense list and its poll array.
    const lastD = --this.nLive;
    const lastSlot = this.live[lastD]!;
    this.live[d] = lastSlot;
    this.dense[lastSlot] = d;
    this.writePollfd(d, this.pidfd[lastSlot]!);
    this.dense[slot] = -1;
  }

  isLive(slot: number): boolean {
    return slot >= 0 && slot < this.capacity && this.dense[slot]! >= 0;
  }

  private writePollfd(d: number, fd: number): void {
    const at = (d + 1) * POLLFD_BYTES;
    this.pollView.setInt32(at + PFD_FD, fd, true);
    this.pollView.setInt16(at + PFD_EVENTS, POLLIN, true);
    this.pollView.setInt16(at + PFD_REVENTS, 0, true);
  }

  /** revents of entry `i` of the poll array (0 = guardian, 1 + d = task at dense index d). */
  revents(i: number): number {
    return this.pollView.getInt16(i * POLLFD_BYTES + PFD_REVENTS, true);
  }
}
