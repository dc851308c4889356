// Locks each task slab in RAM as it is created (prefaulted, then mlock'd, like the arena), so a dispatch
// never waits on a page fault. A slab the kernel refuses to lock (RLIMIT_MEMLOCK, no libc) still works;
// it is counted so health and stats can say the scheduler runs unlocked.

import { lockBuffer, type LockHandle } from '../mem/index.js';

export interface SlabLocker {
  lock: ((sab: SharedArrayBuffer) => boolean) | undefined;
  unlockAll: () => void;
}

export function slabLocker(enabled: boolean): SlabLocker {
  if (!enabled) return { lock: undefined, unlockAll: () => {} };
  const handles: LockHandle[] = [];
  return {
    lock: (sab) => {
      const handle = lockBuffer(sab, { allowUnlocked: true });
      handles.push(handle);
      return handle.locked;
    },
    unlockAll: () => {
      for (const h of handles.splice(0)) h.unlock();
    },
  };
}
