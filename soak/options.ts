// The soak's command line: one definition feeds the parser, `--help` and validation, through the same
// CommandDef machinery the `tsland` CLI uses, so a bad flag gets the same one-line error and exit 2.

import { availableParallelism } from 'node:os';
import { UsageError, type CommandDef, type FlagValues } from '../src/cli/command.js';

export const FAULT_KINDS = ['burst', 'memory-jump', 'stop-scheduler', 'kill-guardian', 'kill-scheduler'] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];

export type LoadLevel = 'full' | 'light';

export interface SoakOptions {
  durationS: number;
  load: LoadLevel;
  /** Run the load under the kernel's scheduler only: a control run, and a check of the harness itself. */
  baseline: boolean;
  faults: FaultKind[];
  /** Seconds between injected faults; 0 spreads them evenly over the run. */
  faultIntervalS: number;
  warmupS: number;
  /** Page faults after warm-up tolerated per scheduler instance (the target is 0). */
  pageFaultBudget: number;
  watchdogMs: number;
  policy: string;
  outDir: string;
  memHeadroomMiB: number;
  /** Total bytes the steady vm workers hold; undefined derives it from MemAvailable. */
  vmMiB: number | undefined;
  cpuWorkers: number;
  buildFiles: number;
  buildJobs: number;
  forkRatePerS: number;
  burstCount: number;
  install: boolean;
  progressEveryS: number;
  runId: string | undefined;
}

/** At least this much memory stays available, whatever the flags say: the OOM killer must never run. */
export const MIN_HEADROOM_MIB = 2048;

export const soakCommand: CommandDef = {
  name: 'soak',
  summary: 'Run tsland over a heavy mixed load for N minutes, inject faults, and check that nothing is lost.',
  usage: '[options]',
  description: [
    'Starts `tsland run` over stress-ng CPU and vm workers, a fork storm and a C build loop; samples the',
    'scheduler every second (page faults, GCs, RSS, heartbeat lateness, dispatches, health); injects faults',
    '(burst of short-lived processes, memory jump, scheduler stopped, guardian killed, scheduler killed and',
    'tsland attached again); after each fault and at the end checks that no workload process is left stopped,',
    'none is orphaned, and every one started is accounted for. Writes a JSON record and an HTML report and',
    'exits 1 when any check failed (the violations are listed), 2 on a bad flag.',
  ].join('\n'),
  flags: [
    { name: 'minutes', type: 'number', valueName: 'N', min: 0.5, max: 7 * 24 * 60, default: 10, help: 'How long the load runs.' },
    {
      name: 'load',
      type: 'string',
      valueName: 'LEVEL',
      choices: ['full', 'light'],
      default: 'full',
      help: 'light scales the load down for a small CI machine.',
    },
    {
      name: 'baseline',
      type: 'boolean',
      help: 'Run the same load under the kernel scheduler only (no tsland; scheduler faults are skipped).',
    },
    {
      name: 'faults',
      type: 'list',
      valueName: 'LIST',
      help: `Faults to inject, in order: ${FAULT_KINDS.join(',')} or none. Default: all.`,
    },
    {
      name: 'fault-interval-s',
      type: 'number',
      valueName: 'S',
      min: 0,
      max: 86400,
      default: 0,
      help: 'Seconds between faults; 0 spreads them over the run.',
    },
    {
      name: 'warmup-s',
      type: 'number',
      valueName: 'S',
      min: 1,
      max: 3600,
      help: 'Seconds after each scheduler start before page faults must stay at 0. Default: 20 (light: 8).',
    },
    {
      name: 'page-fault-budget',
      type: 'number',
      valueName: 'N',
      integer: true,
      min: 0,
      max: 1e9,
      default: 0,
      help: 'Page faults a scheduler thread may take after its warm-up before that is a violation. The target, and the default, is 0; the figure is reported whatever the budget.',
    },
    {
      name: 'watchdog-ms',
      type: 'number',
      valueName: 'MS',
      integer: true,
      min: 50,
      max: 60000,
      default: 500,
      help: "The guardian's heartbeat timeout, passed to tsland.",
    },
    {
      name: 'policy',
      type: 'string',
      valueName: 'NAME',
      default: 'rustland',
      help: 'Policy passed to tsland (rustland, fifo or a path).',
    },
    { name: 'out', type: 'string', valueName: 'DIR', default: 'reports', help: 'Where the JSON record and the HTML report go.' },
    {
      name: 'mem-headroom-mib',
      type: 'number',
      valueName: 'MIB',
      integer: true,
      min: MIN_HEADROOM_MIB,
      max: 1 << 20,
      default: MIN_HEADROOM_MIB,
      help: 'Memory that stays available under the heaviest pressure.',
    },
    {
      name: 'vm-mib',
      type: 'number',
      valueName: 'MIB',
      integer: true,
      min: 16,
      max: 1 << 24,
      help: 'Memory the steady vm workers hold. Default: 60% of (MemAvailable - headroom - 512 MiB for the rest of the load) (light: 256).',
    },
    {
      name: 'cpu-workers',
      type: 'number',
      valueName: 'N',
      integer: true,
      min: 0,
      max: 1024,
      help: 'stress-ng CPU workers. Default: 2 per CPU (light: CPUs + 1, so one always waits).',
    },
    {
      name: 'build-files',
      type: 'number',
      valueName: 'N',
      integer: true,
      min: 2,
      max: 5000,
      help: 'C files in the generated project. Default: 300 (light: 40).',
    },
    {
      name: 'build-jobs',
      type: 'number',
      valueName: 'N',
      integer: true,
      min: 1,
      max: 256,
      help: 'make -j for the build loop. Default: CPUs + 1 (light: 1).',
    },
    {
      name: 'fork-rate',
      type: 'number',
      valueName: 'PER_S',
      integer: true,
      min: 0,
      max: 100000,
      help: 'Processes the fork storm starts per second. Default: 100 (light: 10).',
    },
    {
      name: 'burst',
      type: 'number',
      valueName: 'N',
      integer: true,
      min: 1,
      max: 100000,
      default: 1000,
      help: 'Short-lived processes in the burst fault.',
    },
    {
      name: 'install',
      type: 'boolean',
      default: true,
      help: 'Install missing stress-ng, gcc, make with apt-get when root (--no-install to refuse).',
    },
    {
      name: 'run-id',
      type: 'string',
      valueName: 'NAME',
      help: 'Name of the run, carried by every workload process as TSLAND_SOAK_RUN=NAME. Default: time stamp and pid.',
    },
    {
      name: 'progress-s',
      type: 'number',
      valueName: 'S',
      min: 1,
      max: 3600,
      default: 10,
      help: 'Seconds between progress lines.',
    },
  ],
  examples: [
    'npm run soak -- --minutes 10',
    'npm run soak -- --minutes 1 --load light',
    'npm run soak -- --minutes 5 --faults burst,kill-scheduler',
  ],
  run: () => 0,
};

function num(flags: FlagValues, name: string): number | undefined {
  const v = flags[name];
  return typeof v === 'number' ? v : undefined;
}

function parseFaults(raw: unknown): FaultKind[] {
  if (raw === undefined) return [...FAULT_KINDS];
  const list = raw as string[];
  if (list.length === 1 && list[0] === 'none') return [];
  for (const f of list) {
    if (!(FAULT_KINDS as readonly string[]).includes(f)) {
      throw new UsageError(`--faults: unknown fault '${f}' (one of ${FAULT_KINDS.join(', ')}, or none)`);
    }
  }
  return list as FaultKind[];
}

function runIdFlag(raw: unknown): string | undefined {
  if (raw === undefined) return undefined;
  const id = raw as string;
  if (!/^[A-Za-z0-9._-]{1,64}$/.test(id))
    throw new UsageError(`--run-id takes 1-64 letters, digits, '.', '_' or '-'; got '${id}'`);
  return id;
}

/** Turns parsed flags into options, filling load-dependent defaults; throws UsageError on bad combinations. */
export function resolveOptions(flags: FlagValues, cpus = availableParallelism()): SoakOptions {
  const load = flags.load as LoadLevel;
  const light = load === 'light';
  const durationS = Math.round((flags.minutes as number) * 60);
  const warmupS = num(flags, 'warmup-s') ?? (light ? 8 : 20);
  if (warmupS >= durationS / 2) {
    throw new UsageError(`--warmup-s ${warmupS} leaves no time to measure in a ${durationS} s run (keep it under half)`);
  }
  let faults = parseFaults(flags.faults);
  const baseline = flags.baseline === true;
  if (baseline) faults = faults.filter((f) => f === 'burst' || f === 'memory-jump');
  return {
    durationS,
    load,
    baseline,
    faults,
    faultIntervalS: num(flags, 'fault-interval-s') ?? 0,
    warmupS,
    pageFaultBudget: flags['page-fault-budget'] as number,
    watchdogMs: flags['watchdog-ms'] as number,
    policy: flags.policy as string,
    outDir: flags.out as string,
    memHeadroomMiB: flags['mem-headroom-mib'] as number,
    vmMiB: num(flags, 'vm-mib') ?? (light ? 256 : undefined),
    cpuWorkers: num(flags, 'cpu-workers') ?? (light ? cpus + 1 : 2 * cpus),
    buildFiles: num(flags, 'build-files') ?? (light ? 40 : 300),
    buildJobs: num(flags, 'build-jobs') ?? (light ? 1 : cpus + 1),
    forkRatePerS: num(flags, 'fork-rate') ?? (light ? 10 : 100),
    burstCount: flags.burst as number,
    install: flags.install !== false,
    progressEveryS: flags['progress-s'] as number,
    runId: runIdFlag(flags['run-id']),
  };
}
