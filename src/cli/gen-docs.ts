// Writes the generated parts of the docs (`npm run docs`), so that nothing is written twice by hand:
//   docs/cli.md         from the command definitions the parser itself uses
//   docs/benchmarks.md  a copy of BENCHMARKS.md, the one place figures are recorded
//   docs/stats-protocol.md  the stats socket's requests and fields, from the tables the server answers with
//   docs/*.md           every `<!-- include PATH -->` block refreshed from the source file it names
// test/docs.test.ts fails when any of these is stale.
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { commands } from './commands/index.js';
import { markdownReference } from './command.js';
import { statsProtocolReference } from '../stats/protocol-doc.js';

/** The repository root: gen-docs.js sits in dist/src/cli/. */
export const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));

export function cliReference(): string {
  const head = [
    '# CLI reference',
    '',
    'Generated from the command definitions in `src/cli/commands/` by `npm run docs`; do not edit by hand.',
    'Every command rejects an unknown flag or a bad value with one line on stderr and exit code 2.',
  ];
  return [...head, ...commands.map((c) => '\n' + markdownReference(c))].join('\n') + '\n';
}

export function benchmarksPage(root = REPO_ROOT): string {
  const source = join(root, 'BENCHMARKS.md');
  const body = existsSync(source) ? readFileSync(source, 'utf8').replace(/^# .*\n/, '') : '\nNo figures recorded yet.\n';
  return [
    '# Benchmarks',
    '',
    'Copied from [BENCHMARKS.md](../BENCHMARKS.md) by `npm run docs`; edit that file, not this one.',
    body.trimEnd(),
    '',
  ].join('\n');
}

// <!-- include PATH --> or <!-- include PATH from "FIRST LINE TEXT" to "LAST LINE TEXT" -->, then anything,
// then <!-- /include -->: the block between is replaced by the file (or the lines from the one containing
// FIRST to the one containing LAST) in a fenced code block.
const INCLUDE = /<!-- include (\S+)(?: from "([^"]*)" to "([^"]*)")? -->\n[\s\S]*?<!-- \/include -->/g;

export class DocsIncludeError extends Error {
  override name = 'DocsIncludeError';
}

export function refreshIncludes(markdown: string, root = REPO_ROOT): string {
  return markdown.replace(INCLUDE, (_all, path: string, from?: string, to?: string) => {
    const file = join(root, path);
    if (!existsSync(file)) throw new DocsIncludeError(`docs include names a missing file: ${path}`);
    let lines = readFileSync(file, 'utf8').trimEnd().split('\n');
    if (from !== undefined && to !== undefined) {
      const a = lines.findIndex((l) => l.includes(from));
      const b = lines.findIndex((l, i) => i >= a && l.includes(to));
      if (a < 0 || b < 0) throw new DocsIncludeError(`docs include: '${from}' .. '${to}' not found in ${path}`);
      lines = lines.slice(a, b + 1);
    }
    const lang = path.endsWith('.ts') ? 'ts' : path.endsWith('.js') ? 'js' : '';
    const range = from !== undefined ? ` from "${from}" to "${to}"` : '';
    return `<!-- include ${path}${range} -->\n\`\`\`${lang}\n${lines.join('\n')}\n\`\`\`\n<!-- /include -->`;
  });
}

/** Every generated docs file with the content it should have, keyed by path relative to the root. */
export function generatedDocs(root = REPO_ROOT): Map<string, string> {
  const out = new Map<string, string>([
    ['docs/cli.md', cliReference()],
    ['docs/benchmarks.md', benchmarksPage(root)],
    ['docs/stats-protocol.md', statsProtocolReference()],
  ]);
  const docsDir = join(root, 'docs');
  if (existsSync(docsDir)) {
    for (const name of readdirSync(docsDir)) {
      const rel = `docs/${name}`;
      if (!name.endsWith('.md') || out.has(rel)) continue;
      const text = readFileSync(join(root, rel), 'utf8');
      if (text.includes('<!-- include ')) out.set(rel, refreshIncludes(text, root));
    }
  }
  return out;
}

if (process.argv[1]?.endsWith('gen-docs.js')) {
  for (const [rel, text] of generatedDocs()) writeFileSync(join(REPO_ROOT, rel), text);
}
