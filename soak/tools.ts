// The load comes from Debian's packages. What is missing is installed with apt-get when we are root and
// allowed to; otherwise the harness stops and says exactly what to install.

import { spawnSync } from 'node:child_process';

/** Command -> Debian package providing it. */
export const REQUIRED_TOOLS: Readonly<Record<string, string>> = { 'stress-ng': 'stress-ng', gcc: 'gcc', make: 'make' };

export function hasCommand(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
}

export function missingPackages(): string[] {
  return Object.entries(REQUIRED_TOOLS)
    .filter(([cmd]) => !hasCommand(cmd))
    .map(([, pkg]) => pkg);
}

export class MissingToolsError extends Error {
  override name = 'MissingToolsError';
}

/** Makes sure every tool is present; returns the packages it installed. */
export function ensureTools(install: boolean, log: (line: string) => void): string[] {
  const missing = missingPackages();
  if (missing.length === 0) return [];
  const hint = `install them with: apt-get update && apt-get install -y ${missing.join(' ')}`;
  const root = typeof process.getuid === 'function' && process.getuid() === 0;
  if (!install || !root) {
    throw new MissingToolsError(`missing ${missing.join(', ')}; ${hint}${root ? '' : ' (as root)'}`);
  }
  log(`installing ${missing.join(' ')} with apt-get`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const r = spawnSync('apt-get', ['install', '-y', '-qq', ...missing], { stdio: 'inherit', env });
  if (r.status !== 0) {
    // A fresh image has no package lists yet.
    spawnSync('apt-get', ['update', '-qq'], { stdio: 'inherit', env });
    spawnSync('apt-get', ['install', '-y', '-qq', ...missing], { stdio: 'inherit', env });
  }
  const still = missingPackages();
  if (still.length > 0) throw new MissingToolsError(`apt-get could not install ${still.join(', ')}; ${hint}`);
  return missing;
}
