// Transparent huge pages off for `tsland start` (mem/thp.ts), on the real kernel, in a child process so
// that the test runner keeps its own setting.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const THP = fileURLToPath(new URL('../src/mem/thp.js', import.meta.url));

test('disableTransparentHugePages turns THP off for the process, as /proc/self/status shows', () => {
  const out = execFileSync(
    process.execPath,
    [
      '--input-type=module',
      '-e',
      `import { readFileSync } from 'node:fs';
       import { disableTransparentHugePages, transparentHugePagesDisabled } from ${JSON.stringify(THP)};
       const line = () => /THP_enabled:\\s*(\\d)/.exec(readFileSync('/proc/self/status', 'utf8'))?.[1] ?? 'absent';
       const before = [transparentHugePagesDisabled(), line()];
       const why = disableTransparentHugePages();
       console.log(JSON.stringify({ before, why, after: [transparentHugePagesDisabled(), line()] }));`,
    ],
    { encoding: 'utf8' },
  );
  const r = JSON.parse(out) as { before: [boolean, string]; why: string; after: [boolean, string] };
  assert.equal(r.before[0], false, 'on before');
  assert.equal(r.why, '', 'no error');
  assert.equal(r.after[0], true, 'PR_GET_THP_DISABLE reads 1 after');
  // Kernels since 6.8 (or so) print THP_enabled; where they do, it must agree.
  if (r.after[1] !== 'absent') assert.equal(r.after[1], '0', '/proc/self/status: THP_enabled 0');
});
