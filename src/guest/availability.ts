// Whether a guest can boot here, and if not, why, in one line a test can print when it skips.

import { findQemu, findVirtiofsd } from './host.js';
import { guestPaths } from './paths.js';

export type GuestAvailability = { ok: true } | { ok: false; reason: string };

export function guestAvailability(env: NodeJS.ProcessEnv = process.env): GuestAvailability {
  if (process.platform !== 'linux' || process.arch !== 'x64') {
    return { ok: false, reason: `the sched_ext guest needs Linux on x86_64 (this is ${process.platform}/${process.arch})` };
  }
  if (process.getuid?.() !== 0)
    return { ok: false, reason: 'the guest needs root (virtiofsd serves the host filesystem as root)' };
  if (!guestPaths(env)) return { ok: false, reason: "the guest is not set up: run 'tsland guest setup'" };
  if (!findQemu(env))
    return { ok: false, reason: 'qemu-system-x86_64 not found: apt-get install --no-install-recommends qemu-system-x86' };
  if (!findVirtiofsd(env))
    return { ok: false, reason: 'virtiofsd not found: install qemu-system-common (Debian 12) or virtiofsd' };
  return { ok: true };
}
