// What the session's main thread and a backend's scheduler thread share besides the counters: a few Int32
// control words in one SharedArrayBuffer, and the messages the worker posts. The worker sleeps with Atomics.wait on
// CTL_WAKE (which stays 0), so the main thread interrupts a sleep with Atomics.notify and never waits for
// the worker's event loop.
//
//   byte 0        4          8          12         16
//        +--------+----------+----------+----------+
//        | stop   | signal   | adoptPid | wake     |
//        +--------+----------+----------+----------+
//   stop      i32  1: release every task and end the loop
//   signal    i32  with stop: a signal to send to every task of the tree first (forwarded Ctrl-C, SIGTERM)
//   adoptPid  i32  a root process to adopt (the command, once spawned); the worker zeroes it when done
//   wake      i32  always 0: the futex word the worker sleeps on

import type { TaskSlabsInfo } from '../../sched/api.js';
import type { ResolvedSessionOptions } from './options.js';

export const CTL_STOP = 0;
export const CTL_SIGNAL = 1;
export const CTL_ADOPT_PID = 2;
export const CTL_WAKE = 3;
export const CTL_WORDS = 4;
export const CTL_BYTES = CTL_WORDS * Int32Array.BYTES_PER_ELEMENT;

/**
 * What every scheduler thread is started with (its workerData): the session's resolved options (`policy` is
 * a built-in name or the absolute path of a module exporting one), the shared buffers and the roots to adopt.
 * A backend adds its own fields (SessionBackend.threadConfig) and reads both from workerData.
 */
export interface SessionThreadConfig extends ResolvedSessionOptions {
  countersSab: SharedArrayBuffer;
  ctlSab: SharedArrayBuffer;
  /** Processes to adopt at start (attach); `run` hands its command over later through CTL_ADOPT_PID. */
  roots: number[];
  /** End the loop when every managed task has exited (attach). */
  endWhenEmpty: boolean;
}

/**
 * Why a scheduler thread ended: asked to stop, every task gone, or its backend lost what it may not run
 * without (the proc backend's guardian; the kernel unloading a sched_ext scheduler); `message` says so.
 */
export type DoneReason = 'stopped' | 'empty' | 'lost';

export type WorkerMessage =
  | { type: 'ready'; slabs: TaskSlabsInfo; policy: string; locked: boolean; adopted: number }
  | { type: 'slab'; sab: SharedArrayBuffer; index: number }
  | { type: 'done'; reason: DoneReason; released: number; message?: string };
