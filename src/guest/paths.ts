// Where the guest's downloaded material lives, and what a set-up cache holds.
//
//   $TSLAND_CACHE_DIR, else $XDG_CACHE_HOME/tsland, else ~/.cache/tsland      (the cache root)
//   <root>/guest/apt/<suite>/      private apt state per Debian suite (sources.list, lists, archives)
//   <root>/guest/set/              what `tsland guest setup` produced, swapped in whole once complete:
//       vmlinux                    the decompressed kernel (ELF, PVH entry: qemu boots it with -kernel)
//       config                     its build configuration (checked for CONFIG_SCHED_CLASS_EXT=y)
//       lib/libbpf.so.1            libbpf >= 1.4 (the host's may be older)
//       bin/bpftool                bpftool of the same era (dumps vmlinux.h from vmlinux)
//       manifest.json              versions and sizes; written last, so its presence means complete

import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

export interface GuestPaths {
  /** `uname -r` of the guest kernel, e.g. 7.3.4+deb13-amd64. */
  kernelVersion: string;
  vmlinuxPath: string;
  configPath: string;
  libbpfPath: string;
  bpftoolPath: string;
}

export interface GuestManifest {
  kernelVersion: string;
  /** Debian package versions, e.g. { 'linux-binary-7.3.4+deb13-amd64': '7.3.4-1~bpo13+1', libbpf1: ... }. */
  packages: Record<string, string>;
  /** Bytes fetched from the archive for this set (the .deb files). */
  downloadBytes: number;
  createdAt: string;
}

export const MANIFEST_NAME = 'manifest.json';

/** The cache root shared by every part of tsland that downloads something. */
export function cacheRoot(env: NodeJS.ProcessEnv = process.env): string {
  if (env.TSLAND_CACHE_DIR) return env.TSLAND_CACHE_DIR;
  if (env.XDG_CACHE_HOME) return join(env.XDG_CACHE_HOME, 'tsland');
  return join(env.HOME || homedir(), '.cache', 'tsland');
}

export function guestDir(env: NodeJS.ProcessEnv = process.env): string {
  return join(cacheRoot(env), 'guest');
}

/** The directory holding a complete set (it may not exist yet). */
export function guestSetDir(env: NodeJS.ProcessEnv = process.env): string {
  return join(guestDir(env), 'set');
}

/** File paths inside a set directory, whether or not they exist. */
export function setLayout(setDir: string, kernelVersion: string): GuestPaths {
  return {
    kernelVersion,
    vmlinuxPath: join(setDir, 'vmlinux'),
    configPath: join(setDir, 'config'),
    libbpfPath: join(setDir, 'lib', 'libbpf.so.1'),
    bpftoolPath: join(setDir, 'bin', 'bpftool'),
  };
}

export function readManifest(setDir: string): GuestManifest | null {
  try {
    const m = JSON.parse(readFileSync(join(setDir, MANIFEST_NAME), 'utf8')) as Partial<GuestManifest>;
    if (typeof m.kernelVersion !== 'string' || !m.kernelVersion) return null;
    return {
      kernelVersion: m.kernelVersion,
      packages: m.packages ?? {},
      downloadBytes: m.downloadBytes ?? 0,
      createdAt: m.createdAt ?? '',
    };
  } catch {
    return null;
  }
}

/**
 * The guest material of a set-up cache, or null when `tsland guest setup` has not completed (no manifest, or
 * a file of the set is missing).
 */
export function guestPaths(env: NodeJS.ProcessEnv = process.env): GuestPaths | null {
  const dir = guestSetDir(env);
  const manifest = readManifest(dir);
  if (!manifest) return null;
  const paths = setLayout(dir, manifest.kernelVersion);
  for (const p of [paths.vmlinuxPath, paths.configPath, paths.libbpfPath, paths.bpftoolPath]) {
    if (!existsSync(p)) return null;
  }
  return paths;
}
