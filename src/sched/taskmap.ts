// pid -> slot map: open addressing with linear probing over one Int32Array of interleaved (key, value)
// pairs, so a probe touches one cache line. Deletion shifts later entries of the cluster back (no
// tombstones), so lookups never slow down as tasks come and go.
//
//   entry i (8 bytes):   0        4        8
//                        +--------+--------+
//                        | pid    | slot   |      pid = EMPTY_KEY (-1) marks a free entry
//                        +--------+--------+
//
// Only `set` may grow the table (the task-creation path); `get` and `delete` never allocate.

const EMPTY_KEY = -1;
const MIN_BITS = 4;
/** Grow when more than 1/2 full: short probe sequences with linear probing. */
const MAX_LOAD_NUM = 1;
const MAX_LOAD_SHIFT = 1;
const GOLDEN_32 = 0x9e3779b1;
/** Operations of the drill: enough for V8 to optimize get, set and delete while it runs. */
const DRILL_OPS = 4000;

export class TaskMapError extends Error {
  override name = 'TaskMapError';
}

export class TaskMap {
  private entries: Int32Array;
  private bits: number;
  private mask: number;
  private count = 0;

  constructor(expectedEntries = 0) {
    let bits = MIN_BITS;
    while (((1 << bits) * MAX_LOAD_NUM) >> MAX_LOAD_SHIFT < expectedEntries) bits++;
    this.bits = bits;
    this.mask = (1 << bits) - 1;
    this.entries = new Int32Array(2 << bits).fill(EMPTY_KEY);
  }

  get size(): number {
    return this.count;
  }

  get capacity(): number {
    return 1 << this.bits;
  }

  /** The buffer behind the map (to lock it in RAM); it changes only when `set` grows the map. */
  get buffer(): ArrayBufferLike {
    return this.entries.buffer;
  }

  get memoryBytes(): number {
    return this.entries.byteLength;
  }

  private home(pid: number): number {
    return Math.imul(pid, GOLDEN_32) >>> (32 - this.bits);
  }

  /** Slot of `pid`, or -1. */
  get(pid: number): number {
    if (pid < 0) return -1;
    const e = this.entries;
    const mask = this.mask;
    let i = this.home(pid);
    for (;;) {
      const k = e[i << 1]!;
      if (k === pid) return e[(i << 1) + 1]!;
      if (k === EMPTY_KEY) return -1;
      i = (i + 1) & mask;
    }
  }

  /** Inserts or replaces. May grow the table (allocates): call only off the hot path or when `hasRoom()`. */
  set(pid: number, slot: number): void {
    if (!Number.isInteger(pid) || pid < 0 || pid > 0x7fffffff)
      throw new TaskMapError(`pid must be a non-negative int32, got ${pid}`);
    if ((this.count + 1) << MAX_LOAD_SHIFT > this.capacity * MAX_LOAD_NUM) this.grow();
    this.insert(pid, slot);
  }

  /** Whether one more `set` of a new pid would not grow the table. */
  hasRoom(): boolean {
    return (this.count + 1) << MAX_LOAD_SHIFT <= this.capacity * MAX_LOAD_NUM;
  }

  private insert(pid: number, slot: number): void {
    const e = this.entries;
    const mask = this.mask;
    let i = this.home(pid);
    for (;;) {
      const k = e[i << 1]!;
      if (k === pid) {
        e[(i << 1) + 1] = slot;
        return;
      }
      if (k === EMPTY_KEY) {
        e[i << 1] = pid;
        e[(i << 1) + 1] = slot;
        this.count++;
        return;
      }
      i = (i + 1) & mask;
    }
  }

  /** Removes `pid`; returns its slot or -1 if absent. Never allocates. */
  delete(pid: number): number {
    if (pid < 0) return -1;
    const e = this.entries;
    const mask = this.mask;
    let i = this.home(pid);
    for (;;) {
      const k = e[i << 1]!;
      if (k === EMPTY_KEY) return -1;
      if (k === pid) break;
      i = (i + 1) & mask;
    }
    const slot = e[(i << 1) + 1]!;
    // Backward shift: pull each later entry of the cluster into the hole unless its home lies cyclically
    // within (hole, j], where moving it would put it before its home.
    let hole = i;
    let j = i;
    for (;;) {
      j = (j + 1) & mask;
      const k = e[j << 1]!;
      if (k === EMPTY_KEY) break;
      const h = this.home(k);
      const inRange = hole <= j ? hole < h && h <= j : hole < h || h <= j;
      if (inRange) continue;
      e[hole << 1] = k;
      e[(hole << 1) + 1] = e[(j << 1) + 1]!;
      hole = j;
    }
    e[hole << 1] = EMPTY_KEY;
    this.count--;
    return slot;
  }

  private grow(): void {
    const old = this.entries;
    this.bits++;
    this.mask = (1 << this.bits) - 1;
    this.entries = new Int32Array(2 << this.bits).fill(EMPTY_KEY);
    this.count = 0;
    for (let i = 0; i < old.length; i += 2) if (old[i] !== EMPTY_KEY) this.insert(old[i]!, old[i + 1]!);
  }

  /**
   * A seeded random walk of get, set and delete on a scratch map of 16 entries kept at most half full:
   * probes past collisions, clusters that wrap past the table's end, backward shifts that move an entry and
   * ones that leave it, missing and negative keys. Every branch is taken, often enough that V8 optimizes the
   * code during the drill; V8 shares type feedback between instances, so the real map's functions are
   * neither deoptimized by their first collision minutes into a run (seen in the soak: seven functions
   * that had get() inlined, recompiled into fresh code pages) nor first optimized late (test/drill-coverage).
   */
  static drill(ops = DRILL_OPS): void {
    const m = new TaskMap(8);
    let seed = 0x6b43a9b5;
    const next = (n: number): number => {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      return (seed >>> 16) % n;
    };
    for (let i = 0; i < ops; i++) {
      const pid = 1 + next(40);
      const op = next(3);
      if (op === 0 && m.hasRoom()) m.set(pid, i & 0xffff);
      else if (op === 1) m.delete(pid);
      else m.get(pid);
      if (next(256) === 0) {
        m.get(-1);
        m.delete(-1);
      }
    }
  }

  /** Every (pid, slot) pair, for tests and slow-path listings. */
  *pairs(): IterableIterator<[number, number]> {
    const e = this.entries;
    for (let i = 0; i < e.length; i += 2) if (e[i] !== EMPTY_KEY) yield [e[i]!, e[i + 1]!];
  }
}
