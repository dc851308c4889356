// `tsland demo` (= `npm start`): the kernel's scheduler and tsland on the same mixed workload, side by side:
// on the kernel's sched_ext where this kernel has it, else in the sched_ext guest where it is set up, else
// through tsland's signals backend (with one line on how to get the sched_ext comparison).

import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { scxUnavailableReason } from '../../backends/scx/main/managed.js';
import { DEMO_RESULT_ENV, GUEST_DEFAULT_SECONDS, runDemoInGuest } from '../../demo/guest.js';
import { DemoInterrupted, runDemo, type DemoOutcome } from '../../demo/run.js';
import { SCX_SYSFS } from '../../backends/scx/loader.js';
import { guestAvailability } from '../../guest/availability.js';
import { guestPaths } from '../../guest/paths.js';
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

type Where = 'scx' | 'proc' | 'guest';

/** Where `--backend auto` runs the demo, and the one line to print when it falls back to signals. */
export function chooseDemoBackend(
  scxReason: string | null,
  kernelHasScx: boolean,
  guest: { ok: true } | { ok: false; reason: string },
): { where: Where; hint: string | null } {
  if (scxReason === null) return { where: 'scx', hint: null };
  if (kernelHasScx)
    return { where: 'proc', hint: `tsland ran through signals: ${scxReason}. For the comparison on sched_ext: sudo npm start` };
  if (guest.ok) return { where: 'guest', hint: null };
  const notSetUp = guestPaths() === null;
  return {
    where: 'proc',
    hint:
      "tsland ran through signals: this kernel has no sched_ext. For the comparison on sched_ext, set up the guest once ('sudo npm run guest:setup') and run 'sudo npm start' again" +
      (notSetUp ? '.' : ` (now: ${guest.reason}).`),
  };
}

export const demoCommand: CommandDef = {
  name: 'demo',
  summary: "Run a mixed workload under the kernel's scheduler, then under tsland, and compare (npm start).",
  usage: '[--backend auto|scx|proc|guest] [--seconds N] [--policy NAME] [--out-dir DIR]',
  description:
    'Starts CPU hogs at nice 0, 5 and 10 plus an interactive probe that sleeps 2 ms and measures how late it ' +
    "wakes, first under the kernel's scheduler (EEVDF) and then under tsland. Where the kernel has sched_ext " +
    "(and as root), tsland runs on it, and the kernel tree's scx_simple and scx_userland run the same workload " +
    'too where they are built (npm run bench:peers). Where it has not, but the sched_ext guest is set up ' +
    '(tsland guest setup), the whole demo runs in the guest, slower (emulated), and the table and report come ' +
    'back here. Elsewhere tsland runs through signals. Prints a side-by-side table (fairness, CPU shares, probe ' +
    "lateness p50/p99, throughput, tsland's page faults and GCs), one column per scheduler, and writes a " +
    "self-contained HTML report with the probe's lateness percentiles per scheduler. As root the scheduler's " +
    `memory is locked; otherwise it runs unlocked and says so. The window length can also come from ` +
    `${DEMO_SECONDS_ENV} (handy for CI).`,
  flags: [
    {
      name: 'seconds',
      short: 's',
      type: 'number',
      valueName: 'N',
      min: 1,
      max: MAX_SECONDS,
      help: `Measured seconds per scheduler. Default: ${DEFAULT_SECONDS} (${GUEST_DEFAULT_SECONDS} in the guest), or ${DEMO_SECONDS_ENV}.`,
    },
    {
      name: 'backend',
      type: 'string',
      valueName: 'auto|scx|proc|guest',
      default: 'auto',
      choices: ['auto', 'scx', 'proc', 'guest'],
      help: "Where tsland runs. scx: on this kernel's sched_ext (root); guest: the whole demo in the sched_ext guest (tsland guest setup first); proc: signals, on any kernel; auto: scx, else guest when set up, else proc (and says how to get sched_ext).",
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
    {
      name: 'no-peers',
      type: 'boolean',
      default: false,
      help: "On sched_ext: leave out the kernel tree's schedulers (scx_simple, scx_userland) even where they are built.",
    },
    { name: 'json', type: 'boolean', default: false, help: 'Print the figures as JSON instead of the table.' },
  ],
  examples: ['npm start', 'tsland demo --seconds 30', 'sudo tsland demo --backend guest', `${DEMO_SECONDS_ENV}=2 npm start`],
  async run({ flags }) {
    const policy = flags.policy as string;
    if (!builtinPolicyNames().includes(policy) && !existsSync(policy)) {
      throw new UsageError(
        `--policy must be one of ${builtinPolicyNames().join(', ')} or the path of a policy module; no file '${policy}'`,
      );
    }
    const kernelOnly = flags['kernel-only'] === true;
    const peers = flags['no-peers'] !== true;
    const resultFile = process.env[DEMO_RESULT_ENV];
    let where = String(flags.backend) as Where | 'auto';
    let hint: string | null = null;
    if (where === 'auto')
      ({ where, hint } = chooseDemoBackend(scxUnavailableReason(), existsSync(SCX_SYSFS), guestAvailability()));
    else if (where === 'scx') {
      const why = scxUnavailableReason();
      if (why !== null) throw new Error(`--backend scx: ${why}`);
    } else if (where === 'guest') {
      const avail = guestAvailability();
      if (!avail.ok) throw new Error(`--backend guest: ${avail.reason}`);
      if (kernelOnly) throw new UsageError('--kernel-only runs on this machine: leave out --backend guest');
    }
    const seconds =
      (flags.seconds as number | undefined) ?? secondsFromEnv() ?? (where === 'guest' ? GUEST_DEFAULT_SECONDS : DEFAULT_SECONDS);
    const outDir = flags['out-dir'] as string;
    let outcome: DemoOutcome;
    try {
      outcome =
        where === 'guest'
          ? await runDemoInGuest({ cli: fileURLToPath(new URL('../main.js', import.meta.url)), seconds, policy, outDir, peers })
          : await runDemo({
              seconds,
              outDir,
              policy,
              kernelOnly,
              backend: where,
              peers,
              // Inside the guest (see demo/guest.ts): the host prints the table and writes the report.
              ...(resultFile ? { progressFile: resultFile, writeReport: false, inGuest: true, statsServer: false } : {}),
            });
    } catch (err) {
      if (!(err instanceof DemoInterrupted)) throw err;
      process.stderr.write(
        `tsland: demo interrupted; every process it started was stopped${where === 'guest' ? ', the guest too' : ''}\n`,
      );
      return EXIT_INTERRUPTED;
    }
    // Inside the guest the figures are in the file whatever happened: the host decides.
    if (resultFile) return 0;
    if (flags.json) process.stdout.write(JSON.stringify(outcome.data) + '\n');
    else process.stdout.write(`\n${outcome.table}\n\n`);
    for (const n of outcome.data.notes) process.stderr.write(`note: ${n}\n`);
    if (hint) process.stderr.write(`${hint}\n`);
    process.stderr.write(`report: ${outcome.reportPath}\n`);
    return outcome.data.tsland || kernelOnly ? 0 : 1;
  },
};
