// Where the kernel tree's sched_ext schedulers (scx_simple, scx_userland, scx_qmap) are cached once built, and
// which cached build is complete. Building them is the benchmarks' business (bench:peers); this only looks at
// the disk, so that the demo can run them beside tsland where they are already there.
//
//   <cacheRoot>/peers/<version>/bin/{scx_simple,scx_userland,scx_qmap}   (version: the kernel source's, 7.3.4)
//   <cacheRoot>/peers/<version>/manifest.json                           written last: present means complete

import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { compareDebianVersions } from './debian-version.js';
import { cacheRoot, guestPaths } from './paths.js';

/** Peers bench:scx cannot do without; scx_qmap is built in the same make and kept only when it builds. */
export const REQUIRED_PEERS = ['scx_simple', 'scx_userland'] as const;
export const OPTIONAL_PEERS = ['scx_qmap'] as const;
export const PEERS_MANIFEST = 'manifest.json';

export interface PeerBinaries {
  /** Upstream version of the kernel source the peers were built from, e.g. 7.3.4. */
  version: string;
  simple: string;
  userland: string;
  /** null when scx_qmap did not build (the manifest's `skipped` says why). */
  qmap: string | null;
  /** <cacheRoot>/peers/<version>. */
  dir: string;
  /** Optional peers left out, with why (the manifest's `skipped`). */
  skipped: Record<string, string>;
}

export interface PeersManifest {
  version: string;
  /** linux-source-7.3 */
  sourcePackage: string;
  /** Debian version of that package, e.g. 7.3.4-1~bpo13+1. */
  packageVersion: string;
  /** `uname -r` of the kernel whose BTF the BPF side was compiled against (the guest's). */
  btfKernel: string;
  clang: string;
  binaries: Record<string, { sha256: string; bytes: number }>;
  /** Optional peers that failed to build, with make's first error line. */
  skipped: Record<string, string>;
  downloadBytes: number;
  buildSeconds: number;
  builtAt: string;
}

/**
 * Why the manifest does not describe a complete cache, or null when it does. `bytesOf(name)` is the size of
 * bin/<name> on disk, or null when it is missing.
 */
export function manifestProblem(m: unknown, bytesOf: (name: string) => number | null): string | null {
  if (!m || typeof m !== 'object') return 'no manifest';
  const man = m as Partial<PeersManifest>;
  for (const key of ['version', 'packageVersion', 'btfKernel'] as const) {
    if (typeof man[key] !== 'string' || !man[key]) return `the manifest has no ${key}`;
  }
  if (!man.binaries || typeof man.binaries !== 'object') return 'the manifest lists no binaries';
  for (const name of REQUIRED_PEERS) if (!man.binaries[name]) return `the manifest lists no ${name}`;
  for (const [name, entry] of Object.entries(man.binaries)) {
    if (!entry || !/^[0-9a-f]{64}$/.test(entry.sha256) || !(entry.bytes > 0))
      return `the manifest's entry of ${name} is malformed`;
    const bytes = bytesOf(name);
    if (bytes === null) return `bin/${name} is missing`;
    if (bytes !== entry.bytes) return `bin/${name} is ${bytes} bytes, the manifest says ${entry.bytes}`;
  }
  return null;
}

export function peersRoot(env: NodeJS.ProcessEnv = process.env): string {
  return join(cacheRoot(env), 'peers');
}

function readJson(path: string): unknown {
  try {
    return JSON.parse(readFileSync(path, 'utf8'));
  } catch {
    return null;
  }
}

function fileBytes(path: string): number | null {
  try {
    return statSync(path).size;
  } catch {
    return null;
  }
}

export function binariesOf(dir: string, m: PeersManifest): PeerBinaries {
  return {
    version: m.version,
    simple: join(dir, 'bin', 'scx_simple'),
    userland: join(dir, 'bin', 'scx_userland'),
    qmap: m.binaries.scx_qmap ? join(dir, 'bin', 'scx_qmap') : null,
    dir,
    skipped: m.skipped ?? {},
  };
}

/**
 * A complete cached build, preferring one compiled against `btfKernel` (the guest's, when set up), newest
 * source first. Looks at the disk only: no network.
 */
export function cachedPeers(
  env: NodeJS.ProcessEnv = process.env,
  btfKernel: string | null = guestPaths(env)?.kernelVersion ?? null,
): { peers: PeerBinaries; manifest: PeersManifest } | null {
  const root = peersRoot(env);
  if (!existsSync(root)) return null;
  const complete: { dir: string; m: PeersManifest }[] = [];
  for (const name of readdirSync(root)) {
    if (name.startsWith('staging-') || name.startsWith('old-')) continue;
    const dir = join(root, name);
    const m = readJson(join(dir, PEERS_MANIFEST));
    if (manifestProblem(m, (bin) => fileBytes(join(dir, 'bin', bin))) === null) complete.push({ dir, m: m as PeersManifest });
  }
  const pool = btfKernel ? complete.filter((c) => c.m.btfKernel === btfKernel) : complete;
  pool.sort((a, b) => compareDebianVersions(b.m.packageVersion, a.m.packageVersion));
  const best = pool[0];
  return best ? { peers: binariesOf(best.dir, best.m), manifest: best.m } : null;
}
