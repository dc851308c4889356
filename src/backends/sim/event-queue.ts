// The simulator's future events: a binary min-heap ordered by (time, sequence number), so events at the
// same virtual time come out in the order they were scheduled and a run is reproducible. Fields live in
// typed arrays sized once for the run; the time of the next push travels through `pendingTimeNs` (a
// fractional argument to a call V8 does not inline would be boxed).
//
//   entry i:  timeNs f64 | seq f64 | kind i32 | id i32 | gen i32

export class EventQueueError extends Error {
  override name = 'EventQueueError';
}

export class EventQueue {
  /** Time of the next `push`, in virtual ns. */
  readonly pendingTimeNs = new Float64Array(1);
  private readonly time: Float64Array;
  private readonly seq: Float64Array;
  private readonly kind: Int32Array;
  private readonly id: Int32Array;
  private readonly gen: Int32Array;
  private readonly nextSeq = new Float64Array(1);
  private n = 0;
  /** What the last `pop` returned. */
  popKind = 0;
  popId = 0;
  popGen = 0;

  // Arrays are filled when made so their pages are touched before the event loop runs.
  constructor(readonly capacity: number) {
    this.time = new Float64Array(capacity).fill(0);
    this.seq = new Float64Array(capacity).fill(0);
    this.kind = new Int32Array(capacity).fill(0);
    this.id = new Int32Array(capacity).fill(0);
    this.gen = new Int32Array(capacity).fill(0);
  }

  get size(): number {
    return this.n;
  }

  /** Time of the earliest event; call only when size > 0. */
  peekTimeNs(): number {
    return this.time[0]!;
  }

  push(kind: number, id: number, gen: number): void {
    if (this.n >= this.capacity) throw new EventQueueError(`event queue full (${this.capacity} events)`);
    const t = this.pendingTimeNs[0]!;
    const q = this.nextSeq[0]!;
    this.nextSeq[0] = q + 1;
    let at = this.n++;
    const time = this.time;
    const seq = this.seq;
    while (at > 0) {
      const p = (at - 1) >> 1;
      const pt = time[p]!;
      if (pt < t || (pt === t && seq[p]! < q)) break;
      this.move(p, at);
      at = p;
    }
    time[at] = t;
    seq[at] = q;
    this.kind[at] = kind;
    this.id[at] = id;
    this.gen[at] = gen;
  }

  /** Removes the earliest event into popKind/popId/popGen. Call only when size > 0. */
  pop(): void {
    this.popKind = this.kind[0]!;
    this.popId = this.id[0]!;
    this.popGen = this.gen[0]!;
    const last = --this.n;
    if (last === 0) return;
    const time = this.time;
    const seq = this.seq;
    const t = time[last]!;
    const q = seq[last]!;
    const k = this.kind[last]!;
    const id = this.id[last]!;
    const g = this.gen[last]!;
    let at = 0;
    for (;;) {
      let c = 2 * at + 1;
      if (c >= last) break;
      if (c + 1 < last && (time[c + 1]! < time[c]! || (time[c + 1] === time[c] && seq[c + 1]! < seq[c]!))) c++;
      if (t < time[c]! || (t === time[c] && q < seq[c]!)) break;
      this.move(c, at);
      at = c;
    }
    time[at] = t;
    seq[at] = q;
    this.kind[at] = k;
    this.id[at] = id;
    this.gen[at] = g;
  }

  private move(from: number, to: number): void {
    this.time[to] = this.time[from]!;
    this.seq[to] = this.seq[from]!;
    this.kind[to] = this.kind[from]!;
    this.id[to] = this.id[from]!;
    this.gen[to] = this.gen[from]!;
  }
}
