// Writes docs/cli.md from the same definitions the parser uses (`npm run docs`).
import { writeFileSync } from 'node:fs';
import { commands } from './commands/index.js';
import { markdownReference } from './command.js';

export function cliReference(): string {
  const head = [
    '# CLI reference',
    '',
    'Generated from the command definitions in `src/cli/commands/` by `npm run docs`; do not edit by hand.',
    'Every command rejects an unknown flag or a bad value with one line on stderr and exit code 2.',
  ];
  return [...head, ...commands.map((c) => '\n' + markdownReference(c))].join('\n') + '\n';
}

if (process.argv[1]?.endsWith("gen-docs.js")) {
  writeFileSync(new URL('../../../docs/cli.md', import.meta.url), cliReference());
}
