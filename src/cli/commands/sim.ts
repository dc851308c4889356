// `tsland sim`: run a policy on virtual CPUs against a generated workload and print what it decided.

import { formatSimTable } from '../../backends/sim/format.js';
import { MAX_SIM_CPUS, MAX_SIM_TASKS, simulate, type SimOptions } from '../../backends/sim/simulator.js';
import { WORKLOAD_NAMES, type WorkloadName } from '../../backends/sim/workloads.js';
import { GcCounter, settleGcEntries, threadFaultCounter } from '../../mem/index.js';
import { PolicyError } from '../../sched/api.js';
import { loadPolicy } from '../../sched/load-policy.js';
import { NSEC_PER_USEC } from '../../base/units.js';
import { UsageError, type CommandDef } from '../command.js';

const UNIT_NS: Record<string, number> = { ns: 1, us: 1e3, ms: 1e6, s: 1e9, m: 60e9 };
const MAX_DURATION_NS = 3600e9;

/** "10s", "250ms", "1.5m", "2" (seconds) -> ns; UsageError naming the flag otherwise. */
export function parseDurationNs(flag: string, raw: string): number {
  const m = /^(\d+(?:\.\d+)?)(ns|us|ms|s|m)?$/.exec(raw.trim());
  if (!m) throw new UsageError(`--${flag} takes a duration like 10s, 500ms or 2m; got '${raw}'`);
  const ns = Math.round(Number(m[1]) * UNIT_NS[m[2] ?? 's']!);
  if (ns > MAX_DURATION_NS) throw new UsageError(`--${flag} must be at most 1h of virtual time; got '${raw}'`);
  return ns;
}

function progressBar(): (fraction: number) => void {
  const width = 30;
  return (fraction: number) => {
    const done = Math.max(0, Math.min(width, Math.round(fraction * width)));
    process.stderr.write(`\r[${'#'.repeat(done)}${'.'.repeat(width - done)}] ${(fraction * 100).toFixed(0).padStart(3)}%`);
  };
}

export const simCommand: CommandDef = {
  name: 'sim',
  summary: 'Simulate a policy on virtual CPUs: CPU shares, fairness, wake-up latency, cost.',
  usage: '[--policy rustland|fifo|./policy.js] [--cpus N] [--tasks N] [--workload NAME] [--duration 10s] [--seed N] [--json]',
  description:
    'A deterministic discrete-event simulation: virtual CPUs and clock, a generated workload, the scheduler core ' +
    'driven exactly as the process backend drives it. The same seed gives the same `results`, bit for bit; `perf` ' +
    'holds the wall-clock figures of this run. Workloads: hogs (equal CPU hogs), weighted (hogs of weight 1:2:4), ' +
    'interactive (a quarter of the tasks sleep 10 ms and run 0.5 ms, among hogs), bursty, forkstorm (short-lived ' +
    'tasks arriving over the first half, some killed at random) and mix (all of them, hogs of mixed nice values). ' +
    'A progress bar is drawn on stderr when it is a terminal.',
  flags: [
    {
      name: 'policy',
      type: 'string',
      valueName: 'NAME|PATH',
      default: 'rustland',
      help: 'A built-in policy (rustland, fifo) or a .js file exporting one.',
    },
    { name: 'cpus', type: 'number', integer: true, min: 1, max: MAX_SIM_CPUS, default: 8, help: 'Virtual CPUs.' },
    {
      name: 'tasks',
      type: 'number',
      integer: true,
      min: 1,
      max: MAX_SIM_TASKS,
      default: 64,
      help: 'Tasks over the whole run (spawned ones included).',
    },
    { name: 'workload', type: 'string', choices: WORKLOAD_NAMES, default: 'mix', help: 'What the tasks do.' },
    {
      name: 'duration',
      type: 'string',
      valueName: 'TIME',
      default: '10s',
      help: 'Virtual time to simulate (ns, us, ms, s, m; a bare number is seconds).',
    },
    { name: 'seed', type: 'number', integer: true, min: 0, max: 0xffffffff, default: 1, help: 'Seed of the random generator.' },
    { name: 'slice-us', type: 'number', min: 1, max: 10_000_000, default: 20_000, help: 'Base time slice, in microseconds.' },
    {
      name: 'warmup',
      type: 'string',
      valueName: 'TIME',
      default: '0s',
      help: 'Count CPU shares and fairness after this much virtual time only.',
    },
    {
      name: 'dispatch-cost-us',
      type: 'number',
      min: 0,
      max: 1_000_000,
      default: 2,
      help: 'Virtual time between a dispatch and the task running, in microseconds.',
    },
    {
      name: 'preempt',
      type: 'boolean',
      help: 'A woken task may stop a running one with a larger key, as tsland does on sched_ext.',
    },
    { name: 'json', type: 'boolean', help: 'Print one JSON object {results, perf} instead of the table.' },
  ],
  examples: [
    'tsland sim --policy rustland --cpus 8 --tasks 64 --workload hogs',
    'tsland sim --workload interactive --tasks 1000 --duration 30s --json',
    'tsland sim --policy ./examples/sjf.js --workload interactive --tasks 64',
    'tsland sim --workload weighted --tasks 24 --warmup 20s --duration 60s',
  ],
  async run({ flags }) {
    const durationNs = parseDurationNs('duration', String(flags.duration));
    if (durationNs <= 0) throw new UsageError(`--duration must be more than 0; got '${String(flags.duration)}'`);
    const warmupNs = parseDurationNs('warmup', String(flags.warmup));
    if (warmupNs >= durationNs) throw new UsageError(`--warmup must be shorter than --duration`);
    let policy;
    try {
      policy = await loadPolicy(String(flags.policy));
    } catch (err) {
      if (err instanceof PolicyError) throw new UsageError(`--policy: ${err.message}`);
      throw err;
    }
    const tty = process.stderr.isTTY === true;
    const opts: SimOptions = {
      policy,
      cpus: flags.cpus as number,
      tasks: flags.tasks as number,
      workload: flags.workload as WorkloadName,
      durationNs,
      warmupNs,
      seed: flags.seed as number,
      sliceNs: Math.round((flags['slice-us'] as number) * NSEC_PER_USEC),
      dispatchCostNs: Math.round((flags['dispatch-cost-us'] as number) * NSEC_PER_USEC),
      preemptWakeups: flags.preempt === true,
      ...(tty ? { onProgress: progressBar() } : {}),
    };
    const gc = new GcCounter();
    let faults: ReturnType<typeof threadFaultCounter> | null = null;
    try {
      faults = threadFaultCounter();
    } catch {
      faults = null;
    }
    try {
      const outcome = await simulate(opts, {
        gcCount: () => gc.total,
        faultCount: () => (faults ? faults.sample() : NaN),
        settle: settleGcEntries,
      });
      if (tty) process.stderr.write('\r\x1b[K');
      process.stdout.write(flags.json ? JSON.stringify(outcome) + '\n' : formatSimTable(outcome) + '\n');
      return 0;
    } finally {
      gc.close();
      faults?.close();
    }
  },
};
