// Locks each task slab in RAM as it is created (prefaulted, then mlock'd, like the arena), so a dispatch
// never waits on a page fault. A slab the kernel refuses to lock (RLIMIT_MEMLOCK, no libc) still works;
// it is counted so health and stats can say the scheduler runs unlocked.
//
// Locked is not enough after a fork. A buffer's storage is malloc'd, so its first and last pages are
// shared with other memory; they are locked but cannot be left out of a child (MADV_DONTFORK covers only
// the whole pages inside, see mem/lock.ts), and a fork makes them copy-on-write: the next write to each
// faults: a page first written after the fork (a slot or run-queue depth first reached in a burst of new
// tasks) faulted minutes into a soak. tsland no longer forks once its tables exist, except where it has no
// shell to hold its command with (see backends/session/command.ts); `retouch()` (and `touchPages` for the
// slabs) writes every page once, right after such a fork.

import { lockBuffer, type LockHandle } from '../mem/index.js';

export interface SlabLocker {
  lock: ((sab: SharedArrayBuffer) => boolean) | undefined;
  /**
   * Keeps exactly `buffers` locked among the growable tables (run queue, pid map): locks new ones, unlocks
   * the ones they replaced. Called on the creation path after anything may have grown.
   */
  track: (buffers: readonly ArrayBufferLike[]) => void;
  unlockAll: () => void;
  /** Writes one byte of every page of every tracked table (atomically, in place): call it after a fork. */
  retouch: () => void;
}

export function slabLocker(enabled: boolean): SlabLocker {
  if (!enabled) {
    // Unlocked, the tables are still faulted in now, on the creation path, rather than by a dispatch.
    let held: readonly ArrayBufferLike[] = [];
    return {
      lock: undefined,
      track: (buffers) => {
        for (const buffer of buffers) if (!held.includes(buffer)) touchPages(buffer);
        held = [...buffers];
      },
      unlockAll: () => {
        held = [];
      },
      retouch: () => {
        for (const buffer of held) touchPages(buffer);
      },
    };
  }
  const handles: LockHandle[] = [];
  const tracked = new Map<ArrayBufferLike, LockHandle>();
  return {
    lock: (sab) => {
      const handle = lockBuffer(sab, { allowUnlocked: true });
      handles.push(handle);
      return handle.locked;
    },
    track: (buffers) => {
      for (const [buffer, handle] of tracked) {
        if (!buffers.includes(buffer)) {
          handle.unlock();
          tracked.delete(buffer);
        }
      }
      for (const buffer of buffers) {
        if (!tracked.has(buffer) && buffer.byteLength > 0)
          tracked.set(buffer, lockBuffer(buffer as ArrayBuffer, { allowUnlocked: true }));
      }
    },
    unlockAll: () => {
      for (const h of handles.splice(0)) h.unlock();
      for (const h of tracked.values()) h.unlock();
      tracked.clear();
    },
    retouch: () => {
      for (const buffer of tracked.keys()) touchPages(buffer);
    },
  };
}

const PAGE_BYTES = 4096;

/**
 * Adds 0 to one byte of every page the buffer spans, its last byte included (storage starts a few bytes
 * into a page, so stepping from the first byte alone can miss the last page). Atomically, because a
 * shared buffer may be written by another thread meanwhile: a plain read-then-write could undo its write.
 */
export function touchPages(buffer: ArrayBufferLike): void {
  const u8 = new Uint8Array(buffer);
  if (u8.length === 0) return;
  for (let i = 0; i < u8.length; i += PAGE_BYTES) Atomics.add(u8, i, 0);
  Atomics.add(u8, u8.length - 1, 0);
}
