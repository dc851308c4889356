// The managed session every real backend shares: it starts the backend's scheduler thread, hands it the
// command of `run`, and ends the run through one shutdown path whatever ends it (the command's exit, a
// stop, every attached task gone, the thread's failure, the backend's loss). The backend plugs in through
// SessionBackend (seam.ts) and has done its own start-up before (the proc backend: its guardian and files).
//
// Steps, each there before the next can need it:
//   1. spawnSchedulerThread: the worker, its control words and counters; ready / done / stop
//   2. wait for ready (or undo: backend.abort, the gated command killed)
//   3. `run`: hand the command to the thread (CTL_ADOPT_PID), then open its gate
//   4. the Session: whichever ending comes first runs shutdown(), once
// Shutdown: stop the thread (terminated if it does not answer), backend.releaseAfterStop, the command's
// exit status when it decides the run's, backend.finish, then `exited` resolves.

import v8 from 'node:v8';
import { Worker } from 'node:worker_threads';
import { C, createCounters, type Counters } from '../../base/counters.js';
import { HeapKeeper, trimMalloc } from '../../mem/gc.js';
import type { TaskSlabsInfo } from '../../sched/api.js';
import { startCommand, signalNumber, type CommandSpec, type StartedCommand } from './command.js';
import {
  CTL_ADOPT_PID,
  CTL_BYTES,
  CTL_SIGNAL,
  CTL_STOP,
  CTL_WAKE,
  type SessionThreadConfig,
  type WorkerMessage,
} from './control.js';
import type { ResolvedSessionOptions } from './options.js';
import type { SessionBackend, SessionExit, SessionHandle } from './seam.js';
import { readTaskRows } from './task-rows.js';

/** How often the main thread looks at its heap and trims malloc (see spawnSchedulerThread). */
const MAIN_COMPACT_INTERVAL_MS = 5_000;
/** How much its old generation may grow before the main thread collects it. */
const MAIN_GC_GROWTH_BYTES = 512 * 1024;
const WORKER_STOP_WAIT_MS = 2000;

type ThreadEnd = Extract<WorkerMessage, { type: 'done' }> | { type: 'error'; message: string };

/** The scheduler thread as the main thread holds it. */
export interface SchedulerThread {
  readonly counters: Counters;
  /** Resolves once the thread has its tables and has adopted its roots; rejects if it failed to start. */
  readonly ready: Promise<void>;
  /** Resolves when the thread posts 'done', fails or exits. */
  readonly done: Promise<ThreadEnd>;
  readonly slabs: TaskSlabsInfo | null;
  readonly policy: string;
  readonly locked: boolean;
  /** Hands a root process to the thread (the command of `run`). */
  adopt(pid: number): void;
  /**
   * Asks the thread to release everything and end (first sending `signal` to every task when > 0); a thread
   * that does not answer in time (a policy's endless loop) is terminated. True when it answered.
   */
  stop(signal: number): Promise<boolean>;
}

export function spawnSchedulerThread(
  entry: URL,
  config: Omit<SessionThreadConfig, 'countersSab' | 'ctlSab'>,
  extra: object,
): SchedulerThread {
  const counters = createCounters();
  const ctl = new Int32Array(new SharedArrayBuffer(CTL_BYTES));
  const workerData: SessionThreadConfig = {
    ...extra,
    ...config,
    countersSab: counters.sab,
    ctlSab: ctl.buffer as SharedArrayBuffer,
  };
  // V8's memory reducer runs collections some seconds after a GC when a heap allocates slowly, to give
  // memory back: exactly the heap of a scheduler thread that allocates nothing. It is set up with the
  // heap, so the flag must be off before the worker's isolate exists.
  v8.setFlagsFromString('--no-memory-reducer');
  const worker = new Worker(entry, { workerData });
  let slabs: TaskSlabsInfo | null = null;
  let policy = config.policy;
  let locked = false;

  let resolveDone!: (m: ThreadEnd) => void;
  const done = new Promise<ThreadEnd>((res) => (resolveDone = res));
  let onReady!: () => void;
  let onReadyFail!: (err: Error) => void;
  const ready = new Promise<void>((res, rej) => {
    onReady = res;
    onReadyFail = rej;
  });
  worker.on('message', (m: WorkerMessage) => {
    if (m.type === 'ready') {
      slabs = m.slabs;
      policy = m.policy;
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

  // The main thread answers stats requests and prints: a little garbage every second, which its heap would
  // otherwise hold until it grew enough to collect, a sawtooth of megabytes in the process's RSS. A full
  // collection once half a MiB has piled up in its old generation (a few ms of this thread, never of the
  // scheduler's) keeps it flat without marking the whole heap every few seconds for nothing; the malloc
  // trim returns what V8's helper threads freed (measured in the soak: RSS +0.2 MiB over 200 s with it,
  // +0.5 MiB without, and ~3 MiB lower). The scheduler thread mallocs nothing after its warm-up, so no
  // page it uses is given back.
  const heap = new HeapKeeper(MAIN_GC_GROWTH_BYTES);
  const compactMain = setInterval(() => {
    heap.tick();
    trimMalloc();
  }, MAIN_COMPACT_INTERVAL_MS).unref();
  worker.on('exit', () => clearInterval(compactMain));

  // Keep the counters honest for readers that start before the first schedule().
  counters.f64[C.nr_cpus] = config.cpuIds.length;
  return {
    counters,
    ready,
    done,
    get slabs() {
      return slabs;
    },
    get policy() {
      return policy;
    },
    get locked() {
      return locked;
    },
    adopt(pid: number) {
      Atomics.store(ctl, CTL_ADOPT_PID, pid);
      Atomics.notify(ctl, CTL_WAKE);
    },
    async stop(signal: number) {
      Atomics.store(ctl, CTL_SIGNAL, signal);
      Atomics.store(ctl, CTL_STOP, 1);
      Atomics.notify(ctl, CTL_WAKE);
      const answered = await Promise.race([
        done.then(() => true),
        new Promise<boolean>((res) => setTimeout(() => res(false), WORKER_STOP_WAIT_MS).unref()),
      ]);
      await worker.terminate();
      return answered;
    },
  };
}

export interface SessionSpec {
  backend: SessionBackend;
  options: ResolvedSessionOptions;
  /** `run`: the command and its gated start (startCommand, done before anything else forks); `attach`: null. */
  command: { spec: CommandSpec; started: StartedCommand } | null;
  /** `attach`: the processes whose trees to schedule. */
  roots: number[];
  notes?: string[];
}

/** Starts the scheduler thread and returns the running session; on failure everything is undone. */
export async function startSession(spec: SessionSpec): Promise<SessionHandle> {
  const { backend, options } = spec;
  const thread = spawnSchedulerThread(
    backend.threadEntry,
    { ...options, roots: spec.roots, endWhenEmpty: spec.command === null },
    backend.threadConfig(),
  );
  try {
    await thread.ready;
    backend.onReady();
  } catch (err) {
    backend.abort();
    // The gated command never ran: it is not left waiting.
    spec.command?.started.child.kill('SIGKILL');
    // A start that failed because the backend was lost meanwhile (the guardian released and removed the
    // run's files) says so, not just which file went missing.
    const loss = await backend.explainLoss?.();
    const why = loss ? `${loss} (the thread itself then failed: ${(err as Error).message})` : (err as Error).message;
    // Not the user's doing: a plain error (exit 1), not a usage error.
    throw new Error(`the scheduler thread failed to start: ${why}`, { cause: err });
  }
  let command: StartedCommand | null = null;
  if (spec.command) {
    command = spec.command.started;
    // Without a shell for the gate, the command is started only now, as before the gate existed (the
    // scheduler thread then retouches its tables after the fork, see ProcBackend.retouchMemory).
    if (command.child.pid === undefined) command = startCommand(spec.command.spec, false);
    if (command.child.pid) thread.adopt(command.child.pid);
    // The gate opens now: the command may run before the thread's next round adopts it, as a spawned
    // command always could; until then it runs as the kernel schedules it.
    command.gate?.end('\n');
  }
  return new Session(thread, backend, command, spec.notes ?? []);
}

/** Ends with the command's own exit status (a stop of `run` releases, then waits for the command). */
const WAIT_FOR_COMMAND = null;

class Session implements SessionHandle {
  readonly exited: Promise<SessionExit>;
  private resolveExit!: (e: SessionExit) => void;
  private stopping: Promise<SessionExit> | null = null;

  constructor(
    private readonly thread: SchedulerThread,
    private readonly impl: SessionBackend,
    private readonly command: StartedCommand | null,
    readonly notes: readonly string[],
  ) {
    this.exited = new Promise<SessionExit>((res) => (this.resolveExit = res));
    // Whatever comes first ends the run.
    void impl.lost.then((message) => this.shutdown({ code: 1, reason: impl.lostReason, message }));
    void thread.done.then((m) => {
      if (m.type === 'error')
        return this.shutdown({
          code: 1,
          reason: 'scheduler-error',
          message: `scheduler failed: ${m.message}; every task was released`,
        });
      if (m.reason === 'lost') return this.shutdownLost(m.message);
      if (m.reason === 'empty') return this.shutdown({ code: 0, reason: 'all-exited' });
      return undefined;
    });
    if (command) void command.exit.then((code) => this.shutdown({ code, reason: 'exited' }));
  }

  get pid(): number {
    return this.command?.child.pid ?? -1;
  }
  get child() {
    return this.command?.child ?? null;
  }
  get backend(): string {
    return this.impl.name;
  }
  get counters(): Counters {
    return this.thread.counters;
  }
  get policy(): string {
    return this.thread.policy;
  }
  get locked(): boolean {
    return this.thread.locked;
  }

  tasks() {
    const slabs = this.thread.slabs;
    return slabs ? readTaskRows(slabs) : [];
  }

  info(): Record<string, string> {
    return this.impl.info?.() ?? {};
  }

  private async shutdownLost(threadMessage: string | undefined): Promise<SessionExit> {
    const why = await this.impl.explainLoss?.();
    return this.shutdown({
      code: 1,
      reason: this.impl.lostReason,
      message: why ?? threadMessage ?? `the ${this.impl.name} backend was lost; every task was released`,
    });
  }

  stop(signal?: NodeJS.Signals): Promise<SessionExit> {
    const signum = signal ? signalNumber(signal) : 0;
    // `run`: release (and forward the signal), then the run ends when the command does.
    return this.shutdown(this.command ? WAIT_FOR_COMMAND : { code: 0, reason: 'stopped' }, signum);
  }

  /** The one way a run ends, whatever ends it; the first caller decides the exit. */
  private shutdown(exit: SessionExit | typeof WAIT_FOR_COMMAND, signal = 0): Promise<SessionExit> {
    if (!this.stopping) this.stopping = this.runShutdown(exit, signal);
    return this.stopping;
  }

  private async runShutdown(ending: SessionExit | typeof WAIT_FOR_COMMAND, signal: number): Promise<SessionExit> {
    const answered = await this.thread.stop(signal);
    // A thread stuck in a policy's endless loop never answered: the backend passes the signal on itself.
    this.impl.releaseAfterStop(answered ? 0 : signal);
    const exit: SessionExit = ending ?? { code: await this.command!.exit, reason: 'exited' };
    await this.impl.finish(exit);
    // Ended before the command (lost backend, failed scheduler, attach): it runs on, released, without
    // holding this process open.
    if (exit.reason !== 'exited') this.command?.child.unref();
    this.resolveExit(exit);
    return exit;
  }
}
