// What the sched_ext soak reads from the kernel and from the workload: sched_ext's state and the loaded
// scheduler's name (/sys/kernel/sched_ext), and how much CPU each workload process has had (to tell that
// every task ran again once tsland was taken out).

import { existsSync, readFileSync } from 'node:fs';
import { listPids, procText, readStat, type ProcStat } from './procfs.js';

export const SCX_SYSFS = '/sys/kernel/sched_ext';
/** The name tsland's BPF half registers under (/sys/kernel/sched_ext/root/ops). */
export const SCX_OPS_NAME = 'tsland';

/** Whether this kernel has sched_ext at all: if not, the soak runs in the guest. */
export function hasSchedExt(): boolean {
  return existsSync(`${SCX_SYSFS}/state`);
}

/** enabled, disabled, enabling, disabling...; null when the kernel has no sched_ext. */
export function scxState(): string | null {
  try {
    return readFileSync(`${SCX_SYSFS}/state`, 'latin1').trim();
  } catch {
    return null;
  }
}

/** The loaded scheduler's name, '' when none is loaded. */
export function scxOps(): string {
  try {
    return readFileSync(`${SCX_SYSFS}/root/ops`, 'latin1').trim();
  } catch {
    return '';
  }
}

/** The number of times a sched_ext scheduler was enabled since boot (-1 when unreadable). */
export function scxEnableSeq(): number {
  try {
    return Number(readFileSync(`${SCX_SYSFS}/enable_seq`, 'latin1').trim());
  } catch {
    return -1;
  }
}

/** Polls until `want(state)` holds; resolves with the ms it took, or undefined after `timeoutMs`. */
export async function waitScxState(
  want: (state: string | null) => boolean,
  timeoutMs: number,
  pollMs = 20,
): Promise<number | undefined> {
  const t0 = Date.now();
  for (;;) {
    if (want(scxState())) return Date.now() - t0;
    if (Date.now() - t0 > timeoutMs) return undefined;
    await new Promise((r) => setTimeout(r, pollMs));
  }
}

/** utime + stime of a process in clock ticks, or undefined when it is gone. */
export function cpuTicks(pid: number): number | undefined {
  const text = procText(pid, 'stat');
  if (text === undefined) return undefined;
  // Fields after the name start at field 3 (state); utime and stime are fields 14 and 15.
  const rest = text.slice(text.lastIndexOf(')') + 2).split(' ');
  const t = Number(rest[11]) + Number(rest[12]);
  return Number.isFinite(t) ? t : undefined;
}

/**
 * Nanoseconds the process's main thread has spent on a CPU (/proc/<pid>/schedstat, field 1), or undefined
 * where the kernel has no schedstat. Exact, where ticks count whole 10 ms: a compiler driver that runs 2 ms
 * and then waits for its children shows no tick, yet it ran.
 */
export function cpuRunNs(pid: number): number | undefined {
  const text = procText(pid, 'schedstat');
  if (text === undefined) return undefined;
  const ns = Number(text.split(' ')[0]);
  return Number.isFinite(ns) ? ns : undefined;
}

export interface CpuSnapshot {
  atMs: number;
  /** `pid:startTicks` -> the process, its state then, its CPU ticks and (where known) its ns on a CPU. */
  procs: Map<string, { pid: number; comm: string; state: string; ticks: number; runNs?: number }>;
}

/**
 * The workload root and every process under it, by parent links. Not by the run's mark alone: stress-ng
 * names its workers by writing over its argv, which runs on into the environment the mark is read from.
 */
export function workloadTree(rootPid: number, rootStartTicks: number): ProcStat[] {
  const children = new Map<number, ProcStat[]>();
  let root: ProcStat | undefined;
  for (const pid of listPids()) {
    const st = readStat(pid);
    if (!st) continue;
    if (pid === rootPid && st.startTicks === rootStartTicks) root = st;
    const list = children.get(st.ppid);
    if (list) list.push(st);
    else children.set(st.ppid, [st]);
  }
  if (!root) return [];
  const out: ProcStat[] = [];
  for (let queue = [root]; queue.length > 0;) {
    const st = queue.pop()!;
    out.push(st);
    queue = queue.concat(children.get(st.pid) ?? []);
  }
  return out;
}

export function cpuSnapshot(procList: readonly ProcStat[]): CpuSnapshot {
  const procs: CpuSnapshot['procs'] = new Map();
  for (const e of procList) {
    if (e.state === 'Z') continue;
    const ticks = cpuTicks(e.pid);
    if (ticks !== undefined)
      procs.set(`${e.pid}:${e.startTicks}`, { pid: e.pid, comm: e.comm, state: e.state, ticks, runNs: cpuRunNs(e.pid) });
  }
  return { atMs: Date.now(), procs };
}

export interface Progress {
  /** Processes runnable at the first snapshot and still alive at the second. */
  runnable: number;
  /** Of those, the ones that had no CPU at all in between. */
  stalled: { pid: number; comm: string }[];
  /** CPU ticks all the workload's processes alive at both snapshots had in between. */
  ticks: number;
}

/**
 * What ran between two snapshots: every process that was runnable at the first (state R) and still
 * exists at the second must have had some CPU; a process that exited in between ran to its end.
 */
export function progressBetween(before: CpuSnapshot, after: CpuSnapshot): Progress {
  const out: Progress = { runnable: 0, stalled: [], ticks: 0 };
  for (const [key, b] of before.procs) {
    const a = after.procs.get(key);
    if (!a) continue;
    out.ticks += Math.max(0, a.ticks - b.ticks);
    if (b.state !== 'R') continue;
    out.runnable++;
    // Ticks count the whole process; schedstat its main thread, exactly: either moving means it ran.
    const ran = a.ticks > b.ticks || (a.runNs !== undefined && b.runNs !== undefined && a.runNs > b.runNs);
    if (!ran) out.stalled.push({ pid: b.pid, comm: b.comm });
  }
  return out;
}
