// The two BPF rings, read and written in place over their mapped memory: the `queued` RINGBUF (kernel
// produces, we consume) and the `dispatched` USER_RINGBUF (we produce, ops.dispatch consumes). No libbpf
// call, no syscall and no allocation per record: a record is a byte offset into the ring's typed arrays, its
// fields are read and written at the offsets of layout.ts.
//
// Memory of a ring map, as the kernel lays it out for mmap (kernel/bpf/ringbuf.c):
//
//   file offset 0           page           2 pages                      2 pages + size   2 pages + 2 size
//   +-----------------------+--------------+----------------------------+----------------+
//   | consumer_pos (u64)    | producer_pos | data (size bytes)          | data again     |
//   | rest of the page: 0   | (u64), rest 0|                            | (same pages)   |
//   +-----------------------+--------------+----------------------------+----------------+
//   `consumerPage`           `producerArea` starts here: producer_pos at 0, data at pageBytes
//
// RINGBUF: we may write the consumer page, the producer area is read-only. USER_RINGBUF: the reverse.
// The data pages are mapped twice in a row, so a record that wraps past the end is contiguous.
// Record: an 8-byte header, then the payload, the total rounded up to 8:
//
//   0                    4                    8
//   +--------------------+--------------------+---------------------
//   | len (u32): payload | pg_off (u32,       | payload (len bytes)
//   | bytes; bit 31 BUSY,| kernel's own use)  |
//   | bit 30 DISCARD     |                    |
//   +--------------------+--------------------+---------------------
//
// Positions are u64 byte counts that only grow (a record at position p is at data offset p & (size - 1)).
// They are kept as doubles (exact below 2^53: centuries at any real rate) and never as BigInt. A position
// the other side reads is stored as one aligned 8-byte write on x86-64, or as release stores of its quarters
// elsewhere (PositionStore says why); one it writes is read high, low, high until the high halves agree.

import {
  D_CPU,
  D_ENQ_CNT,
  D_FLAGS,
  D_PID,
  D_RSV,
  D_SLICE_NS,
  D_VTIME,
  DISPATCH_BYTES,
  Q_ENQ_CNT,
  Q_PID,
  Q_VTIME,
} from './layout.js';
import { EPOLL_EVENT_BYTES, EPOLLIN, scxNative, type ScxNative } from './native.js';

export const RINGBUF_HDR_BYTES = 8;
export const RINGBUF_BUSY_BIT = 0x80000000;
export const RINGBUF_DISCARD_BIT = 0x40000000;
const LEN_MASK = ~(RINGBUF_BUSY_BIT | RINGBUF_DISCARD_BIT) >>> 0;
const U16_SPAN = 0x10000;
/** The header's flag bits as its upper u16 holds them (read apart from the length: see QueuedRing.next). */
const BUSY_HI16 = RINGBUF_BUSY_BIT >>> 16;
const DISCARD_HI16 = RINGBUF_DISCARD_BIT >>> 16;
const LEN_MASK_HI16 = LEN_MASK >>> 16;
const U32_SPAN = 2 ** 32;

/** A ring map's memory, as mapped (or, in tests, laid out the same way in an ordinary ArrayBuffer). */
export interface RingMemory {
  /** The page holding consumer_pos. */
  consumerPage: ArrayBuffer;
  /** producer_pos at byte 0, data from `pageBytes`, `2 * dataBytes` long (the double mapping). */
  producerArea: ArrayBuffer;
  pageBytes: number;
  /** The ring's size: a power of two. */
  dataBytes: number;
}

/**
 * Whether a position the other side reads is stored in one plain 8-byte write (x86-64: stores become visible
 * in program order, so it follows the record or the reads it publishes) or as release stores of its u16
 * quarters (arm64 and others: a plain store may become visible before the stores ahead of it, and the kernel
 * could take a position past records whose headers it then reads stale, from the ring's previous lap).
 */
export const POSITION_IN_ONE_WRITE = process.arch === 'x64' || process.arch === 'ia32';

/**
 * Stores a u64 position that the other side reads, at byte `byteOffset` of `buffer` (8-aligned).
 *
 * In one write: the bits moved through a Float64Array into one aligned 8-byte store, so it is never seen half
 * updated. In quarters: `Atomics.store` on each u16 (a store-release on arm64: what was written or read
 * before is visible first), lowest first. A reader may see new low quarters under old high ones; positions
 * only grow, so that mix is never past the new position (it may be behind the old one, where a carry crossed
 * a quarter): the kernel reads only records already committed, or finds less room than there is, and reads
 * again. u16 quarters, not int32 halves: every u16 is a small integer in any V8, so the calls box nothing.
 */
export class PositionStore {
  private readonly f64: Float64Array;
  private readonly u16: Uint16Array;
  private readonly bitsF64 = new Float64Array(1);
  private readonly bitsU32 = new Uint32Array(this.bitsF64.buffer);
  private readonly bitsU16 = new Uint16Array(this.bitsF64.buffer);

  constructor(
    buffer: ArrayBuffer,
    byteOffset: number,
    private readonly oneWrite = POSITION_IN_ONE_WRITE,
  ) {
    this.f64 = new Float64Array(buffer, byteOffset, 1);
    this.u16 = new Uint16Array(buffer, byteOffset, 4);
  }

  /**
   * Stores the position `src[from]` (an integer below 2^53). It is read here, never passed in: past 2^31 it
   * is not a small integer, and a call V8 leaves un-inlined would box it, a heap number per call (the ring
   * hot-path test caught 16 bytes an iteration).
   */
  store(src: Float64Array, from: number): void {
    const pos = src[from]!;
    const hi = Math.floor(pos / U32_SPAN);
    this.bitsU32[0] = pos - hi * U32_SPAN;
    this.bitsU32[1] = hi;
    if (this.oneWrite) {
      this.f64[0] = this.bitsF64[0]!;
      return;
    }
    const q = this.bitsU16;
    Atomics.store(this.u16, 0, q[0]!);
    Atomics.store(this.u16, 1, q[1]!);
    Atomics.store(this.u16, 2, q[2]!);
    Atomics.store(this.u16, 3, q[3]!);
  }
}

/**
 * Reads a u64 position written by the other side into `out[slot]`: its high half, its low half, and its high
 * half again. Positions only grow, so while the high half reads the same before and after, the low half
 * belongs to a value with that high half: the result is a value the other side wrote, never a mix.
 * Atomics.load, not a plain read, so that what follows (a record's header) is read after the position.
 *
 * Int32 views, not Uint32: Atomics.load is a builtin call in V8 (its optimizing compiler does not inline it),
 * and the number it returns is a heap number whenever it is not a small integer. Every int32 is one where
 * small integers have 32 bits (V8 without pointer compression: Node's own builds); a u32 past 2^31 is not,
 * and the builtin allocated one on every call (a trace in the guest found it writing fresh pages of the
 * scheduler thread's young generation). Three calls, 24 ns here, against 50 for the u16 reading below.
 */
export function loadPosition32(p: PositionView, out: Float64Array, slot: number): void {
  const i32 = p.i32;
  for (;;) {
    const hi = Atomics.load(i32, 1);
    const lo = Atomics.load(i32, 0);
    if (Atomics.load(i32, 1) === hi) {
      out[slot] = hi * U32_SPAN + (lo >>> 0);
      return;
    }
  }
}

/**
 * The same where small integers have 31 bits (V8 with pointer compression): in u16 quarters, which always
 * are small integers, highest first, then the upper three again after the lowest.
 */
export function loadPosition16(p: PositionView, out: Float64Array, slot: number): void {
  const u16 = p.u16;
  for (;;) {
    const h3 = Atomics.load(u16, 3);
    const h2 = Atomics.load(u16, 2);
    const h1 = Atomics.load(u16, 1);
    const h0 = Atomics.load(u16, 0);
    if (Atomics.load(u16, 1) === h1 && Atomics.load(u16, 2) === h2 && Atomics.load(u16, 3) === h3) {
      out[slot] = ((h3 * U16_SPAN + h2) * U16_SPAN + h1) * U16_SPAN + h0;
      return;
    }
  }
}

/** The 8 bytes of a position, through the views its readers use (made once per position). */
export interface PositionView {
  i32: Int32Array;
  u16: Uint16Array;
}

export function positionView(buffer: ArrayBuffer, byteOffset: number): PositionView {
  return { i32: new Int32Array(buffer, byteOffset, 2), u16: new Uint16Array(buffer, byteOffset, 4) };
}

/** Whether every int32 is a small integer in this V8 (no pointer compression): chosen once, at load. */
export const SMI_HOLDS_INT32 =
  Number((process.config.variables as { v8_enable_pointer_compression?: unknown }).v8_enable_pointer_compression ?? 0) === 0;
const loadPositionInto = SMI_HOLDS_INT32 ? loadPosition32 : loadPosition16;

/** Reads the u64 at byte `at` (8-aligned) of `u32`'s buffer as a number. */
export function readU64(u32: Uint32Array, at: number): number {
  return u32[(at >> 2) + 1]! * U32_SPAN + u32[at >> 2]!;
}

/**
 * Writes `value` (a number in [0, 2^53); a fraction is dropped, as the u32 stores truncate) as a u64 at byte
 * `at` (8-aligned) of `u32`'s buffer. Split by a division by 2^32 (exact) and a floor, not by `%`: a remainder
 * of doubles is no instruction of the machine (x87's fprem on x64, a C call elsewhere); 4-6 ns more per split
 * in a micro-benchmark here, too little to show in the round's cost (BENCHMARKS.md, 2026-12-05).
 */
export function writeU64(u32: Uint32Array, at: number, value: number): void {
  const hi = Math.floor(value / U32_SPAN);
  u32[at >> 2] = value - hi * U32_SPAN;
  u32[(at >> 2) + 1] = hi;
}

/**
 * Data offset of position `pos` in a ring of `size` bytes (a power of two), given `perSize` = 1 / size:
 * `pos % size` without the remainder of doubles (writeU64 says why). Exact: scaling by a power of two is.
 */
export function ringOffset(pos: number, size: number, perSize: number): number {
  return pos - Math.floor(pos * perSize) * size;
}

/** How a ring reads and publishes, each chosen for this machine and V8 unless a test asks for the other way. */
export interface RingOptions {
  /** Read record headers as one int32 (default: where every int32 is a small integer) or as two u16 halves. */
  int32Reads?: boolean;
  /** Publish our position in one plain 8-byte write (default on x86-64) or as release stores of its quarters. */
  positionInOneWrite?: boolean;
}

function checkMemory(mem: RingMemory, what: string): void {
  const size = mem.dataBytes;
  if (!Number.isInteger(size) || size <= 0 || (size & (size - 1)) !== 0) {
    throw new RangeError(`${what}: dataBytes must be a power of two, got ${size}`);
  }
  if (mem.producerArea.byteLength < mem.pageBytes + 2 * size || mem.consumerPage.byteLength < 8) {
    throw new RangeError(`${what}: mapped memory is smaller than the ring's layout`);
  }
}

/**
 * Consumer of the `queued` RINGBUF. A scheduling iteration:
 *
 *   for (let at = q.next(); at >= 0; at = q.next()) { ...read fields at `at`...; }
 *   q.release();   // once per batch: tells the kernel the space is free (and re-arms its wake-ups)
 *
 * `next()` returns the byte offset of the next record's payload in `i32`/`u32` (the producer area), or -1
 * when the ring is empty or the next record is still being written. Read a record before the next call of
 * `release()`; after it the kernel may overwrite it.
 */
export class QueuedRing {
  readonly i32: Int32Array;
  readonly u32: Uint32Array;
  private readonly u16: Uint16Array;
  private readonly producerPos: PositionView;
  private readonly consumerPos: PositionStore;
  /** [0] our read position, [1] the position last published to the kernel, [2] records read, [3] the kernel's position as last read. */
  private readonly st = new Float64Array(4);
  private readonly size: number;
  private readonly perSize: number;
  private readonly dataAt: number;
  /** Headers read as one int32 (where every int32 is a small integer) or as two u16 halves. */
  private readonly headerInt32: boolean;

  constructor(mem: RingMemory, opts: RingOptions = {}) {
    checkMemory(mem, 'queued ring');
    this.headerInt32 = opts.int32Reads ?? SMI_HOLDS_INT32;
    this.i32 = new Int32Array(mem.producerArea);
    this.u32 = new Uint32Array(mem.producerArea);
    this.u16 = new Uint16Array(mem.producerArea);
    this.consumerPos = new PositionStore(mem.consumerPage, 0, opts.positionInOneWrite);
    this.producerPos = positionView(mem.producerArea, 0);
    this.size = mem.dataBytes;
    this.perSize = 1 / mem.dataBytes;
    this.dataAt = mem.pageBytes;
    loadPositionInto(positionView(mem.consumerPage, 0), this.st, 0);
    this.st[1] = this.st[0]!;
  }

  /** Byte offset of the next record's payload, or -1. Skips records the kernel discarded. */
  next(): number {
    const st = this.st;
    for (;;) {
      const pos = st[0]!;
      // The kernel's position is read again only once we have caught up with the last one read: records
      // below it are committed or being written, and their headers say which.
      if (st[3]! <= pos) {
        loadPositionInto(this.producerPos, st, 3);
        if (st[3]! <= pos) return -1;
      }
      const hdr = this.dataAt + ringOffset(pos, this.size, this.perSize);
      let len: number;
      let discarded: boolean;
      if (this.headerInt32) {
        // The header in one call, as an int32 (a small integer here: nothing boxed): BUSY is its sign.
        const h = Atomics.load(this.i32, hdr >> 2);
        if (h < 0) return -1;
        len = h & LEN_MASK;
        discarded = (h & RINGBUF_DISCARD_BIT) !== 0;
      } else {
        // The flags first (the upper half of the header: always a small integer), then, once the record
        // is committed and the header final, its length.
        const flags = Atomics.load(this.u16, (hdr >> 1) + 1);
        if ((flags & BUSY_HI16) !== 0) return -1;
        len = (flags & LEN_MASK_HI16) * U16_SPAN + Atomics.load(this.u16, hdr >> 1);
        discarded = (flags & DISCARD_HI16) !== 0;
      }
      st[0] = pos + (((len + RINGBUF_HDR_BYTES + 7) >>> 3) << 3);
      if (discarded) continue;
      st[2] = st[2]! + 1;
      return hdr + RINGBUF_HDR_BYTES;
    }
  }

  /** Payload bytes of the record at `at` (as the kernel wrote them in the header). */
  recordBytes(at: number): number {
    return (this.u32[(at - RINGBUF_HDR_BYTES) >> 2]! & LEN_MASK) >>> 0;
  }

  /** Publishes the read position: the kernel may reuse the space, and wakes us again for new records. */
  release(): void {
    const st = this.st;
    if (st[1] === st[0]) return;
    this.consumerPos.store(st, 0);
    st[1] = st[0]!;
  }

  /** True when the kernel has written records we have not read (a read of its position; for a poll before sleeping). */
  pending(): boolean {
    loadPositionInto(this.producerPos, this.st, 3);
    return this.st[3]! > this.st[0]!;
  }

  /** Records returned by next() so far. */
  get recordsRead(): number {
    return this.st[2]!;
  }

  /** u64 field at byte `at` of a record (an integer below 2^53). */
  u64(at: number): number {
    return this.u32[(at >> 2) + 1]! * U32_SPAN + this.u32[at >> 2]!;
  }
}

/**
 * Producer of the `dispatched` USER_RINGBUF. Each push writes one dispatch record and publishes it; the
 * kernel drains them in ops.dispatch. push returns false when the ring is full (nothing written): let a
 * CPU run ops.dispatch (block or yield) and try again.
 */
export class DispatchRing {
  readonly i32: Int32Array;
  readonly u32: Uint32Array;
  private readonly producerPos: PositionStore;
  private readonly consumerPos: PositionView;
  /** [0] our write position, [1] records pushed, [2] the kernel's read position as last read. */
  private readonly st = new Float64Array(3);
  private readonly size: number;
  private readonly perSize: number;
  private readonly dataAt: number;
  private readonly recordTotal: number;

  constructor(mem: RingMemory, opts: RingOptions = {}) {
    checkMemory(mem, 'dispatch ring');
    this.i32 = new Int32Array(mem.producerArea);
    this.u32 = new Uint32Array(mem.producerArea);
    this.producerPos = new PositionStore(mem.producerArea, 0, opts.positionInOneWrite);
    this.consumerPos = positionView(mem.consumerPage, 0);
    this.size = mem.dataBytes;
    this.perSize = 1 / mem.dataBytes;
    this.dataAt = mem.pageBytes;
    this.recordTotal = ((DISPATCH_BYTES + RINGBUF_HDR_BYTES + 7) >>> 3) << 3;
    loadPositionInto(positionView(mem.producerArea, 0), this.st, 0);
    loadPositionInto(this.consumerPos, this.st, 2);
  }

  /**
   * Reserves the next record: returns the byte offset of its payload in `i32`/`u32`, or -1 when the ring
   * is full. Fill it, then call commit(); nothing else may be reserved in between.
   */
  reserve(): number {
    const st = this.st;
    const pos = st[0]!;
    const size = this.size;
    // The kernel's read position only grows: while the one last read leaves room, there is room, and it is
    // read again only when it says the ring is full, not once per record.
    if (pos - st[2]! + this.recordTotal > size) {
      loadPositionInto(this.consumerPos, st, 2);
      if (pos - st[2]! + this.recordTotal > size) return -1;
    }
    return this.dataAt + ringOffset(pos, size, this.perSize) + RINGBUF_HDR_BYTES;
  }

  /** Publishes the reserved record: header (length, not busy) first, then the producer position. */
  commit(at: number): void {
    Atomics.store(this.u32, (at - RINGBUF_HDR_BYTES) >> 2, DISPATCH_BYTES);
    this.u32[(at - RINGBUF_HDR_BYTES + 4) >> 2] = 0;
    this.st[0] = this.st[0]! + this.recordTotal;
    this.st[1] = this.st[1]! + 1;
    this.producerPos.store(this.st, 0);
  }

  /** Writes and publishes one dispatch record; false when the ring is full. */
  push(pid: number, cpu: number, flags: number, sliceNs: number, vtime: number, enqCnt: number): boolean {
    const at = this.reserve();
    if (at < 0) return false;
    const u32 = this.u32;
    this.i32[(at + D_PID) >> 2] = pid;
    this.i32[(at + D_CPU) >> 2] = cpu;
    u32[(at + D_FLAGS) >> 2] = flags;
    u32[(at + D_RSV) >> 2] = 0;
    writeU64(u32, at + D_SLICE_NS, sliceNs);
    writeU64(u32, at + D_VTIME, vtime);
    writeU64(u32, at + D_ENQ_CNT, enqCnt);
    this.commit(at);
    return true;
  }

  /**
   * Dispatches the task of queued record `qAt` (of ring `q`): pid, vtime and enq_cnt are copied bit for
   * bit (no number crosses a call), the caller chooses CPU, flags and slice.
   */
  pushFor(q: QueuedRing, qAt: number, cpu: number, flags: number, sliceNs: number): boolean {
    const at = this.reserve();
    if (at < 0) return false;
    const u32 = this.u32;
    const qu = q.u32;
    u32[(at + D_PID) >> 2] = qu[(qAt + Q_PID) >> 2]!;
    this.i32[(at + D_CPU) >> 2] = cpu;
    u32[(at + D_FLAGS) >> 2] = flags;
    u32[(at + D_RSV) >> 2] = 0;
    writeU64(u32, at + D_SLICE_NS, sliceNs);
    u32[(at + D_VTIME) >> 2] = qu[(qAt + Q_VTIME) >> 2]!;
    u32[(at + D_VTIME + 4) >> 2] = qu[(qAt + Q_VTIME + 4) >> 2]!;
    u32[(at + D_ENQ_CNT) >> 2] = qu[(qAt + Q_ENQ_CNT) >> 2]!;
    u32[(at + D_ENQ_CNT + 4) >> 2] = qu[(qAt + Q_ENQ_CNT + 4) >> 2]!;
    this.commit(at);
    return true;
  }

  /** Records pushed so far (what the loader mirrors into nr_dispatch_posted). */
  get recordsPushed(): number {
    return this.st[1]!;
  }
}

/**
 * A ring laid out in ordinary ArrayBuffers the way the kernel maps it (for tests). The double mapping is
 * not there: whoever plays the kernel writes a wrapping record's bytes into both halves itself.
 */
export function ringMemoryForTest(dataBytes: number, pageBytes = 4096): RingMemory {
  return {
    consumerPage: new ArrayBuffer(pageBytes),
    producerArea: new ArrayBuffer(pageBytes + 2 * dataBytes),
    pageBytes,
    dataBytes,
  };
}

/**
 * Sleeps until the `queued` ring has records: epoll on the ring map's fd (the kernel wakes it when a record
 * is submitted while we had caught up, so call QueuedRing.release() before waiting). One epoll_wait per
 * call, into a buffer made once: nothing is allocated per call.
 */
export class RingWaiter {
  private readonly events = new Uint8Array(EPOLL_EVENT_BYTES * 4);
  private epfd: number;
  private readonly native: ScxNative;

  constructor(ringFd: number) {
    const n = scxNative();
    if (!n) throw new Error('libc is not available: cannot wait on the ring');
    this.native = n;
    this.epfd = n.epollCreate();
    if (this.epfd < 0) throw new Error(`epoll_create1 failed: errno ${n.errno()}`);
    if (n.epollAdd(this.epfd, ringFd, EPOLLIN) < 0) {
      const code = n.errno();
      n.close(this.epfd);
      this.epfd = -1;
      throw new Error(`epoll_ctl(ADD, ring fd ${ringFd}) failed: errno ${code}`);
    }
  }

  /** Waits up to `timeoutMs` (0: poll, -1: forever). Returns 1 when woken by the ring, 0 on timeout or a signal. */
  wait(timeoutMs: number): number {
    const n = this.native.epollWait(this.epfd, this.events, 4, timeoutMs);
    return n > 0 ? 1 : 0;
  }

  close(): void {
    if (this.epfd >= 0) this.native.close(this.epfd);
    this.epfd = -1;
  }
}
