// The flags of `tsland run` and `tsland attach` with the proc backend: the session's common flags
// (session/cli.ts) plus this backend's own, the wake-up grace and the guardian's watchdog.

import type { FlagDef, FlagValues } from '../../../base/flags.js';
import { SESSION_FLAGS, sessionOptionsFromFlags } from '../../session/cli.js';
import { DEFAULTS, type ManagedOptions } from './options.js';

const GRACE_FLAG: FlagDef = {
  name: 'grace-us',
  type: 'number',
  valueName: 'N',
  default: DEFAULTS.graceUs,
  min: 0,
  max: 1_000_000,
  integer: true,
  help: 'CPU time a task that wakes up may use before it waits for a dispatch; short bursts (interactive tasks) never wait.',
};
const WATCHDOG_FLAG: FlagDef = {
  name: 'watchdog-ms',
  type: 'number',
  valueName: 'N',
  default: DEFAULTS.watchdogMs,
  min: 20,
  max: 600_000,
  integer: true,
  help: "The guardian releases every task when the scheduler's heartbeat is older than this.",
};

/** Each of this backend's flags goes right after the common flag named here, so `--help` reads in order. */
const PLACED: [after: string, flag: FlagDef][] = [
  ['slice-us', GRACE_FLAG],
  ['lock', WATCHDOG_FLAG],
];

export const SCHEDULING_FLAGS: FlagDef[] = SESSION_FLAGS.flatMap((f) => [
  f,
  ...PLACED.filter(([after]) => after === f.name).map(([, p]) => p),
]);

export function optionsFromFlags(flags: FlagValues): ManagedOptions {
  return {
    ...sessionOptionsFromFlags(flags),
    graceUs: Number(flags['grace-us']),
    watchdogMs: Number(flags['watchdog-ms']),
  };
}
