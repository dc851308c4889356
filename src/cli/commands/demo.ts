// `tsland demo` (= `npm start`): the kernel's scheduler and tsland on the same mixed workload, side by side.

import { existsSync } from 'node:fs';
import { DemoInterrupted, runDemo } from '../../demo/run.js';
import { builtinPolicyNames } from '../../sched/policies/index.js';
import { UsageError, type CommandDef } from '../command.js';

export const DEMO_SECONDS_ENV = 'TSLAND_DEMO_SECONDS';
const DEFAULT_SECONDS = 10;
const MAX_SECONDS = 600;
/** 128 + SIGINT, as a shell reports a command stopped by Ctrl-C. */
const EXIT_INTERRUPTED = 130;

function secondsFromEnv(): number | undefined {
  const raw = process.env[DEMO_SECONDS_ENV];
  if (raw === undefined || raw === '') return undefined;
  const v = Number(raw);
  if (!Number.isFinite(v) || v < 1 || v > MAX_SECONDS)
    throw new UsageError(`${DEMO_SECONDS_ENV} must be a number of seconds from 1 to ${MAX_SECONDS}, got '${raw}'`);
  return v;
}

export const demoCommand: CommandDef = {
  name: 'demo',
  summary: "Run a mixed workload under the kernel's scheduler, then under tsland, and compare (npm start).",
  usage: '[--seconds N] [--policy NAME] [--out-dir DIR]',
  description:
    'Starts CPU hogs at nice 0, 5 and 10 plus an interactive probe that sleeps 2 ms and measures how late it ' +
    "wakes, first under the kernel's scheduler and then under tsland. Prints a side-by-side table (fairness, " +
    "CPU shares, probe lateness p50/p99, throughput, tsland's page faults and GCs) and writes a self-contained " +
    "HTML report. As root the scheduler's memory is locked; otherwise it runs unlocked and says so. " +
    `The window length can also come from ${DEMO_SECONDS_ENV} (handy for CI).`,
  flags: [
    {
      name: 'seconds',
      short: 's',
      type: 'number',
      valueName: 'N',
      min: 1,
      max: MAX_SECONDS,
      help: `Measured seconds per half. Default: ${DEFAULT_SECONDS}, or ${DEMO_SECONDS_ENV}.`,
    },
    {
      name: 'policy',
      type: 'string',
      valueName: 'NAME',
      default: 'rustland',
      help: 'Policy for the tsland half: rustland, fifo or the path of a policy module.',
    },
    { name: 'out-dir', type: 'string', valueName: 'DIR', default: 'reports', help: 'Directory for the HTML report.' },
    { name: 'kernel-only', type: 'boolean', default: false, help: 'Run only the kernel half (to look at the workload itself).' },
    { name: 'json', type: 'boolean', default: false, help: 'Print the figures as JSON instead of the table.' },
  ],
  examples: ['npm start', 'tsland demo --seconds 30', `${DEMO_SECONDS_ENV}=2 npm start`],
  async run({ flags }) {
    const seconds = (flags.seconds as number | undefined) ?? secondsFromEnv() ?? DEFAULT_SECONDS;
    const policy = flags.policy as string;
    if (!builtinPolicyNames().includes(policy) && !existsSync(policy)) {
      throw new UsageError(
        `--policy must be one of ${builtinPolicyNames().join(', ')} or the path of a policy module; no file '${policy}'`,
      );
    }
    let outcome: Awaited<ReturnType<typeof runDemo>>;
    try {
      outcome = await runDemo({ seconds, outDir: flags['out-dir'] as string, policy, kernelOnly: flags['kernel-only'] === true });
    } catch (err) {
      if (!(err instanceof DemoInterrupted)) throw err;
      process.stderr.write('tsland: demo interrupted; every process it started was stopped\n');
      return EXIT_INTERRUPTED;
    }
    if (flags.json) process.stdout.write(JSON.stringify(outcome.data) + '\n');
    else process.stdout.write(`\n${outcome.table}\n\n`);
    for (const n of outcome.data.notes) process.stderr.write(`note: ${n}\n`);
    process.stderr.write(`report: ${outcome.reportPath}\n`);
    return outcome.data.tsland || flags['kernel-only'] ? 0 : 1;
  },
};
