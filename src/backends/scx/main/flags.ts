// The flags of the sched_ext backend: the session's common flags (session/cli.ts) without --cpus (a
// sched_ext scheduler serves every CPU), plus the kernel watchdog's timeout; `tsland start` adds --partial.

import type { FlagDef, FlagValues } from '../../../base/flags.js';
import { asUsage, SESSION_FLAGS, sessionOptionsFromFlags } from '../../session/cli.js';
import { SCX_DEFAULTS, type ScxOptions } from './managed.js';

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

/** `tsland start`: every common flag but --cpus, then the watchdog and --partial. */
export const START_FLAGS: FlagDef[] = [...SESSION_FLAGS.filter((f) => f.name !== 'cpus'), TIMEOUT_FLAG, PARTIAL_FLAG];

export function scxOptionsFromFlags(flags: FlagValues): ScxOptions {
  const common = asUsage(() => sessionOptionsFromFlags(flags));
  // A sched_ext scheduler serves every CPU: --cpus belongs to the signals backend.
  delete common.cpus;
  return { ...common, timeoutMs: Number(flags['timeout-ms']), partial: flags.partial === true };
}
