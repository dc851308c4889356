// The programmatic face of the sched_ext backend: `startScx` schedules the whole machine (every task the
// kernel hands to sched_ext), `runScx` only a command's tree (partial switching: the command is put into
// SCHED_EXT before it runs, and its children inherit the class). Both return the shared session's handle
// (session/seam.ts); `tsland start` and `tsland run --backend scx` are thin layers over them.
//
// There is no guardian: if tsland dies, the kernel unloads its BPF half and every task is back on the fair
// class at once; if its scheduler thread stalls, the kernel's own watchdog (timeoutMs) does the same.
//
// Start-up, each step there before the next can need it:
//   1. preflight on this thread: sched_ext present and free, the privileges, libbpf (one line each)
//   2. `run`: the command, forked now and held at its gate (session/command.ts)
//   3. the session: the scheduler thread loads and attaches the BPF half, drills, reports ready
//   4. `run`: the command is put into SCHED_EXT, then its gate opens

import { MAX_QUEUE_AHEAD } from '../../../sched/records.js';
import { SESSION_DEFAULTS, resolveSessionOptions, type SessionOptions, ManagedOptionError } from '../../session/options.js';
import { startCommand, type CommandSpec, type StartedCommand } from '../../session/command.js';
import { SessionStartError, type ExitReason, type SessionBackend, type SessionHandle } from '../../session/seam.js';
import { startSession } from '../../session/session.js';
import { guestPaths } from '../../../guest/paths.js';
import { openLibbpf } from '../libbpf.js';
import { preflight, ScxLoadError } from '../loader.js';
import { SCHED_EXT, setSchedulingClass } from '../thread/sched-calls.js';
import type { ScxThreadConfig } from '../thread/config.js';

export interface ScxOptions extends SessionOptions {
  /** The kernel's watchdog in ms: a runnable task that waits longer ejects the scheduler. Default 5000. */
  timeoutMs?: number;
  /** Only tasks set to SCHED_EXT (default false for startScx; runScx always switches partially). */
  partial?: boolean;
  /** The compiled BPF object (default: the package's bpf/tsland.bpf.o). */
  objectPath?: string;
  /**
   * How the scheduler thread waits for work: 'epoll' (asleep on the ring, woken by the first record after
   * it drained the ring; the default) or 'park' (kept runnable out of every DSQ by the kernel half, run by
   * the CPU that runs out of work, as scx_rustland's scheduler waits). Park needs the whole machine: in
   * partial mode the thread is not a sched_ext task.
   */
  wait?: ScxWait;
  /**
   * Tasks the core places beyond the idle CPUs, on the kernel half's shared DSQ, so that a CPU that frees
   * runs the next one without a round trip to the scheduler thread (SchedulerOptions.queueAhead). Default 0.
   */
  queueAhead?: number;
}

export type ScxWait = 'park' | 'epoll';
export const SCX_WAITS: readonly ScxWait[] = ['park', 'epoll'];

export const SCX_DEFAULTS = {
  timeoutMs: 5000,
  wait: 'epoll' as ScxWait,
  queueAhead: 0,
  ...SESSION_DEFAULTS,
} as const;

/** The kernel caps ops.timeout_ms at 30 s (SCX_WATCHDOG_MAX_TIMEOUT). */
const MAX_TIMEOUT_MS = 30_000;
const WORKER_SCRIPT = new URL('../thread/worker.js', import.meta.url);

/** A sched_ext run could not start (no sched_ext, another scheduler, no privilege, no libbpf). */
export class ScxStartError extends SessionStartError {
  override name = 'ScxStartError';
}

/** Why sched_ext cannot be used here, or null when it can: `--backend auto` picks with this. */
export function scxUnavailableReason(): string | null {
  try {
    preflight();
    openLibbpf(guestPaths()?.libbpfPath ?? null);
    return null;
  } catch (err) {
    return (err as Error).message;
  }
}

class ScxSession implements SessionBackend {
  readonly name = 'scx';
  readonly threadEntry = WORKER_SCRIPT;
  readonly lostReason: ExitReason = 'scheduler-unloaded';
  /** Nothing outside the scheduler thread ends a sched_ext run: the kernel's ejection reaches the thread. */
  readonly lost = new Promise<string>(() => {});

  constructor(
    private readonly config: ScxThreadConfig,
    private readonly command: StartedCommand | null,
  ) {}

  threadConfig(): ScxThreadConfig {
    return this.config;
  }

  onReady(): void {
    const pid = this.command?.child.pid;
    if (pid === undefined) return;
    // Before its gate opens: every process the command forks inherits the class.
    const err = setSchedulingClass(pid, SCHED_EXT);
    if (err !== 0) throw new ScxStartError(`could not put the command (pid ${pid}) into SCHED_EXT: errno ${err}`);
  }

  abort(): void {
    // The thread detached the BPF half (or never attached it); nothing else was started.
  }

  releaseAfterStop(): void {
    // Detaching the BPF half returned every task to the fair class; nothing is held.
  }

  async finish(): Promise<void> {}
}

function resolveScx(opts: ScxOptions): { threadConfig: ScxThreadConfig } {
  const timeoutMs = opts.timeoutMs ?? SCX_DEFAULTS.timeoutMs;
  if (!Number.isInteger(timeoutMs) || timeoutMs < 100 || timeoutMs > MAX_TIMEOUT_MS) {
    throw new ManagedOptionError('timeout-ms', `must be a whole number of ms in [100, ${MAX_TIMEOUT_MS}], got ${timeoutMs}`);
  }
  if (opts.cpus) throw new ManagedOptionError('cpus', 'is for the signals backend: a sched_ext scheduler serves every CPU');
  const partial = opts.partial ?? false;
  const wait = opts.wait ?? SCX_DEFAULTS.wait;
  if (!SCX_WAITS.includes(wait))
    throw new ManagedOptionError('wait', `must be one of ${SCX_WAITS.join(', ')}, got ${String(wait)}`);
  if (wait === 'park' && partial) {
    throw new ManagedOptionError(
      'wait',
      'park needs the whole machine: in --partial mode the scheduler thread is not a sched_ext task (use epoll)',
    );
  }
  const queueAhead = opts.queueAhead ?? SCX_DEFAULTS.queueAhead;
  if (!Number.isInteger(queueAhead) || queueAhead < 0 || queueAhead > MAX_QUEUE_AHEAD) {
    throw new ManagedOptionError('queue-ahead', `must be a whole number in [0, ${MAX_QUEUE_AHEAD}], got ${queueAhead}`);
  }
  return {
    threadConfig: {
      partial,
      park: wait === 'park',
      queueAhead,
      timeoutMs,
      objectPath: opts.objectPath ?? null,
      guestLibbpf: guestPaths()?.libbpfPath ?? null,
    },
  };
}

function checkKernel(): void {
  try {
    preflight();
    openLibbpf(guestPaths()?.libbpfPath ?? null);
  } catch (err) {
    if (err instanceof ScxLoadError || (err as Error).name === 'LibbpfError') throw new ScxStartError((err as Error).message);
    throw err;
  }
}

/** Schedules the whole machine (or, with `partial`, the tasks set to SCHED_EXT) until stop(). */
export async function startScx(opts: ScxOptions = {}): Promise<SessionHandle> {
  const options = resolveSessionOptions(opts);
  const { threadConfig } = resolveScx(opts);
  checkKernel();
  return startSession({ backend: new ScxSession(threadConfig, null), options, command: null, roots: [] });
}

/** Runs a command and schedules its tree (partial switching) until it exits. */
export async function runScx(opts: ScxOptions & CommandSpec): Promise<SessionHandle> {
  if (!opts.command) throw new ScxStartError('no command to run');
  const options = resolveSessionOptions(opts);
  const { threadConfig } = resolveScx({ ...opts, partial: true });
  checkKernel();
  // Forked before the scheduler thread exists (see startCommand); it runs once it is in SCHED_EXT.
  const started = startCommand(opts, true);
  const backend = new ScxSession({ ...threadConfig, partial: true }, started);
  return startSession({ backend, options, command: { spec: opts, started }, roots: [] });
}
