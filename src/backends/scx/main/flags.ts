// The flags of the sched_ext backend: the session's common flags (session/cli.ts) without --cpus (a
// sched_ext scheduler serves every CPU), plus the kernel watchdog's timeout; `tsland start` adds --partial.

import type { FlagDef, FlagValues } from '../../../base/flags.js';
import { MAX_QUEUE_AHEAD } from '../../../sched/records.js';
import { asUsage, SESSION_FLAGS, sessionOptionsFromFlags } from '../../session/cli.js';
import { SCX_DEFAULTS, SCX_WAITS, type ScxOptions, type ScxWait } from './managed.js';

export const TIMEOUT_FLAG: FlagDef = {
  name: 'timeout-ms',
  type: 'number',
  valueName: 'N',
  default: SCX_DEFAULTS.timeoutMs,
  min: 100,
  max: 30_000,
  integer: true,
  help: "sched_ext backend: the kernel's watchdog unloads tsland (every task back on the kernel's scheduler) when a runnable task waits longer than this.",
};

export const PARTIAL_FLAG: FlagDef = {
  name: 'partial',
  type: 'boolean',
  default: false,
  help: 'Schedule only the tasks set to SCHED_EXT (chrt --ext, or sched_setscheduler), not the whole machine.',
};

export const WAIT_FLAG: FlagDef = {
  name: 'wait',
  type: 'string',
  valueName: 'HOW',
  choices: SCX_WAITS,
  default: SCX_DEFAULTS.wait,
  help: "sched_ext backend: how the scheduler thread waits for work. epoll: it sleeps on the ring and the first record wakes it; park: the BPF half keeps it runnable and runs it on the CPU that runs out of work, or preempts one for a waking task (as scx_rustland's scheduler waits; whole machine only, not with --partial).",
};

export const QUEUE_AHEAD_FLAG: FlagDef = {
  name: 'queue-ahead',
  type: 'number',
  valueName: 'N',
  default: SCX_DEFAULTS.queueAhead,
  min: 0,
  max: MAX_QUEUE_AHEAD,
  integer: true,
  help: 'sched_ext backend: tasks the policy places beyond the idle CPUs, in order, on a queue the BPF half shares between CPUs, so that a CPU that frees runs the next one without waiting for the scheduler thread. 0: a task is placed only on an idle CPU. Only tasks whose key is within one base slice of the smallest waiting go ahead. Measured in the guest with --wait park: fewer rounds, less CPU per dispatch, faster hackbench, a worse p99 wake-up latency among hogs; with --wait epoll woken tasks wait longer.',
};

/** `tsland start`: every common flag but --cpus, then the watchdog, --partial, --wait and --queue-ahead. */
export const START_FLAGS: FlagDef[] = [
  ...SESSION_FLAGS.filter((f) => f.name !== 'cpus'),
  TIMEOUT_FLAG,
  PARTIAL_FLAG,
  WAIT_FLAG,
  QUEUE_AHEAD_FLAG,
];

export function scxOptionsFromFlags(flags: FlagValues): ScxOptions {
  const common = asUsage(() => sessionOptionsFromFlags(flags));
  // A sched_ext scheduler serves every CPU: --cpus belongs to the signals backend.
  delete common.cpus;
  const partial = flags.partial === true;
  const wait = flags.wait as ScxWait | undefined;
  const queueAhead = flags['queue-ahead'] === undefined ? undefined : Number(flags['queue-ahead']);
  return { ...common, timeoutMs: Number(flags['timeout-ms']), partial, wait, queueAhead };
}
