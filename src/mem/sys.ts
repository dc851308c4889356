// The kernel calls the memory part needs, declared once on the shared libc handle (./libc.ts).
// Every declaration is made lazily on first use so that importing tsland/mem never touches libc, and each
// accessor returns null where the platform has no libc (the callers then report "unavailable").
//
// Addresses travel as plain numbers: user-space addresses on Linux x86-64 and arm64 stay below 2^48,
// well inside the 2^53 a double holds exactly, so no BigInt is ever created.

import { errno, koffi, libc, libcUnavailableReason } from './libc.js';

type Fn = (...args: unknown[]) => unknown;

/** Linux constants (asm-generic values, the same on x86-64 and arm64). */
export const RLIMIT_MEMLOCK = 8;
export const RUSAGE_SELF = 0;
export const RUSAGE_THREAD = 1;
/**
 * Leave these pages out of a forked child. After fork() every private page is copy-on-write in the parent
 * too, so the parent's next write to each locked page faults once to copy it (measured: 256 faults for a
 * locked 1 MiB buffer after one child_process.spawn). A child that only execs never needs them.
 */
export const MADV_DONTFORK = 10;
export const MADV_DOFORK = 11;
export const MADV_HUGEPAGE = 14;
/** Linux 5.14+: fault every page in writable, without touching it from JS. EINVAL on older kernels. */
export const MADV_POPULATE_WRITE = 23;
export const O_RDONLY = 0;
export const O_CLOEXEC = 0o2000000;
export const SC_PAGESIZE = 30;

export const EPERM = 1;
export const EAGAIN = 11;
export const ENOMEM = 12;
export const EINVAL = 22;

const ERRNO_NAMES: Readonly<Record<number, string>> = {
  [EPERM]: 'EPERM',
  [EAGAIN]: 'EAGAIN',
  [ENOMEM]: 'ENOMEM',
  [EINVAL]: 'EINVAL',
  2: 'ENOENT',
  9: 'EBADF',
  13: 'EACCES',
  14: 'EFAULT',
  38: 'ENOSYS',
};

export function errnoName(code: number): string {
  return ERRNO_NAMES[code] ?? `errno ${code}`;
}

/**
 * struct rlimit and struct rusage as this code reads them (64-bit Linux: rlim_t and long are 8 bytes).
 *
 *   struct rlimit (16 bytes)
 *   byte 0               8               16
 *        +---------------+---------------+
 *        | rlim_cur      | rlim_max      |    u64 each; all ones = RLIM_INFINITY
 *        +---------------+---------------+
 *
 *   struct rusage (144 bytes; only the two fault counters are read)
 *   byte 0        16        32   ...   64          72          80   ...  144
 *        +---------+---------+-- ... --+-----------+-----------+-- ... --+
 *        | ru_utime| ru_stime|  maxrss,| ru_minflt | ru_majflt |  nswap, |
 *        | timeval | timeval | ixrss.. |   long    |   long    |  ...    |
 *        +---------+---------+-- ... --+-----------+-----------+-- ... --+
 */
export const RLIMIT_BYTES = 16;
export const RLIM_CUR_OFFSET = 0;
export const RLIM_MAX_OFFSET = 8;
export const RUSAGE_BYTES = 144;
export const RU_MINFLT_OFFSET = 64;
export const RU_MAJFLT_OFFSET = 72;
/** Read the longs as two 32-bit halves: a BigInt64Array read would allocate a BigInt. */
export const RU_MINFLT_U32 = RU_MINFLT_OFFSET / 4;
export const RU_MAJFLT_U32 = RU_MAJFLT_OFFSET / 4;
export const U32_SPAN = 2 ** 32;

export interface Sys {
  /** The address of a view's first byte (memmove(p, p, 0) returns its destination: a no-op that tells it). */
  addressOf(view: Uint8Array): number;
  mlock(address: number, sizeBytes: number): number;
  munlock(address: number, sizeBytes: number): number;
  madvise(address: number, sizeBytes: number, advice: number): number;
  getrlimit(resource: number, out: Uint8Array): number;
  setrlimit(resource: number, limit: Uint8Array): number;
  getrusage(who: number, out: Int32Array): number;
  open(path: string, flags: number): number;
  pread(fd: number, out: Uint8Array, sizeBytes: number, offsetBytes: number): number;
  close(fd: number): number;
  pageSizeBytes: number;
  errno(): number;
}

let sys: Sys | null | undefined;

/** The bound calls, or null where libc is not reachable (see `sysUnavailableReason`). */
export function getSys(): Sys | null {
  if (sys === undefined) sys = createSys();
  return sys;
}

// Apart from getSys, whose cached path must not allocate: V8 allocates a function's closure context on
// entry, so the closures made here would cost every cached call ~80 bytes if this code lived in getSys.
function createSys(): Sys | null {
  const lc = libc();
  if (!lc || !koffi()) return null;
  const f = (def: string): Fn => lc.func(def) as unknown as Fn;
  const memmove = f('uintptr_t memmove(void *dst, void *src, size_t n)');
  const mlock = f('int mlock(uintptr_t addr, size_t len)');
  const munlock = f('int munlock(uintptr_t addr, size_t len)');
  const madvise = f('int madvise(uintptr_t addr, size_t len, int advice)');
  const getrlimit = f('int getrlimit(int resource, void *rlim)');
  const setrlimit = f('int setrlimit(int resource, void *rlim)');
  const getrusage = f('int getrusage(int who, void *usage)');
  const open = f('int open(const char *path, int flags)');
  const pread = f('intptr_t pread(int fd, void *buf, size_t count, intptr_t offset)');
  const close = f('int close(int fd)');
  const sysconf = f('long sysconf(int name)');
  return {
    addressOf: (view) => memmove(view, view, 0) as number,
    mlock: (a, n) => mlock(a, n) as number,
    munlock: (a, n) => munlock(a, n) as number,
    madvise: (a, n, adv) => madvise(a, n, adv) as number,
    getrlimit: (r, out) => getrlimit(r, out) as number,
    setrlimit: (r, lim) => setrlimit(r, lim) as number,
    // Called on the hot path: koffi passes the typed array's storage directly, nothing is allocated.
    getrusage: getrusage as (who: number, out: Int32Array) => number,
    open: (p, fl) => open(p, fl) as number,
    pread: pread as (fd: number, out: Uint8Array, n: number, off: number) => number,
    close: (fd) => close(fd) as number,
    pageSizeBytes: Number(sysconf(SC_PAGESIZE)) || 4096,
    errno,
  };
}

export function sysUnavailableReason(): string {
  return getSys() ? '' : libcUnavailableReason() || 'libc is not available';
}

/** Reads a u64 stored little-endian at byte `offset` of `bytes` as a number (Infinity for all ones). */
export function readU64(bytes: Uint8Array, offset: number): number {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const lo = view.getUint32(offset, true);
  const hi = view.getUint32(offset + 4, true);
  if (lo === 0xffffffff && hi === 0xffffffff) return Infinity;
  return hi * U32_SPAN + lo;
}

export function writeU64(bytes: Uint8Array, offset: number, value: number): void {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (value === Infinity) {
    view.setUint32(offset, 0xffffffff, true);
    view.setUint32(offset + 4, 0xffffffff, true);
    return;
  }
  view.setUint32(offset, value % U32_SPAN, true);
  view.setUint32(offset + 4, Math.floor(value / U32_SPAN), true);
}
