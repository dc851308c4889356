// Options of a managed run, validated where they enter: the CLI and programmatic callers share these checks,
// and every message names the option.

import { isAbsolute, resolve } from 'node:path';
import { BUILTIN_POLICIES } from '../../sched/policies/index.js';
import { taskStrideBytes } from '../../sched/task-layout.js';
import { NSEC_PER_MSEC, NSEC_PER_USEC } from './clock.js';
import { onlineCpus } from './sys.js';

export interface ManagedOptions {
  /** 'rustland' (default), 'fifo', or the path of a module whose default export is a policy or a factory. */
  policy?: string;
  /** CPUs the tree is scheduled on; default every CPU tsland may use. */
  cpus?: number[];
  /** Base time slice in µs; default 20000 (scx_rustland's). */
  sliceUs?: number;
  /** CPU a woken task may use before it must wait for a dispatch, in µs; default 2000. */
  graceUs?: number;
  /** How often dispatched tasks are looked at, in µs; default 4000. */
  lookUs?: number;
  /** Heartbeat timeout after which the guardian releases everything; default 500 ms. */
  watchdogMs?: number;
  /** Memory for the task table, in MiB; bounds the number of tasks. Default 64. */
  arenaMib?: number;
  /** Lock the scheduler's memory in RAM; default true. */
  lock?: boolean;
  /** Where run state (tasks list, heartbeat, guardian log) lives; default /run/tsland for root. */
  stateDir?: string;
}

export const DEFAULTS = {
  policy: 'rustland',
  sliceUs: 20_000,
  graceUs: 2_000,
  lookUs: 4_000,
  watchdogMs: 500,
  arenaMib: 64,
} as const;

const FREE_LOOK_MIN_NS = 4 * NSEC_PER_MSEC;
const FREE_LOOK_MAX_NS = 64 * NSEC_PER_MSEC;
const MIB = 1 << 20;
/** The task record plus a few policy fields: what one task costs in the table. */
const TASK_BYTES_ESTIMATE = taskStrideBytes(4);

/** A managed-run option that cannot be used; `option` names it as the CLI spells it. */
export class ManagedOptionError extends Error {
  override name = 'ManagedOptionError';
  constructor(
    readonly option: string,
    message: string,
  ) {
    super(`--${option}: ${message}`);
  }
}

export interface ResolvedOptions {
  policy: string;
  cpuIds: number[];
  allCpus: number[];
  sliceNs: number;
  graceNs: number;
  lookNs: number;
  freeLookMinNs: number;
  freeLookMaxNs: number;
  watchdogMs: number;
  heartbeatNs: number;
  maxTasks: number;
  lock: boolean;
}

function positive(option: string, value: number | undefined, fallback: number, max = Infinity): number {
  const v = value ?? fallback;
  if (!Number.isFinite(v) || v <= 0 || v > max) throw new ManagedOptionError(option, `must be a number in (0, ${max}], got ${v}`);
  return v;
}

/** Parses a CPU list such as "0-3,6" into ids. */
export function parseCpuList(text: string): number[] {
  const out = new Set<number>();
  for (const part of text.split(',')) {
    const m = /^\s*(\d+)\s*(?:-\s*(\d+)\s*)?$/.exec(part);
    if (!m) throw new ManagedOptionError('cpus', `'${part}' is not a CPU number or range (e.g. 0-3,6)`);
    const from = Number(m[1]);
    const to = m[2] === undefined ? from : Number(m[2]);
    if (to < from) throw new ManagedOptionError('cpus', `range ${part} runs backwards`);
    for (let c = from; c <= to; c++) out.add(c);
  }
  return [...out].sort((a, b) => a - b);
}

export function resolveOptions(opts: ManagedOptions): ResolvedOptions {
  const allCpus = onlineCpus();
  const cpuIds = opts.cpus ?? allCpus;
  if (cpuIds.length === 0) throw new ManagedOptionError('cpus', 'needs at least one CPU');
  for (const cpu of cpuIds) {
    if (!allCpus.includes(cpu)) throw new ManagedOptionError('cpus', `CPU ${cpu} is not one tsland may use (${allCpus.join(',')})`);
  }
  let policy = opts.policy ?? DEFAULTS.policy;
  if (!BUILTIN_POLICIES[policy]) {
    if (!/[./]/.test(policy)) {
      throw new ManagedOptionError('policy', `unknown policy '${policy}' (built-in: ${Object.keys(BUILTIN_POLICIES).join(', ')}, or a path to a module)`);
    }
    policy = isAbsolute(policy) ? policy : resolve(policy);
  }
  const sliceNs = positive('slice-us', opts.sliceUs, DEFAULTS.sliceUs, 10_000_000) * NSEC_PER_USEC;
  const graceUs = opts.graceUs ?? DEFAULTS.graceUs;
  if (!(graceUs >= 0)) throw new ManagedOptionError('grace-us', `must be 0 or more, got ${graceUs}`);
  const lookNs = positive('look-us', opts.lookUs, DEFAULTS.lookUs, 1_000_000) * NSEC_PER_USEC;
  const watchdogMs = positive('watchdog-ms', opts.watchdogMs, DEFAULTS.watchdogMs, 600_000);
  if (watchdogMs < 20) throw new ManagedOptionError('watchdog-ms', `must be at least 20, got ${watchdogMs}`);
  const arenaMib = positive('arena-mib', opts.arenaMib, DEFAULTS.arenaMib, 65_536);
  return {
    policy,
    cpuIds: [...cpuIds],
    allCpus,
    sliceNs,
    graceNs: graceUs * NSEC_PER_USEC,
    lookNs,
    freeLookMinNs: FREE_LOOK_MIN_NS,
    freeLookMaxNs: FREE_LOOK_MAX_NS,
    watchdogMs,
    // Four beats per timeout: one late beat is never mistaken for a dead scheduler.
    heartbeatNs: Math.min(50, watchdogMs / 4) * NSEC_PER_MSEC,
    maxTasks: Math.max(64, Math.floor((arenaMib * MIB) / TASK_BYTES_ESTIMATE)),
    lock: opts.lock ?? true,
  };
}
