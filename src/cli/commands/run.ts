// `tsland run`: start a command and schedule it and every process it forks, until it exits.

import { SCHEDULING_FLAGS, optionsFromFlags } from '../../backends/proc/main/flags.js';
import { startAsUsage, superviseRun } from '../../backends/session/cli.js';
import { runManaged } from '../../backends/proc/main/managed.js';
import { UsageError, type CommandDef } from '../command.js';

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
  ].join('\n'),
  examples: [
    'tsland run -- make -j8',
    'tsland run --policy fifo --cpus 0-1 --stats 1 -- stress-ng --cpu 8 --timeout 20s',
    'tsland run --policy ./my-policy.js -- ./server',
  ],
  takesRest: true,
  flags: SCHEDULING_FLAGS,
  async run({ flags, rest }) {
    if (rest.length === 0) throw new UsageError("'tsland run' needs a command after -- (e.g. tsland run -- make -j8)");
    const opts = optionsFromFlags(flags);
    const [command, ...args] = rest as [string, ...string[]];
    const started = await startAsUsage(() => runManaged({ ...opts, command, args }));
    return superviseRun(started, flags, rest.join(' '), true);
  },
};
