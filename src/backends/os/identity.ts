// Slow-path /proc reads that name a process for certain: (pid, start time) never repeats, a bare pid does.
// Used on task creation, by the guardian and on recovery; they allocate and that is fine there.

import { readdirSync, readFileSync } from 'node:fs';
import { parseStat, STAT_FIELDS, STAT_START_TICKS, STAT_STATE } from './procfs.js';
import { sys } from './sys.js';

const scratchStat = new Float64Array(STAT_FIELDS);

/** Start time (clock ticks since boot) of a live process, or -1 when there is none with that pid. */
export function readStartTicks(pid: number): number {
  const stat = readStat(pid);
  return stat ? stat[STAT_START_TICKS]! : -1;
}

/** Parsed /proc/<pid>/stat (a shared scratch array: copy what you keep), or null. */
export function readStat(pid: number): Float64Array | null {
  let bytes: Buffer;
  try {
    bytes = readFileSync(`/proc/${pid}/stat`);
  } catch {
    return null;
  }
  return parseStat(bytes, bytes.length, scratchStat) ? scratchStat : null;
}

/** State letter of a process ('R', 'S', 'T', ...), or '' when it is gone. */
export function readStateLetter(pid: number): string {
  const stat = readStat(pid);
  return stat ? String.fromCharCode(stat[STAT_STATE]!) : '';
}

/** Thread ids of a process (its own pid first when alive), empty when it is gone. */
export function listTids(pid: number): number[] {
  try {
    const tids = readdirSync(`/proc/${pid}/task`)
      .map(Number)
      .filter((n) => Number.isInteger(n) && n > 0);
    tids.sort((a, b) => (a === pid ? -1 : b === pid ? 1 : a - b));
    return tids;
  } catch {
    return [];
  }
}

/**
 * A pidfd for exactly the process (pid, startTicks), or -1 when that process is gone (the pid may now
 * belong to a stranger). Open first, then check: once the pidfd exists its process cannot be recycled.
 */
export function openVerifiedPidfd(pid: number, startTicks: number): number {
  const pidfd = sys().pidfdOpen(pid);
  if (pidfd < 0) return -1;
  if (readStartTicks(pid) !== startTicks) {
    sys().close(pidfd);
    return -1;
  }
  return pidfd;
}

/** Whether (pid, startTicks) is alive and not a zombie. */
export function isAlive(pid: number, startTicks: number): boolean {
  const stat = readStat(pid);
  if (!stat || stat[STAT_START_TICKS] !== startTicks) return false;
  const state = stat[STAT_STATE]!;
  return state !== 0x5a /* Z */ && state !== 0x58; /* X */
}
