// `tsland attach`: schedule process trees that are already running; on exit, leave them running.

import { SCHEDULING_FLAGS, optionsFromFlags } from '../../backends/proc/main/flags.js';
import { startAsUsage, superviseRun } from '../../backends/session/cli.js';
import { attachManaged } from '../../backends/proc/main/managed.js';
import { UsageError, type CommandDef } from '../command.js';

export const attachCommand: CommandDef = {
  name: 'attach',
  summary: 'Schedule process trees that are already running (as cpulimit attaches by pid).',
  usage: '--pid PID[,PID...] [options]',
  description: [
    'Schedules each given process and every process it forks, until all of them have exited or tsland gets',
    'Ctrl-C or SIGTERM; then every task is released (resumed, affinity reset) and left running. This is also',
    'how to take over a workload whose scheduler died: tasks an earlier run left stopped are resumed first.',
    'PID 1, tsland itself and its guardian are refused.',
  ].join('\n'),
  examples: ['tsland attach --pid 4242', 'tsland attach --pid 4242,4243 --policy fifo --stats 1'],
  flags: [
    { name: 'pid', type: 'list', valueName: 'PID[,PID...]', help: 'Processes whose trees to schedule (required).' },
    ...SCHEDULING_FLAGS,
  ],
  async run({ flags }) {
    const raw = flags.pid as string[] | undefined;
    if (!raw || raw.length === 0) throw new UsageError("'tsland attach' needs --pid PID[,PID...]");
    const pids = raw.map((p) => {
      const n = Number(p);
      if (!Number.isInteger(n) || n <= 0) throw new UsageError(`--pid takes process ids, got '${p}'`);
      return n;
    });
    const opts = optionsFromFlags(flags);
    const started = await startAsUsage(() => attachManaged({ ...opts, pids }));
    return superviseRun(started, flags, `attach ${pids.join(',')}`, false);
  },
};
