// vm.compact_unevictable_allowed: while it is 1, kcompactd may migrate mlocked pages to defragment memory,
// and a page being migrated faults on access even though it is locked. scx_rustland sets it to 0 while it
// runs and puts it back afterwards; so do we. The setting is system-wide, so it is restored on every way
// out we can see: the last unlock, a normal exit, SIGINT, SIGTERM and SIGHUP.

import { readFileSync, writeFileSync } from 'node:fs';

export const COMPACT_UNEVICTABLE_PATH = '/proc/sys/vm/compact_unevictable_allowed';

const RESTORE_SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

let savedValue: string | null = null;
let users = 0;
let hooksInstalled = false;

export interface SysctlOutcome {
  applied: boolean;
  /** Why it could not be applied (empty when applied). Callers report it as a warning. */
  warning: string;
}

/** Sets vm.compact_unevictable_allowed=0 (reference counted); release with `releaseCompactUnevictable`. */
export function holdCompactUnevictable(path: string = COMPACT_UNEVICTABLE_PATH): SysctlOutcome {
  if (users > 0) {
    users++;
    return { applied: true, warning: '' };
  }
  let previous: string;
  try {
    previous = readFileSync(path, 'utf8').trim();
  } catch (err) {
    return { applied: false, warning: `cannot read ${path}: ${(err as Error).message}` };
  }
  try {
    if (previous !== '0') writeFileSync(path, '0\n');
  } catch (err) {
    return { applied: false, warning: `cannot set ${path} to 0 (kept ${previous}): ${(err as Error).message}` };
  }
  savedValue = previous;
  activePath = path;
  users = 1;
  installHooks();
  return { applied: true, warning: '' };
}

let activePath = COMPACT_UNEVICTABLE_PATH;

export function releaseCompactUnevictable(): void {
  if (users === 0) return;
  users--;
  if (users === 0) restore();
}

function restore(): void {
  if (savedValue === null) return;
  const value = savedValue;
  savedValue = null;
  users = 0;
  try {
    if (value !== '0') writeFileSync(activePath, `${value}\n`);
  } catch {
    // Nothing more can be done on the way out; the value read back by the user shows it.
  }
  uninstallHooks();
}

function onExit(): void {
  restore();
}

function onSignal(signal: NodeJS.Signals): void {
  restore();
  // Our listener suppressed Node's default action; if nobody else handles the signal, die of it as
  // the process would have without us.
  if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
}

function installHooks(): void {
  if (hooksInstalled) return;
  hooksInstalled = true;
  process.on('exit', onExit);
  for (const sig of RESTORE_SIGNALS) process.on(sig, onSignal);
}

function uninstallHooks(): void {
  if (!hooksInstalled) return;
  hooksInstalled = false;
  process.off('exit', onExit);
  for (const sig of RESTORE_SIGNALS) process.off(sig, onSignal);
}
