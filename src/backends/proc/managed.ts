// The programmatic face of the real-process backend: `runManaged` starts a command and schedules its whole
// tree, `attachManaged` schedules trees that already run. Both return a handle with the live counters, a
// task reader, `stop()` and an `exited` promise; `tsland run`, `tsland attach` and the demo are thin layers
// over these two calls.
//
// Order of start-up, each step there before the next can need it:
//   1. resume what an earlier, dead run left stopped (its state files)
//   2. heartbeat file, empty tasks file, then the guardian (it watches both from its first look)
//   3. the scheduler thread (worker), which adopts the roots and starts beating
//   4. for `run`: the command, with a parent-death signal of SIGCONT, handed to the worker to adopt
// Shutdown runs the other way, and whatever ends the run, every task is released before the promise
// resolves: by the worker, then once more from the tasks file by this thread (harmless twice, and it
// covers a worker that died).

import { spawn, type ChildProcess, type StdioOptions } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { constants as osConstants } from 'node:os';
import type { Writable } from 'node:stream';
import v8 from 'node:v8';
import { collectGarbageNow, trimMalloc } from '../../mem/gc.js';
import { Worker } from 'node:worker_threads';
import { C, createCounters, type Counters } from '../../sched/counters.js';
import type { TaskSlabsInfo } from '../../sched/api.js';
import type { TaskRow } from '../../stats/protocol.js';
import { CTL_ADOPT_PID, CTL_BYTES, CTL_SIGNAL, CTL_STOP, CTL_WAKE, type WorkerConfig, type WorkerMessage } from './control.js';
import { beatWhileStarting, type GuardianHandle, initHeartbeat, markHeartbeatDone, startGuardian } from './guardian-process.js';
import { readStartTicks } from './identity.js';
import { resolveOptions, type ManagedOptions, type ResolvedOptions } from './options.js';
import {
  ensureStateDir, readTaskRecords, recoverDeadRuns, releaseTasks, runPaths, stateDir as defaultStateDir, writeRunRecord,
  type ReleaseRecord,
} from './state.js';
import { NSEC_PER_MSEC } from './clock.js';
import { cpuMask, sys } from './sys.js';
import { readTaskRows } from './task-rows.js';

export interface RunOptions extends ManagedOptions {
  command: string;
  args?: string[];
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** Default 'inherit'. */
  stdio?: StdioOptions;
}

export interface AttachOptions extends ManagedOptions {
  pids: number[];
}

export type ExitReason = 'exited' | 'stopped' | 'all-exited' | 'guardian-lost' | 'scheduler-error';

export interface ManagedExit {
  /** Exit status for the process: the command's (128+signal if killed), 0 after attach, 1 on failure. */
  code: number;
  reason: ExitReason;
  /** One line for the user when the run ended abnormally. */
  message?: string;
}

export interface ManagedHandle {
  /** The command's pid for `run`, -1 for `attach`. */
  readonly pid: number;
  readonly child: ChildProcess | null;
  readonly guardianPid: number;
  readonly counters: Counters;
  readonly policy: string;
  readonly locked: boolean;
  readonly stateDir: string;
  /** Releases of earlier, dead runs done at start-up. */
  readonly recovered: ReleaseRecord[];
  /** The managed tasks as the stats server and `tsland top` show them. */
  tasks(): TaskRow[];
  /** Resolves once everything is released and the run is over. */
  readonly exited: Promise<ManagedExit>;
  /**
   * Ends the run: every task is released; with a signal, the signal is sent to every task of the tree
   * first. `run` then waits for the command to exit; `attach` leaves the tasks running and resolves.
   */
  stop(signal?: NodeJS.Signals): Promise<ManagedExit>;
}

/** A managed run could not start (the kernel refused, the guardian did not come up). */
export class ManagedStartError extends Error {
  override name = 'ManagedStartError';
}

const WORKER_SCRIPT = new URL('./worker.js', import.meta.url);
const GUARDIAN_EXIT_WAIT_MS = 2000;
/** How often the main thread collects its heap (see compactMain). */
const MAIN_GC_INTERVAL_MS = 5_000;
const WORKER_STOP_WAIT_MS = 2000;
const PDEATHSIG_TOOL = '/usr/bin/setpriv';
const GATE_SHELL = '/bin/sh';
/** Highest descriptor a POSIX shell redirection names with one digit. */
const GATE_MAX_FD = 9;

interface Started {
  child: ChildProcess;
  /** Writing a line here lets a gated command exec; null when it was started directly. */
  gate: Writable | null;
  /** Its exit code (128 + signal when killed; 127 when it could not be started). */
  exit: Promise<number>;
}

function started(child: ChildProcess, gate: Writable | null): Started {
  // Listened to from the start: a gated command may end (killed) before tsland is ready.
  const exit = new Promise<number>((res) => {
    child.once('exit', (code, signal) => res(exitCode(code, signal)));
    child.once('error', () => res(127));
  });
  return { child, gate, exit };
}

/**
 * Starts the command of `run`. Gated (the default): forked now, before the scheduler thread exists, as a
 * shell that waits on a pipe and then execs the command in place (same pid); start() writes the line that
 * lets it go once the thread has it. A fork leaves every private page of this process copy-on-write, and
 * the scheduler thread would fault at its first write to each page of its own not written since: the soak
 * saw one at a burst of new processes, 80 s into a run, when the command was spawned after the thread.
 */
function startCommand(run: RunOptions, gated: boolean): Started {
  const args = run.args ?? [];
  // The parent-death signal reaches the command even if tsland and the guardian both die at once.
  const usePdeathsig = existsSync(PDEATHSIG_TOOL);
  const file = usePdeathsig ? PDEATHSIG_TOOL : run.command;
  const argv = usePdeathsig ? ['--pdeathsig', 'CONT', '--', run.command, ...args] : args;
  const base = run.stdio ?? 'inherit';
  const stdio = typeof base === 'string' ? [base, base, base] : [...base];
  while (stdio.length < 3) stdio.push('inherit');
  const fd = stdio.length;
  if (gated && fd <= GATE_MAX_FD && existsSync(GATE_SHELL)) {
    // No line (tsland died first): the shell exits without running the command.
    const script = `IFS= read -r _ <&${fd} || exit 125; exec ${fd}<&-; exec "$@"`;
    const child = spawn(GATE_SHELL, ['-c', script, 'tsland', file, ...argv], { stdio: [...stdio, 'pipe'], cwd: run.cwd, env: run.env });
    const gate = child.stdio[fd] as Writable | null;
    // A command that has already gone (killed) closed the pipe: writing then is not an error of ours.
    gate?.on('error', () => {});
    return started(child, gate);
  }
  return started(spawn(file, argv, { stdio, cwd: run.cwd, env: run.env }), null);
}

function signalNumber(signal: NodeJS.Signals): number {
  return osConstants.signals[signal] ?? 0;
}

function exitCode(code: number | null, signal: NodeJS.Signals | null): number {
  if (code !== null) return code;
  return 128 + (signal ? signalNumber(signal) : 0);
}

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
  let command: Started | null = target.kind === 'run' ? startCommand(target.run, true) : null;

  const counters = createCounters();
  const ctl = new Int32Array(new SharedArrayBuffer(CTL_BYTES));
  const config: WorkerConfig = {
    countersSab: counters.sab,
    ctlSab: ctl.buffer as SharedArrayBuffer,
    policy: r.policy,
    cpuIds: r.cpuIds,
    allCpus: r.allCpus,
    sliceNs: r.sliceNs,
    graceNs: r.graceNs,
    lookNs: r.lookNs,
    freeLookMinNs: r.freeLookMinNs,
    freeLookMaxNs: r.freeLookMaxNs,
    maxTasks: r.maxTasks,
    lock: r.lock,
    tasksFile: paths.tasks,
    heartbeatFile: paths.heartbeat,
    heartbeatNs: r.heartbeatNs,
    roots: target.kind === 'attach' ? target.pids : [],
    excludePids: [1, process.pid, guardian.pid],
    noReapPids: [],
    subreaperPid: target.kind === 'run' ? process.pid : -1,
    guardianPid: guardian.pid,
    guardianStartTicks: guardian.startTicks,
    endWhenEmpty: target.kind === 'attach',
  };
  const stopStartupBeat = beatWhileStarting(dir, process.pid, r.heartbeatNs / NSEC_PER_MSEC);
  // V8's memory reducer runs collections some seconds after a GC when a heap allocates slowly, to give
  // memory back: exactly the heap of a scheduler thread that allocates nothing. It is set up with the
  // heap, so the flag must be off before the worker's isolate exists.
  v8.setFlagsFromString('--no-memory-reducer');
  const worker = new Worker(WORKER_SCRIPT, { workerData: config });
  let slabs: TaskSlabsInfo | null = null;
  let policyName = r.policy;
  let locked = false;

  let resolveDone!: (m: Extract<WorkerMessage, { type: 'done' }> | { type: 'error'; message: string }) => void;
  const workerDone = new Promise<Extract<WorkerMessage, { type: 'done' }> | { type: 'error'; message: string }>((res) => (resolveDone = res));
  let onReady!: () => void;
  let onReadyFail!: (err: Error) => void;
  const ready = new Promise<void>((res, rej) => {
    onReady = res;
    onReadyFail = rej;
  });
  worker.on('message', (m: WorkerMessage) => {
    if (m.type === 'ready') {
      slabs = m.slabs;
      policyName = m.policy;
      locked = m.locked;
      onReady();
    } else if (m.type === 'slab' && slabs) {
      slabs.slabs[m.index] = m.sab;
    } else if (m.type === 'done') {
      resolveDone(m);
    }
  });
  worker.on('error', (err) => {
    resolveDone({ type: 'error', message: err.message });
    onReadyFail(err);
  });
  worker.on('exit', () => resolveDone({ type: 'error', message: 'scheduler thread exited' }));

  const releaseFromFile = (): number => releaseTasks(readTaskRecords(paths.tasks), allMask);
  const finishGuardian = async (): Promise<void> => {
    markHeartbeatDone(dir, process.pid);
    await Promise.race([guardian.exited, new Promise((res) => setTimeout(res, GUARDIAN_EXIT_WAIT_MS).unref())]);
    guardian.child.unref();
  };
  const stopWorker = async (signal: number): Promise<void> => {
    Atomics.store(ctl, CTL_SIGNAL, signal);
    Atomics.store(ctl, CTL_STOP, 1);
    Atomics.notify(ctl, CTL_WAKE);
    // A scheduler thread stuck in a policy's endless loop never answers: terminate it, then release (and
    // pass the signal on) from the tasks file here.
    const answered = await Promise.race([
      workerDone.then(() => true),
      new Promise<boolean>((res) => setTimeout(() => res(false), WORKER_STOP_WAIT_MS).unref()),
    ]);
    await worker.terminate();
    if (!answered && signal > 0) releaseTasks(readTaskRecords(paths.tasks), allMask, signal);
    releaseFromFile();
  };

  // The main thread answers stats requests and prints: a little garbage every second, which its heap would
  // otherwise hold until it grew enough to collect, a sawtooth of megabytes in the process's RSS. A full
  // collection every few seconds (a few ms of this thread, never of the scheduler's) keeps it flat; the
  // malloc trim after it returns what V8's helper threads freed (measured in the soak: RSS +0.2 MiB over
  // 200 s with it, +0.5 MiB without, and ~3 MiB lower). The scheduler thread mallocs nothing after its
  // warm-up, so no page it uses is given back.
  const compactMain = setInterval(() => {
    collectGarbageNow();
    trimMalloc();
  }, MAIN_GC_INTERVAL_MS).unref();
  worker.on('exit', () => clearInterval(compactMain));

  try {
    await ready;
    stopStartupBeat();
  } catch (err) {
    stopStartupBeat();
    releaseFromFile();
    guardian.child.kill('SIGKILL');
    // The gated command never ran: it is not left waiting.
    command?.child.kill('SIGKILL');
    // Not the user's doing: a plain error (exit 1), not a usage error.
    throw new Error(`the scheduler thread failed to start: ${(err as Error).message}`);
  }

  let child: ChildProcess | null = null;
  let childExit: Promise<number> | null = null;
  if (target.kind === 'run') {
    // Without a shell for the gate, the command is started only now, as before the gate existed (the
    // scheduler thread then retouches its tables after the fork, see ProcBackend.retouchMemory).
    if (!command || command.child.pid === undefined) command = startCommand(target.run, false);
    child = command.child;
    childExit = command.exit;
    if (child.pid) {
      Atomics.store(ctl, CTL_ADOPT_PID, child.pid);
      Atomics.notify(ctl, CTL_WAKE);
    }
    // The gate opens now: the command may run before the thread's next round adopts it, as a spawned
    // command always could; until then it runs as the kernel schedules it.
    command.gate?.end('\n');
  }

  let stopping: Promise<ManagedExit> | null = null;
  let resolveExit!: (e: ManagedExit) => void;
  const exited = new Promise<ManagedExit>((res) => (resolveExit = res));
  const finish = async (exit: ManagedExit, signal = 0): Promise<ManagedExit> => {
    await stopWorker(signal);
    if (exit.reason !== 'guardian-lost') await finishGuardian();
    // Ended before the command (lost guardian, failed scheduler): it runs on, released, without holding
    // this process open.
    if (exit.reason !== 'exited') child?.unref();
    resolveExit(exit);
    return exit;
  };
  const end = (make: () => Promise<ManagedExit>): Promise<ManagedExit> => {
    if (!stopping) stopping = make();
    return stopping;
  };

  // Whatever comes first ends the run.
  void guardian.exited.then((how) =>
    end(() =>
      finish({
        code: 1,
        reason: 'guardian-lost',
        message: `the guardian ${how}; every task was released and tsland will not run unguarded`,
      }),
    ),
  );
  void workerDone.then((m) => {
    if (m.type === 'error') {
      return end(() => finish({ code: 1, reason: 'scheduler-error', message: `scheduler failed: ${m.message}; every task was released` }));
    }
    if (m.reason === 'guardian-lost') {
      return end(() => finish({ code: 1, reason: 'guardian-lost', message: 'the guardian exited; every task was released and tsland will not run unguarded' }));
    }
    if (m.reason === 'empty') return end(() => finish({ code: 0, reason: 'all-exited' }));
    return undefined;
  });
  if (childExit) void childExit.then((code) => end(() => finish({ code, reason: 'exited' })));

  const handle: ManagedHandle = {
    pid: child?.pid ?? -1,
    child,
    guardianPid: guardian.pid,
    counters,
    get policy() {
      return policyName;
    },
    get locked() {
      return locked;
    },
    stateDir: dir,
    recovered,
    tasks: () => (slabs ? readTaskRows(slabs) : []),
    exited,
    stop(signal?: NodeJS.Signals) {
      const signum = signal ? signalNumber(signal) : 0;
      if (childExit) {
        // Release (and forward the signal), then the run ends when the command does.
        const code = childExit;
        return end(async () => {
          await stopWorker(signum);
          const status = await code;
          await finishGuardian();
          const exit: ManagedExit = { code: status, reason: 'exited' };
          resolveExit(exit);
          return exit;
        });
      }
      return end(() => finish({ code: 0, reason: 'stopped' }, signum));
    },
  };
  // Keep the counters honest for readers that start before the first schedule().
  counters.f64[C.nr_cpus] = r.cpuIds.length;
  return handle;
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
