// The libc calls the sched_ext backend needs beyond mem/sys.ts: mmap of the rings' map fds, and epoll to
// sleep on the `queued` ring. Declared lazily on the shared libc handle (mem/libc.ts); null where there is
// no libc. Addresses travel as koffi pointers (External) until a view is made over them.

import { errno, koffi, libc } from '../../mem/libc.js';

export const PROT_READ = 1;
export const PROT_WRITE = 2;
export const MAP_SHARED = 1;
export const EPOLL_CLOEXEC = 0o2000000;
export const EPOLL_CTL_ADD = 1;
export const EPOLLIN = 1;
export const EINTR = 4;
/** struct epoll_event on x86-64 is packed: u32 events | u64 data = 12 bytes (16 on other architectures). */
export const EPOLL_EVENT_BYTES = process.arch === 'x64' ? 12 : 16;

export interface Mapping {
  /** Memory of the mapping: views over it stay valid until unmap(). */
  buffer: ArrayBuffer;
  sizeBytes: number;
  unmap(): void;
}

export interface ScxNative {
  /** Maps `sizeBytes` of `fd` at `offsetBytes`; throws with errno on failure. */
  mmap(fd: number, sizeBytes: number, offsetBytes: number, writable: boolean): Mapping;
  epollCreate(): number;
  epollAdd(epfd: number, fd: number, events: number): number;
  /** epoll_wait into a caller-owned buffer; nothing is allocated per call. */
  epollWait: (epfd: number, events: Uint8Array, maxEvents: number, timeoutMs: number) => number;
  close(fd: number): number;
  sysconfPageSize(): number;
  errno(): number;
}

type Fn = (...args: unknown[]) => unknown;
let native: ScxNative | null | undefined;

export function scxNative(): ScxNative | null {
  if (native === undefined) native = createNative();
  return native;
}

function createNative(): ScxNative | null {
  const lc = libc();
  const k = koffi();
  if (!lc || !k) return null;
  const f = (def: string): Fn => lc.func(def) as unknown as Fn;
  const mmap = f('void *mmap(void *addr, size_t len, int prot, int flags, int fd, intptr_t off)');
  const munmap = f('int munmap(void *addr, size_t len)');
  const epollCreate1 = f('int epoll_create1(int flags)');
  const epollCtl = f('int epoll_ctl(int epfd, int op, int fd, void *event)');
  const epollWait = f('int epoll_wait(int epfd, void *events, int maxevents, int timeout)');
  const close = f('int close(int fd)');
  const sysconf = f('long sysconf(int name)');
  const MAP_FAILED = 0xffffffffffffffffn;
  return {
    mmap(fd, sizeBytes, offsetBytes, writable) {
      const prot = PROT_READ | (writable ? PROT_WRITE : 0);
      const ptr = mmap(null, sizeBytes, prot, MAP_SHARED, fd, offsetBytes);
      if (ptr === null || k.address(ptr) === MAP_FAILED) {
        const code = errno();
        throw Object.assign(new Error(`mmap of fd ${fd} (${sizeBytes} bytes at ${offsetBytes}) failed: errno ${code}`), {
          errno: code,
        });
      }
      let mapped = true;
      return {
        buffer: k.view(ptr, sizeBytes),
        sizeBytes,
        unmap() {
          if (mapped) munmap(ptr, sizeBytes);
          mapped = false;
        },
      };
    },
    epollCreate: () => epollCreate1(EPOLL_CLOEXEC) as number,
    epollAdd(epfd, fd, events) {
      const ev = new Uint8Array(EPOLL_EVENT_BYTES);
      new DataView(ev.buffer).setUint32(0, events, true);
      new DataView(ev.buffer).setUint32(4, fd, true);
      return epollCtl(epfd, EPOLL_CTL_ADD, fd, ev) as number;
    },
    epollWait: epollWait as (epfd: number, events: Uint8Array, maxEvents: number, timeoutMs: number) => number,
    close: (fd) => close(fd) as number,
    sysconfPageSize: () => Number(sysconf(30)) || 4096,
    errno,
  };
}
