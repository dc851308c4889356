// The seam between the shared managed session (session.ts) and a real backend: the one interface a backend
// implements to be started, supervised and shut down by the session. The proc backend implements it in
// proc/main/managed.ts; the sched_ext backend implements it the same way. Everything else the session does
// (the scheduler thread's start and stop, the command of `run`, stats, signals, the CLI's common flags) is
// the same for every backend and lives here, once.

import type { ChildProcess } from 'node:child_process';
import type { Counters } from '../../base/counters.js';
import type { TaskRow } from '../../stats/protocol.js';

/**
 * How a run ended: the command exited, the user stopped it, every attached task exited, the scheduler
 * thread failed, or the backend lost what it may not run without (the proc backend's guardian:
 * 'guardian-lost'; a sched_ext scheduler unloaded by the kernel: 'scheduler-unloaded').
 */
export type ExitReason = 'exited' | 'stopped' | 'all-exited' | 'scheduler-error' | 'guardian-lost' | 'scheduler-unloaded';

export interface SessionExit {
  /** Exit status for the process: the command's (128+signal if killed), 0 after attach, 1 on failure. */
  code: number;
  reason: ExitReason;
  /** One line for the user when the run ended abnormally. */
  message?: string;
}

/** A run that could not start (refused by the kernel, a helper that did not come up): one line for the user. */
export class SessionStartError extends Error {
  override name = 'SessionStartError';
}

/** What a backend gives the session. Called on the main thread only. */
export interface SessionBackend {
  /** Its name in stats and metrics ('proc', 'scx'). */
  readonly name: string;
  /**
   * Entry module of the scheduler thread. It reads SessionThreadConfig plus `threadConfig()` from
   * workerData, sleeps on CTL_WAKE, honours CTL_STOP/CTL_SIGNAL/CTL_ADOPT_PID, and posts 'ready', 'slab'
   * and 'done' (session/control.ts).
   */
  readonly threadEntry: URL;
  /** The backend's own fields of the scheduler thread's workerData (structured-cloneable). */
  threadConfig(): object;
  /** The exit reason of a 'lost' ending (the thread's done message, or `lost` below). */
  readonly lostReason: ExitReason;
  /**
   * Resolves with a one-line message when something outside the scheduler thread ends the run (the proc
   * backend's guardian process exited); never resolves when nothing can.
   */
  readonly lost: Promise<string>;
  /**
   * Why the backend was lost, in one line, once it is known (the proc backend: the reason its guardian
   * logged for the release); null when nothing says. Asked when the thread reports a loss and when the
   * start fails, so that neither ends on a bare symptom (a missing file, "the guardian exited").
   */
  explainLoss?(): Promise<string | null>;
  /** Facts for stats clients beside policy and pid (the proc backend: the latest release it knows of). */
  info?(): Record<string, string>;
  /** The scheduler thread is up (the proc backend stops beating for it from the main thread). */
  onReady(): void;
  /** Start-up failed before onReady: undo what the backend started (release, stop its helpers). */
  abort(): void;
  /**
   * The scheduler thread has ended or was terminated: release whatever it may have left held, once more
   * (harmless twice). `signal` > 0 when the thread did not answer a stop that carried a signal: the
   * backend delivers it to every task.
   */
  releaseAfterStop(signal: number): void;
  /** The last step of every ending, after the release (the proc backend tells its guardian it is done). */
  finish(exit: SessionExit): Promise<void>;
}

/** A running session, as the CLI and programmatic callers see it. */
export interface SessionHandle {
  /** The command's pid for `run`, -1 for `attach`. */
  readonly pid: number;
  readonly child: ChildProcess | null;
  /** The backend's name ('proc', 'scx'). */
  readonly backend: string;
  readonly counters: Counters;
  readonly policy: string;
  readonly locked: boolean;
  /** Lines for the user about the start (the proc backend: tasks of a dead run it resumed). */
  readonly notes: readonly string[];
  /** The backend's facts for stats clients (SessionBackend.info). */
  info(): Record<string, string>;
  /** The managed tasks as the stats server and `tsland top` show them. */
  tasks(): TaskRow[];
  /** Resolves once everything is released and the run is over. */
  readonly exited: Promise<SessionExit>;
  /**
   * Ends the run: every task is released; with a signal, the signal is sent to every task of the tree
   * first. `run` then waits for the command to exit; `attach` leaves the tasks running and resolves.
   */
  stop(signal?: NodeJS.Signals): Promise<SessionExit>;
}
