// The operating-system side of each managed task, indexed by the scheduler's own task slot (so one pid map
// serves both): descriptors opened once on the task-creation path, the last values read from /proc, and
// what the backend did to the task (stopped it, pinned it). Columns are typed arrays carved out of ONE
// buffer, sized for `reserve` tasks up front and locked in RAM when the caller locks; they grow (a new
// buffer, the old columns copied) only when more tasks than that are live at once.
//
// Each task's threads live in a tsland TLSF arena: a block of (tid, children descriptor) pairs per task,
// allocated on adoption and freed on exit, so adopting and dropping processes creates nothing on the JS
// heap. `lists` is the arena's Int32Array and listAt[slot] the pair list's first index in it.
//
// Live tasks are also kept in a dense list whose order matches an array of struct pollfd, so one poll(2)
// call tells which tasks exited (a pidfd polls readable on exit) whatever their number.
//
//   pollfds (8 bytes per entry, entry 0 is the guardian's pidfd, entry 1 + d the task at dense index d):
//   0      4      6       8
//   +------+------+-------+
//   | fd   |events|revents|
//   +------+------+-------+
//
//   thread list of a slot, at lists[listAt[slot]], threads[slot] pairs:
//   +------+----------+------+----------+---
//   | tid0 | childFd0 | tid1 | childFd1 | ...      tid0 is the process's own pid
//   +------+----------+------+----------+---

import { createArena, type Arena } from '../../../arena/index.js';
import { POLLIN, sys } from '../../os/sys.js';

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
const MIN_SLOTS = 256;
/** Columns per slot, by kind: grow() carves exactly these out of the buffer. */
const F64_COLUMNS = 10;
const I32_COLUMNS = 12;
const U8_COLUMNS = 3;
/** One (tid, children fd) pair of a thread list. */
const PAIR_BYTES = 8;
/**
 * Thread-list arena bytes per reserved slot: room for several threads per task on average, TLSF headers
 * included (most processes of a build or a fork storm have one; a Node or Java process has dozens).
 */
const LIST_BYTES_PER_SLOT = 128;
const MIN_LIST_BYTES = 64 * 1024;

export interface ProcTasksOptions {
  /** Slots sized up front: no buffer grows until more tasks than this are live at once. */
  reserve?: number;
  /**
   * Told the buffers that must stay locked whenever they change (the columns, the thread-list arena):
   * SlabLocker.track, which locks new ones and unlocks the ones they replaced.
   */
  track?: (buffers: readonly ArrayBufferLike[]) => void;
}

/** Opens the /proc files of a new thread (ProcDir implements it). */
export interface ChildrenOpener {
  openChildren(pid: number, tid: number): number;
}

class Carver {
  at = 0;
  constructor(readonly buffer: ArrayBuffer) {}
  f64(n: number): Float64Array<ArrayBuffer> {
    const a = new Float64Array(this.buffer, this.at, n);
    this.at += n * 8;
    return a;
  }
  i32(n: number): Int32Array<ArrayBuffer> {
    const a = new Int32Array(this.buffer, this.at, n);
    this.at += n * 4;
    return a;
  }
  u8(n: number): Uint8Array<ArrayBuffer> {
    const a = new Uint8Array(this.buffer, this.at, n);
    this.at += n;
    return a;
  }
}

export class ProcTasks {
  capacity = 0;
  /** The buffer every column below is a view of. */
  columns = new ArrayBuffer(0);
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
  /** Threads in the slot's thread list. */
  threads = new Int32Array(0);
  /** Byte offset of the slot's thread list in the list arena (0: none); lists[(listAt >> 2) + 2 * i] is tid i. */
  listAt = new Int32Array(0);
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
  /** Position of each slot in the dense list, -1 when not live. */
  dense = new Int32Array(0);
  live = new Int32Array(0);
  nLive = 0;
  pollfds = new Uint8Array(0);
  pollView = new DataView(this.pollfds.buffer);
  /** The thread-list arena's words (replaced when the arena grows: read it afresh, never keep it). */
  lists: Int32Array;
  private arena: Arena;
  private readonly track: (buffers: readonly ArrayBufferLike[]) => void;

  constructor(opts: ProcTasksOptions = {}) {
    const reserve = Math.max(MIN_SLOTS, opts.reserve ?? 0);
    this.track = opts.track ?? (() => {});
    this.arena = createArena({ sizeBytes: Math.max(MIN_LIST_BYTES, reserve * LIST_BYTES_PER_SLOT) });
    this.lists = this.arena.i32;
    this.grow(reserve);
  }

  /** Creation path: makes sure `slot` has room in every column. */
  ensure(slot: number): void {
    if (slot < this.capacity) return;
    let next = this.capacity;
    while (next <= slot) next *= 2;
    this.grow(next);
  }

  private grow(capacity: number): void {
    const bytes = capacity * (F64_COLUMNS * 8 + I32_COLUMNS * 4 + U8_COLUMNS) + POLLFD_BYTES * (capacity + 1);
    const c = new Carver(new ArrayBuffer(Math.ceil(bytes / 8) * 8));
    const old = this.capacity;
    const f64 = (prev: Float64Array<ArrayBuffer>): Float64Array<ArrayBuffer> => {
      const a = c.f64(capacity);
      a.set(prev);
      return a;
    };
    const i32 = (prev: Int32Array<ArrayBuffer>, fill = 0): Int32Array<ArrayBuffer> => {
      const a = c.i32(capacity);
      a.set(prev);
      if (fill !== 0) a.fill(fill, old);
      return a;
    };
    const u8 = (prev: Uint8Array<ArrayBuffer>): Uint8Array<ArrayBuffer> => {
      const a = c.u8(capacity);
      a.set(prev);
      return a;
    };
    // Widest first, so every view is aligned; F64_COLUMNS, I32_COLUMNS and U8_COLUMNS count these lines.
    this.startTicks = f64(this.startTicks);
    this.sumExecNs = f64(this.sumExecNs);
    this.baseExecNs = f64(this.baseExecNs);
    this.leaderNs = f64(this.leaderNs);
    this.lastTicks = f64(this.lastTicks);
    this.sleepExecNs = f64(this.sleepExecNs);
    this.nvcsw = f64(this.nvcsw);
    this.sliceEndNs = f64(this.sliceEndNs);
    this.nextLookNs = f64(this.nextLookNs);
    this.lookGapNs = f64(this.lookGapNs);
    this.pid = i32(this.pid);
    this.pidfd = i32(this.pidfd, -1);
    this.statFd = i32(this.statFd, -1);
    this.schedstatFd = i32(this.schedstatFd, -1);
    this.statusFd = i32(this.statusFd, -1);
    this.cpu = i32(this.cpu, -1);
    this.pinnedCpu = i32(this.pinnedCpu, -1);
    this.weight = i32(this.weight);
    this.threads = i32(this.threads);
    this.listAt = i32(this.listAt);
    this.dense = i32(this.dense, -1);
    this.live = i32(this.live);
    const pollfds = c.u8(POLLFD_BYTES * (capacity + 1));
    pollfds.set(this.pollfds);
    this.pollfds = pollfds;
    this.pollView = new DataView(c.buffer, pollfds.byteOffset, pollfds.byteLength);
    this.mode = u8(this.mode);
    this.stopped = u8(this.stopped);
    this.stopPending = u8(this.stopPending);
    if (c.at > c.buffer.byteLength) throw new Error(`ProcTasks: columns overrun their buffer (${c.at} > ${c.buffer.byteLength})`);
    this.columns = c.buffer;
    this.capacity = capacity;
    this.track([this.columns, this.arena.buffer]);
  }

  /** Entry 0 of the poll array: the guardian, whose exit must stop the scheduler. */
  setGuardianPidfd(fd: number): void {
    this.pollView.setInt32(PFD_FD, fd, true);
    this.pollView.setInt16(PFD_EVENTS, fd >= 0 ? POLLIN : 0, true);
  }

  /**
   * Creation path: takes the task's descriptors (owned from now on) and threads tids[0, nTids), its own
   * pid first, and adds it to the live list.
   */
  open(
    slot: number,
    pid: number,
    pidfd: number,
    statFd: number,
    schedstatFd: number,
    statusFd: number,
    startTicks: number,
    tids: Int32Array,
    nTids: number,
    dir: ChildrenOpener,
  ): void {
    this.ensure(slot);
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
    this.listAt[slot] = 0;
    this.threads[slot] = 0;
    this.setThreads(slot, tids, nTids, dir);
    const d = this.nLive++;
    this.live[d] = slot;
    this.dense[slot] = d;
    this.writePollfd(d, pidfd);
  }

  /**
   * Creation path: the thread list is now tids[0, n); opens the children file of each new thread and
   * closes those of threads that are gone.
   */
  setThreads(slot: number, tids: Int32Array, n: number, dir: ChildrenOpener): void {
    const pid = this.pid[slot]!;
    const at = this.allocList(n);
    // Read after allocating: growing the arena moves every list.
    const L = this.lists;
    const oldAt = this.listAt[slot]! >> 2;
    const oldN = this.threads[slot]!;
    const to = at >> 2;
    for (let i = 0; i < n; i++) {
      const tid = tids[i]!;
      let fd = -1;
      for (let j = 0; j < oldN; j++) {
        if (L[oldAt + 2 * j] === tid) {
          fd = L[oldAt + 2 * j + 1]!;
          L[oldAt + 2 * j + 1] = -1;
          break;
        }
      }
      L[to + 2 * i] = tid;
      L[to + 2 * i + 1] = fd >= 0 ? fd : dir.openChildren(pid, tid);
    }
    this.dropList(slot);
    this.listAt[slot] = at;
    this.threads[slot] = n;
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
    this.dropList(slot);
    this.statFd[slot] = -1;
    this.schedstatFd[slot] = -1;
    this.statusFd[slot] = -1;
    this.pidfd[slot] = -1;
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

  /** Closes the children descriptors still in the slot's list and frees the list. */
  private dropList(slot: number): void {
    const at = this.listAt[slot]!;
    if (at === 0) return;
    const L = this.lists;
    const first = at >> 2;
    const n = this.threads[slot]!;
    const s = sys();
    for (let i = 0; i < n; i++) {
      const fd = L[first + 2 * i + 1]!;
      if (fd >= 0) s.close(fd);
    }
    this.arena.free(at);
    this.listAt[slot] = 0;
    this.threads[slot] = 0;
  }

  /** A block for n pairs: its byte offset. Grows the arena (and moves every list) when it is full. */
  private allocList(n: number): number {
    const bytes = (n > 0 ? n : 1) * PAIR_BYTES;
    let at = this.arena.alloc(bytes);
    while (at === 0) {
      this.growLists(bytes);
      at = this.arena.alloc(bytes);
    }
    return at;
  }

  private growLists(needBytes: number): void {
    const old = this.arena;
    let size = old.sizeBytes * 2;
    while (size < old.sizeBytes + 2 * needBytes) size *= 2;
    const next = createArena({ sizeBytes: size });
    for (let slot = 0; slot < this.capacity; slot++) {
      const at = this.listAt[slot]!;
      if (at === 0) continue;
      const words = this.threads[slot]! * 2;
      const to = next.alloc(words * 4);
      if (to === 0) throw new Error('ProcTasks: a grown thread-list arena cannot hold the old lists');
      next.i32.set(old.i32.subarray(at >> 2, (at >> 2) + words), to >> 2);
      this.listAt[slot] = to;
    }
    this.arena = next;
    this.lists = next.i32;
    this.track([this.columns, this.arena.buffer]);
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
