// Every import of src/ runs one way: down the layers, never up. A module may import its own layer and the
// ones below it; the ground (`base/`) imports nothing of ours. Within `backends/`, a backend may import the
// parts every real backend shares (`backends/session/`, `backends/os/`) but never another backend.
// The facade `src/index.ts` re-exports the public parts and is imported by nobody.

import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const SRC = resolve(dirname(fileURLToPath(import.meta.url)), '../../src');

/** Lowest first. Same rank: may import each other. */
const LAYERS: Record<string, number> = {
  base: 0,
  arena: 1,
  ring: 1,
  mem: 2,
  // The sched_ext guest (qemu, Debian's kernel): the sched_ext backend finds its cached libbpf through it.
  guest: 2,
  sched: 3,
  stats: 4,
  backends: 5,
  demo: 6,
  cli: 7,
};
/** Parts of backends/ that every backend may import (and that import no backend themselves). */
const BACKEND_SHARED = new Set(['session', 'os']);

function sources(dir: string, out: string[] = []): string[] {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) sources(path, out);
    else if (name.endsWith('.ts')) out.push(path);
  }
  return out;
}

/** Relative imports (static and dynamic, `new URL(...)` module paths too) of one file, as src-relative paths. */
export function importsOf(file: string, text: string): string[] {
  const out: string[] = [];
  const re = /(?:\bfrom\s*|\bimport\s*\(\s*|\bnew URL\(\s*)'(\.{1,2}\/[^']+\.js)'/g;
  for (let m = re.exec(text); m; m = re.exec(text)) {
    out.push(relative(SRC, resolve(dirname(file), m[1]!)).replace(/\.js$/, '.ts'));
  }
  return out;
}

/** Why `from` (src-relative) may not import `to`, or null when it may. */
export function upwardImport(from: string, to: string): string | null {
  const [fromTop, fromSub] = from.split('/');
  const [toTop, toSub] = to.split('/');
  if (to === 'index.ts') return 'the facade src/index.ts is imported by nobody';
  if (!fromTop || !toTop || !(toTop in LAYERS)) return `${to} is in no layer`;
  if (from === 'index.ts') return null;
  if (!(fromTop in LAYERS)) return `${from} is in no layer`;
  if (LAYERS[toTop]! > LAYERS[fromTop]!) return `${fromTop}/ may not import ${toTop}/ (a layer above it)`;
  if (fromTop === 'backends' && toTop === 'backends' && fromSub !== toSub) {
    if (!toSub || !BACKEND_SHARED.has(toSub)) return `backends/${fromSub}/ may not import another backend (backends/${toSub}/)`;
    if (fromSub && BACKEND_SHARED.has(fromSub) && !BACKEND_SHARED.has(toSub))
      return `backends/${fromSub}/ is shared and imports no backend`;
  }
  return null;
}

test('no module of src/ imports from a layer above its own', () => {
  const violations: string[] = [];
  let checked = 0;
  for (const file of sources(SRC)) {
    const from = relative(SRC, file);
    for (const to of importsOf(file, readFileSync(file, 'utf8'))) {
      checked++;
      const why = upwardImport(from, to);
      if (why) violations.push(`${from} -> ${to}: ${why}`);
    }
  }
  assert.ok(checked > 100, `read ${checked} imports: the import pattern no longer matches the sources`);
  assert.deepEqual(violations, []);
});

test('the layer rule catches what it is for', () => {
  assert.match(upwardImport('mem/health.ts', 'sched/counters.ts') ?? '', /layer above/);
  assert.match(upwardImport('stats/observe.ts', 'cli/command.ts') ?? '', /layer above/);
  assert.match(upwardImport('backends/proc/x.ts', 'cli/command.ts') ?? '', /layer above/);
  assert.match(upwardImport('backends/scx/x.ts', 'backends/proc/y.ts') ?? '', /another backend/);
  assert.match(upwardImport('backends/session/x.ts', 'backends/proc/y.ts') ?? '', /another backend|imports no backend/);
  assert.match(upwardImport('cli/main.ts', 'index.ts') ?? '', /facade/);
  assert.equal(upwardImport('backends/proc/x.ts', 'backends/session/y.ts'), null);
  assert.equal(upwardImport('sched/lock.ts', 'mem/lock.ts'), null);
  assert.equal(upwardImport('cli/commands/run.ts', 'backends/proc/index.ts'), null);
  assert.deepEqual(importsOf(join(SRC, 'mem/x.ts'), "import { a } from '../base/b.js';\nconst m = await import('./c.js');"), [
    'base/b.ts',
    'mem/c.ts',
  ]);
});
