// Reading processes from /proc without trusting them to still exist: every read may race an exit, so each
// returns undefined instead of throwing when the process is gone.

import { readFileSync, readdirSync } from 'node:fs';

export interface ProcStat {
  pid: number;
  comm: string;
  /** R, S, D, T (stopped), t (traced), Z, ... */
  state: string;
  ppid: number;
  pgrp: number;
  /** Clock ticks since boot: with the pid, it names one process even after the pid is reused. */
  startTicks: number;
}

/** Parses the text of /proc/<pid>/stat; the command name may hold spaces and parentheses. */
export function parseStat(text: string): ProcStat | undefined {
  const open = text.indexOf('(');
  const close = text.lastIndexOf(')');
  if (open < 0 || close < open) return undefined;
  const pid = Number(text.slice(0, open).trim());
  // Fields after the name start at field 3 (state); starttime is field 22.
  const rest = text.slice(close + 2).split(' ');
  if (rest.length < 20 || !Number.isInteger(pid)) return undefined;
  return {
    pid,
    comm: text.slice(open + 1, close),
    state: rest[0]!,
    ppid: Number(rest[1]),
    pgrp: Number(rest[2]),
    startTicks: Number(rest[19]),
  };
}

/** The text of /proc/<pid>/<file>, or undefined when the process is gone (or the kernel has no such file). */
export function procText(pid: number, file: string): string | undefined {
  try {
    return readFileSync(`/proc/${pid}/${file}`, 'latin1');
  } catch {
    return undefined;
  }
}

export function readStat(pid: number): ProcStat | undefined {
  try {
    return parseStat(readFileSync(`/proc/${pid}/stat`, 'latin1'));
  } catch {
    return undefined;
  }
}

export function isStopped(state: string): boolean {
  return state === 'T' || state === 't';
}

/** Every process on the system right now. */
export function listPids(): number[] {
  const pids: number[] = [];
  for (const name of readdirSync('/proc')) {
    const c = name.charCodeAt(0);
    if (c >= 48 && c <= 57) pids.push(Number(name));
  }
  return pids;
}

/** Whether the process's environment (as it was at exec) holds `key=value`. */
export function hasEnv(pid: number, entry: string): boolean | undefined {
  try {
    const env = readFileSync(`/proc/${pid}/environ`, 'latin1');
    return env.split('\0').includes(entry);
  } catch {
    return undefined;
  }
}

/** A field of /proc/<pid>/status in kB (VmRSS, VmHWM, ...), or undefined when gone. */
export function statusKiB(pid: number, field: string): number | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/status`, 'latin1');
  } catch {
    return undefined;
  }
  const at = text.indexOf(`\n${field}:`);
  if (at < 0) return undefined;
  return Number.parseInt(text.slice(at + field.length + 2).trimStart(), 10);
}

export function cmdline(pid: number): string | undefined {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'latin1').split('\0').filter(Boolean).join(' ');
  } catch {
    return undefined;
  }
}

/** Same process as before: alive and not a later process that reused the pid. */
export function sameProcess(pid: number, startTicks: number): boolean {
  const st = readStat(pid);
  return st !== undefined && st.startTicks === startTicks && st.state !== 'Z';
}

/** Signals a process only if it is still the one we recorded, so a reused pid never gets our signal. */
export function signalIfSame(pid: number, startTicks: number, signal: NodeJS.Signals): boolean {
  if (!sameProcess(pid, startTicks)) return false;
  try {
    process.kill(pid, signal);
    return true;
  } catch {
    return false;
  }
}

/** Children of every thread of a process (/proc/<pid>/task/<tid>/children). */
export function childrenOf(pid: number): number[] {
  const out: number[] = [];
  let tids: string[];
  try {
    tids = readdirSync(`/proc/${pid}/task`);
  } catch {
    return out;
  }
  for (const tid of tids) {
    try {
      for (const w of readFileSync(`/proc/${pid}/task/${tid}/children`, 'latin1').split(' ')) if (w) out.push(Number(w));
    } catch {
      // Thread gone, or a kernel without CONFIG_PROC_CHILDREN.
    }
  }
  return out;
}
