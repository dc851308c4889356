// Transparent huge pages, turned off for this process. Where the kernel's THP mode is `always` (Debian's
// and RHEL's default kernels), khugepaged keeps collapsing the process's anonymous memory into huge pages
// while malloc and V8 give parts of it back, which splits them again: a thread touching a page in the middle
// of such a cycle takes a page fault, locked arena or not, because what it touches is not the arena (the
// epoll buffer of the sched_ext loop, V8's heap). Measured in the sched_ext guest (THP `always`, a vm
// stressor beside): tsland's scheduler thread took 13 faults in 100 s, 10 of them the kernel writing epoll
// events into user memory; with THP off for the process, 4 in 120 s, none of them there.
//
// prctl(PR_SET_THP_DISABLE) marks the whole address space and is inherited by children across fork and
// execve: call it only in a process that starts no workload of its own (`tsland start`), never where the
// user's command is spawned.

import { errno, libc } from './libc.js';

const PR_SET_THP_DISABLE = 41;
const PR_GET_THP_DISABLE = 42;

type Prctl = (option: number, a2: number, a3: number, a4: number, a5: number) => number;
let prctlFn: Prctl | null | undefined;

function prctl(): Prctl | null {
  if (prctlFn === undefined) {
    const lib = libc();
    prctlFn = lib ? (lib.func('prctl', 'int', ['int', 'ulong', 'ulong', 'ulong', 'ulong']) as unknown as Prctl) : null;
  }
  return prctlFn;
}

/** Turns transparent huge pages off for this process (and what it starts later). Returns '' or why not. */
export function disableTransparentHugePages(): string {
  const f = prctl();
  if (!f) return 'libc is not available';
  if (f(PR_SET_THP_DISABLE, 1, 0, 0, 0) !== 0) return `prctl(PR_SET_THP_DISABLE) failed: errno ${errno()}`;
  return '';
}

/** True when transparent huge pages are off for this process (PR_GET_THP_DISABLE). */
export function transparentHugePagesDisabled(): boolean {
  const f = prctl();
  return f !== null && f(PR_GET_THP_DISABLE, 0, 0, 0, 0) === 1;
}
