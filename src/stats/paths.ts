// Where stats sockets live. Root uses /run/tsland (as scx uses /var/run/scx); another user gets a private
// directory under XDG_RUNTIME_DIR or the temp dir, so a non-root `tsland run` still serves stats and
// `tsland stats` run by the same user finds it.

import { mkdirSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const ROOT_STATS_DIR = '/run/tsland';
export const SOCKET_SUFFIX = '.sock';
/** When set, the one directory sockets are put in and looked for. */
export const STATS_DIR_ENV = 'TSLAND_STATS_DIR';

function uid(): number {
  return typeof process.getuid === 'function' ? process.getuid() : -1;
}

/** The directory this user's instances put their sockets in. */
export function statsDir(): string {
  const fromEnv = process.env[STATS_DIR_ENV];
  if (fromEnv) return fromEnv;
  if (uid() === 0) return ROOT_STATS_DIR;
  if (process.env.XDG_RUNTIME_DIR) return join(process.env.XDG_RUNTIME_DIR, 'tsland');
  return join(tmpdir(), `tsland-${uid()}`);
}

/** Every directory `tsland stats` scans, the user's own first; only TSLAND_STATS_DIR when that is set. */
export function searchDirs(): string[] {
  const fromEnv = process.env[STATS_DIR_ENV];
  if (fromEnv) return [fromEnv];
  return [...new Set([statsDir(), ROOT_STATS_DIR])];
}

export function defaultSocketPath(pid = process.pid, dir = statsDir()): string {
  return join(dir, `${pid}${SOCKET_SUFFIX}`);
}

/** Creates the socket's directory private to its owner; refuses a directory someone else owns. */
export function ensureSocketDir(dir: string): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const st = statSync(dir);
  if (!st.isDirectory()) throw new Error(`stats socket directory ${dir} is not a directory`);
  if (uid() >= 0 && st.uid !== uid()) throw new Error(`stats socket directory ${dir} belongs to uid ${st.uid}, not to us`);
}
