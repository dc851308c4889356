// The guardian: a separate small process that outlives the scheduler and releases every managed task when
// the scheduler dies or stalls, so a stopped task never stays stopped. sched_ext's kernel watchdog falls
// back to the fair class when a BPF scheduler stalls; this is that fallback for a user-space enforcer
// (cpulimit, killed with SIGKILL, leaves its targets stopped forever).
//
// Started by tsland in its own session (a Ctrl-C in the terminal reaches the scheduler's tree, not us),
// with one JSON argument (GuardianConfig). Every `checkMs` it asks two questions:
//   - is the scheduler gone? its pidfd polls readable the moment it exits, SIGKILL included;
//   - has its heartbeat been silent for longer than watchdogMs? a stopped or stuck scheduler still exists
//     but beats no more. Silence counts only as far as it is the scheduler's own (judgeSilence): not the
//     time this guardian itself was not running (a check that fires late saw nothing meanwhile), nor the
//     time the beating thread was runnable but waiting for a CPU (state R in /proc/<pid>/task/<tid>/stat
//     while its CPU time in .../schedstat did not grow).
//     Measured in the soak's memory jump: the scheduler thread sat runnable (R, preempted at a syscall's
//     exit) and got no CPU time at all for over 500 ms, while this guardian checked on time (at most 7 ms
//     late): that released everything and ended tsland with no fault injected. A heartbeat older than
//     RUNQUEUE_WAIT_LIMIT
//     timeouts releases anyway: tasks held stopped that long are held too long, whoever is to blame.
// Either way: SIGCONT every task in the tasks file (verified by start time), reset affinity to all CPUs,
// append why to guardian.log, remove the run's files, exit. A clean exit (HB_DONE) is released the same
// way: the scheduler already did it, doing it twice is harmless and closes any gap.

import { openSync, readSync, closeSync, writeFileSync } from 'node:fs';
import { setPriority } from 'node:os';
import { fileURLToPath } from 'node:url';
import { monotonicMs } from '../../os/clock.js';
import { openVerifiedPidfd } from '../../os/identity.js';
import {
  appendReleaseRecord,
  HB_BEAT_MS,
  HB_DONE,
  HB_FLAGS,
  HB_TID,
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

/** A check this much later than planned means the guardian itself did not run: it saw nothing meanwhile. */
export function guardianLateMs(watchdogMs: number): number {
  return Math.max(2 * guardianCheckMs(watchdogMs), watchdogMs / 10);
}

/** Silence spent waiting for a CPU is excused up to this many timeouts; past it the tasks are released. */
export const RUNQUEUE_WAIT_LIMIT = 10;

export interface SilenceInput {
  nowMs: number;
  lastBeatMs: number;
  /** When the guardian began to watch: silence before it does not count. */
  watchingSinceMs: number;
  /**
   * How much of the silence the guardian did not see: the whole gap before each of its late checks (it was
   * not running, so it cannot tell whose fault the silence was).
   */
  blindMs: number;
  /** How long the beating thread was runnable without a CPU in the silence the guardian saw. */
  cpuWaitMs: number;
  watchdogMs: number;
}

/**
 * Whether a heartbeat's silence is a stall of the scheduler: silence the guardian witnessed while on time
 * (its blind gaps taken out, not the silence around them thrown away), less what the beating thread spent
 * waiting for a CPU, longer than the timeout; or, whoever was late, a heartbeat older than
 * RUNQUEUE_WAIT_LIMIT timeouts (so a guardian late at every check still acts).
 */
export function judgeSilence(input: SilenceInput): { stalled: boolean; silentMs: number } {
  const silentMs = input.nowMs - Math.max(input.lastBeatMs, input.watchingSinceMs) - Math.max(0, input.blindMs);
  const ownMs = silentMs - Math.max(0, input.cpuWaitMs);
  const stalled = ownMs > input.watchdogMs || input.nowMs - input.lastBeatMs > input.watchdogMs * RUNQUEUE_WAIT_LIMIT;
  return { stalled, silentMs };
}

/**
 * A thread's scheduling state for the guardian: whether it is runnable (R: on a CPU or waiting for one) and
 * its CPU time in ns (schedstat's first field). A runnable thread whose CPU time did not grow between two
 * looks spent that time waiting for a CPU. (schedstat's run_delay would say so only once the wait ends.)
 */
function makeThreadSampler(pid: number): (tid: number, out: { runnable: boolean; execNs: number }) => boolean {
  const buf = Buffer.alloc(1024);
  let statFd = -1;
  let schedFd = -1;
  let fdTid = -1;
  const read = (fd: number): string => buf.toString('latin1', 0, readSync(fd, buf, 0, buf.length, 0));
  return (tid, out) => {
    if (tid !== fdTid) {
      for (const fd of [statFd, schedFd]) if (fd >= 0) closeSync(fd);
      statFd = schedFd = -1;
      fdTid = tid;
      try {
        statFd = openSync(`/proc/${pid}/task/${tid}/stat`, 'r');
        schedFd = openSync(`/proc/${pid}/task/${tid}/schedstat`, 'r');
      } catch {
        // No such thread (yet, or any more), or no schedstat in this kernel: no wait can be excused.
      }
    }
    if (statFd < 0 || schedFd < 0) return false;
    try {
      const stat = read(statFd);
      out.runnable = stat.charAt(stat.lastIndexOf(')') + 2) === 'R';
      out.execNs = Number(read(schedFd).split(' ')[0]); // "<exec ns> <run_delay ns> <timeslices>"
      return Number.isFinite(out.execNs);
    } catch {
      return false;
    }
  };
}

/** The guardian's nice, and its autogroup's: a guardian that waits behind the hogs it guards acts late. */
export const GUARDIAN_NICE = -10;

/**
 * Raises the guardian above the load it guards. Its nice alone does nothing where the kernel groups tasks
 * by session (CONFIG_SCHED_AUTOGROUP, on by default on Debian): the guardian runs in a session of its own,
 * so its group competes as a whole, at the default weight, with every other session's group (measured in
 * the soak: 62 ms late under load at nice -10 in a nice-0 group). The group's nice is its
 * /proc/self/autogroup. Unprivileged, both stay as they are: checks are then late more often, and the
 * silence the guardian did not see is left out (judgeSilence), so the release comes later, never early.
 */
export function raisePriority(): void {
  try {
    setPriority(GUARDIAN_NICE);
  } catch {
    // Not privileged.
  }
  try {
    writeFileSync('/proc/self/autogroup', String(GUARDIAN_NICE));
  } catch {
    // Not privileged, or no autogroups in this kernel.
  }
}

function runGuardian(config: GuardianConfig): void {
  const s = sys();
  const paths = runPaths(config.stateDir, config.schedulerPid);
  const allMask = cpuMask(config.cpus);
  raisePriority();
  const pidfd = openVerifiedPidfd(config.schedulerPid, config.schedulerStartTicks);
  const pollfd = new Uint8Array(8);
  const pollView = new DataView(pollfd.buffer);
  pollView.setInt32(0, pidfd, true);
  pollView.setInt16(4, POLLIN, true);
  const beat = new Float64Array(HEARTBEAT_BYTES / 8);
  const beatBytes = new Uint8Array(beat.buffer);
  const checkMs = guardianCheckMs(config.watchdogMs);
  const lateMs = guardianLateMs(config.watchdogMs);
  const sampleThread = makeThreadSampler(config.schedulerPid);
  const sample = { runnable: false, execNs: 0 };
  // The observation window: it restarts at each new beat. A late check of our own leaves its gap out of it
  // (blindMs), and keeps what was seen before: throwing that away let one 62 ms late check under load delay
  // the release of a stopped scheduler from ~510 to 832 ms.
  let lastCheckMs = NaN;
  const watchingSinceMs = monotonicMs();
  let blindMs = 0;
  let latestLateMs = 0;
  let seenBeatMs = NaN;
  let seenTid = -1;
  let lastExecNs = NaN;
  let cpuWaitMs = 0;
  let hbFd = -1;
  try {
    hbFd = openSync(paths.heartbeat, 'r');
  } catch {
    // Handled below as a missing heartbeat.
  }

  let finished = false;
  const release = (
    reason: string,
    lastBeatMs: number,
    detectedMs: number,
    silence?: { silentMs: number; cpuWaitMs: number },
  ): void => {
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
      ...(silence ? { silentMs: silence.silentMs, cpuWaitMs: silence.cpuWaitMs, guardianLateMs: latestLateMs } : {}),
      at: new Date().toISOString(),
    });
    removeRunFiles(config.stateDir, config.schedulerPid);
    if (hbFd >= 0) closeSync(hbFd);
    if (pidfd >= 0) s.close(pidfd);
    process.exit(0);
  };

  const check = (): void => {
    const nowMs = monotonicMs();
    const latenessMs = nowMs - lastCheckMs - checkMs;
    lastCheckMs = nowMs;
    let lastBeatMs = NaN;
    let flags = 0;
    let tid = -1;
    if (hbFd >= 0 && readSync(hbFd, beatBytes, 0, HEARTBEAT_BYTES, 0) === HEARTBEAT_BYTES) {
      lastBeatMs = beat[HB_BEAT_MS / 8]!;
      flags = beat[HB_FLAGS / 8]!;
      tid = beat[HB_TID / 8]!;
    }
    const sampled = sampleThread(tid, sample);
    if (lastBeatMs !== seenBeatMs || tid !== seenTid) {
      // A new window: a fresh beat, or another beating thread.
      seenBeatMs = lastBeatMs;
      seenTid = tid;
      cpuWaitMs = 0;
      blindMs = 0;
    }
    if (latenessMs > lateMs) {
      // We were not running since the last look: whatever the scheduler did meanwhile, we did not see it.
      // The gap since the last look, or since a beat that came within it.
      if (!Number.isNaN(latenessMs)) blindMs += nowMs - Math.max(nowMs - checkMs - latenessMs, lastBeatMs || 0);
      latestLateMs = latenessMs;
    } else if (sampled && sample.runnable && !Number.isNaN(lastExecNs)) {
      // Runnable since the last look, and ran only for execNs of it: the rest it waited for a CPU.
      cpuWaitMs += Math.max(0, checkMs + latenessMs - (sample.execNs - lastExecNs) / 1e6);
    }
    lastExecNs = sampled ? sample.execNs : NaN;
    if (pidfd < 0) return release('scheduler was gone before the guardian started', lastBeatMs, nowMs);
    pollView.setInt16(6, 0, true);
    if (s.poll(pollfd, 1, 0) > 0 && (pollView.getInt16(6, true) & POLLIN) !== 0) {
      const why = flags & HB_DONE ? 'scheduler exited after releasing its tasks' : 'scheduler died';
      return release(why, lastBeatMs, nowMs);
    }
    if (flags & HB_DONE) return release('scheduler finished and released its tasks', lastBeatMs, nowMs);
    if (Number.isNaN(lastBeatMs)) {
      return release(`scheduler heartbeat missing, timeout ${config.watchdogMs} ms`, lastBeatMs, nowMs);
    }
    if (nowMs - lastBeatMs <= config.watchdogMs) return;
    const judged = judgeSilence({ nowMs, lastBeatMs, watchingSinceMs, blindMs, cpuWaitMs, watchdogMs: config.watchdogMs });
    if (judged.stalled) {
      const why =
        `scheduler heartbeat ${(nowMs - lastBeatMs).toFixed(1)} ms old, silent ${judged.silentMs.toFixed(1)} ms ` +
        `while the guardian ran on time, ${cpuWaitMs.toFixed(1)} ms of it runnable but waiting for a CPU; ` +
        `timeout ${config.watchdogMs} ms`;
      return release(why, lastBeatMs, nowMs, { silentMs: judged.silentMs, cpuWaitMs });
    }
  };
  const timer = setInterval(check, checkMs);
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
