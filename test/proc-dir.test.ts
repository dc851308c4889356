// /proc by bytes (the task-creation path): directory records parsed by hand, paths built digit by digit,
// checked against what Node's own fs reads from the same files.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { test } from 'node:test';
import fc from 'fast-check';
import { parseDirentNumbers, PROC_STAT, ProcDir } from '../src/backends/os/proc-dir.js';
import { sys } from '../src/backends/os/sys.js';
import { waitFor, stateOf } from './fixtures/proc-util.js';

/** linux_dirent64 records for `names`, laid out as getdents64 does (8-byte aligned records). */
function dirents(names: readonly string[]): Uint8Array {
  const parts: Buffer[] = [];
  for (const name of names) {
    const reclen = Math.ceil((19 + name.length + 1) / 8) * 8;
    const rec = Buffer.alloc(reclen);
    rec.writeBigUInt64LE(123n, 0);
    rec.writeBigInt64LE(456n, 8);
    rec.writeUInt16LE(reclen, 16);
    rec.writeUInt8(4, 18);
    rec.write(name, 19, 'latin1');
    parts.push(rec);
  }
  return new Uint8Array(Buffer.concat(parts));
}

test('parseDirentNumbers: whole numbers only, in order; counts past the end of out', () => {
  const buf = dirents(['.', '..', '42', '7', 'abc', '12x', '4194304']);
  const out = new Int32Array(8);
  assert.equal(parseDirentNumbers(buf, buf.length, out, 0), 3);
  assert.deepEqual([...out.subarray(0, 3)], [42, 7, 4194304]);
  const small = new Int32Array(2);
  assert.equal(parseDirentNumbers(buf, buf.length, small, 0), 3, 'the count says how much room is needed');
  assert.deepEqual([...small], [42, 7]);
  fc.assert(
    fc.property(
      fc.array(fc.oneof(fc.integer({ min: 0, max: 0x3fffffff }).map(String), fc.constantFrom('.', '..', 'fd', 'x1')), {
        maxLength: 60,
      }),
      (names) => {
        const bytes = dirents(names);
        const got = new Int32Array(64);
        const n = parseDirentNumbers(bytes, bytes.length, got, 0);
        const want = names.filter((name) => /^\d+$/.test(name)).map(Number);
        assert.deepEqual([...got.subarray(0, n)], want);
      },
    ),
  );
});

test('ProcDir: thread lists, stat and children files match what fs reads', async () => {
  const s = sys();
  const dir = new ProcDir(s);
  const child = spawn('sh', ['-c', 'sleep 30 & sleep 30 & wait'], { stdio: 'ignore', detached: true });
  const killGroup = (): void => {
    try {
      process.kill(-child.pid!, 'SIGKILL');
    } catch {
      // already gone
    }
  };
  try {
    const pid = process.pid;
    const tids = new Int32Array(256);
    const n = dir.listTids(pid, tids);
    const want = readdirSync(`/proc/${pid}/task`).map(Number);
    assert.equal(n, want.length);
    assert.equal(tids[0], pid, 'the process itself comes first');
    assert.deepEqual(
      [...tids.subarray(0, n)].sort((a, b) => a - b),
      want.sort((a, b) => a - b),
    );
    // Too small a list: the count still tells the real number, and what fits is stored.
    const two = new Int32Array(2);
    assert.equal(dir.listTids(pid, two), want.length);

    const fd = dir.openFile(pid, PROC_STAT);
    assert.ok(fd >= 0);
    const buf = new Uint8Array(4096);
    const len = s.pread(fd, buf, buf.length, 0);
    s.close(fd);
    const fromFs = readFileSync(`/proc/${pid}/stat`, 'latin1');
    // Fields up to the start time do not change between the two reads.
    const head = (text: string) => text.split(' ').slice(0, 3).join(' ');
    assert.equal(head(Buffer.from(buf.subarray(0, len)).toString('latin1')), head(fromFs));

    await waitFor(
      'two sleeps forked',
      () => readFileSync(`/proc/${child.pid}/task/${child.pid}/children`, 'utf8').trim().split(' ').length === 2,
    );
    const cfd = dir.openChildren(child.pid!, child.pid!);
    assert.ok(cfd >= 0);
    const clen = s.pread(cfd, buf, buf.length, 0);
    s.close(cfd);
    assert.equal(
      Buffer.from(buf.subarray(0, clen)).toString('latin1'),
      readFileSync(`/proc/${child.pid}/task/${child.pid}/children`, 'latin1'),
    );

    killGroup();
    await waitFor('the shell to exit', () => stateOf(child.pid!) === '' || child.exitCode !== null || child.signalCode !== null);
    await waitFor('the shell to be reaped', () => stateOf(child.pid!) === '');
    assert.equal(dir.listTids(child.pid!, tids), -1, 'a process that is gone has no threads');
    assert.equal(dir.openFile(child.pid!, PROC_STAT), -1);
  } finally {
    killGroup();
    dir.close();
  }
});
