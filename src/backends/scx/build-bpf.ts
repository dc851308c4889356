// Builds bpf/tsland.bpf.o (committed, so users never need clang) and its stamp, bpf/tsland.bpf.o.stamp,
// which records a hash of the sources it was built from; a test fails when the sources moved on.
//
//   npm run build:bpf                 (TSLAND_VMLINUX_H=<vmlinux.h> or TSLAND_VMLINUX=<kernel with BTF>)
//
// vmlinux.h comes from a sched_ext kernel's BTF: TSLAND_VMLINUX_H names a ready header, else TSLAND_VMLINUX
// (a vmlinux ELF, or a raw BTF file such as /sys/kernel/btf/vmlinux on a sched_ext kernel) is dumped with
// bpftool (TSLAND_BPFTOOL, else `bpftool`) into build/bpf/ (ignored by git; never commit vmlinux.h).
// clang: TSLAND_CLANG, else the newest of clang-19 .. clang-16, else clang (>= 16 needed).

import { guestPaths } from '../../guest/paths.js';
import { createHash } from 'node:crypto';
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = fileURLToPath(new URL('../../../../', import.meta.url));
export const BPF_DIR = join(REPO_ROOT, 'bpf');
export const BUILD_DIR = join(REPO_ROOT, 'build', 'bpf');
export const OBJECT_PATH = join(BPF_DIR, 'tsland.bpf.o');
export const STAMP_PATH = join(BPF_DIR, 'tsland.bpf.o.stamp');
/** Every file the object is built from, in hashing order. */
export const SOURCES = ['intf.h', 'bpf_defs.h', 'tsland.bpf.c'] as const;
export const CLANG_FLAGS = [
  '-g',
  '-O2',
  '-target',
  'bpf',
  '-mcpu=v3',
  '-D__TARGET_ARCH_x86',
  '-fms-extensions',
  '-Wno-microsoft-anon-tag',
  '-Wall',
  '-Werror',
] as const;
const MIN_CLANG_MAJOR = 16;

export interface Stamp {
  /** sha256 over each source's name and bytes, and the compiler flags. */
  sourcesSha256: string;
  objectSha256: string;
  clang: string;
  vmlinuxHeaderSha256: string;
}

export function sourcesHash(dir = BPF_DIR): string {
  const h = createHash('sha256');
  for (const name of SOURCES) {
    h.update(`${name}\0`);
    h.update(readFileSync(join(dir, name)));
    h.update('\0');
  }
  h.update(CLANG_FLAGS.join(' '));
  return h.digest('hex');
}

export function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

export function readStamp(): Stamp | null {
  try {
    return JSON.parse(readFileSync(STAMP_PATH, 'utf8')) as Stamp;
  } catch {
    return null;
  }
}

/** The clang to use and its version line, or null when none >= 16 is installed. */
export function findClang(): { path: string; version: string } | null {
  const names = process.env.TSLAND_CLANG ? [process.env.TSLAND_CLANG] : ['clang-19', 'clang-18', 'clang-17', 'clang-16', 'clang'];
  for (const name of names) {
    const r = spawnSync(name, ['--version'], { encoding: 'utf8' });
    if (r.status !== 0) continue;
    const line = r.stdout.split('\n')[0] ?? '';
    const major = Number(/version (\d+)/.exec(line)?.[1] ?? 0);
    if (major >= MIN_CLANG_MAJOR) return { path: name, version: line.trim() };
  }
  return null;
}

function findStrip(clang: string): string | null {
  const suffix = /clang(-\d+)?$/.exec(clang)?.[1] ?? '';
  for (const name of [`llvm-strip${suffix}`, 'llvm-strip']) {
    if (spawnSync(name, ['--version']).status === 0) return name;
  }
  return null;
}

/** A vmlinux.h for the build, or throws with what to set. */
export function vmlinuxHeader(): string {
  const ready = process.env.TSLAND_VMLINUX_H;
  if (ready) {
    if (!existsSync(ready)) throw new Error(`TSLAND_VMLINUX_H=${ready} does not exist`);
    return ready;
  }
  // Else the guest's kernel and bpftool (`tsland guest setup` caches both).
  const guest = guestPaths();
  const kernel = process.env.TSLAND_VMLINUX ?? guest?.vmlinuxPath;
  if (!kernel) {
    throw new Error(
      'no sched_ext kernel to take BTF from: run `tsland guest setup`, or set TSLAND_VMLINUX (a vmlinux with BTF) or TSLAND_VMLINUX_H',
    );
  }
  const bpftool = process.env.TSLAND_BPFTOOL ?? guest?.bpftoolPath ?? 'bpftool';
  mkdirSync(BUILD_DIR, { recursive: true });
  const out = join(BUILD_DIR, 'vmlinux.h');
  const header = execFileSync(bpftool, ['btf', 'dump', 'file', kernel, 'format', 'c'], { maxBuffer: 256 << 20 });
  writeFileSync(out, header);
  return out;
}

/** Compiles the sources into `outPath` (DWARF stripped, BTF kept). */
export function compile(outPath: string, header: string, clang: { path: string }): void {
  mkdirSync(BUILD_DIR, { recursive: true });
  const incDir = join(BUILD_DIR, 'include');
  mkdirSync(incDir, { recursive: true });
  copyFileSync(header, join(incDir, 'vmlinux.h'));
  const tmp = `${outPath}.tmp`;
  // Run from bpf/ with relative names: the object's BTF line info records the source's name, and it must
  // not carry the path of the machine that built it. vmlinux.h is left out of the flags that are hashed.
  execFileSync(
    clang.path,
    [...CLANG_FLAGS, '-fdebug-compilation-dir=.', '-I', relative(BPF_DIR, incDir), '-c', 'tsland.bpf.c', '-o', tmp],
    {
      stdio: 'inherit',
      cwd: BPF_DIR,
    },
  );
  const strip = findStrip(clang.path);
  if (!strip) throw new Error('llvm-strip not found (it comes with clang/llvm)');
  execFileSync(strip, ['-g', tmp]);
  mkdirSync(dirname(outPath), { recursive: true });
  renameSync(tmp, outPath);
}

function main(): void {
  const clang = findClang();
  if (!clang) throw new Error(`clang >= ${MIN_CLANG_MAJOR} not found (set TSLAND_CLANG)`);
  const header = vmlinuxHeader();
  compile(OBJECT_PATH, header, clang);
  const stamp: Stamp = {
    sourcesSha256: sourcesHash(),
    objectSha256: sha256(readFileSync(OBJECT_PATH)),
    clang: clang.version,
    vmlinuxHeaderSha256: sha256(readFileSync(header)),
  };
  writeFileSync(STAMP_PATH, `${JSON.stringify(stamp, null, 2)}\n`);
  process.stdout.write(`built ${OBJECT_PATH} with ${clang.version}\n`);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  try {
    main();
  } catch (err) {
    process.stderr.write(`build:bpf: ${(err as Error).message.split('\n')[0]}\n`);
    process.exitCode = 1;
  }
}
