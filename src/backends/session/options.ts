// Options every real backend's session takes, validated where they enter: the CLI and programmatic callers
// share these checks, and every message names the option as the CLI spells it. A backend adds its own
// (the proc backend's guardian watchdog, wake-up grace and look interval: proc/main/options.ts).

import { isAbsolute, resolve } from 'node:path';
import { NSEC_PER_USEC } from '../../base/units.js';
import { BUILTIN_POLICIES } from '../../sched/policies/index.js';
import { taskStrideBytes } from '../../sched/task-layout.js';
import { onlineCpus } from '../os/sys.js';

export interface SessionOptions {
  /** 'rustland' (default), 'fifo', or the path of a module whose default export is a policy or a factory. */
  policy?: string;
  /** CPUs the tree is scheduled on; default every CPU tsland may use. */
  cpus?: number[];
  /** Base time slice in µs; default 20000 (scx_rustland's). */
  sliceUs?: number;
  /** Memory for the task table, in MiB; bounds the number of tasks. Default 64. */
  arenaMib?: number;
  /** Lock the scheduler's memory in RAM; default true. */
  lock?: boolean;
}

export const SESSION_DEFAULTS = {
  policy: 'rustland',
  sliceUs: 20_000,
  arenaMib: 64,
} as const;

const MIB = 1 << 20;
/** The task record plus a few policy fields: what one task costs in the table. */
const TASK_BYTES_ESTIMATE = taskStrideBytes(4);

/** An option that cannot be used; `option` names it as the CLI spells it. */
export class ManagedOptionError extends Error {
  override name = 'ManagedOptionError';
  constructor(
    readonly option: string,
    message: string,
  ) {
    super(`--${option}: ${message}`);
  }
}

export interface ResolvedSessionOptions {
  policy: string;
  cpuIds: number[];
  allCpus: number[];
  sliceNs: number;
  maxTasks: number;
  lock: boolean;
}

/** `value` (or `fallback`) when it is a number in (0, max]; otherwise an error naming `option`. */
export function positive(option: string, value: number | undefined, fallback: number, max = Infinity): number {
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

export function resolveSessionOptions(opts: SessionOptions): ResolvedSessionOptions {
  const allCpus = onlineCpus();
  const cpuIds = opts.cpus ?? allCpus;
  if (cpuIds.length === 0) throw new ManagedOptionError('cpus', 'needs at least one CPU');
  for (const cpu of cpuIds) {
    if (!allCpus.includes(cpu))
      throw new ManagedOptionError('cpus', `CPU ${cpu} is not one tsland may use (${allCpus.join(',')})`);
  }
  let policy = opts.policy ?? SESSION_DEFAULTS.policy;
  if (!BUILTIN_POLICIES[policy]) {
    if (!/[./]/.test(policy)) {
      throw new ManagedOptionError(
        'policy',
        `unknown policy '${policy}' (built-in: ${Object.keys(BUILTIN_POLICIES).join(', ')}, or a path to a module)`,
      );
    }
    policy = isAbsolute(policy) ? policy : resolve(policy);
  }
  const sliceNs = positive('slice-us', opts.sliceUs, SESSION_DEFAULTS.sliceUs, 10_000_000) * NSEC_PER_USEC;
  const arenaMib = positive('arena-mib', opts.arenaMib, SESSION_DEFAULTS.arenaMib, 65_536);
  return {
    policy,
    cpuIds: [...cpuIds],
    allCpus,
    sliceNs,
    maxTasks: Math.max(64, Math.floor((arenaMib * MIB) / TASK_BYTES_ESTIMATE)),
    lock: opts.lock ?? true,
  };
}
