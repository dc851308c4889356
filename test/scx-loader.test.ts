// The loader's checks that need no sched_ext kernel: the one-line errors a user sees where loading cannot
// work, and the BTF reader on the running kernel's own BTF.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { Btf } from '../src/backends/scx/btf.js';
import { openLibbpf } from '../src/backends/scx/libbpf.js';
import { loadScx, preflight, SCX_SYSFS, ScxLoadError } from '../src/backends/scx/loader.js';

const hasScx = existsSync(SCX_SYSFS);

test(
  'a kernel without sched_ext: one line that names the alternatives, nothing loaded',
  { skip: hasScx && 'this kernel has sched_ext' },
  () => {
    assert.throws(
      () => preflight(),
      (err: Error) => {
        assert.ok(err instanceof ScxLoadError);
        assert.match(err.message, /has no sched_ext \(CONFIG_SCHED_CLASS_EXT\)/);
        assert.match(err.message, /--backend proc/);
        assert.match(err.message, /tsland guest run/);
        assert.doesNotMatch(err.message, /\n/);
        return true;
      },
    );
    assert.throws(() => loadScx(), /has no sched_ext/);
  },
);

function withLibbpf(path: string, fn: () => void): void {
  const saved = process.env.TSLAND_LIBBPF;
  process.env.TSLAND_LIBBPF = path;
  try {
    fn();
  } finally {
    if (saved === undefined) delete process.env.TSLAND_LIBBPF;
    else process.env.TSLAND_LIBBPF = saved;
  }
}

test('libbpf missing: one line naming the package', () => {
  withLibbpf('/nonexistent/libbpf.so.1', () => {
    assert.throws(
      () => openLibbpf(),
      (err: Error) => {
        assert.match(err.message, /^libbpf\.so\.1 not found/);
        assert.match(err.message, /libbpf1 from bookworm-backports/);
        return true;
      },
    );
  });
});

const systemLibbpf = [
  '/usr/lib/x86_64-linux-gnu/libbpf.so.1',
  '/usr/lib/aarch64-linux-gnu/libbpf.so.1',
  '/usr/lib64/libbpf.so.1',
].find((p) => existsSync(p));

test('libbpf older than 1.4 is refused with the package to install', { skip: !systemLibbpf && 'no system libbpf.so.1' }, (t) => {
  withLibbpf(systemLibbpf!, () => {
    let lib;
    try {
      lib = openLibbpf();
    } catch (err) {
      assert.match((err as Error).message, /^libbpf \d+\.\d+ at .* is too old \(need >= 1\.4\): install libbpf >= 1\.4/);
      return;
    }
    t.skip(`the system's libbpf is ${lib.version}: new enough`);
  });
});

test(
  'the BTF reader reads the running kernel: enumerators and struct members',
  { skip: !existsSync('/sys/kernel/btf/vmlinux') && 'no kernel BTF' },
  () => {
    const btf = new Btf(readFileSync('/sys/kernel/btf/vmlinux'));
    assert.equal(btf.enumValue('BPF_MAP_TYPE_RINGBUF'), 27);
    assert.equal(btf.enumValue('BPF_MAP_TYPE_USER_RINGBUF'), 31);
    assert.equal(btf.enumValue('BPF_RB_AVAIL_DATA'), 0);
    const list = btf.struct('list_head');
    assert.deepEqual(
      list?.members.map((m) => [m.name, m.bitOffset / 8, m.sizeBytes]),
      [
        ['next', 0, 8],
        ['prev', 8, 8],
      ],
    );
  },
);
