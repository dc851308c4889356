// The programmatic face of the real-process backend: `runManaged` starts a command and schedules its whole
// tree, `attachManaged` schedules trees that already run. Both return a handle with the live counters, a
// task reader, `stop()` and an `exited` promise; `tsland run`, `tsland attach` and the demo are thin layers
// over these two calls. The session itself (scheduler thread, command, shutdown) is the shared one
// (session/session.ts); what is this backend's own is its guardian, its state files, and the
// SessionBackend below.
//
// Order of start-up, each step there before the next can need it:
//   1. resume what an earlier, dead run left stopped (its state files)
//   2. heartbeat file, empty tasks file, then the guardian (it watches both from its first look)
//   3. for `run`: the command, forked now and held at a gate (session/command.ts)
//   4. the session: the scheduler thread (worker), which adopts the roots and starts beating, then the command
// Shutdown runs the other way, and whatever ends the run, every task is released before the promise
// resolves: by the worker, then once more from the tasks file by this thread (harmless twice, and it
// covers a worker that died).

import { readFileSync, writeFileSync } from 'node:fs';
import { NSEC_PER_MSEC } from '../../../base/units.js';
import { readStartTicks } from '../../os/identity.js';
import { cpuMask, sys } from '../../os/sys.js';
import { startCommand, type CommandSpec } from '../../session/command.js';
import {
  SessionStartError,
  type ExitReason,
  type SessionBackend,
  type SessionExit,
  type SessionHandle,
} from '../../session/seam.js';
import { startSession } from '../../session/session.js';
import {
  beatWhileStarting,
  type GuardianHandle,
  initHeartbeat,
  markHeartbeatDone,
  startGuardian,
} from '../guardian/guardian-process.js';
import {
  describeRelease,
  ensureStateDir,
  guardianReleaseOf,
  isCleanRelease,
  readRecentReleaseRecords,
  readTaskRecords,
  recoverDeadRuns,
  releaseTasks,
  runPaths,
  stateDir as defaultStateDir,
  writeRunRecord,
  type ReleaseRecord,
} from '../guardian/state.js';
import type { ProcThreadConfig } from '../thread/config.js';
import { resolveOptions, type ManagedOptions, type ResolvedOptions } from './options.js';

export type { ExitReason };
export type ManagedExit = SessionExit;

export interface RunOptions extends ManagedOptions, CommandSpec {}

export interface AttachOptions extends ManagedOptions {
  pids: number[];
}

export interface ManagedHandle extends SessionHandle {
  readonly guardianPid: number;
  readonly stateDir: string;
  /** Releases of earlier, dead runs done at start-up. */
  readonly recovered: ReleaseRecord[];
}

/** A managed run could not start (the kernel refused, the guardian did not come up). */
export class ManagedStartError extends SessionStartError {
  override name = 'ManagedStartError';
}

const WORKER_SCRIPT = new URL('../thread/worker.js', import.meta.url);
const GUARDIAN_EXIT_WAIT_MS = 2000;

export async function runManaged(opts: RunOptions): Promise<ManagedHandle> {
  if (!opts.command) throw new ManagedStartError('no command to run');
  return start(opts, { kind: 'run', run: opts });
}

export async function attachManaged(opts: AttachOptions): Promise<ManagedHandle> {
  if (opts.pids.length === 0) throw new ManagedStartError('no pid to attach to');
  for (const pid of opts.pids) {
    if (!Number.isInteger(pid) || pid <= 0) throw new ManagedStartError(`not a pid: ${pid}`);
    if (pid === 1) throw new ManagedStartError('refusing to manage PID 1');
    if (pid === process.pid) throw new ManagedStartError('refusing to manage tsland itself');
    if (readStartTicks(pid) < 0) throw new ManagedStartError(`no process ${pid}`);
  }
  return start(opts, { kind: 'attach', pids: opts.pids });
}

type Target = { kind: 'run'; run: RunOptions } | { kind: 'attach'; pids: number[] };

/** This backend's side of the session: the scheduler thread's extra config, the guardian, the state files. */
class ProcSession implements SessionBackend {
  readonly name = 'proc';
  readonly threadEntry = WORKER_SCRIPT;
  readonly lostReason: ExitReason = 'guardian-lost';
  readonly lost: Promise<string>;

  constructor(
    private readonly r: ResolvedOptions,
    private readonly dir: string,
    private readonly guardian: GuardianHandle,
    private readonly subreaper: boolean,
    private readonly stopStartupBeat: () => void,
  ) {
    this.lost = guardian.exited.then(async (how) => (await this.explainLoss()) ?? lostWithoutRecord(how));
  }

  /** The guardian's own account of its release (it logs it before it exits), once it has exited. */
  async explainLoss(): Promise<string | null> {
    await Promise.race([this.guardian.exited, new Promise((res) => setTimeout(res, GUARDIAN_EXIT_WAIT_MS).unref())]);
    const record = guardianReleaseOf(this.dir, process.pid);
    if (!record) return null;
    return (
      `the guardian released ${record.tasksContinued} of ${record.tasksKnown} task(s) and exited: ${record.reason}; ` +
      'tsland will not run unguarded'
    );
  }

  info(): Record<string, string> {
    // Earlier runs' trips and recoveries, not the clean goodbyes: what a user looking at a restarted
    // scheduler wants to know is why the last one went.
    const last = readRecentReleaseRecords(this.dir)
      .filter((r) => !isCleanRelease(r))
      .pop();
    return last ? { last_release: describeRelease(last) } : {};
  }

  threadConfig(): ProcThreadConfig {
    const paths = runPaths(this.dir, process.pid);
    return {
      graceNs: this.r.graceNs,
      lookNs: this.r.lookNs,
      freeLookMinNs: this.r.freeLookMinNs,
      freeLookMaxNs: this.r.freeLookMaxNs,
      tasksFile: paths.tasks,
      heartbeatFile: paths.heartbeat,
      heartbeatNs: this.r.heartbeatNs,
      excludePids: [1, process.pid, this.guardian.pid],
      noReapPids: [],
      subreaperPid: this.subreaper ? process.pid : -1,
      guardianPid: this.guardian.pid,
      guardianStartTicks: this.guardian.startTicks,
    };
  }

  onReady(): void {
    this.stopStartupBeat();
  }

  abort(): void {
    this.stopStartupBeat();
    this.releaseAfterStop(0);
    this.guardian.child.kill('SIGKILL');
  }

  releaseAfterStop(signal: number): void {
    const tasks = runPaths(this.dir, process.pid).tasks;
    const allMask = cpuMask(this.r.allCpus);
    if (signal > 0) releaseTasks(readTaskRecords(tasks), allMask, signal);
    releaseTasks(readTaskRecords(tasks), allMask);
  }

  async finish(exit: SessionExit): Promise<void> {
    if (exit.reason === 'guardian-lost') return;
    markHeartbeatDone(this.dir, process.pid);
    await Promise.race([this.guardian.exited, new Promise((res) => setTimeout(res, GUARDIAN_EXIT_WAIT_MS).unref())]);
    this.guardian.child.unref();
  }
}

async function start(opts: ManagedOptions, target: Target): Promise<ManagedHandle> {
  const r: ResolvedOptions = resolveOptions(opts);
  const s = sys();
  const dir = defaultStateDir(opts.stateDir);
  ensureStateDir(dir);
  const allMask = cpuMask(r.allCpus);
  const recovered = recoverDeadRuns(dir, allMask, process.pid);
  const paths = runPaths(dir, process.pid);
  writeFileSync(paths.tasks, '');
  initHeartbeat(dir, process.pid);
  const schedulerStartTicks = readStartTicks(process.pid);
  const guardian: GuardianHandle = await startGuardian({
    stateDir: dir,
    schedulerPid: process.pid,
    schedulerStartTicks,
    watchdogMs: r.watchdogMs,
    cpus: r.allCpus,
  });
  writeRunRecord(dir, {
    schedulerPid: process.pid,
    schedulerStartTicks,
    guardianPid: guardian.pid,
    guardianStartTicks: guardian.startTicks,
    watchdogMs: r.watchdogMs,
    startedAt: new Date().toISOString(),
  });
  if (target.kind === 'run') {
    // Orphans of the tree come to us instead of init, so they stay visible (and get reaped by us).
    s.setChildSubreaper();
  }
  // Forked before the scheduler thread exists (see startCommand); it runs once adopted.
  const command = target.kind === 'run' ? { spec: target.run, started: startCommand(target.run, true) } : null;
  const stopStartupBeat = beatWhileStarting(dir, process.pid, r.heartbeatNs / NSEC_PER_MSEC);
  const backend = new ProcSession(r, dir, guardian, target.kind === 'run', stopStartupBeat);
  const notes = recovered.map(
    (rec) => `resumed ${rec.tasksContinued} task(s) left stopped by an earlier run (pid ${rec.schedulerPid})`,
  );
  const session = await startSession({ backend, options: r, command, roots: target.kind === 'attach' ? target.pids : [], notes });
  const extra: Omit<ManagedHandle, keyof SessionHandle> = { guardianPid: guardian.pid, stateDir: dir, recovered };
  return Object.assign(session, extra);
}

/** The guardian exited and logged nothing (killed): the scheduler thread released everything itself. */
function lostWithoutRecord(how: string): string {
  return `the guardian ${how} without saying why; every task was released and tsland will not run unguarded`;
}

/** For tests and tools: the run files of a scheduler pid, read back. */
export function readRunTasks(dir: string, schedulerPid: number): number[] {
  return readTaskRecords(runPaths(dir, schedulerPid).tasks).map((t) => t.pid);
}

/** True while a run's state files exist (the guardian removes them when it releases). */
export function runFilesExist(dir: string, schedulerPid: number): boolean {
  try {
    readFileSync(runPaths(dir, schedulerPid).run);
    return true;
  } catch {
    return false;
  }
}
