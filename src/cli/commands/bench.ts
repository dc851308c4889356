// `tsland bench NAME`: runs one of the repository's benchmarks (the same programs as `npm run bench:NAME`),
// each of which prints its table and writes bench/results/NAME.json.

import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { UsageError, type CommandDef } from '../command.js';

const BENCH_DIR = fileURLToPath(new URL('../../../bench/', import.meta.url));
const PACKAGE_JSON = new URL('../../../../package.json', import.meta.url);
const SCRIPT_PREFIX = 'bench:';

/** Node flags of each benchmark, read from its `npm run bench:NAME` script so the two never differ. */
function benchScripts(): Map<string, string[]> {
  const out = new Map<string, string[]>();
  let scripts: Record<string, string>;
  try {
    scripts = (JSON.parse(readFileSync(PACKAGE_JSON, 'utf8')) as { scripts?: Record<string, string> }).scripts ?? {};
  } catch {
    return out;
  }
  for (const [key, cmd] of Object.entries(scripts)) {
    if (!key.startsWith(SCRIPT_PREFIX)) continue;
    const name = key.slice(SCRIPT_PREFIX.length);
    if (!existsSync(`${BENCH_DIR}${name}.js`)) continue;
    out.set(
      name,
      cmd.split(/\s+/).filter((w) => w.startsWith('--')),
    );
  }
  return out;
}

export function availableBenchmarks(): string[] {
  return [...benchScripts().keys()].sort();
}

export const benchCommand: CommandDef = {
  name: 'bench',
  summary: 'Run one of the benchmarks (alloc, mem, sched, proc) and print its table.',
  usage: 'NAME | --list',
  description:
    'Runs the compiled benchmark bench/NAME.js from a source checkout (they are not part of the published ' +
    'package). Each runs its peers side by side, prints a table and writes bench/results/NAME.json; ' +
    'BENCHMARKS.md holds the recorded figures.',
  maxPositionals: 1,
  flags: [{ name: 'list', type: 'boolean', default: false, help: 'List the benchmarks available here and exit.' }],
  examples: ['tsland bench --list', 'tsland bench alloc', 'npm run bench:sched'],
  async run({ flags, positionals }) {
    const scripts = benchScripts();
    const names = [...scripts.keys()].sort();
    if (flags.list) {
      process.stdout.write(names.length ? names.join('\n') + '\n' : 'no benchmarks here (they ship with the source checkout)\n');
      return 0;
    }
    const name = positionals[0];
    if (!name) throw new UsageError(`name a benchmark: ${names.join(', ') || 'none available here'}`);
    if (!names.includes(name))
      throw new UsageError(
        `no benchmark '${name}'; available: ${names.join(', ') || 'none (run from a source checkout after npm run build)'}`,
      );
    const args = [...scripts.get(name)!, `${BENCH_DIR}${name}.js`];
    const child = spawn(process.execPath, args, { stdio: 'inherit' });
    const forward = (sig: NodeJS.Signals) => child.kill(sig);
    process.on('SIGINT', forward);
    process.on('SIGTERM', forward);
    try {
      return await new Promise<number>((resolve) => child.once('exit', (code, sig) => resolve(code ?? (sig ? 128 + 15 : 1))));
    } finally {
      process.off('SIGINT', forward);
      process.off('SIGTERM', forward);
    }
  },
};
