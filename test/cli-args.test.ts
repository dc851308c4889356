import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseArgs, helpText, UsageError, type CommandDef } from '../src/cli/command.js';

const def: CommandDef = {
  name: 'demo-cmd',
  summary: 'A command used only by this test.',
  usage: '[options] -- cmd',
  takesRest: true,
  flags: [
    { name: 'cpus', type: 'number', integer: true, min: 1, max: 64, default: 2, help: 'CPUs.' },
    { name: 'policy', type: 'string', choices: ['fifo', 'rustland'], default: 'rustland', help: 'Policy.' },
    { name: 'lock', type: 'boolean', default: true, help: 'Lock memory.' },
    { name: 'pid', type: 'list', valueName: 'PID[,PID...]', help: 'Pids.' },
  ],
  run: () => 0,
};

test('defaults apply and values convert', () => {
  const a = parseArgs(def, ['--cpus', '4', '--policy=fifo', '--no-lock', '--pid', '1,2', '--', 'sleep', '1']);
  assert.deepEqual(a.flags, { cpus: 4, policy: 'fifo', lock: false, pid: ['1', '2'] });
  assert.deepEqual(a.rest, ['sleep', '1']);
  assert.deepEqual(parseArgs(def, []).flags, { cpus: 2, policy: 'rustland', lock: true });
});

test('bad input throws one UsageError naming the flag', () => {
  const bad: [string[], RegExp][] = [
    [['--nope'], /unknown option '--nope'/],
    [['--cpus', 'x'], /--cpus takes a number/],
    [['--cpus', '1.5'], /--cpus takes a whole number/],
    [['--cpus', '0'], /--cpus must be at least 1/],
    [['--cpus', '65'], /--cpus must be at most 64/],
    [['--cpus'], /--cpus needs a value/],
    [['--policy', 'x'], /--policy must be one of fifo, rustland/],
    [['--lock=yes'], /--lock takes no value/],
    [['--pid', '1,,2'], /--pid takes a comma-separated list/],
    [['stray'], /unexpected argument 'stray'/],
  ];
  for (const [argv, re] of bad) {
    assert.throws(
      () => parseArgs(def, argv),
      (e: unknown) => e instanceof UsageError && re.test(e.message),
      argv.join(' '),
    );
  }
});

test('help lists every flag with its default', () => {
  const text = helpText(def);
  for (const f of def.flags) assert.match(text, new RegExp(`--${f.name}`));
  assert.match(text, /Default: 2\./);
});
