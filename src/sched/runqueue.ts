// The run queue: an indexed binary min-heap of task slots ordered by (key, enqueue timestamp, pid), with
// O(log n) push, pop and remove (a task that exits while queued). Keys and slots sit in two parallel typed
// arrays, so sifting compares within the heap's own memory and never chases a task record:
//
//   heap node i:    keys  Float64Array   [ key0 | key1 | key2 | ... ]   8 bytes a node
//                   slots Int32Array     [ slot0| slot1| slot2| ... ]   4 bytes a node
//   per slot s:     pos   Int32Array     node index of s, -1 when not queued
//                   ts    Float64Array   enqueue time of s   } read only when two keys are equal,
//                   pid   Int32Array     pid of s            } which is rare
//
// Every key past the last node is +Infinity, so sifting down may read a right child that is not there and
// pick the smaller of two children without a branch (a 50/50 branch mispredicts on every level). Capacity
// grows only through `ensureSlots` (the task-creation path); push/pop/remove never allocate.

const NOT_QUEUED = -1;

/** Index of the key and timestamp in `RunQueue.pending`, read by the next `push`. */
export const PENDING_KEY = 0;
export const PENDING_TS_NS = 1;
const MOVING_KEY = 0;
/** Operations of the drill: enough for V8 to optimize push, pop and remove while it runs. */
const DRILL_OPS = 4000;

export class RunQueueError extends Error {
  override name = 'RunQueueError';
}

export class RunQueue {
  /**
   * The ordering fields of the next `push`. They travel through this array, not as arguments, because V8
   * allocates a box for a fractional number passed to a call it does not inline.
   */
  readonly pending = new Float64Array(2);
  // The key being sifted, parked here for the same reason.
  private readonly moving = new Float64Array(1);
  private keys: Float64Array = new Float64Array(0);
  private slots: Int32Array = new Int32Array(0);
  private pos: Int32Array = new Int32Array(0);
  private tsBySlot: Float64Array = new Float64Array(0);
  private pidBySlot: Int32Array = new Int32Array(0);
  private n = 0;

  constructor(slots = 0) {
    this.ensureSlots(slots);
  }

  get size(): number {
    return this.n;
  }

  get memoryBytes(): number {
    return (
      this.keys.byteLength + this.slots.byteLength + this.pos.byteLength + this.tsBySlot.byteLength + this.pidBySlot.byteLength
    );
  }

  /** Makes room for slots [0, slots). Allocates: task-creation path only. */
  ensureSlots(slots: number): void {
    // The growing is a method of its own: V8 allocates a function's closure context on entry, so closures
    // here would cost every call ~40 bytes, the common one that grows nothing included (measured).
    if (slots > this.pos.length) this.growSlots(slots);
  }

  private growSlots(slots: number): void {
    // fill() touches every page here, on the creation path, so pushes and pops never fault.
    const grow = <T extends Float64Array | Int32Array>(old: T, make: (n: number) => T, fill = 0): T => {
      const a = make(slots);
      a.fill(fill);
      a.set(old);
      return a;
    };
    // One spare entry past the last possible node holds the +Infinity sentinel.
    const nodes = slots + 1;
    const keys = new Float64Array(nodes).fill(Infinity);
    keys.set(this.keys.subarray(0, this.n));
    this.keys = keys;
    const heapSlots = new Int32Array(nodes).fill(0);
    heapSlots.set(this.slots.subarray(0, this.n));
    this.slots = heapSlots;
    this.pos = grow(this.pos, (n) => new Int32Array(n), NOT_QUEUED);
    this.tsBySlot = grow(this.tsBySlot, (n) => new Float64Array(n));
    this.pidBySlot = grow(this.pidBySlot, (n) => new Int32Array(n));
  }

  /** The buffers behind the queue (to lock them in RAM); they change only in `ensureSlots`. */
  buffers(): ArrayBufferLike[] {
    return [this.keys.buffer, this.slots.buffer, this.pos.buffer, this.tsBySlot.buffer, this.pidBySlot.buffer];
  }

  /**
   * A seeded random walk of push, pop and remove on a scratch queue, with keys, times and pids drawn from
   * sets of two or three values so that ties of every depth are common: every branch is taken (sifting up
   * and down, each tie-break, an empty queue, a slot out of range), and often enough that V8 optimizes the
   * code during the drill. V8 shares type feedback between instances, so the real queue's code is neither
   * deoptimized by its first rare case nor first optimized minutes into a run (test/drill-coverage).
   */
  static drill(ops = DRILL_OPS): void {
    const slots = 16;
    const q = new RunQueue(slots);
    let seed = 0x2545f491;
    const next = (n: number): number => {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      return (seed >>> 16) % n;
    };
    for (let i = 0; i < ops; i++) {
      const slot = next(slots);
      if (!q.has(slot)) {
        q.pending[PENDING_KEY] = 1 + next(3);
        q.pending[PENDING_TS_NS] = next(2);
        q.push(slot, 100 + next(2));
      } else if (next(2) === 0) {
        q.remove(slot);
      } else {
        q.pop();
      }
      q.peek();
      if (next(64) === 0) {
        q.peekKey();
        while (q.pop() >= 0);
        q.peek();
        q.peekKey();
        q.remove(slot);
        q.remove(q.pos.length);
      }
    }
  }

  has(slot: number): boolean {
    return slot < this.pos.length && this.pos[slot]! !== NOT_QUEUED;
  }

  /** Queues `slot` (not already queued) with key `pending[PENDING_KEY]` and time `pending[PENDING_TS_NS]`. */
  push(slot: number, pid: number): void {
    if (this.pos[slot] !== NOT_QUEUED) throw new RunQueueError(`slot ${slot} is already queued or out of range`);
    this.tsBySlot[slot] = this.pending[PENDING_TS_NS]!;
    this.pidBySlot[slot] = pid;
    this.moving[MOVING_KEY] = this.pending[PENDING_KEY]!;
    this.siftUp(this.n++, slot);
  }

  /** Slot with the smallest (key, ts, pid), or -1 when empty. */
  peek(): number {
    return this.n === 0 ? -1 : this.slots[0]!;
  }

  /** Key of the head, NaN when empty (slow paths and tests). */
  peekKey(): number {
    return this.n === 0 ? NaN : this.keys[0]!;
  }

  /** Removes and returns the head slot, or -1 when empty. */
  pop(): number {
    if (this.n === 0) return -1;
    const slot = this.slots[0]!;
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

  // Whether slot a orders before slot b when their keys are equal: enqueue time, then pid.
  private tieBefore(a: number, b: number): boolean {
    const ta = this.tsBySlot[a]!;
    const tb = this.tsBySlot[b]!;
    return ta < tb || (ta === tb && this.pidBySlot[a]! < this.pidBySlot[b]!);
  }

  // Fills the hole at `at` with the last node, sifting it up or down.
  private removeAt(at: number): void {
    const last = --this.n;
    const key = this.keys[last]!;
    this.keys[last] = Infinity;
    if (at === last) return;
    const slot = this.slots[last]!;
    this.moving[MOVING_KEY] = key;
    if (at > 0) {
      const p = (at - 1) >> 1;
      const pk = this.keys[p]!;
      if (key < pk || (key === pk && this.tieBefore(slot, this.slots[p]!))) {
        this.siftUp(at, slot);
        return;
      }
    }
    this.siftDown(at, slot);
  }

  // Moves parents down into the hole at `at` until the parked node fits, then writes it there.
  private siftUp(at: number, slot: number): void {
    const keys = this.keys;
    const slots = this.slots;
    const pos = this.pos;
    const key = this.moving[MOVING_KEY]!;
    while (at > 0) {
      const p = (at - 1) >> 1;
      const pk = keys[p]!;
      if (key > pk || (key === pk && !this.tieBefore(slot, slots[p]!))) break;
      keys[at] = pk;
      const ps = slots[p]!;
      slots[at] = ps;
      pos[ps] = at;
      at = p;
    }
    keys[at] = key;
    slots[at] = slot;
    pos[slot] = at;
  }

  // Moves the smaller child up into the hole at `at` until the parked node fits, then writes it there.
  private siftDown(at: number, slot: number): void {
    const keys = this.keys;
    const slots = this.slots;
    const pos = this.pos;
    const n = this.n;
    const key = this.moving[MOVING_KEY]!;
    for (;;) {
      let c = 2 * at + 1;
      if (c >= n) break;
      const lk = keys[c]!;
      const rk = keys[c + 1]!;
      if (rk === lk) {
        if (c + 1 < n && this.tieBefore(slots[c + 1]!, slots[c]!)) c++;
      } else {
        c += +(rk < lk);
      }
      const ck = keys[c]!;
      if (key < ck || (key === ck && this.tieBefore(slot, slots[c]!))) break;
      keys[at] = ck;
      const cs = slots[c]!;
      slots[at] = cs;
      pos[cs] = at;
      at = c;
    }
    keys[at] = key;
    slots[at] = slot;
    pos[slot] = at;
  }

  /** Checks the heap property and the position index (tests; O(n)). */
  check(): void {
    for (let i = 1; i < this.n; i++) {
      const p = (i - 1) >> 1;
      const k = this.keys[i]!;
      const pk = this.keys[p]!;
      if (k < pk || (k === pk && this.tieBefore(this.slots[i]!, this.slots[p]!)))
        throw new RunQueueError(`heap order broken at node ${i}`);
    }
    for (let i = 0; i < this.n; i++) {
      const slot = this.slots[i]!;
      if (this.pos[slot] !== i) throw new RunQueueError(`pos[${slot}] is ${this.pos[slot]}, node is ${i}`);
    }
  }
}
