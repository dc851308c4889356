/** Which allocator runs the arena: O(1) two-level segregated fit, or the first-fit block map. */
export type ArenaStrategy = 'tlsf' | 'block';

export interface ArenaOptions {
  /** Total bytes of the buffer, header included: 4 KiB to 4 GiB - 1. */
  sizeBytes: number;
  /** 'tlsf' (default) or 'block'. */
  strategy?: ArenaStrategy;
  /** true: back the arena with a SharedArrayBuffer so workers can map the same bytes. */
  shared?: boolean;
  /** Block size of the 'block' strategy (a power of two, 8 B to 64 KiB; default 64). */
  blockSize?: number;
}

export interface ArenaStats {
  sizeBytes: number;
  /** Bytes held by live blocks, their headers and rounding included. */
  usedBytes: number;
  /** Bytes in free blocks. sizeBytes - usedBytes - freeBytes is the allocator's fixed metadata. */
  freeBytes: number;
  /** The largest request that one free block could hold with the default alignment. */
  largestFreeBytes: number;
  liveBlocks: number;
  allocs: number;
  frees: number;
  failedAllocs: number;
}

/**
 * An allocator over one ArrayBuffer or SharedArrayBuffer. Pointers are byte offsets into `buffer`,
 * unsigned 32-bit numbers; 0 is null and never returned for a live block.
 *
 * alloc, calloc, realloc, free, usableSize create nothing on the JS heap once warmed up (JIT-compiled),
 * so they are safe on a hot path that must not collect garbage.
 */
export interface Arena {
  readonly strategy: ArenaStrategy;
  readonly sizeBytes: number;
  readonly buffer: ArrayBuffer | SharedArrayBuffer;
  readonly u8: Uint8Array;
  readonly u16: Uint16Array;
  readonly u32: Uint32Array;
  readonly i32: Int32Array;
  readonly f32: Float32Array;
  readonly f64: Float64Array;
  readonly view: DataView;

  /** Offset of `size` bytes aligned to `align` (a power of two, 1..4096), or 0 when it cannot be served. */
  alloc(size: number, align?: number): number;
  /** As alloc, with the first `size` bytes zeroed. */
  calloc(size: number, align?: number): number;
  /**
   * Resize a live block, in place when possible; else move it, keeping the first min(old, new) bytes.
   * realloc(0, size) allocates. On failure returns 0 and leaves the old block intact. A moved block keeps
   * `align` when given, else the largest power of two (up to 4096) that divides the old offset.
   */
  realloc(ptr: number, size: number, align?: number): number;
  /** Release a live block. free(0) is a no-op. */
  free(ptr: number): void;
  /** Bytes the caller may use at ptr (at least what was asked). */
  usableSize(ptr: number): number;
  /** A snapshot of the counters (allocates an object: not for the hot path). */
  stats(): ArenaStats;
  /** Walk every block and metadata word; throw ArenaError on the first broken invariant. */
  check(): void;
}
