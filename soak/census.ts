// Finds the workload's processes: every process whose environment carries the run's mark, placed in or
// out of the tree under the workload root by walking parent links. The mark survives a scheduler restart
// and reparenting, so a process that escaped the tree is still found and reported as orphaned.

import { hasEnv, isStopped, listPids, readStat, type ProcStat } from './procfs.js';

export interface CensusEntry extends ProcStat {
  /** Descends from the workload root (or is the root). */
  inTree: boolean;
}

export interface Census {
  atMs: number;
  marked: CensusEntry[];
  stopped: CensusEntry[];
  orphans: CensusEntry[];
  rootAlive: boolean;
}

export class CensusTaker {
  /** `pid:startTicks` -> marked; environ is read once per process, not once per scan. */
  private readonly markCache = new Map<string, boolean>();

  /**
   * The running scheduler, when it is a child subreaper: a process whose parent died is handed to it and
   * stays managed, so it is still in the tree. Once that scheduler is gone, such a process is an orphan.
   */
  schedulerPid = -1;

  constructor(
    private readonly mark: string,
    public rootPid: number,
    public rootStartTicks = -1,
  ) {}

  take(): Census {
    const all = new Map<number, ProcStat>();
    for (const pid of listPids()) {
      const st = readStat(pid);
      if (st) all.set(pid, st);
    }
    const seen = new Set<string>();
    const marked: CensusEntry[] = [];
    for (const st of all.values()) {
      const key = `${st.pid}:${st.startTicks}`;
      seen.add(key);
      let isMarked = this.markCache.get(key);
      if (isMarked === undefined) {
        // A zombie's environ reads empty: keep it unknown until it is seen alive or is gone.
        const v = hasEnv(st.pid, this.mark);
        if (v === undefined || (st.state === 'Z' && !v)) continue;
        isMarked = v;
        this.markCache.set(key, v);
      }
      if (isMarked) marked.push({ ...st, inTree: this.inTree(st, all) });
    }
    for (const key of this.markCache.keys()) if (!seen.has(key)) this.markCache.delete(key);
    const root = all.get(this.rootPid);
    const rootAlive =
      root !== undefined && root.state !== 'Z' && (this.rootStartTicks < 0 || root.startTicks === this.rootStartTicks);
    return {
      atMs: Date.now(),
      marked,
      stopped: marked.filter((e) => isStopped(e.state)),
      orphans: marked.filter((e) => !e.inTree && e.state !== 'Z'),
      rootAlive,
    };
  }

  private inTree(st: ProcStat, all: Map<number, ProcStat>): boolean {
    let cur: ProcStat | undefined = st;
    for (let hops = 0; cur && hops < 4096; hops++) {
      if (cur.pid === this.rootPid && (this.rootStartTicks < 0 || cur.startTicks === this.rootStartTicks)) return true;
      if (this.schedulerPid > 0 && cur.ppid === this.schedulerPid) return true;
      if (cur.ppid <= 1) return false;
      const parent = all.get(cur.ppid);
      // The parent exited between the reads of this scan (a compiler driver, say): its child is reparented
      // by now, and the next scan judges it under its new parent. An escape is never missed, only seen later.
      if (!parent) return true;
      cur = parent;
    }
    return false;
  }
}

/**
 * Tracks how long each workload process stays stopped across samples. The resolution is the sampling
 * interval: a streak is the time between the first and the last sample that saw the process stopped.
 */
export class StopStreaks {
  private readonly since = new Map<string, { firstMs: number; lastMs: number; pid: number; comm: string }>();
  maxStreakMs = 0;
  maxStreakPid = 0;
  maxStreakComm = '';

  update(census: Census): void {
    const now = new Set<string>();
    for (const e of census.stopped) {
      const key = `${e.pid}:${e.startTicks}`;
      now.add(key);
      const s = this.since.get(key);
      if (s) s.lastMs = census.atMs;
      else this.since.set(key, { firstMs: census.atMs, lastMs: census.atMs, pid: e.pid, comm: e.comm });
    }
    for (const [key, s] of this.since) {
      this.note(s);
      if (!now.has(key)) this.since.delete(key);
    }
  }

  /** Processes stopped in every sample for at least `ms`. */
  stuck(ms: number): { pid: number; comm: string; stoppedMs: number }[] {
    const out: { pid: number; comm: string; stoppedMs: number }[] = [];
    for (const s of this.since.values())
      if (s.lastMs - s.firstMs >= ms) out.push({ pid: s.pid, comm: s.comm, stoppedMs: s.lastMs - s.firstMs });
    return out;
  }

  /** Forgets open streaks, e.g. across a window where the stopping is our own doing. */
  reset(): void {
    this.since.clear();
  }

  private note(s: { firstMs: number; lastMs: number; pid: number; comm: string }): void {
    const ms = s.lastMs - s.firstMs;
    if (ms > this.maxStreakMs) {
      this.maxStreakMs = ms;
      this.maxStreakPid = s.pid;
      this.maxStreakComm = s.comm;
    }
  }
}
