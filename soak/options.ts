// The soak's command line: one definition feeds the parser, `--help` and validation, through the same
// CommandDef machinery the `tsland` CLI uses, so a bad flag gets the same one-line error and exit 2.

import { availableParallelism } from 'node:os';
import { UsageError, type CommandDef, type FlagValues } from '../src/cli/command.js';

export const FAULT_KINDS = ['burst', 'memory-jump', 'stop-scheduler', 'kill-guardian', 'kill-scheduler'] as const;
/** The faults of the sched_ext soak, in their default order; burst and memory-jump may be asked for too. */
export const SCX_FAULT_KINDS = ['stats-flood', 'stop-scheduler', 'kill-scheduler'] as const;
const SCX_ALLOWED: readonly string[] = ['burst', 'memory-jump', ...SCX_FAULT_KINDS];
export type FaultKind = (typeof FAULT_KINDS)[number] | (typeof SCX_FAULT_KINDS)[number];

/** proc: `tsland run` (the signals backend); scx: `tsland start` on the kernel's sched_ext, system-wide. */
export type SoakBackend = 'proc' | 'scx';

export type LoadLevel = 'full' | 'light';

export interface SoakOptions {
  backend: SoakBackend;
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
  /** proc: the guardian's heartbeat timeout; scx: the kernel watchdog's timeout (`tsland start --timeout-ms`). */
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
  /** scx: clients and seconds of the stats-flood fault. */
  floodClients: number;
  floodS: number;
}

/** At least this much memory stays available, whatever the flags say: the OOM killer must never run. */
export const MIN_HEADROOM_MIB = 2048;
/** The same floor for the sched_ext soak, whose machine is usually a small guest (2 GiB). */
export const MIN_SCX_HEADROOM_MIB = 256;
/** The sched_ext soak's defaults: a small, slow machine (the guest under software emulation). */
export const SCX_DEFAULTS = {
  headroomMiB: 384,
  vmMiB: 128,
  buildFiles: 20,
  buildJobs: 2,
  forkRatePerS: 10,
  burstCount: 200,
  warmupS: 60,
  watchdogMs: 5000,
  floodClients: 32,
  floodS: 15,
} as const;

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
    '',
    "--backend scx soaks `tsland start` on the kernel's sched_ext instead: tsland schedules the whole machine",
    'under the same load (scaled for a small guest), sampled through its stats socket and',
    '/sys/kernel/sched_ext; the faults are a flood of stats clients, tsland stopped past the kernel watchdog',
    '(ejected, every task must run again, tsland restarted) and tsland killed (restarted); any ejection',
    'without a fault is a violation. Where this kernel has no sched_ext, the soak runs itself in the guest',
    '(`tsland guest run`, 2 CPUs) and writes its record to --out here.',
  ].join('\n'),
  flags: [
    {
      name: 'backend',
      type: 'string',
      valueName: 'NAME',
      choices: ['proc', 'scx'],
      default: 'proc',
      help: 'proc soaks `tsland run` (signals); scx soaks `tsland start` on sched_ext (in the guest where the kernel lacks it).',
    },
    { name: 'minutes', type: 'number', valueName: 'N', min: 0.5, max: 7 * 24 * 60, default: 10, help: 'How long the load runs.' },
    {
      name: 'load',
      type: 'string',
      valueName: 'LEVEL',
      choices: ['full', 'light'],
      default: 'full',
      help: 'light scales the load down for a small CI machine (scx: always light, scaled further).',
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
      help: `Faults to inject, in order: ${FAULT_KINDS.join(',')} or none. Default: all. scx: ${SCX_FAULT_KINDS.join(',')} (default, all), burst, memory-jump.`,
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
      help: `Seconds after each scheduler start before page faults must stay at 0. Default: 20 (light: 8; scx: ${SCX_DEFAULTS.warmupS}).`,
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
      help: `The guardian's heartbeat timeout, passed to tsland (default 500); scx: the kernel watchdog's --timeout-ms (default ${SCX_DEFAULTS.watchdogMs}).`,
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
      min: MIN_SCX_HEADROOM_MIB,
      max: 1 << 20,
      help: `Memory that stays available under the heaviest pressure: at least ${MIN_HEADROOM_MIB} (scx: ${MIN_SCX_HEADROOM_MIB}, default ${SCX_DEFAULTS.headroomMiB}).`,
    },
    {
      name: 'vm-mib',
      type: 'number',
      valueName: 'MIB',
      integer: true,
      min: 16,
      max: 1 << 24,
      help: `Memory the steady vm workers hold. Default: 60% of (MemAvailable - headroom - 512 MiB for the rest of the load) (light: 256; scx: ${SCX_DEFAULTS.vmMiB}).`,
    },
    {
      name: 'cpu-workers',
      type: 'number',
      valueName: 'N',
      integer: true,
      min: 0,
      max: 1024,
      help: 'stress-ng CPU workers. Default: 2 per CPU (light, scx: CPUs + 1, so one always waits).',
    },
    {
      name: 'build-files',
      type: 'number',
      valueName: 'N',
      integer: true,
      min: 2,
      max: 5000,
      help: `C files in the generated project. Default: 300 (light: 40; scx: ${SCX_DEFAULTS.buildFiles}).`,
    },
    {
      name: 'build-jobs',
      type: 'number',
      valueName: 'N',
      integer: true,
      min: 1,
      max: 256,
      help: `make -j for the build loop. Default: CPUs + 1 (light: 1; scx: ${SCX_DEFAULTS.buildJobs}).`,
    },
    {
      name: 'fork-rate',
      type: 'number',
      valueName: 'PER_S',
      integer: true,
      min: 0,
      max: 100000,
      help: `Processes the fork storm starts per second. Default: 100 (light: 10; scx: ${SCX_DEFAULTS.forkRatePerS}).`,
    },
    {
      name: 'burst',
      type: 'number',
      valueName: 'N',
      integer: true,
      min: 1,
      max: 100000,
      help: `Short-lived processes in the burst fault. Default: 1000 (scx: ${SCX_DEFAULTS.burstCount}).`,
    },
    {
      name: 'flood-clients',
      type: 'number',
      valueName: 'N',
      integer: true,
      min: 1,
      max: 4096,
      default: SCX_DEFAULTS.floodClients,
      help: 'scx: stats clients hammering the socket at once in the stats-flood fault.',
    },
    {
      name: 'flood-s',
      type: 'number',
      valueName: 'S',
      min: 1,
      max: 3600,
      default: SCX_DEFAULTS.floodS,
      help: 'scx: how long the stats flood lasts.',
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
    'npm run soak -- --backend scx --minutes 10',
  ],
  run: () => 0,
};

function num(flags: FlagValues, name: string): number | undefined {
  const v = flags[name];
  return typeof v === 'number' ? v : undefined;
}

function parseFaults(raw: unknown, backend: SoakBackend): FaultKind[] {
  const allowed: readonly string[] = backend === 'scx' ? SCX_ALLOWED : FAULT_KINDS;
  if (raw === undefined) return backend === 'scx' ? [...SCX_FAULT_KINDS] : [...FAULT_KINDS];
  const list = raw as string[];
  if (list.length === 1 && list[0] === 'none') return [];
  for (const f of list) {
    if (!allowed.includes(f)) {
      throw new UsageError(`--faults: unknown fault '${f}' for --backend ${backend} (one of ${allowed.join(', ')}, or none)`);
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
  const backend = flags.backend as SoakBackend;
  const scx = backend === 'scx';
  const load = flags.load as LoadLevel;
  // The sched_ext soak's machine is small and slow: its defaults are the light load's, scaled further.
  const light = load === 'light' || scx;
  const durationS = Math.round((flags.minutes as number) * 60);
  const warmupS = num(flags, 'warmup-s') ?? (scx ? SCX_DEFAULTS.warmupS : light ? 8 : 20);
  if (warmupS >= durationS / 2) {
    throw new UsageError(`--warmup-s ${warmupS} leaves no time to measure in a ${durationS} s run (keep it under half)`);
  }
  let faults = parseFaults(flags.faults, backend);
  const baseline = flags.baseline === true;
  if (baseline && scx) throw new UsageError('--baseline is for the proc backend (a baseline of scx is the kernel itself)');
  if (baseline) faults = faults.filter((f) => f === 'burst' || f === 'memory-jump');
  const memHeadroomMiB = num(flags, 'mem-headroom-mib') ?? (scx ? SCX_DEFAULTS.headroomMiB : MIN_HEADROOM_MIB);
  if (!scx && memHeadroomMiB < MIN_HEADROOM_MIB)
    throw new UsageError(`--mem-headroom-mib must be at least ${MIN_HEADROOM_MIB} with --backend proc, got ${memHeadroomMiB}`);
  return {
    backend,
    durationS,
    load: scx ? 'light' : load,
    baseline,
    faults,
    faultIntervalS: num(flags, 'fault-interval-s') ?? 0,
    warmupS,
    pageFaultBudget: flags['page-fault-budget'] as number,
    watchdogMs: num(flags, 'watchdog-ms') ?? (scx ? SCX_DEFAULTS.watchdogMs : 500),
    policy: flags.policy as string,
    outDir: flags.out as string,
    memHeadroomMiB,
    vmMiB: num(flags, 'vm-mib') ?? (scx ? SCX_DEFAULTS.vmMiB : light ? 256 : undefined),
    cpuWorkers: num(flags, 'cpu-workers') ?? (light ? cpus + 1 : 2 * cpus),
    buildFiles: num(flags, 'build-files') ?? (scx ? SCX_DEFAULTS.buildFiles : light ? 40 : 300),
    buildJobs: num(flags, 'build-jobs') ?? (scx ? SCX_DEFAULTS.buildJobs : light ? 1 : cpus + 1),
    forkRatePerS: num(flags, 'fork-rate') ?? (scx ? SCX_DEFAULTS.forkRatePerS : light ? 10 : 100),
    burstCount: num(flags, 'burst') ?? (scx ? SCX_DEFAULTS.burstCount : 1000),
    install: flags.install !== false,
    progressEveryS: flags['progress-s'] as number,
    runId: runIdFlag(flags['run-id']),
    floodClients: flags['flood-clients'] as number,
    floodS: flags['flood-s'] as number,
  };
}
