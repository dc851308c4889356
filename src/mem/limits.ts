// RLIMIT_MEMLOCK: how many bytes this process may lock. Root (CAP_IPC_LOCK) is not bound by it; anyone may
// raise the soft limit up to the hard one, which is what lockBuffer does before it asks for more.

import { readFileSync } from 'node:fs';
import { getSys, RLIM_CUR_OFFSET, RLIM_MAX_OFFSET, RLIMIT_BYTES, RLIMIT_MEMLOCK, readU64, writeU64 } from './sys.js';

export interface MemlockLimit {
  /** The soft limit in bytes (Infinity: unlimited). */
  softBytes: number;
  /** The hard limit in bytes, the ceiling an unprivileged process may raise the soft one to. */
  hardBytes: number;
}

/** The current limit, or null where it cannot be read. */
export function memlockLimit(): MemlockLimit | null {
  const sys = getSys();
  if (!sys) return null;
  const raw = new Uint8Array(RLIMIT_BYTES);
  if (sys.getrlimit(RLIMIT_MEMLOCK, raw) !== 0) return null;
  return { softBytes: readU64(raw, RLIM_CUR_OFFSET), hardBytes: readU64(raw, RLIM_MAX_OFFSET) };
}

/**
 * Raises the soft limit so that `wantBytes` more can be locked on top of `alreadyLockedBytes`.
 * Goes no higher than needed (rounded up to whole pages) and never above the hard limit.
 * Returns the limit in force afterwards.
 */
export function raiseMemlockLimit(wantBytes: number, alreadyLockedBytes: number, pageSizeBytes: number): MemlockLimit | null {
  const sys = getSys();
  const now = memlockLimit();
  if (!sys || !now) return now;
  const neededBytes = Math.ceil((alreadyLockedBytes + wantBytes) / pageSizeBytes) * pageSizeBytes;
  if (now.softBytes >= neededBytes) return now;
  const targetBytes = Math.min(now.hardBytes, neededBytes);
  if (targetBytes <= now.softBytes) return now;
  const raw = new Uint8Array(RLIMIT_BYTES);
  writeU64(raw, RLIM_CUR_OFFSET, targetBytes);
  writeU64(raw, RLIM_MAX_OFFSET, now.hardBytes);
  sys.setrlimit(RLIMIT_MEMLOCK, raw);
  return memlockLimit();
}

/** "64 MiB (67108864 bytes)", or "unlimited". */
export function formatBytes(bytes: number): string {
  if (bytes === Infinity) return 'unlimited';
  const KIB = 1024;
  const MIB = KIB * 1024;
  const GIB = MIB * 1024;
  const human =
    bytes >= GIB
      ? `${+(bytes / GIB).toFixed(2)} GiB`
      : bytes >= MIB
        ? `${+(bytes / MIB).toFixed(2)} MiB`
        : bytes >= KIB
          ? `${+(bytes / KIB).toFixed(2)} KiB`
          : `${bytes} B`;
  return bytes >= KIB ? `${human} (${bytes} bytes)` : human;
}

/** Bytes this process has locked, from VmLck in /proc/self/status; `fallback` where procfs cannot say. */
export function processLockedBytes(fallback = 0): number {
  try {
    const m = /^VmLck:\s+(\d+) kB/m.exec(readFileSync('/proc/self/status', 'utf8'));
    if (m) return Number(m[1]) * 1024;
  } catch {
    // No procfs.
  }
  return fallback;
}
