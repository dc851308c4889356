// A drill for an allocator's code before a latency-critical loop starts: a few thousand allocations,
// reallocations and frees of mixed sizes on a scratch arena, so that every branch (splitting, merging with
// either neighbour, unlinking a block from the middle of its free list, failing for want of space) has run
// and V8 holds type feedback for all of them. V8 shares that feedback between arenas of one strategy: the
// real arena's code, once optimized, is then not deoptimized later by the first rare case, whose
// recompilation would fault in fresh code pages in the middle of the loop.

import { createArena } from './create.js';
import type { ArenaStrategy } from './types.js';

const DRILL_ARENA_BYTES = 64 * 1024;
const DRILL_SLOTS = 64;
const DRILL_FULL_ARENA_BYTES = 16 * 1024;

/** Runs `ops` mixed operations on a scratch arena of `strategy`, then fills one up; deterministic, tens of ms. */
export function drillArena(strategy: ArenaStrategy = 'tlsf', ops = 4000): void {
  const arena = createArena({ sizeBytes: DRILL_ARENA_BYTES, strategy });
  const live = new Uint32Array(DRILL_SLOTS);
  let seed = 0x9e3779b9;
  const next = (): number => {
    seed ^= seed << 13;
    seed ^= seed >>> 17;
    seed ^= seed << 5;
    return seed >>> 0;
  };
  for (let i = 0; i < ops; i++) {
    const r = next();
    const k = r % DRILL_SLOTS;
    // Mostly small blocks, sometimes one big enough to fail once the arena is busy.
    const size = (r >>> 8) % 16 === 0 ? 4096 + ((r >>> 12) % 16384) : 8 + ((r >>> 12) % 256);
    if (live[k] === 0) {
      live[k] = (r >>> 20) % 4 === 0 ? arena.calloc(size) : arena.alloc(size, (r >>> 24) % 3 === 0 ? 64 : 8);
    } else if ((r >>> 20) % 3 === 0) {
      const moved = arena.realloc(live[k]!, size);
      if (moved !== 0) live[k] = moved;
    } else {
      arena.usableSize(live[k]!);
      arena.free(live[k]!);
      live[k] = 0;
    }
    if (r % 64 === 0) {
      // The smallest request, and ones larger than the whole arena and than any class.
      arena.free(arena.alloc(0));
      arena.free(arena.alloc(0, 64));
      arena.alloc(DRILL_ARENA_BYTES * 2);
      arena.alloc(0xffffffff);
    }
  }
  drillFullArena(strategy);
  for (let k = 0; k < DRILL_SLOTS; k++) arena.free(live[k]!);
  if (arena.stats().liveBlocks !== 0) throw new Error('arena drill: blocks left live after freeing all');
}

/**
 * An arena filled with blocks of one size, then one freed: a request in that block's size class, not at the
 * class's start, finds no larger class free and falls back to the class's head (tlsf's exact-fit fallback),
 * which is too small for it in the first case (608 bytes for 616) and just large enough in the second.
 */
function drillFullArena(strategy: ArenaStrategy): void {
  for (const [fill, ask] of [
    [604, 612],
    [612, 612],
  ] as const) {
    const arena = createArena({ sizeBytes: DRILL_FULL_ARENA_BYTES, strategy });
    const first = arena.alloc(fill);
    while (arena.alloc(fill) !== 0);
    // The first block: its neighbours are both in use, so it stays a block of its own size.
    arena.free(first);
    arena.free(arena.alloc(ask));
  }
}
