// Options of a managed run of the proc backend, validated where they enter: the session's common options
// (session/options.ts) plus what only this backend has: the wake-up grace, the look interval and the
// guardian's watchdog. Every message names the option.

import { NSEC_PER_MSEC, NSEC_PER_USEC } from '../../../base/units.js';
import {
  ManagedOptionError,
  positive,
  resolveSessionOptions,
  SESSION_DEFAULTS,
  type ResolvedSessionOptions,
  type SessionOptions,
} from '../../session/options.js';

export { ManagedOptionError, parseCpuList } from '../../session/options.js';

export interface ManagedOptions extends SessionOptions {
  /** CPU a woken task may use before it must wait for a dispatch, in µs; default 2000. */
  graceUs?: number;
  /** How often dispatched tasks are looked at, in µs; default 4000. */
  lookUs?: number;
  /** Heartbeat timeout after which the guardian releases everything; default 500 ms. */
  watchdogMs?: number;
  /** Where run state (tasks list, heartbeat, guardian log) lives; default /run/tsland for root. */
  stateDir?: string;
}

export const DEFAULTS = {
  ...SESSION_DEFAULTS,
  graceUs: 2_000,
  lookUs: 4_000,
  watchdogMs: 500,
} as const;

const FREE_LOOK_MIN_NS = 4 * NSEC_PER_MSEC;
const FREE_LOOK_MAX_NS = 64 * NSEC_PER_MSEC;

export interface ResolvedOptions extends ResolvedSessionOptions {
  graceNs: number;
  lookNs: number;
  freeLookMinNs: number;
  freeLookMaxNs: number;
  watchdogMs: number;
  heartbeatNs: number;
}

export function resolveOptions(opts: ManagedOptions): ResolvedOptions {
  const common = resolveSessionOptions(opts);
  const graceUs = opts.graceUs ?? DEFAULTS.graceUs;
  if (!(graceUs >= 0)) throw new ManagedOptionError('grace-us', `must be 0 or more, got ${graceUs}`);
  const lookNs = positive('look-us', opts.lookUs, DEFAULTS.lookUs, 1_000_000) * NSEC_PER_USEC;
  const watchdogMs = positive('watchdog-ms', opts.watchdogMs, DEFAULTS.watchdogMs, 600_000);
  if (watchdogMs < 20) throw new ManagedOptionError('watchdog-ms', `must be at least 20, got ${watchdogMs}`);
  return {
    ...common,
    graceNs: graceUs * NSEC_PER_USEC,
    lookNs,
    freeLookMinNs: FREE_LOOK_MIN_NS,
    freeLookMaxNs: FREE_LOOK_MAX_NS,
    watchdogMs,
    // Four beats per timeout: one late beat is never mistaken for a dead scheduler.
    heartbeatNs: Math.min(50, watchdogMs / 4) * NSEC_PER_MSEC,
  };
}
