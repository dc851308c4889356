// CPU time of a process or one of its threads, from /proc/<pid>[/task/<tid>]/stat, for bench:scx.

import { readFileSync } from 'node:fs';
import { USER_HZ } from '../../src/backends/os/procfs.js';

export interface CpuTime {
  comm: string;
  /** utime and stime, ms (tick resolution: 10 ms). */
  userMs: number;
  sysMs: number;
  /** The nice value (stat field 19). */
  nice: number;
}

/** A process's (every thread's) CPU time, or one thread's with `tid`. Throws when it is gone. */
export function readCpuTime(pid: number, tid?: number): CpuTime {
  const stat = readFileSync(tid === undefined ? `/proc/${pid}/stat` : `/proc/${pid}/task/${tid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return {
    comm: stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')')),
    userMs: (Number(f[11]) * 1000) / USER_HZ,
    sysMs: (Number(f[12]) * 1000) / USER_HZ,
    nice: Number(f[16]),
  };
}

/** utime + stime of a whole process, ms. */
export function cpuMsOf(pid: number): number {
  const t = readCpuTime(pid);
  return t.userMs + t.sysMs;
}
