// The two scheduling syscalls the sched_ext backend makes besides libbpf's: sched_yield (the loop lets its
// CPU run ops.dispatch after writing dispatch records) and sched_setscheduler (a task set to SCHED_EXT is
// scheduled by tsland in partial mode; its children inherit the class across fork).

import { errno, libc } from '../../../mem/libc.js';

/** The scheduling class sched_ext tasks belong to (include/uapi/linux/sched.h). */
export const SCHED_EXT = 7;
export const SCHED_NORMAL = 0;

type Fn = (...args: unknown[]) => number;
let yieldFn: Fn | null = null;
let setschedFn: Fn | null = null;
let getschedFn: Fn | null = null;
const param = new Int32Array(1);

function bind(): void {
  const lib = libc();
  if (!lib) throw new Error('the sched_ext backend needs libc');
  yieldFn = lib.func('sched_yield', 'int', []) as unknown as Fn;
  setschedFn = lib.func('sched_setscheduler', 'int', ['int', 'int', 'void *']) as unknown as Fn;
  getschedFn = lib.func('sched_getscheduler', 'int', ['int']) as unknown as Fn;
}

/** sched_yield(2); 0. Allocation-free after the first call. */
export function schedYield(): number {
  if (yieldFn === null) bind();
  return yieldFn!();
}

/**
 * Moves one task (a thread id) into a scheduling class, priority 0. Returns 0, or the errno (ESRCH: gone,
 * EINVAL: the kernel has no such class, EPERM: not allowed).
 */
export function setSchedulingClass(tid: number, policy: number): number {
  if (setschedFn === null) bind();
  param[0] = 0;
  return setschedFn!(tid, policy, param) === 0 ? 0 : errno();
}

/** The scheduling class of a task, or -1 (gone). */
export function schedulingClass(tid: number): number {
  if (getschedFn === null) bind();
  return getschedFn!(tid);
}
