// What `tsland run` and `tsland attach` share: their scheduling flags, turning flags into options, and the
// session around a managed run (stats server, the periodic stats line, signals, the exit message).

import { UsageError, type FlagDef, type FlagValues } from '../../cli/command.js';
import { HealthMonitor } from '../../mem/health.js';
import { snapshotCounters } from '../../sched/counters.js';
import { builtinPolicyNames } from '../../sched/policies/index.js';
import { formatStatsLine } from '../../stats/format.js';
import { OBSERVABILITY_FLAGS, observabilityFromFlags, startObservability } from '../../stats/observe.js';
import { MSEC_PER_SEC } from './clock.js';
import { ManagedStartError, type ManagedHandle } from './managed.js';
import { DEFAULTS, ManagedOptionError, parseCpuList, type ManagedOptions } from './options.js';

export const SCHEDULING_FLAGS: FlagDef[] = [
  { name: 'policy', type: 'string', valueName: 'NAME|PATH', default: DEFAULTS.policy, help: `Scheduling policy: ${builtinPolicyNames().join(', ')}, or a module exporting one (./my-policy.js).` },
  { name: 'cpus', type: 'string', valueName: 'LIST', help: 'CPUs to schedule on, e.g. 0-3,6. Default: every CPU tsland may use.' },
  { name: 'slice-us', type: 'number', valueName: 'N', default: DEFAULTS.sliceUs, min: 100, max: 10_000_000, integer: true, help: 'Base time slice in microseconds.' },
  { name: 'grace-us', type: 'number', valueName: 'N', default: DEFAULTS.graceUs, min: 0, max: 1_000_000, integer: true, help: 'CPU time a task that wakes up may use before it waits for a dispatch; short bursts (interactive tasks) never wait.' },
  { name: 'stats', type: 'number', valueName: 'SECONDS', default: 0, min: 0, max: 3600, help: 'Print a stats line (tasks, dispatches, failures, page faults, GCs, health) to stderr every SECONDS; 0 turns it off.' },
  { name: 'arena-mib', type: 'number', valueName: 'N', default: DEFAULTS.arenaMib, min: 1, max: 65_536, integer: true, help: 'Memory for the task table in MiB (bounds how many tasks can be managed).' },
  { name: 'lock', type: 'boolean', default: true, help: "Lock the scheduler's memory in RAM; --no-lock runs unlocked, and health says so." },
  { name: 'watchdog-ms', type: 'number', valueName: 'N', default: DEFAULTS.watchdogMs, min: 20, max: 600_000, integer: true, help: "The guardian releases every task when the scheduler's heartbeat is older than this." },
  ...OBSERVABILITY_FLAGS,
];

export function optionsFromFlags(flags: FlagValues): ManagedOptions {
  const opts: ManagedOptions = {
    policy: String(flags.policy),
    sliceUs: Number(flags['slice-us']),
    graceUs: Number(flags['grace-us']),
    arenaMib: Number(flags['arena-mib']),
    lock: flags.lock !== false,
    watchdogMs: Number(flags['watchdog-ms']),
  };
  if (typeof flags.cpus === 'string') opts.cpus = asUsage(() => parseCpuList(flags.cpus as string));
  return opts;
}

/** Runs `fn`, turning option and start-up refusals into one-line usage errors. */
export function asUsage<T>(fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    if (err instanceof ManagedOptionError || err instanceof ManagedStartError) throw new UsageError(err.message);
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
export async function startAsUsage(fn: () => Promise<ManagedHandle>): Promise<{ handle: ManagedHandle; held: HeldSignals }> {
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
    if (err instanceof ManagedOptionError) throw new UsageError(err.message);
    if (err instanceof ManagedStartError) throw new UsageError(err.message);
    throw err;
  }
}

/**
 * Serves stats, prints the stats line, passes SIGINT/SIGTERM/SIGHUP to `stop` (a second one of the same
 * kind goes straight to the command), and returns the exit status once the run is over.
 */
export async function superviseRun(
  { handle, held }: { handle: ManagedHandle; held: HeldSignals },
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
  for (const r of handle.recovered) {
    process.stderr.write(`tsland: resumed ${r.tasksContinued} task(s) left stopped by an earlier run (pid ${r.schedulerPid})\n`);
  }
  const health = new HealthMonitor(handle.counters);
  const observability = await startObservability(observabilityFromFlags(flags), {
    counters: handle.counters,
    tasks: () => handle.tasks(),
    info: () => ({ policy: handle.policy, backend: 'proc', command, pid: String(process.pid) }),
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
