// `tsland start`: load tsland as the kernel's sched_ext scheduler and schedule the whole machine (or, with
// --partial, the tasks set to SCHED_EXT) until Ctrl-C or SIGTERM, then unload cleanly.

import { START_FLAGS, scxOptionsFromFlags } from '../../backends/scx/main/flags.js';
import { startScx } from '../../backends/scx/main/managed.js';
import { startAsUsage, superviseRun } from '../../backends/session/cli.js';
import type { CommandDef } from '../command.js';
import { disableTransparentHugePages } from '../../mem/thp.js';

export const startCommand: CommandDef = {
  name: 'start',
  summary: "Load tsland as the kernel's sched_ext scheduler: a TypeScript policy schedules the whole machine.",
  usage: '[options]',
  description: [
    "Registers a small BPF program as the kernel's sched_ext scheduler (it shows as 'tsland' in",
    '/sys/kernel/sched_ext/root/ops). The kernel hands it every task that wants a CPU; it passes them to the',
    "policy on tsland's scheduler thread and places them where the policy decides. Runs until Ctrl-C or",
    "SIGTERM, then unloads: every task is back on the kernel's own scheduler. If tsland dies, the kernel",
    'unloads it at once; if a runnable task waits longer than --timeout-ms, the kernel ejects it, and',
    'tsland exits with the reason. Needs a kernel with sched_ext (CONFIG_SCHED_CLASS_EXT), root, and',
    'libbpf >= 1.4; where the kernel lacks it, `tsland guest run -- tsland start` tries it in a guest.',
  ].join('\n'),
  examples: [
    'tsland start',
    'tsland start --policy ./my-policy.js --stats 1',
    'tsland start --partial   # then: chrt --ext 0 make -j8 (util-linux >= 2.41)',
  ],
  flags: START_FLAGS,
  async run({ flags }) {
    const opts = scxOptionsFromFlags(flags);
    // This process starts no workload: nothing inherits it (mem/thp.ts says why).
    const thp = disableTransparentHugePages();
    if (thp) process.stderr.write(`tsland: warning: transparent huge pages stay on for tsland (${thp}): expect page faults\n`);
    const started = await startAsUsage(() => startScx(opts));
    process.stderr.write(
      `tsland: scheduling ${opts.partial ? 'the tasks set to SCHED_EXT' : 'every task'} with policy ${started.handle.policy} (Ctrl-C to stop)\n`,
    );
    return superviseRun(started, flags, opts.partial ? 'start --partial' : 'start', false);
  },
};
