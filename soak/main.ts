// `npm run soak -- --minutes N`: the soak's entry point. Exit status: 0 when every check passed, 1 when any
// failed (the violations are listed, and are in the record), 2 on a bad flag. Flags are checked before the
// run's machinery is even loaded, so a bad flag is answered at once. With --backend scx on a kernel without
// sched_ext, the soak runs itself in the guest (guest.ts) and reads back the record it wrote.

import { helpText, parseArgs, UsageError } from '../src/cli/command.js';
import { resolveOptions, soakCommand, type SoakOptions } from './options.js';
import { ensureTools, MissingToolsError } from './tools.js';

function log(line: string): void {
  process.stdout.write(`${new Date().toISOString().slice(11, 19)} ${line}\n`);
}

export async function main(argv: readonly string[]): Promise<number> {
  let opts: SoakOptions;
  try {
    const args = parseArgs(soakCommand, argv);
    if (args.flags.help) {
      process.stdout.write(helpText(soakCommand).replace('Usage: tsland soak', 'Usage: npm run soak --') + '\n');
      return 0;
    }
    opts = resolveOptions(args.flags);
    ensureTools(opts.install, log);
  } catch (err) {
    if (err instanceof UsageError) {
      // The shared parser names the command as `tsland soak`; this one is started through npm.
      process.stderr.write(`soak: ${err.message.replaceAll('tsland soak', 'npm run soak --')}\n`);
      return 2;
    }
    if (err instanceof MissingToolsError) {
      process.stderr.write(`soak: ${err.message}\n`);
      return 1;
    }
    throw err;
  }
  const { hasSchedExt } = await import('./scx.js');
  if (opts.backend === 'scx' && !hasSchedExt()) {
    const { soakInGuest } = await import('./guest.js');
    return soakInGuest(opts, argv, log);
  }
  const { runSoak, printSummary } = await import('./run.js');
  const record = await runSoak(opts, log);
  printSummary(record, log);
  return record.summary.passed ? 0 : 1;
}

if (process.argv[1]?.endsWith('soak/main.js')) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (err: unknown) => {
      process.stderr.write(`soak: ${err instanceof Error ? err.message : String(err)}\n`);
      process.exitCode = 1;
    },
  );
}
