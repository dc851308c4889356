// bench:scx's command line: it boots a guest for 30 to 45 minutes, so --help and a typo must answer at once.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const BENCH = fileURLToPath(new URL('../bench/scx.js', import.meta.url));
const run = (...args: string[]) => spawnSync(process.execPath, [BENCH, ...args], { encoding: 'utf8', timeout: 30_000 });

test('bench:scx --help prints the options and boots nothing', () => {
  const r = run('--help');
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /^Usage: npm run bench:scx/);
  assert.match(r.stdout, /--no-peers/);
  assert.doesNotMatch(r.stdout, /booting/);
});

test('bench:scx: an unknown flag or a flag without its value is a one-line error, exit 2', () => {
  for (const [args, why] of [
    [['--bogus'], /unknown argument '--bogus'/],
    [['--no-peers', '--seconds'], /--seconds needs a value/],
  ] as const) {
    const r = run(...args);
    assert.equal(r.status, 2, `${args.join(' ')}: ${r.stdout}${r.stderr}`);
    assert.match(r.stderr, why);
    assert.equal(r.stderr.trim().split('\n').length, 1);
  }
});
