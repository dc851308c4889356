// The run queue: an indexed 4-ary min-heap of task slots ordered by (key, enqueue timestamp, pid), with
// O(log n) push, pop and remove (a task that exits while queued). Each heap node keeps its ordering fields
// inline, so sifting compares within the heap's own memory and never chases a task record. Four children
// per node halve the depth (the four sit in two cache lines); removal walks the hole down to a leaf along
// the smallest children and sifts the last node up from there (Floyd's bottom-up variant): the last node
// usually belongs near the bottom, so this saves a comparison per level.
//
//   node i (24 bytes):   0             8             16     20     24
//                        +-------------+-------------+------+------+
//                        | key f64     | tsNs f64    | slot | pid  |
//                        +-------------+-------------+------+------+
//
// `pos[slot]` is the node index of a queued slot, -1 otherwise. Capacity grows only through
// `ensureSlots` (the task-creation path); push/pop/remove never allocate.

const NODE_BYTES = 24;
const NODE_F64 = NODE_BYTES >> 3;
const NODE_I32 = NODE_BYTES >> 2;
const KEY_F64 = 0;
const TS_F64 = 1;
const SLOT_I32 = 4;
const PID_I32 = 5;
const NOT_QUEUED = -1;
const ARITY_SHIFT = 2;
const ARITY = 1 << ARITY_SHIFT;

export class RunQueueError extends Error {
  override name = 'RunQueueError';
}

/** Index of the key and timestamp in `RunQueue.pending`, read by the next `push`. */
export const PENDING_KEY = 0;
export const PENDING_TS_NS = 1;

export class RunQueue {
  /**
   * The ordering fields of the next `push`. They travel through this array, not as arguments, because V8
   * allocates a box for a fractional number passed to a call it does not inline.
   */
  readonly pending = new Float64Array(2);
  // The node being sifted, parked here for the same reason.
  private readonly moving = new Float64Array(2);
  private f64: Float64Array = new Float64Array(0);
  private i32: Int32Array = new Int32Array(0);
  private pos: Int32Array = new Int32Array(0);
  private n = 0;

  constructor(slots = 0) {
    this.ensureSlots(slots);
  }

  get size(): number {
    return this.n;
  }

  get memoryBytes(): number {
    return this.f64.byteLength + this.pos.byteLength;
  }

  /** Makes room for slots [0, slots). Allocates: task-creation path only. */
  ensureSlots(slots: number): void {
    if (slots <= this.pos.length) return;
    const buf = new ArrayBuffer(slots * NODE_BYTES);
    const f64 = new Float64Array(buf);
    f64.set(this.f64.subarray(0, this.n * NODE_F64));
    const pos = new Int32Array(slots).fill(NOT_QUEUED);
    pos.set(this.pos);
    this.f64 = f64;
    this.i32 = new Int32Array(buf);
    this.pos = pos;
  }

  has(slot: number): boolean {
    return slot < this.pos.length && this.pos[slot]! !== NOT_QUEUED;
  }

  /** Queues `slot` (not already queued) with key `pending[PENDING_KEY]` and time `pending[PENDING_TS_NS]`. */
  push(slot: number, pid: number): void {
    if (this.pos[slot] !== NOT_QUEUED) throw new RunQueueError(`slot ${slot} is already queued or out of range`);
    this.moving[KEY_F64] = this.pending[PENDING_KEY]!;
    this.moving[TS_F64] = this.pending[PENDING_TS_NS]!;
    this.siftUp(this.n++, slot, pid);
  }

  /** Slot with the smallest (key, ts, pid), or -1 when empty. */
  peek(): number {
    return this.n === 0 ? -1 : this.i32[SLOT_I32]!;
  }

  /** Key of the head, NaN when empty (slow paths and tests). */
  peekKey(): number {
    return this.n === 0 ? NaN : this.f64[KEY_F64]!;
  }

  /** Removes and returns the head slot, or -1 when empty. */
  pop(): number {
    if (this.n === 0) return -1;
    const slot = this.i32[SLOT_I32]!;
    this.removeAt(0);
    this.pos[slot] = NOT_QUEUED;
    return slot;
  }

  /** Removes a queued slot; returns false if it was not queued. */
  remove(slot: number): boolean {
    if (slot >= this.pos.length) return false;
    const at = this.pos[slot]!;
    if (at === NOT_QUEUED) return false;
    this.removeAt(at);
    this.pos[slot] = NOT_QUEUED;
    return true;
  }

  // Fills the hole at `at`: walks it down to a leaf along the smallest children, then sifts the last node
  // up from there (which may carry it above `at`, when it is smaller than the hole's parent).
  private removeAt(at: number): void {
    const last = --this.n;
    if (at === last) return;
    const f64 = this.f64;
    const i32 = this.i32;
    const pos = this.pos;
    const n = last;
    for (;;) {
      const first = (at << ARITY_SHIFT) + 1;
      if (first >= n) break;
      let c = first;
      let ck = f64[c * NODE_F64 + KEY_F64]!;
      let ct = f64[c * NODE_F64 + TS_F64]!;
      const end = first + ARITY < n ? first + ARITY : n;
      for (let j = first + 1; j < end; j++) {
        const jk = f64[j * NODE_F64 + KEY_F64]!;
        if (jk > ck) continue;
        const jt = f64[j * NODE_F64 + TS_F64]!;
        if (jk < ck || jt < ct || (jt === ct && i32[j * NODE_I32 + PID_I32]! < i32[c * NODE_I32 + PID_I32]!)) {
          c = j;
          ck = jk;
          ct = jt;
        }
      }
      f64[at * NODE_F64 + KEY_F64] = ck;
      f64[at * NODE_F64 + TS_F64] = ct;
      const cs = i32[c * NODE_I32 + SLOT_I32]!;
      i32[at * NODE_I32 + SLOT_I32] = cs;
      i32[at * NODE_I32 + PID_I32] = i32[c * NODE_I32 + PID_I32]!;
      pos[cs] = at;
      at = c;
    }
    this.moving[KEY_F64] = f64[last * NODE_F64 + KEY_F64]!;
    this.moving[TS_F64] = f64[last * NODE_F64 + TS_F64]!;
    this.siftUp(at, i32[last * NODE_I32 + SLOT_I32]!, i32[last * NODE_I32 + PID_I32]!);
  }

  // Moves parents down into the hole at `at` until the parked node fits, then writes it there.
  private siftUp(at: number, slot: number, pid: number): void {
    const f64 = this.f64;
    const i32 = this.i32;
    const pos = this.pos;
    const key = this.moving[KEY_F64]!;
    const ts = this.moving[TS_F64]!;
    while (at > 0) {
      const p = (at - 1) >> ARITY_SHIFT;
      const pk = f64[p * NODE_F64 + KEY_F64]!;
      if (key > pk) break;
      const pt = f64[p * NODE_F64 + TS_F64]!;
      const smaller = key < pk || ts < pt || (ts === pt && pid < i32[p * NODE_I32 + PID_I32]!);
      if (!smaller) break;
      f64[at * NODE_F64 + KEY_F64] = pk;
      f64[at * NODE_F64 + TS_F64] = pt;
      const ps = i32[p * NODE_I32 + SLOT_I32]!;
      i32[at * NODE_I32 + SLOT_I32] = ps;
      i32[at * NODE_I32 + PID_I32] = i32[p * NODE_I32 + PID_I32]!;
      pos[ps] = at;
      at = p;
    }
    f64[at * NODE_F64 + KEY_F64] = key;
    f64[at * NODE_F64 + TS_F64] = ts;
    i32[at * NODE_I32 + SLOT_I32] = slot;
    i32[at * NODE_I32 + PID_I32] = pid;
    pos[slot] = at;
  }

  /** Checks the heap property and the position index (tests; O(n)). */
  check(): void {
    const f64 = this.f64;
    const i32 = this.i32;
    for (let i = 1; i < this.n; i++) {
      const p = (i - 1) >> ARITY_SHIFT;
      const k = f64[i * NODE_F64]!, pk = f64[p * NODE_F64]!;
      const t = f64[i * NODE_F64 + 1]!, pt = f64[p * NODE_F64 + 1]!;
      const below = k < pk || (k === pk && (t < pt || (t === pt && i32[i * NODE_I32 + PID_I32]! < i32[p * NODE_I32 + PID_I32]!)));
      if (below) throw new RunQueueError(`heap order broken at node ${i}`);
    }
    for (let i = 0; i < this.n; i++) {
      const slot = i32[i * NODE_I32 + SLOT_I32]!;
      if (this.pos[slot] !== i) throw new RunQueueError(`pos[${slot}] is ${this.pos[slot]}, node is ${i}`);
    }
  }
}
