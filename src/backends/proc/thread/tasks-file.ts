// The scheduler's side of the tasks file (layout in state.ts): one 16-byte record appended per adopted
// process, before anything can stop it, and the file rewritten with the live tasks only once it holds far
// more records than that. Both go through write(2) and rename(2) with preallocated bytes (the path, the
// record, the compaction buffer), so the task-creation path appends without allocating; the compaction
// buffer grows only when the task columns do.

import { TASK_RECORD_BYTES, TR_PID, TR_START_TICKS } from '../guardian/state.js';
import { O_APPEND, O_CLOEXEC, O_CREAT, O_TRUNC, O_WRONLY, type Sys } from '../../os/sys.js';

const AT_FDCWD = -100;
const FILE_MODE = 0o600;
/** The file is rewritten once it holds this many times more records than live tasks, and at least: */
const SLACK = 4;
export const TASKS_FILE_MIN_RECORDS = 1024;
/** Paths are passed as bytes in buffers at least this long (past V8's on-heap typed-array size). */
const MIN_PATH_BYTES = 128;

function pathBytes(path: string): Uint8Array {
  const encoded = Buffer.from(path, 'utf8');
  const bytes = new Uint8Array(Math.max(MIN_PATH_BYTES, encoded.length + 1));
  bytes.set(encoded);
  return bytes;
}

/** What the writer reads a task's record from: the backend's task columns. */
export interface TaskRecordSource {
  readonly pid: Int32Array;
  readonly startTicks: Float64Array;
  readonly live: Int32Array;
  readonly nLive: number;
}

export class TasksFileWriter {
  private fd: number;
  private readonly path: Uint8Array;
  private readonly aside: Uint8Array;
  private readonly record = new Uint8Array(TASK_RECORD_BYTES * 8);
  private readonly recordView = new DataView(this.record.buffer);
  /**
   * Each slot's record, as bytes, kept from its append: compaction copies bytes (small integers, never
   * boxed however V8 runs the code) instead of re-encoding numbers, which unoptimized code would box.
   */
  private bySlot: Uint8Array;
  private all: Uint8Array;
  private written = 0;

  /** `reserveTasks`: slots whose records fit without growing anything (more grow it, allocating). */
  constructor(
    private readonly s: Sys,
    path: string,
    reserveTasks = 1024,
  ) {
    this.bySlot = new Uint8Array(TASK_RECORD_BYTES * reserveTasks);
    this.all = new Uint8Array(TASK_RECORD_BYTES * reserveTasks);
    this.path = pathBytes(path);
    this.aside = pathBytes(`${path}.new`);
    this.fd = s.openAt(AT_FDCWD, this.path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, FILE_MODE);
    if (this.fd < 0) throw new Error(`cannot open the tasks file ${path} (errno ${s.errno()})`);
  }

  /** Appends the record of tasks' `slot`; false when the write failed (the task must not be managed then). */
  append(tasks: TaskRecordSource, slot: number): boolean {
    const v = this.recordView;
    v.setInt32(TR_PID, tasks.pid[slot]!, true);
    v.setInt32(TR_PID + 4, 0, true);
    v.setFloat64(TR_START_TICKS, tasks.startTicks[slot]!, true);
    if (this.s.write(this.fd, this.record, TASK_RECORD_BYTES) !== TASK_RECORD_BYTES) return false;
    this.keep(slot);
    this.written++;
    if (this.written > TASKS_FILE_MIN_RECORDS && this.written > SLACK * tasks.nLive) this.compact(tasks);
    return true;
  }

  /** Copies the record just encoded to its slot's place in bySlot (grown on the creation path only). */
  private keep(slot: number): void {
    const at = slot * TASK_RECORD_BYTES;
    if (at + TASK_RECORD_BYTES > this.bySlot.length) {
      const grown = new Uint8Array(Math.max(at + TASK_RECORD_BYTES, this.bySlot.length * 2));
      grown.set(this.bySlot);
      this.bySlot = grown;
    }
    for (let i = 0; i < TASK_RECORD_BYTES; i++) this.bySlot[at + i] = this.record[i]!;
  }

  /**
   * The live tasks' records, in dense order, into the compaction buffer: their byte count. Split from
   * compact() so the drill can run it hot without touching the file.
   */
  fill(tasks: TaskRecordSource): number {
    const bytes = tasks.nLive * TASK_RECORD_BYTES;
    if (bytes > this.all.length) {
      // Creation path, and only when more tasks are live than ever before.
      this.all = new Uint8Array(Math.max(bytes, this.all.length * 2));
    }
    const all = this.all;
    const bySlot = this.bySlot;
    for (let d = 0; d < tasks.nLive; d++) {
      const from = tasks.live[d]! * TASK_RECORD_BYTES;
      const to = d * TASK_RECORD_BYTES;
      for (let i = 0; i < TASK_RECORD_BYTES; i++) all[to + i] = bySlot[from + i]!;
    }
    return bytes;
  }

  /**
   * Rewrites the file with the live tasks only. Under a fork storm it would otherwise list every process
   * ever seen, and the guardian, which must release within the watchdog, would open pidfds for tens of
   * thousands of dead ones. Written aside and renamed into place, so a reader sees the old list or the
   * new one, never half of one. On any failure the old file (a superset) stays.
   */
  compact(tasks: TaskRecordSource): void {
    const bytes = this.fill(tasks);
    const fd = this.s.openAt(AT_FDCWD, this.aside, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, FILE_MODE);
    if (fd < 0) return;
    if (this.s.write(fd, this.all, bytes) !== bytes || this.s.rename(this.aside, this.path) !== 0) {
      this.s.close(fd);
      return;
    }
    // The descriptor written aside is the tasks file now, positioned at its end: appends continue there.
    this.s.close(this.fd);
    this.fd = fd;
    this.written = tasks.nLive;
  }

  /** The buffers written on the creation path (to lock them in RAM with the task tables). */
  buffers(): ArrayBufferLike[] {
    return [this.record.buffer, this.bySlot.buffer, this.all.buffer];
  }

  close(): void {
    if (this.fd >= 0) this.s.close(this.fd);
    this.fd = -1;
  }
}
