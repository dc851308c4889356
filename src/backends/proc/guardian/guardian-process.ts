// Starting the guardian from the scheduler's side, and the heartbeat file it watches.

import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, writeSync } from 'node:fs';
import { monotonicMs } from '../../os/clock.js';
import { GUARDIAN_SCRIPT, type GuardianConfig } from './guardian.js';
import { readStartTicks } from '../../os/identity.js';
import { HB_BEAT_MS, HB_DONE, HB_FLAGS, HB_TID, HEARTBEAT_BYTES, runPaths } from './state.js';

export interface GuardianHandle {
  readonly child: ChildProcess;
  readonly pid: number;
  readonly startTicks: number;
  /** Resolves when the guardian process exits, with a description of how. */
  readonly exited: Promise<string>;
}

/** Creates the heartbeat file with a fresh beat, so the guardian never starts on a stale one. */
export function initHeartbeat(stateDir: string, schedulerPid: number): void {
  const beat = new Float64Array(HEARTBEAT_BYTES / 8);
  beat[HB_BEAT_MS / 8] = monotonicMs();
  beat[HB_TID / 8] = process.pid; // the main thread beats until the scheduler thread takes over
  const fd = openSync(runPaths(stateDir, schedulerPid).heartbeat, 'w', 0o600);
  writeSync(fd, new Uint8Array(beat.buffer));
  closeSync(fd);
}

/**
 * Beats from the main thread while the scheduler thread starts (loading modules can take longer than the
 * watchdog on a busy machine); the returned function stops it once the worker beats itself.
 */
export function beatWhileStarting(stateDir: string, schedulerPid: number, periodMs: number): () => void {
  let fd: number;
  try {
    fd = openSync(runPaths(stateDir, schedulerPid).heartbeat, 'r+');
  } catch (err) {
    // Gone: the guardian already released and removed the run's files (tsland was held off the CPU past
    // the watchdog while it started). Nothing to beat for; the thread's start then fails on the same file,
    // and the session reports the guardian's reason rather than the missing file.
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return () => {};
    throw err;
  }
  const beat = new Float64Array(1);
  const timer = setInterval(() => {
    beat[0] = monotonicMs();
    writeSync(fd, new Uint8Array(beat.buffer), 0, 8, HB_BEAT_MS);
  }, periodMs);
  return () => {
    clearInterval(timer);
    closeSync(fd);
  };
}

/** Marks the run finished (everything released): the guardian then releases once more and leaves. */
export function markHeartbeatDone(stateDir: string, schedulerPid: number): void {
  try {
    const fd = openSync(runPaths(stateDir, schedulerPid).heartbeat, 'r+');
    const flags = new Float64Array([HB_DONE]);
    writeSync(fd, new Uint8Array(flags.buffer), 0, 8, HB_FLAGS);
    closeSync(fd);
  } catch {
    // The guardian already cleaned up: nothing to tell it.
  }
}

export async function startGuardian(config: GuardianConfig): Promise<GuardianHandle> {
  const child = spawn(process.execPath, [GUARDIAN_SCRIPT, JSON.stringify(config)], {
    detached: true, // own session: the terminal's Ctrl-C must not take the guardian down with the tree
    stdio: 'ignore',
  });
  const exited = new Promise<string>((resolve) => {
    child.once('exit', (code, signal) => resolve(signal ? `killed by ${signal}` : `exited with status ${code}`));
    child.once('error', (err) => resolve(`could not start: ${err.message}`));
  });
  await new Promise<void>((resolve, reject) => {
    child.once('spawn', () => resolve());
    child.once('error', reject);
  });
  const pid = child.pid!;
  const startTicks = readStartTicks(pid);
  return { child, pid, startTicks, exited };
}
