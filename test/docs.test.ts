import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { generatedDocs, REPO_ROOT, refreshIncludes, DocsIncludeError } from '../src/cli/gen-docs.js';
import { commands } from '../src/cli/commands/index.js';

test('generated docs are up to date (run `npm run docs` when this fails)', () => {
  for (const [rel, expected] of generatedDocs()) {
    const file = join(REPO_ROOT, rel);
    assert.ok(existsSync(file), `${rel} is missing`);
    assert.equal(readFileSync(file, 'utf8'), expected, `${rel} is stale: run npm run docs`);
  }
});

test('the CLI reference names every command and flag', () => {
  const cli = readFileSync(join(REPO_ROOT, 'docs/cli.md'), 'utf8');
  for (const c of commands) {
    assert.match(cli, new RegExp(`^## tsland ${c.name}$`, 'm'), c.name);
    for (const f of c.flags) assert.ok(cli.includes(`--${f.name}`), `${c.name} --${f.name}`);
  }
});

test('includes are refreshed from their source and a missing source is reported', () => {
  const md = '<!-- include package.json from "name" to "version" -->\nold\n<!-- /include -->';
  const out = refreshIncludes(md);
  assert.match(out, /```\n {2}"name": "tsland",\n {2}"version"/);
  assert.throws(() => refreshIncludes('<!-- include nope/missing.ts -->\n<!-- /include -->'), DocsIncludeError);
});

test('every relative link in the README and docs points at a file that exists', () => {
  const pages = [
    'README.md',
    ...readdirSync(join(REPO_ROOT, 'docs'))
      .filter((f) => f.endsWith('.md'))
      .map((f) => `docs/${f}`),
  ];
  for (const page of pages) {
    const text = readFileSync(join(REPO_ROOT, page), 'utf8');
    for (const m of text.matchAll(/\]\(([^)#\s]+)(#[^)]*)?\)/g)) {
      const target = m[1]!;
      if (/^[a-z]+:/.test(target)) continue;
      assert.ok(existsSync(join(REPO_ROOT, dirname(page), target)), `${page} links to missing ${target}`);
    }
  }
});

test('the docs cover the concepts and draw the architecture', () => {
  const concepts = readFileSync(join(REPO_ROOT, 'docs/concepts.md'), 'utf8');
  for (const h of ['## The arena', '## The hot-path rule', '## The policy API', '## Backends', '## The guardian'])
    assert.ok(concepts.includes(h), h);
  assert.match(readFileSync(join(REPO_ROOT, 'docs/architecture.md'), 'utf8'), /```mermaid\nflowchart/);
  const readme = readFileSync(join(REPO_ROOT, 'README.md'), 'utf8');
  for (const link of ['docs/concepts.md', 'docs/architecture.md', 'docs/cli.md', 'docs/policy-guide.md', 'BENCHMARKS.md'])
    assert.ok(readme.includes(`](${link})`), link);
  assert.match(readme, /npm install && npm start/);
});
