// Which host directory the guest shares writable as the command's working directory. The guest sees the host's
// root read-only but mounts its own /tmp, /var/tmp, /run and /dev/shm, so a file under one of those (a
// checkout cloned into /tmp, a policy file there) is visible inside only through the working directory's share.

import { dirname, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

/** tsland's own package (its dist/, node_modules/, bpf/): every command run in the guest needs it. */
export const PACKAGE_ROOT = resolve(fileURLToPath(new URL('../../../', import.meta.url)));

/** Host directories the guest covers with its own mounts (init-script.ts, guestFstab). */
export const GUEST_HIDDEN_DIRS = ['/tmp', '/var/tmp', '/run', '/dev/shm'] as const;

export function hiddenInGuest(path: string): boolean {
  const p = resolve(path);
  return GUEST_HIDDEN_DIRS.some((d) => p === d || p.startsWith(d + sep));
}

function inside(path: string, dir: string): boolean {
  return path === dir || dir === sep || path.startsWith(dir + sep);
}

/**
 * The working directory to give the guest: `workDir` itself, or its nearest ancestor that also holds every
 * path of `mustSee` the guest would otherwise hide. Never `/` (which the guest keeps read-only): when only the
 * root would hold them all, `workDir` is returned and the hidden paths stay hidden.
 */
export function guestWorkDir(workDir: string, mustSee: readonly string[]): string {
  let dir = resolve(workDir);
  const hidden = mustSee.map((p) => resolve(p)).filter(hiddenInGuest);
  while (dir !== sep && !hidden.every((p) => inside(p, dir))) dir = dirname(dir);
  return dir === sep ? resolve(workDir) : dir;
}

/** Which of `mustSee` the guest cannot see when `cwd` is its shared working directory (hidden and outside it). */
export function hiddenFromGuest(cwd: string, mustSee: readonly string[]): string[] {
  const dir = resolve(cwd);
  return mustSee.map((p) => resolve(p)).filter((p) => hiddenInGuest(p) && !inside(p, dir));
}
