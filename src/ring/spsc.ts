// A single-producer single-consumer ring of fixed-size records in one SharedArrayBuffer: the queued-tasks
// ring (backend -> scheduler) and the dispatch ring (scheduler -> backend), the user-space halves of
// scx_rustland's BPF ring buffer and user ring buffer. Either side may live on another thread: it attaches to
// the same buffer with `SpscRing.attach`.
//
// Layout (byte offsets from the start of the buffer):
//
//   0        4             64       68            128                 128 + R        128 + R*capacity
//   +--------+-----//------+--------+-----//------+-------------------+--- ... -----+
//   | head   |   (pad)     | tail   |   (pad)     | record 0          | record 1 ...|
//   +--------+-----//------+--------+-----//------+-------------------+--- ... -----+
//
//   head  i32  records published so far by the producer, modulo 2^30 (only differences matter)
//   tail  i32  records consumed so far by the consumer, modulo 2^30
//
// Why 2^30 and not 2^32: then the sum or difference of two indexes never leaves the 32-bit small-integer
// range. Unoptimized code (which still runs on the scheduler thread after its compilers are frozen)
// allocates a heap number for any intermediate result outside it: with indexes wrapping at 2^32 that
// happened at every wrap.
//   R     recordBytes, a multiple of 8 so every record can hold Float64 fields
//
// head and tail sit on separate 64-byte cache lines so the two sides do not bounce one line between cores.
// The producer writes a record's fields, then publishes it with one Atomics.store of head; the consumer
// reads head with Atomics.load before reading fields, so it never sees a half-written record.
//
// Nothing here allocates after construction: callers get a record's byte offset (a plain number) and read
// or write fields through the shared `i32` / `f64` views at (offset + FIELD) >> 2 or >> 3.

export const RING_HEAD_BYTE = 0;
export const RING_TAIL_BYTE = 64;
export const RING_HEADER_BYTES = 128;
const HEAD_I32 = RING_HEAD_BYTE >> 2;
const TAIL_I32 = RING_TAIL_BYTE >> 2;
const RECORD_ALIGN_BYTES = 8;
const MAX_CAPACITY = 1 << 24;
/** Indexes wrap here; a power of two above MAX_CAPACITY, so a record's slot does not jump at the wrap. */
const INDEX_MASK = (1 << 30) - 1;

/** Sentinel returned by `reserve` when full and by `peek` when empty. */
export const RING_NONE = -1;

export class RingError extends Error {
  override name = 'RingError';
}

export function ringBytes(recordBytes: number, capacity: number): number {
  return RING_HEADER_BYTES + recordBytes * capacity;
}

export class SpscRing {
  readonly sab: SharedArrayBuffer;
  readonly recordBytes: number;
  readonly capacity: number;
  readonly i32: Int32Array;
  readonly f64: Float64Array;
  private readonly mask: number;
  /** Whether head and tail are published with Atomics (the two ends may be on different threads). */
  readonly crossThread: boolean;
  // The producer's last view of the consumer's index: a lower bound on free space, refreshed only when it
  // says full, so most reserves cost no atomic load.
  private cachedTail = 0;

  /**
   * A new, empty ring. `capacity` must be a power of two. With `crossThread: false` (both ends on one
   * thread) head and tail are published with plain stores instead of Atomics, which cost tens of ns each in
   * V8; readers on other threads still see the indexes, only without ordering guarantees.
   */
  static create(recordBytes: number, capacity: number, opts: { crossThread?: boolean } = {}): SpscRing {
    checkShape(recordBytes, capacity);
    return new SpscRing(new SharedArrayBuffer(ringBytes(recordBytes, capacity)), recordBytes, capacity, opts.crossThread ?? true);
  }

  /** The same ring seen from another thread (pass the `sab`, `recordBytes` and `capacity` it was made with). */
  static attach(sab: SharedArrayBuffer, recordBytes: number, capacity: number): SpscRing {
    checkShape(recordBytes, capacity);
    if (sab.byteLength < ringBytes(recordBytes, capacity)) {
      throw new RingError(`ring buffer has ${sab.byteLength} bytes, needs ${ringBytes(recordBytes, capacity)}`);
    }
    return new SpscRing(sab, recordBytes, capacity, true);
  }

  private constructor(sab: SharedArrayBuffer, recordBytes: number, capacity: number, crossThread: boolean) {
    this.crossThread = crossThread;
    this.sab = sab;
    this.recordBytes = recordBytes;
    this.capacity = capacity;
    this.mask = capacity - 1;
    this.i32 = new Int32Array(sab);
    this.f64 = new Float64Array(sab);
    this.cachedTail = this.i32[TAIL_I32]!;
  }

  /**
   * Takes every branch of both sides once on scratch rings, shared and not: filling up, the producer's
   * re-read of the consumer's index once its cached one says full, draining, indices wrapping. V8 shares
   * type feedback between instances; without this the first lap of a real ring, a minute into a run,
   * deoptimized the code that had reserve() inlined, and its recompilation faulted in code pages.
   */
  static drill(): void {
    for (const crossThread of [true, false]) {
      const ring = SpscRing.create(RECORD_ALIGN_BYTES, 4, { crossThread });
      for (let lap = 0; lap < 3; lap++) {
        let at: number;
        while ((at = ring.reserve()) !== RING_NONE) {
          ring.i32[at >> 2] = lap;
          ring.publish();
        }
        ring.size();
        while ((at = ring.peek()) !== RING_NONE) {
          if (ring.i32[at >> 2] !== lap) throw new RingError('ring drill read back the wrong record');
          ring.consume();
        }
        const n = ring.room();
        for (let i = 0; i < n; i++) ring.i32[ring.slot(i) >> 2] = lap;
        ring.commit(n);
        const k = ring.available();
        for (let i = 0; i < k; i++) ring.record(i);
        ring.release(k);
      }
    }
  }

  /** Records published and not yet consumed. */
  size(): number {
    return (Atomics.load(this.i32, HEAD_I32) - Atomics.load(this.i32, TAIL_I32)) & INDEX_MASK;
  }

  // ---- producer side ----
  // Batch use: `n = room()`, fill `slot(0) .. slot(n-1)`, then `commit(k)` publishes the first k (one atomic
  // store for the whole batch). Atomics cost tens of ns each in V8, so the hot path pays them per batch.

  /**
   * Free records the producer may fill now: a lower bound, since the consumer's index is re-read only when
   * the cached one says full. Never 0 while space is left.
   */
  room(): number {
    const head = this.i32[HEAD_I32]!;
    let free = this.capacity - ((head - this.cachedTail) & INDEX_MASK);
    // <= 0, not === 0: a producer that saw the ring full, had it drained and wrote on without asking again
    // leaves the cached index more than a ring behind.
    if (free <= 0) {
      this.cachedTail = this.crossThread ? Atomics.load(this.i32, TAIL_I32) : this.i32[TAIL_I32]!;
      free = this.capacity - ((head - this.cachedTail) & INDEX_MASK);
    }
    return free;
  }

  /** Byte offset of the i-th free record (0 <= i < room()). */
  slot(i: number): number {
    return RING_HEADER_BYTES + ((this.i32[HEAD_I32]! + i) & this.mask) * this.recordBytes;
  }

  /** Publishes the first `n` free records to the consumer. */
  commit(n: number): void {
    if (this.crossThread) Atomics.store(this.i32, HEAD_I32, (this.i32[HEAD_I32]! + n) & INDEX_MASK);
    else this.i32[HEAD_I32] = (this.i32[HEAD_I32]! + n) & INDEX_MASK;
  }

  /** One record: its byte offset, or RING_NONE when full. Fill it, then `commit(1)`. */
  reserve(): number {
    return this.room() > 0 ? this.slot(0) : RING_NONE;
  }

  /** Same as commit(1). */
  publish(): void {
    this.commit(1);
  }

  // ---- consumer side ----
  // Batch use: `n = available()`, read `record(0) .. record(n-1)`, then `release(n)` (one atomic store).

  /** Published records not yet released. Reads the producer's index once (one atomic load). */
  available(): number {
    const head = this.crossThread ? Atomics.load(this.i32, HEAD_I32) : this.i32[HEAD_I32]!;
    return (head - this.i32[TAIL_I32]!) & INDEX_MASK;
  }

  /** Byte offset of the i-th unreleased record (0 <= i < available()). */
  record(i: number): number {
    return RING_HEADER_BYTES + ((this.i32[TAIL_I32]! + i) & this.mask) * this.recordBytes;
  }

  /** Gives the first `n` unreleased records back to the producer. */
  release(n: number): void {
    if (this.crossThread) Atomics.store(this.i32, TAIL_I32, (this.i32[TAIL_I32]! + n) & INDEX_MASK);
    else this.i32[TAIL_I32] = (this.i32[TAIL_I32]! + n) & INDEX_MASK;
  }

  /** The oldest record's byte offset, or RING_NONE when empty. Read it, then `consume()`. */
  peek(): number {
    return this.available() > 0 ? this.record(0) : RING_NONE;
  }

  /** Same as release(1). */
  consume(): void {
    this.release(1);
  }
}

function checkShape(recordBytes: number, capacity: number): void {
  if (!Number.isInteger(recordBytes) || recordBytes <= 0 || recordBytes % RECORD_ALIGN_BYTES !== 0) {
    throw new RingError(`recordBytes must be a positive multiple of ${RECORD_ALIGN_BYTES}, got ${recordBytes}`);
  }
  if (!Number.isInteger(capacity) || capacity < 1 || capacity > MAX_CAPACITY || (capacity & (capacity - 1)) !== 0) {
    throw new RingError(`capacity must be a power of two in [1, ${MAX_CAPACITY}], got ${capacity}`);
  }
}
