// The allocators the benchmark runs side by side. Each peer is built fresh for one measurement, sized for
// its live-block count, and exposes alloc(size, align) / free(handle); handles are offsets except for V8's.

import { MemPool } from '@thi.ng/malloc';
import { createArena } from '../../src/arena/index.js';

export interface Peer {
  alloc(size: number, align: number): number | Uint8Array;
  free(handle: number | Uint8Array): void;
  /** The memory the peer allocates from, when it has one (so the benchmark can lock it). */
  readonly buffer?: ArrayBuffer | SharedArrayBuffer;
}

export interface PeerSpec {
  /** Live blocks the workload keeps. */
  liveCount: number;
  /** Largest request the workload makes. */
  maxSizeBytes: number;
  /** Alignment of every request. */
  align: number;
}

export interface PeerFactory {
  readonly name: string;
  /** True when handles are offsets into one buffer (fragmentation is measurable). */
  readonly offsets: boolean;
  /** Why this peer cannot run a spec, or null. */
  skip(spec: PeerSpec): string | null;
  make(spec: PeerSpec): Peer;
}

const MIB = 2 ** 20;
const MAX_ARENA_BYTES = 2 ** 32 - 1;

/** Room for every live block at its largest, and half as much again, plus slack: no peer runs out. */
function capacityBytes(spec: PeerSpec, overheadBytes: number): number {
  const bytes = spec.liveCount * (spec.maxSizeBytes + spec.align + overheadBytes) * 1.5 + 16 * MIB;
  return Math.min(MAX_ARENA_BYTES, Math.ceil(bytes / 4096) * 4096);
}

export const tlsfPeer: PeerFactory = {
  name: 'tsland tlsf',
  offsets: true,
  skip: () => null,
  make: (spec) => createArena({ sizeBytes: capacityBytes(spec, 8), strategy: 'tlsf' }) as Peer,
};

/** First fit from block 0 makes filling n blocks O(n^2): past ~100k live blocks the fill alone takes hours. */
export const BLOCK_MAX_LIVE = 100_000;

export const blockPeer: PeerFactory = {
  name: 'tsland block',
  offsets: true,
  skip: (spec) =>
    spec.liveCount > BLOCK_MAX_LIVE
      ? `not run: its first-fit scan makes filling ${spec.liveCount} live blocks O(n^2) (hours)`
      : null,
  make: (spec) => createArena({ sizeBytes: capacityBytes(spec, 64), strategy: 'block', blockSize: 64 }) as Peer,
};

export const thingPeer: PeerFactory = {
  name: '@thi.ng/malloc',
  offsets: true,
  skip: () => null,
  make: (spec) => {
    // MemPool aligns every block to one pool-wide alignment and takes no per-call alignment.
    const pool = new MemPool({ size: capacityBytes(spec, 16), align: spec.align as 8 });
    return {
      buffer: pool.buf,
      alloc: (size: number) => pool.malloc(size),
      free: (p) => {
        if (p !== 0) pool.free(p as number);
      },
    };
  },
};

export const v8Peer: PeerFactory = {
  name: 'V8 new Uint8Array',
  offsets: false,
  skip: () => null,
  // Freeing is dropping the reference; the garbage collector does the rest (and is counted).
  make: () => ({ alloc: (size: number) => new Uint8Array(size), free: () => {} }),
};

/** Floor: a pointer bump that wraps around at the end; free does nothing. No allocator costs less. */
export const bumpPeer: PeerFactory = {
  name: 'floor: bump',
  offsets: false,
  skip: () => null,
  make: (spec) => {
    const endBytes = capacityBytes(spec, 0);
    const buffer = new ArrayBuffer(endBytes);
    const u8 = new Uint8Array(buffer);
    let top = 64;
    return {
      buffer,
      alloc: (size: number, align: number) => {
        let p = top + align - 1;
        p -= p & (align - 1);
        if (p + size > endBytes) p = 64;
        top = p + size;
        u8[p] = 1; // touch the block, as an allocator writing its header would
        return p;
      },
      free: () => {},
    };
  },
};

/**
 * Floor: the simplest O(1) allocator, fixed slots of the largest size on a free list threaded through the
 * slots themselves. Driven with the same random pattern, it shows what the memory system alone costs at each
 * live count (the list link lives in the freed slot, so each pair touches the same cache lines a real
 * allocator's header would).
 */
export const slotPeer: PeerFactory = {
  name: 'floor: fixed-slot list',
  offsets: true,
  skip: () => null,
  make: (spec) => {
    let slotBytes = Math.max(spec.maxSizeBytes, spec.align, 8);
    slotBytes = Math.ceil(slotBytes / spec.align) * spec.align;
    const slots = spec.liveCount + 1;
    const base = Math.max(spec.align, 8);
    const buffer = new ArrayBuffer(base + slots * slotBytes);
    const u32 = new Uint32Array(buffer);
    for (let i = 0; i < slots; i++) {
      const p = base + i * slotBytes;
      u32[p >>> 2] = i + 1 < slots ? p + slotBytes : 0;
    }
    let head = base;
    return {
      buffer,
      alloc: () => {
        const p = head;
        if (p !== 0) head = u32[p >>> 2]!;
        return p;
      },
      free: (p) => {
        if (p === 0) return;
        u32[(p as number) >>> 2] = head;
        head = p as number;
      },
    };
  },
};

export const PEERS: readonly PeerFactory[] = [tlsfPeer, blockPeer, thingPeer, v8Peer, bumpPeer, slotPeer];
