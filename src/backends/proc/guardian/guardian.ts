// The guardian: a separate small process that outlives the scheduler and releases every managed task when
// the scheduler dies or stalls, so a stopped task never stays stopped. sched_ext's kernel watchdog falls
// back to the fair class when a BPF scheduler stalls; this is that fallback for a user-space enforcer
// (cpulimit, killed with SIGKILL, leaves its targets stopped forever).
//
// Started by tsland in its own session (a Ctrl-C in the terminal reaches the scheduler's tree, not us),
// with one JSON argument (GuardianConfig). Every `checkMs` it asks two questions:
//   - is the scheduler gone? its pidfd polls readable the moment it exits, SIGKILL included;
//   - is its heartbeat older than watchdogMs? a stopped or stuck scheduler still exists but beats no more.
// Either way: SIGCONT every task in the tasks file (verified by start time), reset affinity to all CPUs,
// append why to guardian.log, remove the run's files, exit. A clean exit (HB_DONE) is released the same
// way: the scheduler already did it, doing it twice is harmless and closes any gap.

import { openSync, readSync, closeSync } from 'node:fs';
import { setPriority } from 'node:os';
import { fileURLToPath } from 'node:url';
import { monotonicMs } from '../../os/clock.js';
import { openVerifiedPidfd } from '../../os/identity.js';
import {
  appendReleaseRecord,
  HB_BEAT_MS,
  HB_DONE,
  HB_FLAGS,
  HEARTBEAT_BYTES,
  readTaskRecords,
  releaseTasks,
  removeRunFiles,
  runPaths,
} from './state.js';
import { cpuMask, POLLIN, sys } from '../../os/sys.js';

export interface GuardianConfig {
  stateDir: string;
  schedulerPid: number;
  schedulerStartTicks: number;
  watchdogMs: number;
  /** CPUs a released task may run on. */
  cpus: number[];
}

/** Path of this module's compiled file, for spawning it. */
export const GUARDIAN_SCRIPT = fileURLToPath(import.meta.url);

/** How often the guardian looks: often enough to act within a few percent of the timeout. */
export function guardianCheckMs(watchdogMs: number): number {
  return Math.min(20, Math.max(2, Math.floor(watchdogMs / 25)));
}

function runGuardian(config: GuardianConfig): void {
  const s = sys();
  const paths = runPaths(config.stateDir, config.schedulerPid);
  const allMask = cpuMask(config.cpus);
  try {
    setPriority(-10); // a guardian that waits behind the hogs it guards acts late
  } catch {
    // Not privileged: the default priority still gets a 2 ms check in on time nearly always.
  }
  const pidfd = openVerifiedPidfd(config.schedulerPid, config.schedulerStartTicks);
  const pollfd = new Uint8Array(8);
  const pollView = new DataView(pollfd.buffer);
  pollView.setInt32(0, pidfd, true);
  pollView.setInt16(4, POLLIN, true);
  const beat = new Float64Array(HEARTBEAT_BYTES / 8);
  const beatBytes = new Uint8Array(beat.buffer);
  let hbFd = -1;
  try {
    hbFd = openSync(paths.heartbeat, 'r');
  } catch {
    // Handled below as a missing heartbeat.
  }

  let finished = false;
  const release = (reason: string, lastBeatMs: number, detectedMs: number): void => {
    if (finished) return;
    finished = true;
    clearInterval(timer);
    const records = readTaskRecords(paths.tasks);
    const continued = releaseTasks(records, allMask);
    const releasedMs = monotonicMs();
    appendReleaseRecord(config.stateDir, {
      reason,
      schedulerPid: config.schedulerPid,
      releasedBy: 'guardian',
      tasksKnown: records.length,
      tasksContinued: continued,
      lastBeatMs,
      detectedMs,
      releasedMs,
      at: new Date().toISOString(),
    });
    removeRunFiles(config.stateDir, config.schedulerPid);
    if (hbFd >= 0) closeSync(hbFd);
    if (pidfd >= 0) s.close(pidfd);
    process.exit(0);
  };

  const check = (): void => {
    const nowMs = monotonicMs();
    let lastBeatMs = NaN;
    let flags = 0;
    if (hbFd >= 0 && readSync(hbFd, beatBytes, 0, HEARTBEAT_BYTES, 0) === HEARTBEAT_BYTES) {
      lastBeatMs = beat[HB_BEAT_MS / 8]!;
      flags = beat[HB_FLAGS / 8]!;
    }
    if (pidfd < 0) return release('scheduler was gone before the guardian started', lastBeatMs, nowMs);
    pollView.setInt16(6, 0, true);
    if (s.poll(pollfd, 1, 0) > 0 && (pollView.getInt16(6, true) & POLLIN) !== 0) {
      const why = flags & HB_DONE ? 'scheduler exited after releasing its tasks' : 'scheduler died';
      return release(why, lastBeatMs, nowMs);
    }
    if (flags & HB_DONE) return release('scheduler finished and released its tasks', lastBeatMs, nowMs);
    if (!(nowMs - lastBeatMs <= config.watchdogMs)) {
      const late = Number.isNaN(lastBeatMs) ? 'missing' : `${(nowMs - lastBeatMs).toFixed(1)} ms old`;
      return release(`scheduler heartbeat ${late}, timeout ${config.watchdogMs} ms`, lastBeatMs, nowMs);
    }
  };
  const timer = setInterval(check, guardianCheckMs(config.watchdogMs));
  // Whoever stops the guardian on purpose gets the release first: an unguarded stopped task is the one
  // outcome this process exists to prevent.
  for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) {
    process.on(signal, () => release(`guardian received ${signal}`, NaN, monotonicMs()));
  }
  check();
}

if (process.argv[1] === GUARDIAN_SCRIPT) {
  runGuardian(JSON.parse(process.argv[2] ?? '{}') as GuardianConfig);
}
