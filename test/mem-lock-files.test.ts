// Locking the process's file mappings (src/mem/lock-files.ts): which lines of /proc/<pid>/maps count, and,
// in a child process, that the kernel then counts every page of node's code and its libraries as locked.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { parseFileMappings } from '../src/mem/lock-files.js';

const isRoot = process.getuid?.() === 0;

test('parseFileMappings keeps regular files, drops anonymous, special, device, deleted and PROT_NONE mappings', () => {
  const maps = [
    '00400000-00452000 r-xp 00000000 08:02 173521      /usr/bin/node',
    '00651000-00652000 r--p 00051000 08:02 173521      /usr/bin/node',
    '00652000-00655000 rw-p 00052000 08:02 173521      /usr/bin/node',
    '00e03000-00e24000 rw-p 00000000 00:00 0           [heap]',
    '7f1c0000-7f1c1000 ---p 00000000 08:02 135522      /usr/lib/x86_64-linux-gnu/libc.so.6',
    '7f1c1000-7f1c9000 r-xp 00001000 08:02 135522      /usr/lib/x86_64-linux-gnu/libc.so.6',
    '7f2c0000-7f2c1000 rw-s 00000000 00:0f 1050        anon_inode:[bpf-map]',
    '7f3c0000-7f3c1000 rw-s 00000000 00:05 3           /dev/zero (deleted)',
    '7f4c0000-7f4c1000 r--s 00000000 00:05 7           /dev/shm/x',
    '7f5c0000-7f5c1000 r--p 00000000 08:02 99          /tmp/gone (deleted)',
    '7ffd0000-7ffd1000 r-xp 00000000 00:00 0           [vdso]',
    '',
  ].join('\n');
  const got = parseFileMappings(maps).map((m) => `${m.start.toString(16)} ${m.perms} ${m.path}`);
  assert.deepEqual(got, [
    '400000 r-xp /usr/bin/node',
    '651000 r--p /usr/bin/node',
    '652000 rw-p /usr/bin/node',
    '7f1c1000 r-xp /usr/lib/x86_64-linux-gnu/libc.so.6',
  ]);
  assert.equal(parseFileMappings(maps)[0]!.end - parseFileMappings(maps)[0]!.start, 0x52000);
});

// In a child, so that this test process keeps nothing locked.
const CHILD = `
import { readFileSync } from 'node:fs';
import { lockFileMappings, parseFileMappings } from ${JSON.stringify(fileURLToPath(new URL('../src/mem/lock-files.js', import.meta.url)))};
const kb = (name) => Number(new RegExp('^' + name + ':\\\\s+(\\\\d+) kB', 'm').exec(readFileSync('/proc/self/status', 'utf8'))[1]);
const before = kb('VmLck');
const maps = parseFileMappings(readFileSync('/proc/self/maps', 'utf8'));
const mappedKb = maps.reduce((s, m) => s + (m.end - m.start) / 1024, 0);
const r = lockFileMappings();
const after = kb('VmLck');
console.log(JSON.stringify({ before, after, mappedKb, mappings: r.mappings, lockedBytes: r.lockedBytes, refused: r.refused, lockMs: r.lockMs }));
`;

test(
  'lockFileMappings locks every file mapping of the process (VmLck grows by their size)',
  { skip: !isRoot && 'needs root (or a RLIMIT_MEMLOCK of ~100 MiB)', timeout: 120_000 },
  () => {
    const out = spawnSync(process.execPath, ['--input-type=module', '-e', CHILD], { encoding: 'utf8' });
    assert.equal(out.status, 0, out.stderr);
    const r = JSON.parse(out.stdout.trim().split('\n').pop()!);
    assert.deepEqual(r.refused, [], 'no mapping refused');
    assert.ok(r.mappings >= 5, `mappings locked: ${r.mappings}`);
    // node's binary alone maps tens of MiB of code and read-only data
    assert.ok(r.lockedBytes > 20 * 1024 * 1024, `locked ${r.lockedBytes} bytes`);
    const grewKb = r.after - r.before;
    assert.ok(
      grewKb >= r.lockedBytes / 1024 - 64,
      `VmLck grew by ${grewKb} kB, ${r.lockedBytes / 1024} kB asked (mapped ${r.mappedKb} kB)`,
    );
  },
);
