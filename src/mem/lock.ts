// Lock the pages tsland owns, and only those. mlockall() is out: in Node 20 V8 later madvise(DONTNEED)s
// pages it gives back, Linux refuses that on locked pages and V8 aborts (SIGTRAP) at exit, on code-space
// growth or after a GC shrinks the heap. An ArrayBuffer's backing store is malloc'd by Node, never part of a
// V8 heap page, so locking it leaves V8's own bookkeeping untouched.
//
// Order of work: (hugepage advice) -> raise RLIMIT_MEMLOCK -> mlock -> prefault only if mlock was refused.
// mlock itself faults every page in before it returns, writable on a private mapping (which is what
// Node's ArrayBuffer storage is), so a separate prefault pass would walk 64 MiB twice for nothing; the
// benchmark has both side by side. When the lock is refused and the caller allowed an unlocked run, the
// pages are still prefaulted, so that run at least starts with every page present.

import { formatBytes, memlockLimit, processLockedBytes, raiseMemlockLimit, type MemlockLimit } from './limits.js';
import { holdCompactUnevictable, releaseCompactUnevictable } from './sysctl.js';
import {
  EAGAIN,
  ENOMEM,
  EPERM,
  errnoName,
  getSys,
  MADV_DOFORK,
  MADV_DONTFORK,
  MADV_HUGEPAGE,
  MADV_POPULATE_WRITE,
  sysUnavailableReason,
  type Sys,
} from './sys.js';

export interface LockOptions {
  /** Return `{ locked: false, reason }` instead of throwing MemLockError when the kernel refuses. */
  allowUnlocked?: boolean;
  /**
   * madvise(MADV_HUGEPAGE) before locking: fewer TLB misses on a big arena. Off by default: when the kernel
   * has no free 2 MiB pages it compacts memory to make some, which made the lock slower here, not faster.
   * The advice belongs to this process's mapping, so it ends with the process; nothing system-wide to
   * restore.
   */
  hugePages?: boolean;
  /** Hold vm.compact_unevictable_allowed=0 while locked, so kcompactd leaves locked pages alone. */
  compactUnevictable?: boolean;
  /**
   * How pages are faulted in. Default (true): by mlock itself, or, when running unlocked, by
   * MADV_POPULATE_WRITE (a write per page on kernels before 5.14). 'madvise' or 'touch': that method,
   * before mlock. false: never outside mlock.
   */
  prefault?: boolean | 'madvise' | 'touch';
}

export type PrefaultMethod = 'mlock' | 'madvise' | 'touch' | 'none';

export interface LockHandle {
  /** True when every page of the buffer is resident and locked. */
  readonly locked: boolean;
  /** Why the buffer is not locked (empty when it is). */
  readonly reason: string;
  /** Problems with optional features (huge pages, sysctl) that did not stop the lock. */
  readonly warnings: readonly string[];
  readonly sizeBytes: number;
  /** Wall time of faulting in and locking, in milliseconds. */
  readonly lockMs: number;
  /** How pages were faulted in: 'mlock', 'madvise' (MADV_POPULATE_WRITE), 'touch' (a write per page), 'none'. */
  readonly prefaultMethod: PrefaultMethod;
  /** Releases this handle's lock; the pages are unlocked when the last handle on the buffer lets go. */
  unlock(): void;
}

/** Anything that carries the arena's memory: tsland's arenas expose `.buffer`. */
export interface HasBuffer {
  readonly buffer: ArrayBuffer | SharedArrayBuffer;
}

/** The kernel refused to lock: says how much was asked, the limit, and what the user can do. */
export class MemLockError extends Error {
  override readonly name = 'MemLockError';
  constructor(
    message: string,
    readonly askedBytes: number,
    readonly limit: MemlockLimit | null,
    readonly errno: number,
  ) {
    super(message);
  }
}

export const REMEDIES =
  'run as root (or with CAP_IPC_LOCK), raise the limit (`ulimit -l <KiB>`, or LimitMEMLOCK= in a systemd ' +
  'unit), or run unlocked on purpose with --no-lock (lockArena option allowUnlocked: true)';

/** One entry per locked buffer: holds it strongly so the GC can never free memory that is still locked. */
interface LockRecord {
  readonly buffer: ArrayBuffer | SharedArrayBuffer;
  readonly view: Uint8Array;
  readonly sizeBytes: number;
  handles: number;
  compactHeld: number;
}

const records = new Map<ArrayBuffer | SharedArrayBuffer, LockRecord>();
let lockedBytesTotal = 0;
let exitHookInstalled = false;

export function lockArena(arena: HasBuffer, opts: LockOptions = {}): LockHandle {
  if (!arena || typeof arena !== 'object' || !arena.buffer) {
    throw new TypeError('lockArena: expected an arena (an object with a .buffer)');
  }
  return lockBuffer(arena.buffer, opts);
}

export function lockBuffer(buffer: ArrayBuffer | SharedArrayBuffer, opts: LockOptions = {}): LockHandle {
  if (!(buffer instanceof ArrayBuffer) && !(buffer instanceof SharedArrayBuffer)) {
    throw new TypeError('lockBuffer: expected an ArrayBuffer or SharedArrayBuffer');
  }
  validateOptions(opts);
  const sizeBytes = buffer.byteLength;
  const sys = getSys();
  if (!sys) {
    const reason = `memory locking unavailable: ${sysUnavailableReason()}`;
    // Off Linux there is nothing to lock with, and that is documented; on Linux a broken FFI must not
    // quietly turn into an unlocked run.
    if (process.platform === 'linux' && !opts.allowUnlocked) {
      throw new MemLockError(
        `cannot lock ${formatBytes(sizeBytes)} of arena memory: ${reason}. To run anyway: ` +
          'pass --no-lock (lockArena option allowUnlocked: true).',
        sizeBytes,
        null,
        0,
      );
    }
    return unlockedHandle(sizeBytes, reason, [], 0, 'none');
  }
  if (sizeBytes === 0) return unlockedHandle(0, 'empty buffer: nothing to lock', [], 0, 'none');

  const existing = records.get(buffer);
  if (existing) return adoptExisting(existing, opts);

  const warnings: string[] = [];
  const startMs = performance.now();
  const view = new Uint8Array(buffer);
  const address = sys.addressOf(view);

  if (opts.hugePages) adviseHugePages(sys, address, sizeBytes, warnings);
  let prefaultMethod: PrefaultMethod = 'mlock';
  if (opts.prefault === 'madvise' || opts.prefault === 'touch') {
    prefaultMethod = prefault(sys, view, address, opts.prefault === 'touch');
  }

  // The kernel locks whole pages, and malloc'd storage rarely starts on a page boundary.
  const page = sys.pageSizeBytes;
  const spanBytes = Math.ceil((address + sizeBytes) / page) * page - Math.floor(address / page) * page;
  const limitAfterRaise = raiseMemlockLimit(spanBytes, processLockedBytes(lockedBytesTotal), page);
  if (sys.mlock(address, sizeBytes) !== 0) {
    const code = sys.errno();
    const message = refusalMessage(sizeBytes, limitAfterRaise ?? memlockLimit(), code);
    if (!opts.allowUnlocked) throw new MemLockError(message, sizeBytes, limitAfterRaise, code);
    if (prefaultMethod === 'mlock') prefaultMethod = opts.prefault === false ? 'none' : prefault(sys, view, address, false);
    return unlockedHandle(sizeBytes, message, warnings, performance.now() - startMs, prefaultMethod);
  }

  // A spawned child would otherwise share every locked page copy-on-write, and each one would fault on the
  // scheduler's next write to it. Only whole pages inside the buffer: its first and last page may hold other
  // malloc'd data (an exec'ing child's environment, say) that the child does need.
  adviseFork(sys, address, sizeBytes, MADV_DONTFORK, warnings);

  const record: LockRecord = { buffer, view, sizeBytes, handles: 0, compactHeld: 0 };
  records.set(buffer, record);
  lockedBytesTotal += sizeBytes;
  installExitHook();
  const handle = newHandle(record, opts, warnings, performance.now() - startMs, prefaultMethod);
  return handle;
}

/** Bytes currently locked by this module (all buffers). */
export function lockedBytes(): number {
  return lockedBytesTotal;
}

/** VmLck of this process: what counts against RLIMIT_MEMLOCK now, whoever locked it. */
function validateOptions(opts: LockOptions): void {
  if (opts === null || typeof opts !== 'object') throw new TypeError('lock options must be an object');
  const p = opts.prefault;
  if (p !== undefined && typeof p !== 'boolean' && p !== 'madvise' && p !== 'touch') {
    throw new TypeError(`lock option prefault must be a boolean, 'madvise' or 'touch', got ${String(p)}`);
  }
  for (const key of ['allowUnlocked', 'hugePages', 'compactUnevictable'] as const) {
    const v = opts[key];
    if (v !== undefined && typeof v !== 'boolean') throw new TypeError(`lock option ${key} must be a boolean`);
  }
}

function adoptExisting(record: LockRecord, opts: LockOptions): LockHandle {
  return newHandle(record, opts, [], 0, 'none');
}

function newHandle(
  record: LockRecord,
  opts: LockOptions,
  warnings: string[],
  lockMs: number,
  prefaultMethod: PrefaultMethod,
): LockHandle {
  record.handles++;
  let holdsCompact = false;
  if (opts.compactUnevictable) {
    const outcome = holdCompactUnevictable();
    if (outcome.applied) {
      holdsCompact = true;
      record.compactHeld++;
    } else {
      warnings.push(outcome.warning);
    }
  }
  let released = false;
  return {
    locked: true,
    reason: '',
    warnings,
    sizeBytes: record.sizeBytes,
    lockMs,
    prefaultMethod,
    unlock() {
      if (released) return;
      released = true;
      if (holdsCompact) {
        record.compactHeld--;
        releaseCompactUnevictable();
      }
      record.handles--;
      if (record.handles === 0) releaseRecord(record);
    },
  };
}

function unlockedHandle(
  sizeBytes: number,
  reason: string,
  warnings: string[],
  lockMs: number,
  prefaultMethod: PrefaultMethod,
): LockHandle {
  return { locked: false, reason, warnings, sizeBytes, lockMs, prefaultMethod, unlock() {} };
}

function releaseRecord(record: LockRecord): void {
  if (!records.delete(record.buffer)) return;
  lockedBytesTotal -= record.sizeBytes;
  const sys = getSys();
  // A detached (transferred) buffer has no storage left to unlock; the kernel dropped the lock with it.
  if (sys && record.buffer.byteLength === record.sizeBytes) {
    const address = sys.addressOf(record.view);
    adviseFork(sys, address, record.sizeBytes, MADV_DOFORK, null);
    sys.munlock(address, record.sizeBytes);
  }
}

function adviseFork(sys: Sys, address: number, sizeBytes: number, advice: number, warnings: string[] | null): void {
  const page = sys.pageSizeBytes;
  const start = Math.ceil(address / page) * page;
  const end = Math.floor((address + sizeBytes) / page) * page;
  if (end <= start) return;
  if (sys.madvise(start, end - start, advice) !== 0 && warnings) {
    warnings.push(`madvise(MADV_DONTFORK) failed with ${errnoName(sys.errno())}: a spawned child makes locked pages fault once`);
  }
}

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // Unlock before Node tears the heap down, so nothing at exit ever meets a locked page it wants to drop.
  process.on('exit', () => {
    for (const record of [...records.values()]) {
      record.handles = 0;
      for (; record.compactHeld > 0; record.compactHeld--) releaseCompactUnevictable();
      releaseRecord(record);
    }
  });
}

function adviseHugePages(sys: Sys, address: number, sizeBytes: number, warnings: string[]): void {
  // madvise wants a page-aligned start; malloc'd storage starts a few bytes into its first page.
  const page = sys.pageSizeBytes;
  const start = Math.ceil(address / page) * page;
  const end = Math.floor((address + sizeBytes) / page) * page;
  if (end <= start) return;
  if (sys.madvise(start, end - start, MADV_HUGEPAGE) !== 0) {
    warnings.push(`madvise(MADV_HUGEPAGE) failed with ${errnoName(sys.errno())}: the arena uses normal pages`);
  }
}

function prefault(sys: Sys, view: Uint8Array, address: number, forceTouch: boolean): 'madvise' | 'touch' {
  const page = sys.pageSizeBytes;
  const start = Math.floor(address / page) * page;
  const end = Math.ceil((address + view.byteLength) / page) * page;
  if (!forceTouch && sys.madvise(start, end - start, MADV_POPULATE_WRITE) === 0) return 'madvise';
  // Older kernels: write each page's first byte back to itself, which faults it in writable without
  // changing the contents another thread of a SharedArrayBuffer may already rely on.
  const firstPageStart = (page - (address % page)) % page;
  if (view.byteLength > 0) view[0] = view[0]!;
  for (let i = firstPageStart; i < view.byteLength; i += page) view[i] = view[i]!;
  return 'touch';
}

function refusalMessage(askedBytes: number, limit: MemlockLimit | null, code: number): string {
  const limitText = limit
    ? `RLIMIT_MEMLOCK is ${formatBytes(limit.softBytes)} (hard limit ${formatBytes(limit.hardBytes)})`
    : 'RLIMIT_MEMLOCK could not be read';
  const already = lockedBytesTotal > 0 ? `, ${formatBytes(lockedBytesTotal)} already locked by tsland` : '';
  const cause =
    code === ENOMEM || code === EPERM || code === EAGAIN ? 'not permitted to lock that much memory' : 'the kernel refused';
  return (
    `cannot lock ${formatBytes(askedBytes)} of arena memory: mlock failed with ${errnoName(code)} ` +
    `(${cause}); ${limitText}${already}. To fix: ${REMEDIES}.`
  );
}
