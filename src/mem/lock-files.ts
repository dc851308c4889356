// Lock the process's file-backed mappings (the node binary's code and read-only data, the shared libraries)
// in RAM, so that no thread of the process faults on a page of a file once this returns.
//
// Why: on sched_ext, the tasks tsland schedules wait in tsland for a CPU. A task can wait there while it
// holds a kernel lock, and the one that bit: readahead adds a file's pages to the page cache locked and
// unlocks them when the read completes; a task preempted in between holds those pages. If tsland then
// touches one of them (code of node or libc that it runs for the first time, or that reclaim dropped), its
// thread sleeps on that page until a task it must schedule runs: nothing runs until the kernel's watchdog
// ejects tsland. In the guest this stalled `tsland start` under a fork storm every few runs.
//
// mlockall() is out (V8 aborts, mem/lock.ts says why), but V8 never madvises file mappings, so locking them
// is safe. mlock() populates every page of a mapping and keeps its page-table entries, so later touches do
// not fault at all. It costs the mappings' size in locked RAM (about 90 MiB for Node 20: 28 MiB of code,
// 56 MiB of read-only data with ICU's), shared with every other process mapping the same files.

import { readFileSync } from 'node:fs';
import { formatBytes, memlockLimit, processLockedBytes, raiseMemlockLimit } from './limits.js';
import { errnoName, getSys, sysUnavailableReason } from './sys.js';

export interface FileMapping {
  start: number;
  end: number;
  perms: string;
  path: string;
}

export interface FileLockResult {
  /** Mappings locked, and their bytes. */
  mappings: number;
  lockedBytes: number;
  /** Mappings the kernel refused, with why (empty when every one is locked). */
  refused: string[];
  /** Wall time in ms. */
  lockMs: number;
}

/**
 * The file-backed mappings of /proc/<pid>/maps text: a path that starts with '/' and a non-zero inode.
 * Device files (/dev/...) and deleted files are left out: they are not page cache a fault could wait on.
 */
export function parseFileMappings(mapsText: string): FileMapping[] {
  const out: FileMapping[] = [];
  for (const line of mapsText.split('\n')) {
    const m = /^([0-9a-f]+)-([0-9a-f]+) (\S{4}) \S+ \S+ (\d+)\s+(\/.*)$/.exec(line);
    if (!m || m[4] === '0') continue;
    const path = m[5]!;
    // PROT_NONE: a guard or a reservation, never touched (mlock refuses it).
    if (m[3] === '---p' || path.startsWith('/dev/') || path.endsWith(' (deleted)')) continue;
    out.push({ start: parseInt(m[1]!, 16), end: parseInt(m[2]!, 16), perms: m[3]!, path });
  }
  return out;
}

/**
 * Locks every file-backed mapping of this process. Never throws for a refusal: what could not be locked is
 * listed in `refused` (the caller decides whether that is worth a warning). Throws only where libc is not
 * reachable at all.
 */
export function lockFileMappings(): FileLockResult {
  const sys = getSys();
  if (!sys) throw new Error(`cannot lock file mappings: ${sysUnavailableReason()}`);
  const startMs = performance.now();
  const maps = parseFileMappings(readFileSync('/proc/self/maps', 'utf8'));
  const total = maps.reduce((sum, m) => sum + (m.end - m.start), 0);
  const page = sys.pageSizeBytes;
  raiseMemlockLimit(total, processLockedBytes(), page);
  const refused: string[] = [];
  let mappings = 0;
  let lockedBytesTotal = 0;
  for (const m of maps) {
    const size = m.end - m.start;
    if (sys.mlock(m.start, size) === 0) {
      mappings++;
      lockedBytesTotal += size;
    } else {
      refused.push(`${m.path} (${m.perms}, ${formatBytes(size)}): ${errnoName(sys.errno())}`);
    }
  }
  if (refused.length > 0) {
    const limit = memlockLimit();
    if (limit) refused.push(`RLIMIT_MEMLOCK is ${formatBytes(limit.softBytes)}`);
  }
  return { mappings, lockedBytes: lockedBytesTotal, refused, lockMs: performance.now() - startMs };
}

/**
 * lockFileMappings for a scheduler thread: a refusal is not fatal (the run goes on, as with --no-lock), but
 * the user is told what stays unlocked and what that can cost.
 */
export function lockFileMappingsOrWarn(cost: string): FileLockResult {
  const files = lockFileMappings();
  if (files.refused.length > 0) {
    process.stderr.write(`tsland: warning: some file mappings are not locked; ${cost}: ${files.refused.join('; ')}\n`);
  }
  return files;
}
