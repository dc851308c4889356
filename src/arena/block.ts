/**
 * The block-map allocator scx_rustland started with (2024, before it moved to a buddy allocator), kept
 * faithful as a reference and a benchmark baseline: the heap is cut into fixed-size blocks, a status array
 * holds one entry per block, and alloc scans that array from the first block for the first run of free
 * blocks long enough for the request whose first block sits at an address aligned as asked. Its cost grows
 * with the number of blocks in use ahead of the first fit, which is why the original later showed up at 40%
 * of the scheduler's CPU samples.
 *
 * Two changes, both needed by this library's contract: the run length is remembered at the run's first
 * block so free(ptr) needs no size, and the status tells a run's first block from the rest so a pointer
 * the arena did not return is rejected in O(1). Exhaustion returns 0 instead of panicking.
 *
 * Buffer layout (offsets in bytes from the start of the buffer; n blocks of blockSize bytes):
 *
 *    0          64                 64+n          ~64+5n     heapStart (a multiple of blockSize, or of
 *    +----------+------------------+--------------+---------+        4096 for larger blocks)
 *    |  header  | status u8[n]     | runBlocks    |  pad    | block 0 | block 1 | ... | block n-1 |
 *    | header.ts| FREE/START/INSIDE| u32[n], at 4 |         |
 *    +----------+------------------+--------------+---------+---------+---------+-----+-----------+
 *
 *   status[i]     BLOCK_FREE, BLOCK_START (first block of a live run) or BLOCK_INSIDE (the rest of a run)
 *   runBlocks[i]  length in blocks of the live run starting at block i (meaningful where status is START)
 */

import { ArenaError } from './errors.js';
import {
  ALLOCS_F64,
  FAILED_F64,
  FREES_F64,
  HEADER_END,
  HEAP_START_U32,
  LIVE_BLOCKS_F64,
  MAGIC,
  MAGIC_U32,
  MAX_ALIGN,
  SIZE_U32,
  STRATEGY_BLOCK,
  STRATEGY_U32,
  USED_BYTES_F64,
} from './header.js';
import type { Arena, ArenaStats } from './types.js';
import { makeViews, moveAlignOf, throwBadAlign, throwBadPointer, throwBadSize, type ArenaViews } from './views.js';

export const DEFAULT_BLOCK_BYTES = 64;
export const MIN_BLOCK_BYTES = 8;
export const MAX_BLOCK_BYTES = 65536;

const BLOCK_FREE = 0;
const BLOCK_START = 1;
const BLOCK_INSIDE = 2;

const STATUS_START = HEADER_END;
const PAGE_BYTES = 4096;
const MAX_U32 = 0xffff_ffff;

export class BlockArena implements Arena {
  readonly strategy = 'block' as const;
  readonly sizeBytes: number;
  readonly buffer: ArrayBuffer | SharedArrayBuffer;
  readonly u8: Uint8Array;
  readonly u16: Uint16Array;
  readonly u32: Uint32Array;
  readonly i32: Int32Array;
  readonly f32: Float32Array;
  readonly f64: Float64Array;
  readonly view: DataView;
  readonly blockBytes: number;

  private readonly blockLog2: number;
  private readonly blockCount: number;
  private readonly heapStart: number;
  private readonly heapEnd: number;
  /** Index into u32 of runBlocks[0]. */
  private readonly runU32: number;

  constructor(views: ArenaViews, blockBytes: number) {
    this.buffer = views.buffer;
    this.u8 = views.u8;
    this.u16 = views.u16;
    this.u32 = views.u32;
    this.i32 = views.i32;
    this.f32 = views.f32;
    this.f64 = views.f64;
    this.view = views.view;
    this.sizeBytes = views.buffer.byteLength;
    this.blockBytes = blockBytes;
    this.blockLog2 = 31 - Math.clz32(blockBytes);

    // As many blocks as fit after their own metadata. The heap starts block-aligned; alignment requests are
    // checked on each block's offset, as the original checked addresses, so the heap need not start on a
    // page (which lets a 4 KiB arena hold blocks at all).
    const heapAlign = Math.min(PAGE_BYTES, blockBytes);
    const layoutFor = (n: number): number => {
      const runStart = Math.ceil((STATUS_START + n) / 4) * 4;
      return Math.ceil((runStart + 4 * n) / heapAlign) * heapAlign;
    };
    let n = Math.floor((this.sizeBytes - STATUS_START) / (blockBytes + 5));
    while (n > 0 && layoutFor(n) + n * blockBytes > this.sizeBytes) n--;
    if (n < 1) throw new ArenaError(`a block arena of ${this.sizeBytes} bytes has no room for one ${blockBytes}-byte block`);
    this.blockCount = n;
    this.runU32 = Math.ceil((STATUS_START + n) / 4);
    this.heapStart = layoutFor(n);
    this.heapEnd = this.heapStart + n * blockBytes;

    const u32 = this.u32;
    u32.fill(0, 0, this.runU32 + n);
    u32[MAGIC_U32] = MAGIC;
    u32[STRATEGY_U32] = STRATEGY_BLOCK;
    u32[SIZE_U32] = this.sizeBytes;
    u32[HEAP_START_U32] = this.heapStart;
  }

  alloc(size: number, align = 8): number {
    if (!(size >= 0 && size <= MAX_U32) || size !== Math.floor(size)) throwBadSize('alloc', size);
    if (!(align >= 1 && align <= MAX_ALIGN) || (align & (align - 1)) !== 0 || align !== Math.floor(align)) {
      throwBadAlign('alloc', align);
    }
    return this.allocRun(size, align);
  }

  calloc(size: number, align = 8): number {
    const ptr = this.alloc(size, align);
    if (ptr !== 0) this.u8.fill(0, ptr, ptr + size);
    return ptr;
  }

  /** The original's first-fit scan, from block 0 every time. */
  private allocRun(size: number, align: number): number {
    const u8 = this.u8;
    const n = this.blockCount;
    const need = size === 0 ? 1 : Math.ceil(size / this.blockBytes);
    const alignMask = align - 1;
    const blockBytes = this.blockBytes;
    let run = 0;
    let start = -1;
    for (let i = 0; i < n; i++) {
      if (u8[STATUS_START + i] !== BLOCK_FREE || (run === 0 && ((this.heapStart + i * blockBytes) & alignMask) !== 0)) {
        run = 0;
      } else if (++run >= need) {
        start = i + 1 - run;
        break;
      }
    }
    if (start < 0) {
      this.f64[FAILED_F64]!++;
      return 0;
    }
    u8[STATUS_START + start] = BLOCK_START;
    u8.fill(BLOCK_INSIDE, STATUS_START + start + 1, STATUS_START + start + need);
    this.u32[this.runU32 + start] = need;
    const f64 = this.f64;
    f64[ALLOCS_F64]!++;
    f64[USED_BYTES_F64]! += need * blockBytes;
    f64[LIVE_BLOCKS_F64]!++;
    return this.heapStart + start * blockBytes;
  }

  /** Block index of a live run's first block, or -1. */
  private startIndex(ptr: number): number {
    if (
      ptr !== ptr >>> 0 ||
      ptr < this.heapStart ||
      ptr >= this.heapEnd ||
      ((ptr - this.heapStart) & (this.blockBytes - 1)) !== 0
    ) {
      return -1;
    }
    const i = (ptr - this.heapStart) >>> this.blockLog2;
    return this.u8[STATUS_START + i] === BLOCK_START ? i : -1;
  }

  free(ptr: number): void {
    if (ptr === 0) return;
    const i = this.startIndex(ptr);
    if (i < 0) throwBadPointer('free', ptr);
    const run = this.u32[this.runU32 + i]!;
    this.u8.fill(BLOCK_FREE, STATUS_START + i, STATUS_START + i + run);
    const f64 = this.f64;
    f64[FREES_F64]!++;
    f64[USED_BYTES_F64]! -= run * this.blockBytes;
    f64[LIVE_BLOCKS_F64]!--;
  }

  realloc(ptr: number, size: number, align = 0): number {
    if (ptr === 0) return this.alloc(size, align === 0 ? 8 : align);
    const i = this.startIndex(ptr);
    if (i < 0) throwBadPointer('realloc', ptr);
    if (!(size >= 0 && size <= MAX_U32) || size !== Math.floor(size)) throwBadSize('realloc', size);
    if (align !== 0 && (!(align >= 1 && align <= MAX_ALIGN) || (align & (align - 1)) !== 0 || align !== Math.floor(align))) {
      throwBadAlign('realloc', align);
    }
    const u8 = this.u8;
    const run = this.u32[this.runU32 + i]!;
    const need = size === 0 ? 1 : Math.ceil(size / this.blockBytes);
    if (align === 0 || (ptr & (align - 1)) === 0) {
      if (need <= run) {
        u8.fill(BLOCK_FREE, STATUS_START + i + need, STATUS_START + i + run);
        this.resized(i, run, need);
        return ptr;
      }
      let j = i + run;
      const end = i + need;
      while (j < end && j < this.blockCount && u8[STATUS_START + j] === BLOCK_FREE) j++;
      if (j === end) {
        u8.fill(BLOCK_INSIDE, STATUS_START + i + run, STATUS_START + end);
        this.resized(i, run, need);
        return ptr;
      }
    }
    const moved = this.allocRun(size, moveAlignOf(ptr, align));
    if (moved === 0) return 0;
    const keep = run * this.blockBytes < size ? run * this.blockBytes : size;
    u8.copyWithin(moved, ptr, ptr + keep);
    this.free(ptr);
    return moved;
  }

  private resized(i: number, oldRun: number, newRun: number): void {
    this.u32[this.runU32 + i] = newRun;
    this.f64[USED_BYTES_F64]! += (newRun - oldRun) * this.blockBytes;
  }

  usableSize(ptr: number): number {
    const i = this.startIndex(ptr);
    if (i < 0) throwBadPointer('usableSize', ptr);
    return this.u32[this.runU32 + i]! * this.blockBytes;
  }

  stats(): ArenaStats {
    const f64 = this.f64;
    const usedBytes = f64[USED_BYTES_F64]!;
    let longest = 0;
    let run = 0;
    for (let i = 0; i < this.blockCount; i++) {
      if (this.u8[STATUS_START + i] === BLOCK_FREE) {
        if (++run > longest) longest = run;
      } else {
        run = 0;
      }
    }
    return {
      sizeBytes: this.sizeBytes,
      usedBytes,
      freeBytes: this.blockCount * this.blockBytes - usedBytes,
      largestFreeBytes: longest * this.blockBytes,
      liveBlocks: f64[LIVE_BLOCKS_F64]!,
      allocs: f64[ALLOCS_F64]!,
      frees: f64[FREES_F64]!,
      failedAllocs: f64[FAILED_F64]!,
    };
  }

  check(): void {
    const u8 = this.u8;
    const u32 = this.u32;
    const fail = (what: string, i: number): never => {
      const offset = this.heapStart + i * this.blockBytes;
      throw new ArenaError(`block check: ${what} at offset ${offset}`, offset);
    };
    if (u32[MAGIC_U32] !== MAGIC || u32[STRATEGY_U32] !== STRATEGY_BLOCK) fail('bad magic or strategy', 0);
    let live = 0;
    let usedBlocks = 0;
    for (let i = 0; i < this.blockCount;) {
      const status = u8[STATUS_START + i];
      if (status === BLOCK_FREE) {
        i++;
        continue;
      }
      if (status !== BLOCK_START) fail(`status ${status} where a run or a free block must start`, i);
      const run = u32[this.runU32 + i]!;
      if (run < 1 || i + run > this.blockCount) fail(`run of ${run} blocks out of range`, i);
      for (let j = i + 1; j < i + run; j++) if (u8[STATUS_START + j] !== BLOCK_INSIDE) fail('run interrupted', j);
      live++;
      usedBlocks += run;
      i += run;
    }
    if (this.f64[LIVE_BLOCKS_F64] !== live) fail(`liveBlocks counter ${this.f64[LIVE_BLOCKS_F64]} but ${live} runs are live`, 0);
    if (this.f64[USED_BYTES_F64] !== usedBlocks * this.blockBytes) fail('usedBytes counter disagrees with the runs', 0);
  }
}

export function validateBlockBytes(blockBytes: number): void {
  if (
    !Number.isInteger(blockBytes) ||
    blockBytes < MIN_BLOCK_BYTES ||
    blockBytes > MAX_BLOCK_BYTES ||
    (blockBytes & (blockBytes - 1)) !== 0
  ) {
    throw new ArenaError(
      `blockSize must be a power of two from ${MIN_BLOCK_BYTES} to ${MAX_BLOCK_BYTES}, got ${String(blockBytes)}`,
    );
  }
}

export function createBlockArena(buffer: ArrayBuffer | SharedArrayBuffer, blockBytes = DEFAULT_BLOCK_BYTES): BlockArena {
  validateBlockBytes(blockBytes);
  return new BlockArena(makeViews(buffer), blockBytes);
}
