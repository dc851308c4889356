import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { commands } from '../src/cli/commands/index.js';
import { start } from './fixtures/spawn.js';

const MAIN = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));

async function tsland(args: string[]): Promise<{ code: number; out: string; err: string }> {
  const p = start(process.execPath, [MAIN, ...args]);
  try {
    const code = await p.exited;
    return { code, out: p.stdout(), err: p.stderr() };
  } finally {
    p.kill('SIGKILL');
  }
}

function assertUsageError(r: { code: number; out: string; err: string }, what: string): void {
  assert.equal(r.code, 2, `${what}: exit code (stderr: ${r.err})`);
  const lines = r.err.trimEnd().split('\n');
  assert.equal(lines.length, 1, `${what}: one line, got:\n${r.err}`);
  assert.match(lines[0]!, /^tsland: /, what);
  assert.doesNotMatch(r.err, /^\s+at /m, `${what}: no stack trace`);
  assert.equal(r.out, '', `${what}: nothing on stdout`);
}

test('every registered command rejects an unknown flag through the real binary', async () => {
  assert.ok(commands.length > 0);
  const results = await Promise.all(commands.map((c) => tsland([c.name, '--definitely-not-a-flag'])));
  results.forEach((r, i) => {
    assertUsageError(r, `tsland ${commands[i]!.name} --definitely-not-a-flag`);
    assert.match(r.err, /unknown option '--definitely-not-a-flag'/);
  });
});

test('every number flag rejects a value that is not a number', async () => {
  const cases = commands.flatMap((c) =>
    c.flags.filter((f) => f.type === 'number').map((f) => [c.name, `--${f.name}`, 'lots'] as const),
  );
  const results = await Promise.all(cases.map((argv) => tsland([...argv])));
  results.forEach((r, i) => {
    assertUsageError(r, cases[i]!.join(' '));
    assert.ok(r.err.includes(cases[i]![1]), `names the flag: ${r.err}`);
  });
});

test('an unknown command is a usage error too', async () => {
  assertUsageError(await tsland(['frobnicate']), 'tsland frobnicate');
});

test('tsland start --wait: an unknown way is refused, and park is refused with --partial, each as one line before any loading', async () => {
  const [bogus, partial] = await Promise.all([
    tsland(['start', '--wait', 'spin']),
    tsland(['start', '--wait', 'park', '--partial']),
  ]);
  assertUsageError(bogus, 'tsland start --wait spin');
  assert.match(bogus.err, /--wait must be one of park, epoll; got 'spin'/);
  assertUsageError(partial, 'tsland start --wait park --partial');
  assert.match(partial.err, /park needs the whole machine/);
});
