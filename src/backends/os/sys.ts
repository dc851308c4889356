// The kernel calls the real-process backend makes, declared once on the shared libc handle.
//
// Every call here returns the kernel's answer (-1 and errno on failure) instead of throwing: the scheduling
// path must not allocate, and an exception allocates. Koffi passes a TypedArray as a pointer to its bytes
// without copying, so preallocated buffers stay allocation-free (measured: 0 bytes per call after warm-up).
//
// Signals go through pidfds (glibc >= 2.36 wraps pidfd_open and pidfd_send_signal): a pidfd names one
// process for its whole life, so a recycled pid can never receive a signal meant for a task that exited.

import { errno, libc, libcUnavailableReason } from '../../mem/libc.js';

export const SIGKILL = 9;
export const SIGCONT = 18;
export const SIGSTOP = 19;
export const SIGTERM = 15;
export const SIGINT = 2;

export const O_RDONLY = 0;
export const O_WRONLY = 1;
export const O_CREAT = 0o100;
export const O_TRUNC = 0o1000;
export const O_APPEND = 0o2000;
export const O_DIRECTORY = 0o200000;
export const O_CLOEXEC = 0o2000000;
export const ESRCH = 3;
export const EINTR = 4;
export const POLLIN = 0x0001;

const PR_SET_CHILD_SUBREAPER = 36;
const WNOHANG = 1;

/** Bytes of the affinity mask we pass: 1024 CPUs, the size glibc's cpu_set_t uses. */
export const CPU_SET_BYTES = 128;
export const MAX_CPUS = CPU_SET_BYTES * 8;

type Fn = (...args: unknown[]) => number;

export interface Sys {
  open(path: string, flags: number): number;
  /**
   * openat(2) with the path as NUL-terminated bytes in a preallocated buffer: unlike `open`, no string is
   * built or converted, so the task-creation path can open /proc files without allocating.
   */
  openAt(dirfd: number, path: Uint8Array, flags: number, mode: number): number;
  /** write(2) of the first `count` bytes of `buf`. */
  write(fd: number, buf: Uint8Array, count: number): number;
  /** rename(2) between two NUL-terminated byte paths. */
  rename(from: Uint8Array, to: Uint8Array): number;
  /** getdents64(2): linux_dirent64 records of a directory into `buf` (see dirents.ts); 0 at the end. */
  getdents(fd: number, buf: Uint8Array, count: number): number;
  close(fd: number): number;
  /** pread into `buf`: bytes read, or -1. */
  pread(fd: number, buf: Uint8Array, count: number, offset: number): number;
  pwrite(fd: number, buf: Uint8Array, count: number, offset: number): number;
  pidfdOpen(pid: number): number;
  /** Signal through a pidfd: 0, or -1 (errno ESRCH once the process has exited). */
  pidfdSignal(pidfd: number, sig: number): number;
  /** sched_setaffinity of one thread; `mask` is CPU_SET_BYTES long. */
  setAffinity(tid: number, mask: Uint8Array): number;
  getAffinity(tid: number, mask: Uint8Array): number;
  /** poll(2) over a preallocated array of struct pollfd (8 bytes each). */
  poll(fds: Uint8Array, count: number, timeoutMs: number): number;
  /** Reap one exited child without blocking: its pid, 0 if still running, -1 if not our child. */
  reap(pid: number): number;
  setChildSubreaper(): number;
  gettid(): number;
  errno(): number;
}

let cached: Sys | null = null;

/** Thrown once at start-up when the kernel interface is missing: nothing here can work without it. */
export class ProcUnavailableError extends Error {
  override name = 'ProcUnavailableError';
}

/** The process's Sys, built on first use. Allocation-free after that: call it anywhere. */
export function sys(): Sys {
  return cached ?? (cached = createSys());
}

// Kept apart from sys(): V8 allocates a function's closure context on entry, before its first statement,
// so a cached-or-build function whose build half makes closures allocated ~80 bytes on EVERY call, even
// the cached ones (measured; ProcTasks.close calls sys() once per exiting task).
function createSys(): Sys {
  const lib = libc();
  if (!lib) throw new ProcUnavailableError(`real-process scheduling needs libc: ${libcUnavailableReason()}`);
  const f = (name: string, ret: string, args: string[]): Fn => lib.func(name, ret, args) as unknown as Fn;
  const open = f('open', 'int', ['str', 'int']);
  // openat is variadic in C; the mode is passed as a fourth fixed argument, which the x86-64 and AArch64
  // Linux calling conventions pass exactly as the variadic one.
  const openat = f('openat', 'int', ['int', 'void *', 'int', 'uint']);
  const write = f('write', 'long', ['int', 'void *', 'size_t']);
  const rename = f('rename', 'int', ['void *', 'void *']);
  const getdents64 = f('getdents64', 'long', ['int', 'void *', 'size_t']);
  const close = f('close', 'int', ['int']);
  const pread = f('pread', 'long', ['int', 'void *', 'size_t', 'long']);
  const pwrite = f('pwrite', 'long', ['int', 'void *', 'size_t', 'long']);
  const pidfdOpen = f('pidfd_open', 'int', ['int', 'uint']);
  const pidfdSendSignal = f('pidfd_send_signal', 'int', ['int', 'int', 'void *', 'uint']);
  const setAff = f('sched_setaffinity', 'int', ['int', 'size_t', 'void *']);
  const getAff = f('sched_getaffinity', 'int', ['int', 'size_t', 'void *']);
  const poll = f('poll', 'int', ['void *', 'ulong', 'int']);
  const waitpid = f('waitpid', 'int', ['int', 'void *', 'int']);
  const prctl = f('prctl', 'int', ['int', 'ulong', 'ulong', 'ulong', 'ulong']);
  const gettid = f('gettid', 'int', []);
  const status = new Int32Array(1);
  return {
    open: (path, flags) => open(path, flags),
    openAt: (dirfd, path, flags, mode) => openat(dirfd, path, flags, mode),
    write: (fd, buf, count) => write(fd, buf, count),
    rename: (from, to) => rename(from, to),
    getdents: (fd, buf, count) => getdents64(fd, buf, count),
    close: (fd) => close(fd),
    pread: (fd, buf, count, offset) => pread(fd, buf, count, offset),
    pwrite: (fd, buf, count, offset) => pwrite(fd, buf, count, offset),
    pidfdOpen: (pid) => pidfdOpen(pid, 0),
    pidfdSignal: (pidfd, sig) => pidfdSendSignal(pidfd, sig, null, 0),
    setAffinity: (tid, mask) => setAff(tid, CPU_SET_BYTES, mask),
    getAffinity: (tid, mask) => getAff(tid, CPU_SET_BYTES, mask),
    poll: (fds, count, timeoutMs) => poll(fds, count, timeoutMs),
    reap: (pid) => waitpid(pid, status, WNOHANG),
    setChildSubreaper: () => prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0),
    gettid: () => gettid(),
    errno: () => errno(),
  };
}

/** A CPU mask buffer with exactly the CPUs in `cpus` set. */
export function cpuMask(cpus: readonly number[]): Uint8Array {
  const mask = new Uint8Array(CPU_SET_BYTES);
  for (const cpu of cpus) setMaskCpu(mask, cpu);
  return mask;
}

export function setMaskCpu(mask: Uint8Array, cpu: number): void {
  mask[cpu >>> 3] = mask[cpu >>> 3]! | (1 << (cpu & 7));
}

export function clearMask(mask: Uint8Array): void {
  mask.fill(0);
}

/** Every CPU the kernel may run tasks on: the mask a released task gets back. */
export function onlineCpus(): number[] {
  const mask = new Uint8Array(CPU_SET_BYTES);
  if (sys().getAffinity(0, mask) !== 0) throw new ProcUnavailableError(`sched_getaffinity failed (errno ${sys().errno()})`);
  const cpus: number[] = [];
  for (let cpu = 0; cpu < MAX_CPUS; cpu++) if ((mask[cpu >>> 3]! >> (cpu & 7)) & 1) cpus.push(cpu);
  return cpus;
}
