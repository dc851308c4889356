// libbpf.so.1 through koffi: only the calls the loader makes, once, at start-up (no libbpf call is on the
// scheduling path: the rings are read and written in place, see rings.ts).
//
// Which library: $TSLAND_LIBBPF (a path), else the guest cache's libbpf.so.1, else the system's
// libbpf.so.1. Versions below 1.4 are refused (sched_ext struct_ops links, USER_RINGBUF and `___suffix`
// kfunc names need it).

import { existsSync } from 'node:fs';
import { koffi } from '../../mem/libc.js';

export const LIBBPF_MIN_MAJOR = 1;
export const LIBBPF_MIN_MINOR = 4;
export const LIBBPF_PACKAGE_HINT =
  'install libbpf >= 1.4 (Debian 12: libbpf1 from bookworm-backports; Ubuntu 24.04: libbpf1) or set TSLAND_LIBBPF to a libbpf.so.1';

/** Opaque libbpf handles (koffi pointers). */
export type Ptr = object;

export interface Libbpf {
  path: string;
  version: string;
  openFile(path: string, opts: Uint8Array): Ptr | null;
  findMapByName(obj: Ptr, name: string): Ptr | null;
  nextMap(obj: Ptr, prev: Ptr | null): Ptr | null;
  mapName(map: Ptr): string;
  /** Address and size of a map's initial value (rodata, struct_ops value; after load: the live mmap). */
  initialValue(map: Ptr): { ptr: Ptr; sizeBytes: number } | null;
  load(obj: Ptr): number;
  mapFd(map: Ptr): number;
  attachStructOps(map: Ptr): Ptr | null;
  linkDestroy(link: Ptr): number;
  close(obj: Ptr): void;
  /** libbpf's own warnings since the last call (its print callback), oldest first. */
  takeMessages(): string[];
  errno(): number;
  view(ptr: Ptr, sizeBytes: number): ArrayBuffer;
  /**
   * Runs `fn` with every signal blocked in the calling thread, then restores its mask. The verifier gives up
   * with EAGAIN ("processed 1 insns") whenever a signal is pending, and libbpf retries only a few times: a
   * profiler's SIGPROF every millisecond (node --cpu-prof) made every load fail under software emulation.
   * A signal sent to the process meanwhile goes to another thread, or waits until the mask is restored.
   */
  withSignalsBlocked<T>(fn: () => T): T;
}

export class LibbpfError extends Error {
  override name = 'LibbpfError';
}

let cached: Libbpf | null = null;

const SIGSET_BYTES = 128;
const SIG_BLOCK = 0;
const SIG_SETMASK = 2;

/** Candidates in order; `guestLibbpf` is the guest cache's libbpf.so.1 when one is set up. */
export function libbpfCandidates(guestLibbpf: string | null): string[] {
  const list: string[] = [];
  const env = process.env.TSLAND_LIBBPF;
  if (env) return [env];
  if (guestLibbpf && existsSync(guestLibbpf)) list.push(guestLibbpf);
  list.push('libbpf.so.1');
  return list;
}

/** Loads libbpf (once) or throws LibbpfError with one line naming what to install. */
export function openLibbpf(guestLibbpf: string | null = null): Libbpf {
  if (cached) return cached;
  const k = koffi();
  if (!k) throw new LibbpfError('koffi is not available: cannot reach libbpf');
  let lib: ReturnType<typeof k.load> | null = null;
  let path = '';
  const failures: string[] = [];
  for (const candidate of libbpfCandidates(guestLibbpf)) {
    try {
      lib = k.load(candidate);
      path = candidate;
      break;
    } catch (err) {
      failures.push(`${candidate}: ${(err as Error).message.split('\n')[0]}`);
    }
  }
  if (!lib) throw new LibbpfError(`libbpf.so.1 not found (${failures.join('; ')}): ${LIBBPF_PACKAGE_HINT}`);
  const f = (def: string) => lib!.func(def) as (...args: unknown[]) => unknown;
  let major = 0;
  let minor = 0;
  try {
    major = f('uint32_t libbpf_major_version(void)')() as number;
    minor = f('uint32_t libbpf_minor_version(void)')() as number;
  } catch {
    // before 0.7 there was no version call: too old anyway
  }
  const version = `${major}.${minor}`;
  if (major < LIBBPF_MIN_MAJOR || (major === LIBBPF_MIN_MAJOR && minor < LIBBPF_MIN_MINOR)) {
    throw new LibbpfError(`libbpf ${version} at ${path} is too old (need >= 1.4): ${LIBBPF_PACKAGE_HINT}`);
  }

  const openFile = f('void *bpf_object__open_file(const char *path, void *opts)');
  const findMap = f('void *bpf_object__find_map_by_name(void *obj, const char *name)');
  const nextMap = f('void *bpf_object__next_map(void *obj, void *map)');
  const mapName = f('const char *bpf_map__name(void *map)');
  const initialValue = f('void *bpf_map__initial_value(void *map, _Out_ size_t *psize)');
  const load = f('int bpf_object__load(void *obj)');
  const mapFd = f('int bpf_map__fd(void *map)');
  const attach = f('void *bpf_map__attach_struct_ops(void *map)');
  const linkDestroy = f('int bpf_link__destroy(void *link)');
  const close = f('void bpf_object__close(void *obj)');
  const setPrint = f('void *libbpf_set_print(void *fn)');
  const libc = k.load('libc.so.6');
  const sigmask = libc.func('int pthread_sigmask(int how, const uint8_t *set, _Out_ uint8_t *oldset)') as (
    how: number,
    set: Uint8Array | null,
    old: Uint8Array | null,
  ) => number;

  // libbpf's messages (warnings about what failed) are formatted with vsnprintf into a buffer of ours.
  const messages: string[] = [];
  const vsnprintf = libc.func('int vsnprintf(_Out_ uint8_t *buf, size_t n, const char *fmt, void *ap)');
  const printProto = k.proto('int tsland_libbpf_print(int level, const char *fmt, void *ap)');
  const line = new Uint8Array(4096);
  const printCb = k.register((level: number, fmt: string, ap: unknown) => {
    const n = vsnprintf(line, line.length, fmt, ap) as number;
    if (n > 0 && level === 0) messages.push(new TextDecoder().decode(line.subarray(0, Math.min(n, line.length - 1))).trimEnd());
    if (messages.length > 200) messages.splice(0, messages.length - 200);
    return 0;
  }, k.pointer(printProto));
  setPrint(printCb);

  const nullable = (p: unknown): Ptr | null => (p === null || p === undefined ? null : (p as Ptr));
  cached = {
    path,
    version,
    openFile: (p, opts) => nullable(openFile(p, opts)),
    findMapByName: (obj, name) => nullable(findMap(obj, name)),
    nextMap: (obj, prev) => nullable(nextMap(obj, prev)),
    mapName: (map) => String(mapName(map) ?? ''),
    initialValue(map) {
      const size = [0];
      const ptr = nullable(initialValue(map, size));
      return ptr ? { ptr, sizeBytes: Number(size[0]) } : null;
    },
    load: (obj) => load(obj) as number,
    mapFd: (map) => mapFd(map) as number,
    attachStructOps: (map) => nullable(attach(map)),
    linkDestroy: (link) => linkDestroy(link) as number,
    close: (obj) => void close(obj),
    takeMessages: () => messages.splice(0, messages.length),
    errno: () => k.errno(),
    view: (ptr, sizeBytes) => k.view(ptr, sizeBytes),
    withSignalsBlocked<T>(fn: () => T): T {
      // glibc's sigset_t: 1024 bits; the kernel ignores SIGKILL and SIGSTOP in it, glibc its own two.
      const all = new Uint8Array(SIGSET_BYTES).fill(0xff);
      const old = new Uint8Array(SIGSET_BYTES);
      const blocked = sigmask(SIG_BLOCK, all, old) === 0;
      try {
        return fn();
      } finally {
        if (blocked) sigmask(SIG_SETMASK, old, null);
      }
    },
  };
  return cached;
}
