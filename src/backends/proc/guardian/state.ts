// What a scheduler run keeps on disk so that someone else can release its tasks when it cannot: the
// guardian while it runs, the next tsland run after both died. Files live in a state directory
// (/run/tsland for root, as for the stats sockets: a tmpfs on most systems, so writes never wait for a
// disk), one set per run, named
// by the scheduler's pid:
//
//   <pid>.run.json    who runs: scheduler and guardian (pid + start time), written once at start
//   <pid>.tasks       every task ever managed, appended on the task-creation path BEFORE the task is first
//                     stopped, so no stopped task is ever missing from it
//   <pid>.heartbeat   the scheduler's heartbeat, rewritten in place with pwrite (allocation-free)
//   guardian.log      one JSON line per release: who released what, and why
//
// Task record (TASK_RECORD_BYTES = 16), appended in order:
//
//   0      4      8             16
//   +------+------+-------------+
//   | pid  | rsv  | startTicks  |
//   +------+------+-------------+
//   pid         i32  process id
//   rsv         i32  0
//   startTicks  f64  start time from /proc/<pid>/stat: a reused pid has another one, and is never signalled
//
// Heartbeat (HEARTBEAT_BYTES = 24):
//
//   0             8             16            24
//   +-------------+-------------+-------------+
//   | beatMs      | flags       | tid         |
//   +-------------+-------------+-------------+
//   beatMs  f64  CLOCK_MONOTONIC milliseconds of the last beat (same clock in every process)
//   flags   f64  HB_DONE once the scheduler has released everything itself and is exiting
//   tid     f64  the thread that beats (the main thread while starting, then the scheduler thread): the
//                guardian reads its state and CPU time from /proc, to tell a stall from a thread that was
//                runnable but given no CPU

import {
  appendFileSync,
  closeSync,
  fstatSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  readSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { statsDir } from '../../../stats/paths.js';
import { listTids, openVerifiedPidfd, isAlive } from '../../os/identity.js';
import { SIGCONT, sys } from '../../os/sys.js';

export const STATE_DIR_ENV = 'TSLAND_STATE_DIR';

export const TASK_RECORD_BYTES = 16;
export const TR_PID = 0;
export const TR_START_TICKS = 8;

export const HEARTBEAT_BYTES = 24;
export const HB_BEAT_MS = 0;
export const HB_FLAGS = 8;
export const HB_TID = 16;
export const HB_DONE = 1;

export const GUARDIAN_LOG = 'guardian.log';

export interface RunRecord {
  schedulerPid: number;
  schedulerStartTicks: number;
  guardianPid: number;
  guardianStartTicks: number;
  watchdogMs: number;
  startedAt: string;
}

export interface ManagedTaskRecord {
  pid: number;
  startTicks: number;
}

export interface ReleaseRecord {
  reason: string;
  schedulerPid: number;
  releasedBy: 'guardian' | 'scheduler' | 'recovery';
  /** Tasks named in the tasks file, and how many of them were still alive and got SIGCONT. */
  tasksKnown: number;
  tasksContinued: number;
  /** CLOCK_MONOTONIC ms of the last heartbeat seen, of detection, and of the end of the release. */
  lastBeatMs?: number;
  detectedMs?: number;
  releasedMs?: number;
  /**
   * For a heartbeat timeout: how long the guardian, itself on time, saw no beat; how much of that the
   * beating thread spent runnable but waiting for a CPU; the guardian's own latest lateness (ms).
   */
  silentMs?: number;
  cpuWaitMs?: number;
  guardianLateMs?: number;
  at: string;
}

/** Where run state lives: the explicit choice, $TSLAND_STATE_DIR, or where this user's stats sockets go. */
export function stateDir(explicit?: string): string {
  return explicit ?? process.env[STATE_DIR_ENV] ?? statsDir();
}

export function runPaths(dir: string, schedulerPid: number) {
  return {
    run: join(dir, `${schedulerPid}.run.json`),
    tasks: join(dir, `${schedulerPid}.tasks`),
    heartbeat: join(dir, `${schedulerPid}.heartbeat`),
    log: join(dir, GUARDIAN_LOG),
  };
}

export function ensureStateDir(dir: string): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
}

export function encodeTaskRecord(pid: number, startTicks: number): Buffer {
  const bytes = Buffer.alloc(TASK_RECORD_BYTES);
  bytes.writeInt32LE(pid, TR_PID);
  bytes.writeDoubleLE(startTicks, TR_START_TICKS);
  return bytes;
}

export function readTaskRecords(path: string): ManagedTaskRecord[] {
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch {
    return [];
  }
  const out: ManagedTaskRecord[] = [];
  // A record torn by a crash mid-append is shorter than a record and is ignored.
  for (let at = 0; at + TASK_RECORD_BYTES <= bytes.length; at += TASK_RECORD_BYTES) {
    out.push({ pid: bytes.readInt32LE(at + TR_PID), startTicks: bytes.readDoubleLE(at + TR_START_TICKS) });
  }
  return out;
}

/**
 * Lets every listed task run again on every CPU in `allCpusMask`: SIGCONT through a verified pidfd and the
 * affinity of each of its threads reset; with `signal`, that signal first (a forwarded Ctrl-C). Idempotent;
 * returns how many tasks were still alive.
 */
export function releaseTasks(records: readonly ManagedTaskRecord[], allCpusMask: Uint8Array, signal = 0): number {
  const s = sys();
  const seen = new Set<number>();
  let continued = 0;
  for (const { pid, startTicks } of records) {
    if (seen.has(pid)) continue;
    seen.add(pid);
    const pidfd = openVerifiedPidfd(pid, startTicks);
    if (pidfd < 0) continue;
    // Affinity first: a task resumed before its mask is widened would run a moment on the old CPU only.
    for (const tid of listTids(pid)) s.setAffinity(tid, allCpusMask);
    if (signal > 0) s.pidfdSignal(pidfd, signal);
    if (s.pidfdSignal(pidfd, SIGCONT) === 0) continued++;
    s.close(pidfd);
  }
  return continued;
}

export function appendReleaseRecord(dir: string, record: ReleaseRecord): void {
  try {
    appendFileSync(join(dir, GUARDIAN_LOG), JSON.stringify(record) + '\n');
  } catch {
    // The release itself already happened; a missing log line must not undo it.
  }
}

export function readReleaseRecords(dir: string): ReleaseRecord[] {
  try {
    return readFileSync(join(dir, GUARDIAN_LOG), 'utf8')
      .split('\n')
      .filter((line) => line.trim() !== '')
      .map((line) => JSON.parse(line) as ReleaseRecord);
  } catch {
    return [];
  }
}

/** Only the log's tail is read for the latest releases: a state directory's log grows with every run. */
const LOG_TAIL_BYTES = 64 * 1024;

/** The newest release records in `dir` (oldest first), from the log's last LOG_TAIL_BYTES. */
export function readRecentReleaseRecords(dir: string): ReleaseRecord[] {
  let fd = -1;
  try {
    fd = openSync(join(dir, GUARDIAN_LOG), 'r');
    const size = fstatSync(fd).size;
    const from = Math.max(0, size - LOG_TAIL_BYTES);
    const buf = Buffer.alloc(size - from);
    const got = readSync(fd, buf, 0, buf.length, from);
    const lines = buf.subarray(0, got).toString('utf8').split('\n');
    if (from > 0) lines.shift(); // the first line is cut
    const out: ReleaseRecord[] = [];
    for (const line of lines) {
      if (line.trim() === '') continue;
      try {
        out.push(JSON.parse(line) as ReleaseRecord);
      } catch {
        // A line cut by a crash mid-write says nothing.
      }
    }
    return out;
  } catch {
    return [];
  } finally {
    if (fd >= 0) closeSync(fd);
  }
}

/** The guardian's release of one scheduler's run, if it wrote one. */
export function guardianReleaseOf(dir: string, schedulerPid: number): ReleaseRecord | undefined {
  return readRecentReleaseRecords(dir)
    .reverse()
    .find((r) => r.schedulerPid === schedulerPid && r.releasedBy === 'guardian');
}

/** A guardian's goodbye after the scheduler released everything itself and ended: not a trip. */
export function isCleanRelease(r: ReleaseRecord): boolean {
  return r.releasedBy === 'guardian' && /finished|exited after releasing/.test(r.reason);
}

/** One line for a user: who released what, and why. */
export function describeRelease(r: ReleaseRecord): string {
  return `${r.releasedBy} released ${r.tasksContinued} of ${r.tasksKnown} task(s) of pid ${r.schedulerPid} at ${r.at}: ${r.reason}`;
}

export function writeRunRecord(dir: string, record: RunRecord): void {
  writeFileSync(runPaths(dir, record.schedulerPid).run, JSON.stringify(record) + '\n');
}

export function removeRunFiles(dir: string, schedulerPid: number): void {
  const paths = runPaths(dir, schedulerPid);
  for (const path of [paths.run, paths.tasks, paths.heartbeat]) rmSync(path, { force: true });
}

/**
 * Start-up recovery: releases the tasks of every earlier run whose scheduler is dead, from the state it
 * kept, then removes that run's files. Runs of live schedulers are left alone. Returns the releases done.
 */
export function recoverDeadRuns(dir: string, allCpusMask: Uint8Array, ownPid: number): ReleaseRecord[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  const done: ReleaseRecord[] = [];
  for (const name of names) {
    const match = /^(\d+)\.run\.json$/.exec(name);
    if (!match) continue;
    const schedulerPid = Number(match[1]);
    if (schedulerPid === ownPid) continue;
    let run: RunRecord;
    try {
      run = JSON.parse(readFileSync(join(dir, name), 'utf8')) as RunRecord;
    } catch {
      continue;
    }
    if (isAlive(run.schedulerPid, run.schedulerStartTicks)) continue;
    const records = readTaskRecords(runPaths(dir, schedulerPid).tasks);
    const continued = releaseTasks(records, allCpusMask);
    const record: ReleaseRecord = {
      reason: 'an earlier scheduler died; its tasks were resumed at start-up',
      schedulerPid,
      releasedBy: 'recovery',
      tasksKnown: records.length,
      tasksContinued: continued,
      at: new Date().toISOString(),
    };
    appendReleaseRecord(dir, record);
    removeRunFiles(dir, schedulerPid);
    done.push(record);
  }
  return done;
}
