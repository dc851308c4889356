// The committed bpf/tsland.bpf.o is built from the committed sources: its stamp records their hash (checked
// without clang), and where clang and the same vmlinux.h are at hand, a rebuild gives the same bytes.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import {
  BUILD_DIR,
  compile,
  findClang,
  OBJECT_PATH,
  readStamp,
  sha256,
  sourcesHash,
  vmlinuxHeader,
} from '../src/backends/scx/build-bpf.js';

test('bpf/tsland.bpf.o is built from the current sources (stamp; no clang needed)', () => {
  const stamp = readStamp();
  assert.ok(stamp, 'bpf/tsland.bpf.o.stamp exists');
  assert.equal(stamp.sourcesSha256, sourcesHash(), 'the BPF sources changed since the object was built: run npm run build:bpf');
  assert.equal(stamp.objectSha256, sha256(readFileSync(OBJECT_PATH)), 'the object is not the one the stamp describes');
});

function headerForRebuild(withClang: boolean): string | null {
  const candidates = [process.env.TSLAND_VMLINUX_H, join(BUILD_DIR, 'include', 'vmlinux.h')];
  for (const c of candidates) if (c && existsSync(c)) return c;
  if (!withClang) return null;
  // Else dump it from the guest kernel's BTF, as npm run build:bpf does (CI has the guest set up and clang
  // installed, so the committed object is checked there too).
  try {
    return vmlinuxHeader();
  } catch {
    return null;
  }
}

const clang = findClang();
const header = headerForRebuild(clang !== null);
const stamp = readStamp();
const sameInputs = !!(
  clang &&
  header &&
  stamp &&
  stamp.clang === clang.version &&
  stamp.vmlinuxHeaderSha256 === sha256(readFileSync(header))
);
const skip = !clang
  ? 'clang >= 16 not installed'
  : !header
    ? 'no vmlinux.h (set TSLAND_VMLINUX_H, or run tsland guest setup for its kernel)'
    : !sameInputs
      ? 'clang or vmlinux.h differ from the ones the object was built with'
      : false;

test('a rebuild with the same clang and vmlinux.h gives the committed object byte for byte', { skip }, () => {
  const out = join(BUILD_DIR, 'rebuild-check.bpf.o');
  try {
    compile(out, header!, clang!);
    assert.equal(sha256(readFileSync(out)), sha256(readFileSync(OBJECT_PATH)), 'rebuilt object differs: run npm run build:bpf');
  } finally {
    rmSync(out, { force: true });
  }
});
