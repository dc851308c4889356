// Memory pressure is bounded from /proc/meminfo so that the OOM killer never runs: the heaviest moment of
// the soak still leaves `headroom` MiB available (at least 2 GiB).

import { readFileSync } from 'node:fs';

export const KIB_PER_MIB = 1024;
export const BYTES_PER_MIB = 1024 * 1024;

export function meminfoKiB(field: string, text = readFileSync('/proc/meminfo', 'latin1')): number {
  const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(text);
  if (!m) throw new Error(`/proc/meminfo has no ${field}`);
  return Number(m[1]);
}

export function memAvailableMiB(): number {
  return Math.floor(meminfoKiB('MemAvailable') / KIB_PER_MIB);
}

/** The kernel's count of OOM kills since boot (/proc/vmstat oom_kill, Linux 4.13+); -1 if absent. */
export function oomKills(): number {
  try {
    const m = /^oom_kill (\d+)$/m.exec(readFileSync('/proc/vmstat', 'latin1'));
    return m ? Number(m[1]) : -1;
  } catch {
    return -1;
  }
}

export interface MemoryPlan {
  availableMiB: number;
  headroomMiB: number;
  /** Left for the rest of the load (compilers, the fork storm, tsland), which starts after the reading. */
  reserveMiB: number;
  /** Most memory the vm workers may hold at once: available - headroom - reserve. */
  boundMiB: number;
  /** What the steady vm workers hold. */
  steadyMiB: number;
  /** What the memory-jump fault adds for a while, reaching the bound. */
  jumpMiB: number;
}

/**
 * The rest of the load is not in MemAvailable when the plan is made: a full run's build loop and fork storm
 * took ~200 MiB more than that, and one run's memory jump fell to 1.8 GiB available (bound: 2 GiB).
 */
export const LOAD_RESERVE_MIB = 512;

/** Steady workers take `steadyShare` of the bound (or `vmMiB` when given); the jump takes the rest. */
export function planMemory(
  availableMiB: number,
  headroomMiB: number,
  vmMiB?: number,
  steadyShare = 0.6,
  reserveMiB = LOAD_RESERVE_MIB,
): MemoryPlan {
  const boundMiB = Math.max(0, availableMiB - headroomMiB - reserveMiB);
  const steadyMiB = Math.min(boundMiB, vmMiB ?? Math.floor(boundMiB * steadyShare));
  // A light run asks for a small steady share; its jump is as large again, still inside the bound.
  const jumpMiB = vmMiB === undefined ? boundMiB - steadyMiB : Math.min(boundMiB - steadyMiB, steadyMiB);
  return { availableMiB, headroomMiB, reserveMiB, boundMiB, steadyMiB, jumpMiB };
}
