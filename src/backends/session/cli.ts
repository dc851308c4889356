// What `tsland run` and `tsland attach` share whatever the backend: the common scheduling flags, turning
// them into options, and the supervision of a running session (stats server, the periodic stats line,
// signals, the exit message). A backend adds its own flags (the proc backend's: proc/main/flags.ts).

import { UsageError, type FlagDef, type FlagValues } from '../../base/flags.js';
import { HealthMonitor } from '../../mem/health.js';
import { snapshotCounters } from '../../base/counters.js';
import { builtinPolicyNames } from '../../sched/policies/index.js';
import { formatStatsLine } from '../../stats/format.js';
import { OBSERVABILITY_FLAGS, observabilityFromFlags, startObservability } from '../../stats/observe.js';
import { MSEC_PER_SEC } from '../../base/units.js';
import { ManagedOptionError, parseCpuList, SESSION_DEFAULTS as DEFAULTS, type SessionOptions } from './options.js';
import { SessionStartError, type SessionHandle } from './seam.js';

/** Flags every backend's `run` and `attach` take. */
export const SESSION_FLAGS: FlagDef[] = [
  {
    name: 'policy',
    type: 'string',
    valueName: 'NAME|PATH',
    default: DEFAULTS.policy,
    help: `Scheduling policy: ${builtinPolicyNames().join(', ')}, or a module exporting one (./my-policy.js).`,
  },
  {
    name: 'cpus',
    type: 'string',
    valueName: 'LIST',
    help: 'CPUs to schedule on, e.g. 0-3,6. Default: every CPU tsland may use.',
  },
  {
    name: 'slice-us',
    type: 'number',
    valueName: 'N',
    default: DEFAULTS.sliceUs,
    min: 100,
    max: 10_000_000,
    integer: true,
    help: 'Base time slice in microseconds.',
  },
  {
    name: 'stats',
    type: 'number',
    valueName: 'SECONDS',
    default: 0,
    min: 0,
    max: 3600,
    help: 'Print a stats line (tasks, dispatches, failures, page faults, GCs, health) to stderr every SECONDS; 0 turns it off.',
  },
  {
    name: 'arena-mib',
    type: 'number',
    valueName: 'N',
    default: DEFAULTS.arenaMib,
    min: 1,
    max: 65_536,
    integer: true,
    help: 'Memory for the task table in MiB (bounds how many tasks can be managed).',
  },
  {
    name: 'lock',
    type: 'boolean',
    default: true,
    help: "Lock the scheduler's memory in RAM; --no-lock runs unlocked, and health says so.",
  },
  ...OBSERVABILITY_FLAGS,
];

export function sessionOptionsFromFlags(flags: FlagValues): SessionOptions {
  const opts: SessionOptions = {
    policy: String(flags.policy),
    sliceUs: Number(flags['slice-us']),
    arenaMib: Number(flags['arena-mib']),
    lock: flags.lock !== false,
  };
  if (typeof flags.cpus === 'string') opts.cpus = asUsage(() => parseCpuList(flags.cpus as string));
  return opts;
}

/** Option and start-up refusals: shown to the user as one-line usage errors. */
function isRefusal(err: unknown): err is Error {
  return err instanceof ManagedOptionError || err instanceof SessionStartError;
}

/** Runs `fn`, turning option and start-up refusals into one-line usage errors. */
export function asUsage<T>(fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    if (isRefusal(err)) throw new UsageError(err.message);
    throw err;
  }
}

const STOP_SIGNALS: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];

/** Signals that arrived while the run was starting, held for superviseRun. */
export interface HeldSignals {
  readonly pending: NodeJS.Signals[];
  release(): void;
}

/**
 * Starts the run with SIGINT/SIGTERM/SIGHUP held: the scheduler adopts and stops tasks before the start
 * resolves, and a Ctrl-C in that moment must stop the run like any other, not kill tsland outright (the
 * guardian would release the tasks, but tsland would die of the signal instead of exiting cleanly).
 */
export async function startAsUsage(fn: () => Promise<SessionHandle>): Promise<{ handle: SessionHandle; held: HeldSignals }> {
  const pending: NodeJS.Signals[] = [];
  const hold = (signal: NodeJS.Signals): void => {
    pending.push(signal);
  };
  for (const s of STOP_SIGNALS) process.on(s, hold);
  const held: HeldSignals = {
    pending,
    release: () => {
      for (const s of STOP_SIGNALS) process.off(s, hold);
    },
  };
  try {
    return { handle: await fn(), held };
  } catch (err) {
    held.release();
    if (isRefusal(err)) throw new UsageError(err.message);
    throw err;
  }
}

/**
 * Serves stats, prints the stats line, passes SIGINT/SIGTERM/SIGHUP to `stop` (a second one of the same
 * kind goes straight to the command), and returns the exit status once the run is over.
 */
export async function superviseRun(
  { handle, held }: { handle: SessionHandle; held: HeldSignals },
  flags: FlagValues,
  command: string,
  forwardSignals: boolean,
): Promise<number> {
  const signalsSeen = new Set<NodeJS.Signals>();
  const onSignal = (signal: NodeJS.Signals): void => {
    if (signalsSeen.has(signal) && handle.child) {
      handle.child.kill(signal);
      return;
    }
    signalsSeen.add(signal);
    void handle.stop(forwardSignals ? signal : undefined);
  };
  // Take over from the start-up's holding handlers before anything else can await.
  for (const s of STOP_SIGNALS) process.on(s, onSignal);
  held.release();
  for (const s of held.pending) onSignal(s);
  for (const note of handle.notes) process.stderr.write(`tsland: ${note}\n`);
  const health = new HealthMonitor(handle.counters);
  const observability = await startObservability(observabilityFromFlags(flags), {
    counters: handle.counters,
    tasks: () => handle.tasks(),
    info: () => ({ policy: handle.policy, backend: handle.backend, command, pid: String(process.pid), ...handle.info() }),
  });
  const statsSeconds = Number(flags.stats);
  const timer =
    statsSeconds > 0
      ? setInterval(() => {
          const h = { ...health.check(), intervalMs: statsSeconds * MSEC_PER_SEC };
          process.stderr.write(formatStatsLine(snapshotCounters(handle.counters), h) + '\n');
        }, statsSeconds * MSEC_PER_SEC)
      : null;
  try {
    const exit = await handle.exited;
    if (exit.message) process.stderr.write(`tsland: ${exit.message}\n`);
    return exit.code;
  } finally {
    if (timer) clearInterval(timer);
    for (const s of STOP_SIGNALS) process.off(s, onSignal);
    await observability.close();
  }
}
