// A recording of the kernel half's queued records as the scheduler thread read them, round by round, for
// bench:scx's native replay (bench/scx/replay.ts): the guest runs under software emulation, where a decision's
// JavaScript runs ~20x slower than on the host, so the user side's cost is measured by replaying this
// traffic through the same bridge, core and policy on the host.
//
// Off unless TSLAND_SCX_CAPTURE names a file. Its buffers are allocated and touched before the first task,
// so recording allocates nothing and takes no page fault; once they are full, further rounds are counted
// as dropped. The file is written when the scheduler stops.
//
// File layout (little-endian):
//   header (32 B): magic "TSLCAP01", u32 nrCpus, u32 recordBytes, u32 rounds, u32 records, u32 dropped, u32 0
//   rounds:  per round, f64 clock (ns, the round's start as the core saw it), f64 records in the round
//   records: recordBytes each (struct tsland_queued, layout.ts), in the order they were read

import { writeFileSync } from 'node:fs';
import * as K from '../layout.js';

export const CAPTURE_ENV = 'TSLAND_SCX_CAPTURE';
export const CAPTURE_MAGIC = 'TSLCAP01';
export const CAPTURE_HEADER_BYTES = 32;
/** Records a capture holds at most (88 B each: 35 MiB). */
export const CAPTURE_MAX_RECORDS = 400_000;
const WORDS = K.QUEUED_BYTES / 4;

export class RecordCapture {
  private readonly records: Uint32Array;
  /** [clock, count] per round. */
  private readonly rounds: Float64Array;
  /** [0] records, [1] rounds, [2] rounds dropped, [3] records of the open round. */
  private readonly n = new Float64Array(4);

  constructor(
    readonly path: string,
    private readonly nrCpus: number,
    readonly maxRecords = CAPTURE_MAX_RECORDS,
  ) {
    this.records = new Uint32Array(maxRecords * WORDS).fill(1);
    this.records.fill(0);
    this.rounds = new Float64Array(maxRecords * 2).fill(1);
    this.rounds.fill(0);
  }

  /** Starts a round whose clock is `clock[index]`. */
  startRound(clock: Float64Array, index: number): void {
    const n = this.n;
    n[3] = 0;
    const r = n[1]!;
    if (r * 2 + 2 > this.rounds.length) return;
    this.rounds[r * 2] = clock[index]!;
  }

  /** Copies one record (at byte `at` of the ring's view). */
  add(u32: Uint32Array, at: number): void {
    const n = this.n;
    const i = n[0]! + n[3]!;
    if (i >= this.maxRecords) return;
    const dst = this.records;
    const from = at >> 2;
    const to = i * WORDS;
    for (let w = 0; w < WORDS; w++) dst[to + w] = u32[from + w]!;
    n[3] = n[3]! + 1;
  }

  /** Closes the round: kept when it read records and all of them fit. */
  endRound(drained: number): void {
    const n = this.n;
    if (drained === 0) return;
    const r = n[1]!;
    if (n[3] !== drained || r * 2 + 2 > this.rounds.length) {
      n[2] = n[2]! + 1;
      return;
    }
    this.rounds[r * 2 + 1] = drained;
    n[1] = r + 1;
    n[0] = n[0]! + drained;
  }

  get recordCount(): number {
    return this.n[0]!;
  }

  /** Writes the file (off the scheduling path: at stop). */
  write(): void {
    const rounds = this.n[1]!;
    const records = this.n[0]!;
    const header = Buffer.alloc(CAPTURE_HEADER_BYTES);
    header.write(CAPTURE_MAGIC, 0, 'latin1');
    header.writeUInt32LE(this.nrCpus, 8);
    header.writeUInt32LE(K.QUEUED_BYTES, 12);
    header.writeUInt32LE(rounds, 16);
    header.writeUInt32LE(records, 20);
    header.writeUInt32LE(this.n[2]!, 24);
    const roundBytes = Buffer.from(this.rounds.buffer, 0, rounds * 16);
    const recordBytes = Buffer.from(this.records.buffer, 0, records * K.QUEUED_BYTES);
    writeFileSync(this.path, Buffer.concat([header, roundBytes, recordBytes]));
  }
}

export interface Capture {
  nrCpus: number;
  recordBytes: number;
  dropped: number;
  /** Per round: its clock and how many records it read. */
  roundClockNs: Float64Array;
  roundRecords: Float64Array;
  /** All records, back to back, as u32 words. */
  records: Uint32Array;
}

/** Reads a capture file; throws with what is wrong with it. */
export function parseCapture(file: Buffer): Capture {
  if (file.length < CAPTURE_HEADER_BYTES || file.toString('latin1', 0, 8) !== CAPTURE_MAGIC) {
    throw new Error('not a tsland capture (bad magic)');
  }
  const nrCpus = file.readUInt32LE(8);
  const recordBytes = file.readUInt32LE(12);
  const rounds = file.readUInt32LE(16);
  const records = file.readUInt32LE(20);
  const dropped = file.readUInt32LE(24);
  if (recordBytes !== K.QUEUED_BYTES)
    throw new Error(`capture records are ${recordBytes} B, this build's are ${K.QUEUED_BYTES} B`);
  const need = CAPTURE_HEADER_BYTES + rounds * 16 + records * recordBytes;
  if (file.length !== need) throw new Error(`capture is ${file.length} B, its header says ${need} B`);
  const copy = new Uint8Array(file.length - CAPTURE_HEADER_BYTES);
  copy.set(file.subarray(CAPTURE_HEADER_BYTES));
  const roundsView = new Float64Array(copy.buffer, 0, rounds * 2);
  const roundClockNs = new Float64Array(rounds);
  const roundRecords = new Float64Array(rounds);
  for (let r = 0; r < rounds; r++) {
    roundClockNs[r] = roundsView[r * 2]!;
    roundRecords[r] = roundsView[r * 2 + 1]!;
  }
  let sum = 0;
  for (let r = 0; r < rounds; r++) sum += roundRecords[r]!;
  if (sum !== records) throw new Error(`capture rounds hold ${sum} records, its header says ${records}`);
  return {
    nrCpus,
    recordBytes,
    dropped,
    roundClockNs,
    roundRecords,
    records: new Uint32Array(copy.buffer, rounds * 16, (records * recordBytes) / 4),
  };
}
