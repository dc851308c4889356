// bench:peers' logic without the network or a build: which linux-source package is chosen, what is unpacked
// from it, when a cached build counts as complete, which clang builds it, what a missing host package's error
// says, and which of make's lines become progress lines.

import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { parseStanzas } from '../src/guest/apt.js';
import {
  buildPackages,
  cachedPeers,
  chooseLinuxSource,
  clangCandidates,
  clangMajor,
  errorLines,
  installedFromDpkgQuery,
  kernelSeries,
  makeMilestone,
  manifestProblem,
  missingPackages,
  missingPackagesMessage,
  parsePeersArgs,
  PEERS_MANIFEST,
  tarMembers,
  type PeersManifest,
} from '../bench/scx/peers.js';

// Shaped like `apt-cache show` of trixie-backports' linux-source packages (December 2026), plus a later
// series and an upload of 7.3 that is newer than the first.
const SOURCES = `Package: linux-source
Version: 7.3.4-1~bpo13+1
Depends: linux-source-7.3 (= 7.3.4-1~bpo13+1)

Package: linux-source-7.2
Version: 7.2.9-1~bpo13+1
Depends: binutils, xz-utils
Size: 160000000

Package: linux-source-7.3
Version: 7.3.4-1~bpo13+1
Depends: binutils, xz-utils
Size: 166780612

Package: linux-source-7.3
Version: 7.3.10-1~bpo13+1
Size: 166900000

Package: linux-source-7.10
Version: 7.10.1-1~bpo13+1
Size: 170000000
`;

test('the kernel series of a source package and of a guest kernel release', () => {
  assert.equal(kernelSeries('linux-source-7.3'), '7.3');
  assert.equal(kernelSeries('7.3.4+deb13-amd64'), '7.3');
  assert.equal(kernelSeries('7.10.1-amd64'), '7.10');
  assert.equal(kernelSeries('linux-source'), null);
  assert.equal(kernelSeries('linux-source-7.3-rt'), null);
});

test("the linux-source package is the newest of the guest kernel's series, else the newest of all", () => {
  const stanzas = parseStanzas(SOURCES);
  const ofGuest = chooseLinuxSource(stanzas, '7.3.4+deb13-amd64');
  assert.equal(ofGuest?.Package, 'linux-source-7.3');
  assert.equal(ofGuest?.Version, '7.3.10-1~bpo13+1', '7.3.10 sorts after 7.3.4');
  assert.equal(chooseLinuxSource(stanzas, '7.2.9+deb13-amd64')?.Package, 'linux-source-7.2');
  // No guest kernel, or one whose series the suite lacks: the newest of all; 7.10 is newer than 7.3.
  assert.equal(chooseLinuxSource(stanzas, null)?.Package, 'linux-source-7.10');
  assert.equal(chooseLinuxSource(stanzas, '6.12.8-amd64')?.Package, 'linux-source-7.10');
  // The metapackage alone is not a source.
  assert.equal(chooseLinuxSource(parseStanzas(SOURCES.split('\n\n')[0]!), null), null);
  assert.equal(chooseLinuxSource([], '7.3.4+deb13-amd64'), null);
});

test('only the parts of the tree the build reads are unpacked', () => {
  const members = tarMembers('linux-source-7.3');
  assert.deepEqual(members, [
    'linux-source-7.3/tools',
    'linux-source-7.3/scripts/bpf_doc.py',
    'linux-source-7.3/kernel/bpf/disasm.c',
    'linux-source-7.3/kernel/bpf/disasm.h',
  ]);
  for (const m of members) assert.ok(!m.includes('*'), `${m}: tar takes the names literally`);
});

const SHA = 'a'.repeat(64);

function manifest(over: Partial<PeersManifest> = {}): PeersManifest {
  return {
    version: '7.3.4',
    sourcePackage: 'linux-source-7.3',
    packageVersion: '7.3.4-1~bpo13+1',
    btfKernel: '7.3.4+deb13-amd64',
    clang: 'Debian clang version 22.1.8',
    binaries: {
      scx_simple: { sha256: SHA, bytes: 100 },
      scx_userland: { sha256: SHA, bytes: 200 },
      scx_qmap: { sha256: SHA, bytes: 300 },
    },
    skipped: {},
    downloadBytes: 166780612,
    buildSeconds: 60,
    builtAt: '2026-12-03T10:12:24.605Z',
    ...over,
  };
}

test('a cached build is complete only when its manifest and every binary it lists agree', () => {
  const sizes: Record<string, number> = { scx_simple: 100, scx_userland: 200, scx_qmap: 300 };
  const bytesOf = (name: string): number | null => sizes[name] ?? null;
  assert.equal(manifestProblem(manifest(), bytesOf), null);
  assert.equal(manifestProblem(null, bytesOf), 'no manifest');
  assert.equal(manifestProblem('garbage', bytesOf), 'no manifest');
  assert.match(manifestProblem(manifest({ version: '' }), bytesOf)!, /no version/);
  assert.match(manifestProblem({ ...manifest(), btfKernel: undefined }, bytesOf)!, /no btfKernel/);
  // scx_qmap is optional: a build without it is complete; one without scx_userland is not.
  const noQmap = manifest({ binaries: { scx_simple: { sha256: SHA, bytes: 100 }, scx_userland: { sha256: SHA, bytes: 200 } } });
  assert.equal(manifestProblem(noQmap, bytesOf), null);
  assert.match(manifestProblem(manifest({ binaries: { scx_simple: { sha256: SHA, bytes: 100 } } }), bytesOf)!, /scx_userland/);
  // A listed binary that is gone, or cut short (an interrupted copy), makes it incomplete.
  assert.match(
    manifestProblem(manifest(), (n) => (n === 'scx_qmap' ? null : bytesOf(n)))!,
    /bin\/scx_qmap is missing/,
  );
  assert.match(
    manifestProblem(manifest(), (n) => (n === 'scx_simple' ? 50 : bytesOf(n)))!,
    /50 bytes, the manifest says 100/,
  );
  const badHash = manifest({ binaries: { ...manifest().binaries, scx_simple: { sha256: 'xyz', bytes: 100 } } });
  assert.match(manifestProblem(badHash, bytesOf)!, /entry of scx_simple is malformed/);
});

test('the cache lookup takes a complete build for the guest kernel and skips staging and broken ones', () => {
  const root = mkdtempSync(join(tmpdir(), 'tsland-peers-'));
  try {
    const env = { TSLAND_CACHE_DIR: root };
    const put = (dir: string, m: PeersManifest | null, bins: Record<string, number>): void => {
      const d = join(root, 'peers', dir);
      mkdirSync(join(d, 'bin'), { recursive: true });
      for (const [name, bytes] of Object.entries(bins)) writeFileSync(join(d, 'bin', name), Buffer.alloc(bytes));
      if (m) writeFileSync(join(d, PEERS_MANIFEST), JSON.stringify(m));
    };
    assert.equal(cachedPeers(env, '7.3.4+deb13-amd64'), null, 'no peers directory yet');
    const two = { scx_simple: 100, scx_userland: 200 };
    put('staging-1', manifest({ version: '9.9.9', packageVersion: '9.9.9-1' }), two);
    const twoListed = { scx_simple: { sha256: SHA, bytes: 100 }, scx_userland: { sha256: SHA, bytes: 200 } };
    const old = { version: '7.2.9', packageVersion: '7.2.9-1~bpo13+1', btfKernel: '7.2.9+deb13-amd64', binaries: twoListed };
    put('7.2.9', manifest(old), two);
    put('7.3.4', manifest({ binaries: manifest().binaries }), { ...two, scx_qmap: 300 });
    put('7.3.5', null, two);
    const hit = cachedPeers(env, '7.3.4+deb13-amd64');
    assert.equal(hit?.peers.version, '7.3.4');
    assert.equal(hit?.peers.simple, join(root, 'peers', '7.3.4', 'bin', 'scx_simple'));
    assert.equal(hit?.peers.qmap, join(root, 'peers', '7.3.4', 'bin', 'scx_qmap'));
    assert.equal(cachedPeers(env, '7.2.9+deb13-amd64')?.peers.qmap, null, 'its manifest lists no scx_qmap');
    assert.equal(cachedPeers(env, '7.4.1+deb13-amd64'), null, 'nothing built for that kernel');
    // Without a guest kernel to match, the newest complete build.
    assert.equal(cachedPeers(env, null)?.peers.version, '7.3.4');
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('the newest clang on PATH is tried first; too old ones are not tried', () => {
  const names = ['clang-14', 'clang-19', 'clang-cpp-19', 'clang-22', 'clang++-22', 'clang-format', 'clang-16', 'clang-9'];
  assert.deepEqual(clangCandidates(names), ['clang-22', 'clang-19', 'clang-16', 'clang']);
  assert.deepEqual(clangCandidates([]), ['clang']);
  assert.equal(clangMajor('Debian clang version 22.1.8 (1~deb12u1)'), 22);
  assert.equal(clangMajor('Ubuntu clang version 19.1.1 (1ubuntu1)'), 19);
  assert.equal(clangMajor('garbage'), 0);
});

test('a missing build dependency is named as the Debian package to install', () => {
  const needed = buildPackages({ clang: 'clang-22' });
  assert.deepEqual(
    needed.map(([p]) => p),
    ['make', 'gcc', 'libc6-dev', 'libelf-dev', 'zlib1g-dev', 'python3', 'xz-utils', 'clang-22', 'llvm-22'],
  );
  assert.deepEqual(
    buildPackages({ clang: null })
      .slice(-2)
      .map(([p]) => p),
    ['clang-19', 'llvm-19'],
    'with no clang at all, the one Debian 12 carries in main',
  );
  assert.deepEqual(
    buildPackages({ clang: '/opt/llvm/bin/clang' })
      .slice(-2)
      .map(([p]) => p),
    ['clang', 'llvm'],
  );
  // dpkg-query's answer for installed, removed-but-configured and unknown packages (the last go to stderr).
  const installed = installedFromDpkgQuery(
    'make ii \ngcc ii \nlibc6-dev ii \nzlib1g-dev ii \npython3 ii \nxz-utils ii \nclang-22 ii \nllvm-22 ii \nlibelf-dev:amd64 rc \n',
  );
  assert.ok(installed.has('zlib1g-dev') && !installed.has('libelf-dev'));
  const missing = missingPackages(needed, installed);
  assert.deepEqual(
    missing.map(([p]) => p),
    ['libelf-dev'],
  );
  const message = missingPackagesMessage(missing);
  assert.match(message, /apt-get install --no-install-recommends libelf-dev$/);
  assert.match(message, /libelf-dev: libelf\.h/);
  assert.match(
    missingPackagesMessage(missingPackages(needed, installedFromDpkgQuery('make ii \n'))),
    /install --no-install-recommends gcc libc6-dev libelf-dev zlib1g-dev python3 xz-utils clang-22 llvm-22$/,
  );
  assert.ok(installedFromDpkgQuery('libelf-dev:amd64 ii \n').has('libelf-dev'), 'the architecture suffix is dropped');
});

test("make's output becomes a few progress lines, and a failure's error lines are picked out", () => {
  const out = `  LINK    /c/peers/staging-1/out/build/obj/libbpf/libbpf.so.1.8.0
  LINK    /c/peers/staging-1/out/build/obj/libbpf/libbpf.a
  CC      /c/peers/staging-1/out/build/obj/bpftool/bootstrap/main.o
  LINK    /c/peers/staging-1/out/build/obj/bpftool/bootstrap/libbpf/libbpf.a
  LINK    /c/peers/staging-1/out/build/obj/bpftool/bootstrap/bpftool
  INSTALL bpftool
gcc -g -O2 -rdynamic -pthread -Wall -Werror  -I/c/out/build/include -c scx_simple.c -o /c/out/build/obj/sched_ext/scx_simple.o
gcc -o /c/out/build/bin/scx_simple /c/out/build/obj/sched_ext/scx_simple.o /c/out/build/obj/libbpf/libbpf.a -lelf -lz -lpthread`;
  const notes = out
    .split('\n')
    .map(makeMilestone)
    .filter((n) => n !== null);
  assert.deepEqual(notes, [
    'libbpf built',
    'bpftool (bootstrap) built',
    "bpftool built; compiling the schedulers' BPF halves",
    'compiling scx_simple.c',
    'linked scx_simple',
  ]);
  const failed = `  CC      /c/out/build/obj/libbpf/staticobjs/libbpf.o
libbpf.c:46:10: fatal error: libelf.h: No such file or directory
compilation terminated.
make[3]: *** [/c/src/tools/build/Makefile.build:96: /c/out/build/obj/libbpf/staticobjs/libbpf.o] Error 1`;
  assert.deepEqual(errorLines(failed), [
    'libbpf.c:46:10: fatal error: libelf.h: No such file or directory',
    'make[3]: *** [/c/src/tools/build/Makefile.build:96: /c/out/build/obj/libbpf/staticobjs/libbpf.o] Error 1',
  ]);
});

test('the CLI takes --rebuild and --help and refuses anything else', () => {
  assert.deepEqual(parsePeersArgs([]), { help: false, rebuild: false });
  assert.deepEqual(parsePeersArgs(['--rebuild']), { help: false, rebuild: true });
  assert.deepEqual(parsePeersArgs(['--help']), { help: true, rebuild: false });
  assert.deepEqual(parsePeersArgs(['--force']), { error: 'unknown argument --force' });
});
