import { commands } from './commands/index.js';
import { helpText, parseArgs, UsageError, type CommandDef } from './command.js';

function topHelp(): string {
  const width = Math.max(...commands.map((c) => c.name.length));
  return [
    'Usage: tsland <command> [options]',
    '',
    'Write Linux CPU schedulers in TypeScript that run in user space.',
    '',
    'Commands:',
    ...commands.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
    '',
    "Run 'tsland <command> --help' for a command's options.",
  ].join('\n');
}

export async function main(argv: readonly string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(topHelp() + '\n');
    return name === undefined ? 2 : 0;
  }
  if (name === '--version') {
    const { readFileSync } = await import('node:fs');
    const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string };
    process.stdout.write(pkg.version + '\n');
    return 0;
  }
  const def: CommandDef | undefined = commands.find((c) => c.name === name);
  try {
    if (!def) throw new UsageError(`unknown command '${name}' (see tsland --help)`);
    const args = parseArgs(def, rest);
    if (args.flags.help) {
      process.stdout.write(helpText(def) + '\n');
      return 0;
    }
    return await def.run(args);
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`tsland: ${err.message}\n`);
      return 2;
    }
    throw err;
  }
}
