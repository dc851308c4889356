// `tsland run`: start a command and schedule it and every process it forks, until it exits.

import { SCHEDULING_FLAGS, optionsFromFlags } from '../../backends/proc/main/flags.js';
import { runManaged } from '../../backends/proc/main/managed.js';
import { scxOptionsFromFlags, TIMEOUT_FLAG } from '../../backends/scx/main/flags.js';
import { runScx, scxUnavailableReason } from '../../backends/scx/main/managed.js';
import { startAsUsage, superviseRun } from '../../backends/session/cli.js';
import type { FlagDef } from '../../base/flags.js';
import { UsageError, type CommandDef } from '../command.js';

const BACKEND_FLAG: FlagDef = {
  name: 'backend',
  type: 'string',
  valueName: 'auto|scx|proc',
  default: 'auto',
  choices: ['auto', 'scx', 'proc'],
  help: "scx: the kernel's sched_ext (the tree's tasks set to SCHED_EXT); proc: signals (SIGSTOP/SIGCONT), on any kernel; auto: scx where the kernel has sched_ext, else proc.",
};

export const runCommand: CommandDef = {
  name: 'run',
  summary: 'Run a command and schedule its whole process tree with a TypeScript policy.',
  usage: '[options] -- cmd args...',
  description: [
    'Starts cmd and schedules it and every process it forks until cmd exits, then exits with its status',
    '(128+signal when it was killed). A task runs only while the policy has it dispatched: tsland stops the',
    'others with SIGSTOP and pins dispatched ones to the chosen CPU. Tasks that sleep are never held stopped.',
    'Ctrl-C and SIGTERM are passed to the tree and everything is released. A separate guardian process',
    'resumes every task if tsland dies or its heartbeat is late by more than --watchdog-ms.',
    'With --backend scx (the default where the kernel has sched_ext) the tree is scheduled by the kernel',
    "through tsland's sched_ext scheduler instead: its tasks are set to SCHED_EXT, nothing is stopped, and",
    "the kernel's watchdog (--timeout-ms) replaces the guardian. --cpus, --grace-us and --watchdog-ms are",
    'for the signals backend only.',
  ].join('\n'),
  examples: [
    'tsland run -- make -j8',
    'tsland run --policy fifo --cpus 0-1 --stats 1 -- stress-ng --cpu 8 --timeout 20s',
    'tsland run --policy ./my-policy.js -- ./server',
  ],
  takesRest: true,
  flags: [BACKEND_FLAG, ...SCHEDULING_FLAGS, TIMEOUT_FLAG],
  async run({ flags, rest }) {
    if (rest.length === 0) throw new UsageError("'tsland run' needs a command after -- (e.g. tsland run -- make -j8)");
    const [command, ...args] = rest as [string, ...string[]];
    let backend = String(flags.backend);
    if (backend === 'auto') backend = scxUnavailableReason() === null ? 'scx' : 'proc';
    if (backend === 'scx') {
      if (flags.cpus !== undefined)
        throw new UsageError('--cpus is for the signals backend (--backend proc): a sched_ext scheduler serves every CPU');
      const opts = scxOptionsFromFlags(flags);
      const started = await startAsUsage(() => runScx({ ...opts, command, args }));
      return superviseRun(started, flags, rest.join(' '), true);
    }
    const opts = optionsFromFlags(flags);
    const started = await startAsUsage(() => runManaged({ ...opts, command, args }));
    return superviseRun(started, flags, rest.join(' '), true);
  },
};
