// What the host must provide to boot a guest: qemu-system-x86_64, a virtiofsd, zstd and dpkg-deb for setup,
// and where each distribution keeps them.

import { accessSync, constants, readFileSync } from 'node:fs';
import { delimiter, join } from 'node:path';

export function which(name: string, env: NodeJS.ProcessEnv = process.env): string | null {
  for (const dir of (env.PATH ?? '/usr/local/bin:/usr/bin:/bin').split(delimiter)) {
    if (!dir) continue;
    const p = join(dir, name);
    if (isExecutable(p)) return p;
  }
  return null;
}

function isExecutable(p: string): boolean {
  try {
    accessSync(p, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** qemu-system-x86_64 ($TSLAND_QEMU overrides), or RHEL's qemu-kvm. */
export function findQemu(env: NodeJS.ProcessEnv = process.env): string | null {
  if (env.TSLAND_QEMU) return isExecutable(env.TSLAND_QEMU) ? env.TSLAND_QEMU : null;
  return which('qemu-system-x86_64', env) ?? (isExecutable('/usr/libexec/qemu-kvm') ? '/usr/libexec/qemu-kvm' : null);
}

export type VirtiofsdFlavor = 'c' | 'rust';

export interface Virtiofsd {
  path: string;
  /** QEMU's own C daemon (Debian 12's qemu-system-common) or the Rust one (Debian 13, Ubuntu 24.04, RHEL 9). */
  flavor: VirtiofsdFlavor;
}

/** Where distributions put virtiofsd ($TSLAND_VIRTIOFSD overrides). */
export const VIRTIOFSD_PATHS = ['/usr/lib/qemu/virtiofsd', '/usr/libexec/virtiofsd', '/usr/lib/virtiofsd'];

export function virtiofsdFlavor(path: string): VirtiofsdFlavor {
  // The C daemon sits in QEMU's helper directory; the Rust one is packaged on its own.
  return path.includes('/qemu/') ? 'c' : 'rust';
}

export function findVirtiofsd(env: NodeJS.ProcessEnv = process.env): Virtiofsd | null {
  const candidates = env.TSLAND_VIRTIOFSD ? [env.TSLAND_VIRTIOFSD] : [...VIRTIOFSD_PATHS, which('virtiofsd', env) ?? ''];
  for (const p of candidates) {
    if (p && isExecutable(p))
      return { path: p, flavor: (env.TSLAND_VIRTIOFSD_FLAVOR as VirtiofsdFlavor | undefined) ?? virtiofsdFlavor(p) };
  }
  return null;
}

export interface OsRelease {
  id: string;
  versionId: string;
  idLike: string[];
}

export function parseOsRelease(text: string): OsRelease {
  const get = (k: string) => (new RegExp(`^${k}=(.*)$`, 'm').exec(text)?.[1] ?? '').replace(/^"|"$/g, '');
  return { id: get('ID'), versionId: get('VERSION_ID'), idLike: get('ID_LIKE').split(/\s+/).filter(Boolean) };
}

export function hostOsRelease(): OsRelease {
  try {
    return parseOsRelease(readFileSync('/etc/os-release', 'utf8'));
  } catch {
    return { id: '', versionId: '', idLike: [] };
  }
}

/** Debian package that provides virtiofsd: QEMU's C daemon up to Debian 12, a separate package after. */
export function virtiofsdPackage(os: OsRelease): string {
  return os.id === 'debian' && Number(os.versionId) <= 12 ? 'qemu-system-common' : 'virtiofsd';
}

/** Debian/Ubuntu packages the host lacks for `guest setup` and `guest run`. */
export function missingHostPackages(env: NodeJS.ProcessEnv = process.env, os: OsRelease = hostOsRelease()): string[] {
  const need: string[] = [];
  if (!findQemu(env)) need.push('qemu-system-x86');
  if (!findVirtiofsd(env)) {
    const pkg = virtiofsdPackage(os);
    if (!(pkg === 'qemu-system-common' && need.includes('qemu-system-x86'))) need.push(pkg);
  }
  if (!which('zstd', env)) need.push('zstd');
  if (!which('dpkg-deb', env)) need.push('dpkg');
  return need;
}
