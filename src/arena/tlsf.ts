/**
 * Two-level segregated fit (Masmano, Ripoll, Crespo, Real: "TLSF: a new dynamic memory allocator for
 * real-time systems", ECRTS 2004). Free blocks sit in size classes: a first level of power-of-two ranges,
 * each split linearly into SL_SIZE second-level classes. One bitmap word per level says which classes hold
 * a block, so finding a fitting class is two find-first-set operations (Math.clz32) and alloc and free are
 * O(1) whatever the number of live blocks. Free neighbours merge at once, so no two free blocks touch.
 * The paper's two mappings are mappingInsert (the class a free block is listed in) and mappingSearch (a
 * request rounded up to the first class all of whose blocks fit it, then searched from there).
 *
 * Buffer layout (offsets in bytes from the start of the buffer):
 *
 *    0          64     68                    168                            3368
 *    +----------+------+---------------------+------------------------------+----------------+-------
 *    |  header  | flMap| slMap[FL_SIZE] u32  | heads[FL_SIZE * SL_SIZE] u32 | status map     | heap ...
 *    | header.ts|      |                     | (header offset or 0)         | 2 bits / 8 B   |
 *    +----------+------+---------------------+------------------------------+----------------+-------
 *
 * The status map holds, for every 8-byte position of the buffer, a live bit (a used block's payload starts
 * here) and a free bit (a free block's payload starts here). For each 256-byte span of the buffer it keeps
 * two u32 words side by side, live then free, so both bits of a position, and of its neighbours, share a
 * cache line:
 *
 *    status word 2k       status word 2k+1
 *    +-------------------+-------------------+
 *    | live bits, span k | free bits, span k |    span k = buffer bytes [256k, 256k + 256), 1 bit per 8 B
 *    +-------------------+-------------------+
 *
 * Why: free/realloc/usableSize test the live bit, so a double free, an interior pointer or a pointer the
 * arena never returned is caught in O(1), and bytes a caller writes into its block can never pass for a
 * header. And free learns from the free bits whether its neighbours are free without reading their headers,
 * which at a million live blocks saves a cache miss on nearly every call.
 *
 * A block, as seen from its header offset h (h % 8 == 4, so the payload h + 4 is 8-byte aligned):
 *
 *    h       h+4     h+8     h+12           h+size-4  h+size
 *    +-------+-------+-------+---- ... -----+---------+
 *    | size|F| next  | prev  |              | back=h  |   free block (size >= MIN_BLOCK_BYTES)
 *    +-------+-------+-------+---- ... -----+---------+
 *    | size|F| payload: size - 4 bytes                  |   used block: every byte after the header
 *    +-------+-----------------------------------------+
 *
 *   size   u32  the whole block, header included, a multiple of 8; the low 3 bits carry flags
 *   F      FLAG_FREE, mirrored from the free bit (check() compares the two); FLAG_LEFT_LONG: the block
 *          on the left is a free block of at least BACK_REF_MIN_BYTES, so a back reference precedes h
 *   next, prev  header offsets in the same free list; next is 0 at the end; prev is meaningless at the
 *          head (see insertFree)
 *   back   the free block's own header offset, in its last 4 bytes, kept only by blocks of at least
 *          BACK_REF_MIN_BYTES: the block to its right finds its free neighbour there. A shorter free block
 *          is found from the free bits instead (see freeLeftOf). A used block's last bytes are the caller's,
 *          so a back reference counts only if the free bit marks a block there ending exactly at the reader.
 *
 * The heap ends with a zero-size sentinel header so no block runs past the last one.
 */

import { ArenaError } from './errors.js';
import {
  ALLOCS_F64,
  FAILED_F64,
  FREES_F64,
  HEADER_END,
  HEAP_START_U32,
  MAGIC,
  MAGIC_U32,
  MAX_ALIGN,
  SIZE_U32,
  STRATEGY_TLSF,
  STRATEGY_U32,
  USED_BYTES_F64,
} from './header.js';
import type { Arena, ArenaStats } from './types.js';
import { makeViews, moveAlignOf, throwBadAlign, throwBadPointer, throwBadSize, type ArenaViews } from './views.js';

// Granularity: every block size and payload offset is a multiple of GRAIN_BYTES.
const GRAIN_LOG2 = 3;
const GRAIN_BYTES = 1 << GRAIN_LOG2;
const GRAIN_MASK = GRAIN_BYTES - 1;

const HEADER_BYTES = 4;
const NEXT_FREE_BYTES = 4;
const PREV_FREE_BYTES = 4;
const BACK_REF_BYTES = 4;
const MIN_BLOCK_BYTES = HEADER_BYTES + NEXT_FREE_BYTES + PREV_FREE_BYTES + BACK_REF_BYTES;

const FLAG_FREE = 1;
const FLAG_LEFT_LONG = 2;
const FLAGS_MASK = GRAIN_MASK;

// Size classes. Blocks smaller than SMALL_BYTES map linearly, one class per grain, all in first level 0;
// larger blocks map to first level (log2(size) - SMALL_LOG2 + 1) and SL_SIZE linear classes inside it.
const SL_BITS = 5;
const SL_SIZE = 1 << SL_BITS;
const SMALL_LOG2 = SL_BITS + GRAIN_LOG2;
const SMALL_BYTES = 1 << SMALL_LOG2;
const FL_SIZE = 32 - SMALL_LOG2 + 1;
const CLASS_COUNT = FL_SIZE * SL_SIZE;
const MAX_U32 = 0xffff_ffff;
const U32_BYTES = 4;

// Metadata offsets, derived so that changing SL_BITS moves everything after it.
const FL_MAP_START = HEADER_END;
const SL_MAP_START = FL_MAP_START + U32_BYTES;
const HEADS_START = SL_MAP_START + FL_SIZE * U32_BYTES;
const STATUS_MAP_START = HEADS_START + CLASS_COUNT * U32_BYTES;
const STATUS_BITS_PER_WORD_LOG2 = 5;
const STATUS_SPAN_LOG2 = STATUS_BITS_PER_WORD_LOG2 + GRAIN_LOG2; // buffer bytes one status word pair covers
const STATUS_WORDS_PER_SPAN = 2; // live word, then free word
const FREE_WORD_DELTA = 1;
// Free blocks at least one status span long keep a back reference; a shorter one always starts within the
// two status words before its right neighbour, so that neighbour finds it by its free bit instead.
const BACK_REF_MIN_BYTES = 1 << STATUS_SPAN_LOG2;
const SPAN_MASK = BACK_REF_MIN_BYTES - 1;

const FL_MAP_U32 = FL_MAP_START >>> 2;
const SL_MAP_U32 = SL_MAP_START >>> 2;
const HEADS_U32 = HEADS_START >>> 2;
const STATUS_MAP_U32 = STATUS_MAP_START >>> 2;

/** Smallest arena that still has room for the metadata and one minimum block. */
export const TLSF_METADATA_BYTES = STATUS_MAP_START;

/**
 * The sizes and offsets the drawings at the top of this file show, for the test that holds the drawings to
 * them (test/arena-layout.test.ts). Not part of the package's API (the arena index does not export it).
 */
export const TLSF_LAYOUT = {
  grainBytes: GRAIN_BYTES,
  flagBits: GRAIN_LOG2,
  headerBytes: HEADER_BYTES,
  nextFreeBytes: NEXT_FREE_BYTES,
  prevFreeBytes: PREV_FREE_BYTES,
  backRefBytes: BACK_REF_BYTES,
  minBlockBytes: MIN_BLOCK_BYTES,
  flMapStart: FL_MAP_START,
  slMapStart: SL_MAP_START,
  headsStart: HEADS_START,
  statusMapStart: STATUS_MAP_START,
  statusSpanBytes: BACK_REF_MIN_BYTES,
  statusWordsPerSpan: STATUS_WORDS_PER_SPAN,
} as const;

// mapping_insert in Masmano et al.: the class (fl * SL_SIZE + sl) a free block of `sizeBytes` is listed in.
function mappingInsert(sizeBytes: number): number {
  if (sizeBytes < SMALL_BYTES) return sizeBytes >>> GRAIN_LOG2;
  const msb = 31 - Math.clz32(sizeBytes);
  return ((msb - SMALL_LOG2 + 1) << SL_BITS) + ((sizeBytes >>> (msb - SL_BITS)) - SL_SIZE);
}

// mapping_search in Masmano et al.: round `sizeBytes` up to the next class start, so any block of the class fits.
function mappingSearch(sizeBytes: number): number {
  if (sizeBytes < SMALL_BYTES) return sizeBytes >>> GRAIN_LOG2;
  let rounded = sizeBytes + (1 << (31 - Math.clz32(sizeBytes) - SL_BITS)) - 1;
  if (rounded > MAX_U32) rounded = MAX_U32;
  return mappingInsert(rounded);
}

/** Class `cls` has just become empty: clear its second-level bit, and its first-level bit if that was the last. */
function clearClassBits(u32: Uint32Array, cls: number): void {
  const fl = cls >>> SL_BITS;
  const slMap = u32[SL_MAP_U32 + fl]! & ~(1 << (cls & (SL_SIZE - 1)));
  u32[SL_MAP_U32 + fl] = slMap;
  if (slMap === 0) u32[FL_MAP_U32] = u32[FL_MAP_U32]! & ~(1 << fl);
}

/** Index into u32 of the live status word for the payload offset pos; its free word follows it. */
function statusWord(pos: number): number {
  return STATUS_MAP_U32 + ((pos >>> STATUS_SPAN_LOG2) << 1);
}

/** The bit of the payload offset pos in its status words. */
function statusBit(pos: number): number {
  return 1 << ((pos >>> GRAIN_LOG2) & 31);
}

/** A power of two from 1 to MAX_ALIGN. */
export function isAlignment(align: number): boolean {
  return align >>> 0 === align && align !== 0 && align <= MAX_ALIGN && (align & (align - 1)) === 0;
}

/** Lowest set bit's index of a non-zero 32-bit word. */
function ctz(word: number): number {
  return 31 - Math.clz32(word & -word);
}

export class TlsfArena implements Arena {
  readonly strategy = 'tlsf' as const;
  readonly sizeBytes: number;
  readonly buffer: ArrayBuffer | SharedArrayBuffer;
  readonly u8: Uint8Array;
  readonly u16: Uint16Array;
  readonly u32: Uint32Array;
  readonly i32: Int32Array;
  readonly f32: Float32Array;
  readonly f64: Float64Array;
  readonly view: DataView;

  /** Header offset of the first block. */
  private readonly firstBlock: number;
  /** Header offset of the zero-size sentinel that ends the heap. */
  private readonly tail: number;

  constructor(views: ArenaViews) {
    this.buffer = views.buffer;
    this.u8 = views.u8;
    this.u16 = views.u16;
    this.u32 = views.u32;
    this.i32 = views.i32;
    this.f32 = views.f32;
    this.f64 = views.f64;
    this.view = views.view;
    this.sizeBytes = views.buffer.byteLength;

    // One span more than the buffer needs: the sentinel's payload position may be the buffer's end.
    const spans = Math.floor(this.sizeBytes / (1 << STATUS_SPAN_LOG2)) + 1;
    const statusEnd = STATUS_MAP_START + spans * STATUS_WORDS_PER_SPAN * U32_BYTES;
    // First header at 4 mod 8, so its payload is 8-byte aligned.
    this.firstBlock = statusEnd + GRAIN_MASK - ((statusEnd + GRAIN_MASK) & GRAIN_MASK) + HEADER_BYTES;
    // The sentinel header (4 bytes) must end inside the buffer and sit at 4 mod 8 like every header.
    let tail = this.sizeBytes - HEADER_BYTES;
    tail -= (tail - HEADER_BYTES) & GRAIN_MASK;
    this.tail = tail;
    if (this.tail - this.firstBlock < MIN_BLOCK_BYTES) {
      throw new ArenaError(`a tlsf arena of ${this.sizeBytes} bytes leaves no room after its ${statusEnd} bytes of metadata`);
    }
    this.reset();
  }

  /** Write a fresh header and one free block spanning the whole heap. */
  private reset(): void {
    const u32 = this.u32;
    u32.fill(0, 0, (this.firstBlock >>> 2) + 1);
    u32[MAGIC_U32] = MAGIC;
    u32[STRATEGY_U32] = STRATEGY_TLSF;
    u32[SIZE_U32] = this.sizeBytes;
    u32[HEAP_START_U32] = this.firstBlock;
    const size = this.tail - this.firstBlock;
    u32[this.tail >>> 2] = 0;
    u32[this.firstBlock >>> 2] = size | FLAG_FREE;
    this.writeBackRef(this.firstBlock, size);
    this.insertFree(this.firstBlock, size);
  }

  // ---- free lists -------------------------------------------------------------------------------------

  // A list head's prev link is left stale: popping the head then only reads the head itself, never the
  // block after it, which at a million live blocks is a cache miss saved on nearly every alloc. Every
  // other member's prev link is exact.

  private insertFree(h: number, size: number): void {
    const u32 = this.u32;
    const cls = mappingInsert(size);
    const head = u32[HEADS_U32 + cls]!;
    u32[(h + HEADER_BYTES) >>> 2] = head;
    if (head !== 0) u32[(head + HEADER_BYTES + NEXT_FREE_BYTES) >>> 2] = h;
    u32[HEADS_U32 + cls] = h;
    const fl = cls >>> SL_BITS;
    u32[SL_MAP_U32 + fl] = u32[SL_MAP_U32 + fl]! | (1 << (cls & (SL_SIZE - 1)));
    u32[FL_MAP_U32] = u32[FL_MAP_U32]! | (1 << fl);
    const w = statusWord(h + HEADER_BYTES) + FREE_WORD_DELTA;
    u32[w] = u32[w]! | statusBit(h + HEADER_BYTES);
  }

  private clearFreeBit(h: number): void {
    const w = statusWord(h + HEADER_BYTES) + FREE_WORD_DELTA;
    this.u32[w] = this.u32[w]! & ~statusBit(h + HEADER_BYTES);
  }

  private isFreeStart(h: number): boolean {
    return (this.u32[statusWord(h + HEADER_BYTES) + FREE_WORD_DELTA]! & statusBit(h + HEADER_BYTES)) !== 0;
  }

  private removeFree(h: number, size: number): void {
    const u32 = this.u32;
    this.clearFreeBit(h);
    const cls = mappingInsert(size);
    const next = u32[(h + HEADER_BYTES) >>> 2]!;
    if (u32[HEADS_U32 + cls] !== h) {
      const prev = u32[(h + HEADER_BYTES + NEXT_FREE_BYTES) >>> 2]!;
      u32[(prev + HEADER_BYTES) >>> 2] = next;
      if (next !== 0) u32[(next + HEADER_BYTES + NEXT_FREE_BYTES) >>> 2] = prev;
      return;
    }
    u32[HEADS_U32 + cls] = next;
    if (next === 0) clearClassBits(u32, cls);
  }

  /** Unlink the head of class `cls` (which must not be empty). Reads the head block only. */
  private popHead(cls: number): number {
    const u32 = this.u32;
    const h = u32[HEADS_U32 + cls]!;
    const next = u32[(h + HEADER_BYTES) >>> 2]!;
    u32[HEADS_U32 + cls] = next;
    this.clearFreeBit(h);
    if (next === 0) clearClassBits(u32, cls);
    return h;
  }

  /** Unlink and return the header of a free block of at least `size` bytes, or 0. */
  private takeFree(size: number): number {
    const u32 = this.u32;
    const cls = mappingSearch(size);
    let fl = cls >>> SL_BITS;
    let slMap = u32[SL_MAP_U32 + fl]! & (~0 << (cls & (SL_SIZE - 1)));
    if (slMap === 0) {
      const flMap = u32[FL_MAP_U32]! & (~0 << (fl + 1));
      if (flMap === 0) return this.takeExactFit(size);
      fl = ctz(flMap);
      slMap = u32[SL_MAP_U32 + fl]!;
    }
    return this.popHead((fl << SL_BITS) + ctz(slMap));
  }

  /**
   * Good fit found nothing: before failing, try the head of the class `size` itself belongs to, whose blocks
   * may or may not be large enough. Still O(1); it lets an almost-full arena serve a request that fits.
   */
  private takeExactFit(size: number): number {
    const u32 = this.u32;
    const cls = mappingInsert(size > MAX_U32 ? MAX_U32 : size);
    const h = u32[HEADS_U32 + cls]!;
    if (h === 0) return 0;
    const hdr = u32[h >>> 2]!;
    if (hdr - (hdr & FLAGS_MASK) < size) return 0;
    return this.popHead(cls);
  }

  // ---- validation ---------------------------------------------------------------------------------------

  private isLive(ptr: number): boolean {
    return (
      ptr === ptr >>> 0 &&
      ptr > this.firstBlock &&
      ptr < this.tail &&
      (ptr & GRAIN_MASK) === 0 &&
      (this.u32[statusWord(ptr)]! & statusBit(ptr)) !== 0
    );
  }

  private markLive(ptr: number): void {
    const w = statusWord(ptr);
    this.u32[w] = this.u32[w]! | statusBit(ptr);
  }

  /**
   * A free block's back reference, written only when the block is long: writing it touches the cache line
   * of the right neighbour's header, a miss on nearly every free at a million live blocks.
   */
  private writeBackRef(h: number, size: number): void {
    if (size < BACK_REF_MIN_BYTES) return;
    const u32 = this.u32;
    const right = h + size;
    u32[(right - BACK_REF_BYTES) >>> 2] = h;
    u32[right >>> 2] = u32[right >>> 2]! | FLAG_LEFT_LONG;
  }

  /** The block at h no longer has a long free block on its left. */
  private clearLeftLong(h: number): void {
    this.u32[h >>> 2] = this.u32[h >>> 2]! & ~FLAG_LEFT_LONG;
  }

  /** Header offset of the free block that ends at h (whose header word is hdr), or 0. */
  private freeLeftOf(h: number, hdr: number): number {
    const u32 = this.u32;
    if ((hdr & FLAG_LEFT_LONG) !== 0) {
      // A long free block left its back reference in the u32 before h. Trust it only if the free bit marks
      // a block there that ends exactly at h (the flag and the back reference are ours, but a caller who
      // writes past its block could have damaged them).
      const left = u32[(h - BACK_REF_BYTES) >>> 2]!;
      if (
        left < this.firstBlock ||
        left > h - BACK_REF_MIN_BYTES ||
        (left & GRAIN_MASK) !== HEADER_BYTES ||
        !this.isFreeStart(left)
      )
        return 0;
      const leftHdr = u32[left >>> 2]!;
      return leftHdr - (leftHdr & FLAGS_MASK) === h - left ? left : 0;
    }
    // A short free block starts less than one span before h's payload: it is the nearest free bit below
    // it, in h's free word or the one before, both on the cache line free() has just read.
    const pos = h + HEADER_BYTES;
    const w = statusWord(pos) + FREE_WORD_DELTA;
    let spanStart = pos - (pos & SPAN_MASK);
    let bits = u32[w]! & (statusBit(pos) - 1);
    if (bits === 0) {
      bits = u32[w - STATUS_WORDS_PER_SPAN]!;
      spanStart -= BACK_REF_MIN_BYTES;
    }
    if (bits === 0) return 0;
    const near = spanStart + ((31 - Math.clz32(bits)) << GRAIN_LOG2) - HEADER_BYTES;
    const nearHdr = u32[near >>> 2]!;
    return nearHdr - (nearHdr & FLAGS_MASK) === h - near ? near : 0;
  }

  // ---- public API ---------------------------------------------------------------------------------------

  alloc(size: number, align = 8): number {
    // x >>> 0 === x holds exactly for whole numbers 0..2^32-1: it rejects negatives, fractions, NaN, Infinity.
    if (size >>> 0 !== size) throwBadSize('alloc', size);
    if (align !== GRAIN_BYTES && !isAlignment(align)) throwBadAlign('alloc', align);
    let need = size + HEADER_BYTES + GRAIN_MASK;
    need -= need & GRAIN_MASK;
    if (need < MIN_BLOCK_BYTES) need = MIN_BLOCK_BYTES;
    if (align > GRAIN_BYTES || need >= SMALL_BYTES) return this.allocBlock(size, align);

    // Small requests, the common case, inline: first level 0 has one exact class per grain, so the
    // lowest non-empty class at or above need's is the good fit, and its blocks are all one size.
    const u32 = this.u32;
    const slMap = u32[SL_MAP_U32]! & (~0 << (need >>> GRAIN_LOG2));
    if (slMap === 0) return this.allocBlock(size, align);
    const cls = ctz(slMap);
    const h = u32[HEADS_U32 + cls]!;
    const next = u32[(h + HEADER_BYTES) >>> 2]!;
    u32[HEADS_U32 + cls] = next;
    if (next === 0) clearClassBits(u32, cls);
    const ptr = h + HEADER_BYTES;
    const w = statusWord(ptr);
    const bit = statusBit(ptr);
    u32[w + FREE_WORD_DELTA] = u32[w + FREE_WORD_DELTA]! & ~bit;
    u32[w] = u32[w]! | bit;
    // The popped block is short, so no flag or back reference points at it; its left neighbour is used.
    let blockSize = cls << GRAIN_LOG2;
    const restSize = blockSize - need;
    if (restSize >= MIN_BLOCK_BYTES) {
      u32[h >>> 2] = need;
      const r = h + need;
      u32[r >>> 2] = restSize | FLAG_FREE;
      this.insertFree(r, restSize);
      blockSize = need;
    } else {
      u32[h >>> 2] = blockSize;
    }
    const f64 = this.f64;
    f64[ALLOCS_F64]!++;
    f64[USED_BYTES_F64]! += blockSize;
    return ptr;
  }

  calloc(size: number, align = 8): number {
    const ptr = this.alloc(size, align);
    if (ptr !== 0) this.u8.fill(0, ptr, ptr + size);
    return ptr;
  }

  /** Whole block size (header included) that serves a request of `size` payload bytes. */
  private blockSizeFor(size: number): number {
    let need = size + HEADER_BYTES + GRAIN_MASK;
    need -= need & GRAIN_MASK;
    return need < MIN_BLOCK_BYTES ? MIN_BLOCK_BYTES : need;
  }

  private allocBlock(size: number, align: number): number {
    const need = this.blockSizeFor(size);
    // Room for an alignment gap too: the gap is 0 or a whole free block, so at most align + GRAIN_BYTES.
    const search = align <= GRAIN_BYTES ? need : need + align + GRAIN_BYTES;
    let h = search >= this.tail ? 0 : this.takeFree(search);
    if (h === 0) {
      this.f64[FAILED_F64]!++;
      return 0;
    }
    const u32 = this.u32;
    const hdr = u32[h >>> 2]!;
    let blockSize = hdr - (hdr & FLAGS_MASK);
    // A long free block flagged the block after it; that flag goes unless a long remainder keeps it.
    const end = h + blockSize;
    const wasLong = blockSize >= BACK_REF_MIN_BYTES;
    let leftFlag = 0;

    if (align > GRAIN_BYTES) {
      const payload = h + HEADER_BYTES;
      let aligned = payload + align - 1;
      aligned -= aligned & (align - 1);
      if (aligned !== payload && aligned - payload < MIN_BLOCK_BYTES) aligned += align;
      const gap = aligned - payload;
      if (gap !== 0) {
        // The gap becomes a free block. Its left neighbour is used: h was free, and free blocks never touch.
        u32[h >>> 2] = gap | FLAG_FREE;
        this.writeBackRef(h, gap);
        this.insertFree(h, gap);
        if (gap >= BACK_REF_MIN_BYTES) leftFlag = FLAG_LEFT_LONG;
        h += gap;
        blockSize -= gap;
      }
    }

    const rest = blockSize - need;
    if (rest >= MIN_BLOCK_BYTES) {
      u32[h >>> 2] = need | leftFlag;
      const r = h + need;
      u32[r >>> 2] = rest | FLAG_FREE;
      if (rest >= BACK_REF_MIN_BYTES) this.writeBackRef(r, rest);
      else if (wasLong) this.clearLeftLong(end);
      this.insertFree(r, rest);
      blockSize = need;
    } else {
      u32[h >>> 2] = blockSize | leftFlag;
      if (wasLong) this.clearLeftLong(end);
    }

    const ptr = h + HEADER_BYTES;
    this.markLive(ptr);
    const f64 = this.f64;
    f64[ALLOCS_F64]!++;
    f64[USED_BYTES_F64]! += blockSize;
    return ptr;
  }

  free(ptr: number): void {
    if (ptr === 0) return;
    if (!this.isLive(ptr)) throwBadPointer('free', ptr);
    const u32 = this.u32;
    const h = ptr - HEADER_BYTES;
    const hdr = u32[h >>> 2]!;
    const size = hdr - (hdr & FLAGS_MASK);
    const w = statusWord(ptr);
    const bit = statusBit(ptr);
    // The common case inline: no free block on either side, which the status words show without reading
    // any other block (the nearest free bit below ptr, if any, may be a free left neighbour: check it
    // properly out of line).
    const right = ptr + size;
    if (
      (hdr & FLAG_LEFT_LONG) !== 0 ||
      (u32[w + FREE_WORD_DELTA]! & (bit - 1)) !== 0 ||
      u32[w + FREE_WORD_DELTA - STATUS_WORDS_PER_SPAN] !== 0 ||
      (u32[statusWord(right) + FREE_WORD_DELTA]! & statusBit(right)) !== 0
    ) {
      this.freeMerging(h, hdr);
      return;
    }
    u32[w] = u32[w]! & ~bit;
    u32[h >>> 2] = size | FLAG_FREE;
    if (size >= BACK_REF_MIN_BYTES) this.writeBackRef(h, size);
    this.insertFree(h, size);
    const f64 = this.f64;
    f64[FREES_F64]!++;
    f64[USED_BYTES_F64]! -= size;
  }

  /** free() of a live block that may have a free neighbour: merge, then list the merged block. */
  private freeMerging(h: number, hdr: number): void {
    const u32 = this.u32;
    const ptr = h + HEADER_BYTES;
    const liveWord = statusWord(ptr);
    u32[liveWord] = u32[liveWord]! & ~statusBit(ptr);
    const usedSize = hdr - (hdr & FLAGS_MASK);
    let size = usedSize;

    const right = h + size;
    if (this.isFreeStart(right)) {
      const rightHdr = u32[right >>> 2]!;
      const rightSize = rightHdr - (rightHdr & FLAGS_MASK);
      this.removeFree(right, rightSize);
      size += rightSize;
    }
    const left = this.freeLeftOf(h, hdr);
    if (left !== 0) {
      const leftSize = h - left;
      this.removeFree(left, leftSize);
      size += leftSize;
      h = left;
    }
    u32[h >>> 2] = size | FLAG_FREE;
    this.writeBackRef(h, size);
    this.insertFree(h, size);

    const f64 = this.f64;
    f64[FREES_F64]!++;
    f64[USED_BYTES_F64]! -= usedSize;
  }

  realloc(ptr: number, size: number, align = 0): number {
    if (ptr === 0) return this.alloc(size, align === 0 ? 8 : align);
    if (!this.isLive(ptr)) throwBadPointer('realloc', ptr);
    if (size >>> 0 !== size) throwBadSize('realloc', size);
    if (align !== 0 && !isAlignment(align)) throwBadAlign('realloc', align);
    const u32 = this.u32;
    const h = ptr - HEADER_BYTES;
    const hdr = u32[h >>> 2]!;
    const oldSize = hdr - (hdr & FLAGS_MASK);
    const need = this.blockSizeFor(size);
    const alignOk = align === 0 || (ptr & (align - 1)) === 0;

    if (alignOk) {
      let have = oldSize;
      const right = h + oldSize;
      if (need > oldSize && this.isFreeStart(right)) {
        const rightHdr = u32[right >>> 2]!;
        const rightSize = rightHdr - (rightHdr & FLAGS_MASK);
        if (oldSize + rightSize >= need) {
          this.removeFree(right, rightSize);
          have += rightSize;
          if (rightSize >= BACK_REF_MIN_BYTES) this.clearLeftLong(h + have);
        }
      }
      if (need <= have) {
        this.shrinkInPlace(h, hdr & FLAG_LEFT_LONG, have, need);
        this.f64[USED_BYTES_F64]! += u32[h >>> 2]! - (u32[h >>> 2]! & FLAGS_MASK) - oldSize;
        return ptr;
      }
    }

    const moved = this.allocBlock(size, moveAlignOf(ptr, align));
    if (moved === 0) return 0;
    const keep = oldSize - HEADER_BYTES < size ? oldSize - HEADER_BYTES : size;
    this.u8.copyWithin(moved, ptr, ptr + keep);
    this.free(ptr);
    return moved;
  }

  /** Make the used block at h exactly `need` bytes when the rest can stand as a free block. */
  private shrinkInPlace(h: number, leftFlag: number, have: number, need: number): void {
    const u32 = this.u32;
    const rest = have - need;
    if (rest < MIN_BLOCK_BYTES) {
      u32[h >>> 2] = have | leftFlag;
      return;
    }
    u32[h >>> 2] = need | leftFlag;
    const r = h + need;
    let restSize = rest;
    const right = h + have;
    if (this.isFreeStart(right)) {
      const rightHdr = u32[right >>> 2]!;
      const rightSize = rightHdr - (rightHdr & FLAGS_MASK);
      this.removeFree(right, rightSize);
      restSize += rightSize;
    }
    u32[r >>> 2] = restSize | FLAG_FREE;
    this.writeBackRef(r, restSize);
    this.insertFree(r, restSize);
  }

  usableSize(ptr: number): number {
    if (!this.isLive(ptr)) throwBadPointer('usableSize', ptr);
    const hdr = this.u32[(ptr - HEADER_BYTES) >>> 2]!;
    return hdr - (hdr & FLAGS_MASK) - HEADER_BYTES;
  }

  stats(): ArenaStats {
    const f64 = this.f64;
    const usedBytes = f64[USED_BYTES_F64]!;
    const largest = this.largestFreeBlock();
    return {
      sizeBytes: this.sizeBytes,
      usedBytes,
      freeBytes: this.tail - this.firstBlock - usedBytes,
      largestFreeBytes: largest === 0 ? 0 : largest - HEADER_BYTES,
      liveBlocks: f64[ALLOCS_F64]! - f64[FREES_F64]!,
      allocs: f64[ALLOCS_F64]!,
      frees: f64[FREES_F64]!,
      failedAllocs: f64[FAILED_F64]!,
    };
  }

  /** Size of the largest free block: the longest block in the highest non-empty class. */
  private largestFreeBlock(): number {
    const u32 = this.u32;
    const flMap = u32[FL_MAP_U32]!;
    if (flMap === 0) return 0;
    const fl = 31 - Math.clz32(flMap);
    const sl = 31 - Math.clz32(u32[SL_MAP_U32 + fl]!);
    let best = 0;
    for (let h = u32[HEADS_U32 + (fl << SL_BITS) + sl]!; h !== 0; h = u32[(h + HEADER_BYTES) >>> 2]!) {
      const hdr = u32[h >>> 2]!;
      const size = hdr - (hdr & FLAGS_MASK);
      if (size > best) best = size;
    }
    return best;
  }

  check(): void {
    checkTlsf(this.u32, this.f64, this.firstBlock, this.tail);
  }
}

function broken(what: string, offset: number): never {
  throw new ArenaError(`tlsf check: ${what} at offset ${offset}`, offset);
}

/** Walk the heap, every free list and the status map; each must agree with the others and the counters. */
function checkTlsf(u32: Uint32Array, f64: Float64Array, firstBlock: number, tail: number): void {
  if (u32[MAGIC_U32] !== MAGIC || u32[STRATEGY_U32] !== STRATEGY_TLSF) broken('bad magic or strategy', 0);
  let h = firstBlock;
  let leftFree = false;
  let leftLong = false;
  let usedBytes = 0;
  let live = 0;
  let freeBlocks = 0;
  // An upper bound: the status map ends before the heap.
  const spans = Math.floor((firstBlock - STATUS_MAP_START) / (STATUS_WORDS_PER_SPAN * U32_BYTES));
  const expected = new Uint32Array(spans * STATUS_WORDS_PER_SPAN);
  while (h < tail) {
    const hdr = u32[h >>> 2]!;
    const size = hdr - (hdr & FLAGS_MASK);
    if (size < MIN_BLOCK_BYTES || h + size > tail) broken(`block size ${size} out of range`, h);
    if ((hdr & FLAGS_MASK & ~(FLAG_FREE | FLAG_LEFT_LONG)) !== 0) broken('unknown header flags', h);
    if (((hdr & FLAG_LEFT_LONG) !== 0) !== leftLong) broken('left-long flag disagrees with the block on the left', h);
    const isFree = (hdr & FLAG_FREE) !== 0;
    const pos = h + HEADER_BYTES;
    const w = statusWord(pos) - STATUS_MAP_U32;
    if (isFree) {
      if (leftFree) broken('two free blocks touch', h);
      if (size >= BACK_REF_MIN_BYTES && u32[(h + size - BACK_REF_BYTES) >>> 2] !== h)
        broken('free block back reference is wrong', h);
      expected[w + FREE_WORD_DELTA] = expected[w + FREE_WORD_DELTA]! | statusBit(pos);
      freeBlocks++;
    } else {
      expected[w] = expected[w]! | statusBit(pos);
      usedBytes += size;
      live++;
    }
    leftFree = isFree;
    leftLong = isFree && size >= BACK_REF_MIN_BYTES;
    h += size;
  }
  if (h !== tail) broken('blocks overrun the sentinel', h);
  if (u32[tail >>> 2] !== (leftLong ? FLAG_LEFT_LONG : 0)) broken('sentinel header damaged', tail);
  for (let w = 0; w < expected.length && STATUS_MAP_U32 + w < firstBlock >>> 2; w++) {
    if (u32[STATUS_MAP_U32 + w] !== expected[w]) {
      const what = w % STATUS_WORDS_PER_SPAN === 0 ? 'live' : 'free';
      broken(`${what} bits of the status map disagree with the blocks`, (w >>> 1) << STATUS_SPAN_LOG2);
    }
  }

  let listed = 0;
  let flExpect = 0;
  for (let fl = 0; fl < FL_SIZE; fl++) {
    let slExpect = 0;
    for (let sl = 0; sl < SL_SIZE; sl++) {
      const cls = (fl << SL_BITS) + sl;
      let prev = 0;
      const head = u32[HEADS_U32 + cls]!;
      for (let b = head; b !== 0; b = u32[(b + HEADER_BYTES) >>> 2]!) {
        if (b < firstBlock || b >= tail) broken('free list points outside the heap', b);
        const hdr = u32[b >>> 2]!;
        if ((hdr & FLAG_FREE) === 0) broken('used block on a free list', b);
        if (mappingInsert(hdr - (hdr & FLAGS_MASK)) !== cls) broken('free block in the wrong size class', b);
        if (b !== head && u32[(b + HEADER_BYTES + NEXT_FREE_BYTES) >>> 2] !== prev) broken('free list prev link is wrong', b);
        prev = b;
        if (++listed > freeBlocks) broken('free lists hold more blocks than the heap (cycle?)', b);
      }
      if (prev !== 0) slExpect |= 1 << sl;
    }
    if ((u32[SL_MAP_U32 + fl]! | 0) !== slExpect) broken(`second-level bitmap ${fl} is wrong`, SL_MAP_START + fl * U32_BYTES);
    if (slExpect !== 0) flExpect |= 1 << fl;
  }
  if ((u32[FL_MAP_U32]! | 0) !== flExpect) broken('first-level bitmap is wrong', FL_MAP_START);
  if (listed !== freeBlocks) broken(`${freeBlocks - listed} free blocks missing from the free lists`, 0);
  if (f64[USED_BYTES_F64] !== usedBytes) broken(`usedBytes counter ${f64[USED_BYTES_F64]} but blocks hold ${usedBytes}`, 0);
  if (f64[ALLOCS_F64]! - f64[FREES_F64]! !== live)
    broken(`allocs - frees is ${f64[ALLOCS_F64]! - f64[FREES_F64]!} but ${live} blocks are used`, 0);
}

export function createTlsfArena(buffer: ArrayBuffer | SharedArrayBuffer): TlsfArena {
  return new TlsfArena(makeViews(buffer));
}
