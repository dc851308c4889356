// Locks each task slab in RAM as it is created (prefaulted, then mlock'd, like the arena), so a dispatch
// never waits on a page fault. A slab the kernel refuses to lock (RLIMIT_MEMLOCK, no libc) still works;
// it is counted so health and stats can say the scheduler runs unlocked.

import { lockBuffer, type LockHandle } from '../mem/index.js';

export interface SlabLocker {
  lock: ((sab: SharedArrayBuffer) => boolean) | undefined;
  /**
   * Keeps exactly `buffers` locked among the growable tables (run queue, pid map): locks new ones, unlocks
   * the ones they replaced. Called on the creation path after anything may have grown.
   */
  track: (buffers: readonly ArrayBufferLike[]) => void;
  unlockAll: () => void;
}

export function slabLocker(enabled: boolean): SlabLocker {
  if (!enabled) {
    // Unlocked, the tables are still faulted in now, on the creation path, rather than by a dispatch.
    const touched = new WeakSet<ArrayBufferLike>();
    return {
      lock: undefined,
      track: (buffers) => {
        for (const buffer of buffers) {
          if (touched.has(buffer)) continue;
          touched.add(buffer);
          touchPages(buffer);
        }
      },
      unlockAll: () => {},
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
        if (!tracked.has(buffer) && buffer.byteLength > 0) tracked.set(buffer, lockBuffer(buffer as ArrayBuffer, { allowUnlocked: true }));
      }
    },
    unlockAll: () => {
      for (const h of handles.splice(0)) h.unlock();
      for (const h of tracked.values()) h.unlock();
      tracked.clear();
    },
  };
}

const PAGE_BYTES = 4096;

/** Writes one byte of every page back to itself: the page is allocated and its content kept. */
function touchPages(buffer: ArrayBufferLike): void {
  const u8 = new Uint8Array(buffer);
  for (let i = 0; i < u8.length; i += PAGE_BYTES) u8[i] = u8[i]!;
}
