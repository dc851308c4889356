// Guest memory sizes as users write them: 1G, 1.5G, 512M, 2GiB, or a plain number of MiB.

import { GuestError } from './errors.js';

export const MIB_PER_GIB = 1024;
export const MIN_GUEST_MEM_MIB = 256;
export const DEFAULT_GUEST_MEM_MIB = 1024;

/** Parses SIZE into MiB; throws GuestError naming the value when it is not a size or is too small. */
export function parseMemSizeMiB(text: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(?:(M|MB|MiB)|(G|GB|GiB))?\s*$/i.exec(text);
  if (!m) throw new GuestError(`--mem takes a size such as 1G or 512M, got '${text}'`);
  const mib = Math.round(Number(m[1]) * (m[3] ? MIB_PER_GIB : 1));
  if (mib < MIN_GUEST_MEM_MIB) throw new GuestError(`--mem must be at least ${MIN_GUEST_MEM_MIB}M, got '${text}'`);
  return mib;
}
