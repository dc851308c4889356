// /proc for the task-creation path, without a string: paths are written digit by digit into a preallocated
// buffer and opened relative to one descriptor of /proc; a process's threads are listed with getdents64(2)
// into a preallocated buffer and parsed by hand. Adopting a process under a fork storm thus creates nothing
// on the JS heap (the alternative, `/proc/${pid}/task` and readdirSync, made a few hundred bytes of garbage
// per process: at 100 new processes a second, a GC every few seconds on the scheduler thread).
//
// linux_dirent64, as getdents64 lays the records out one after another:
//
//   0         8         16        18       19
//   +---------+---------+---------+--------+----------------+
//   | d_ino   | d_off   | d_reclen| d_type | d_name ... NUL |
//   +---------+---------+---------+--------+----------------+
//   d_reclen  u16  bytes of this record, padding included: the next one starts there

import { O_CLOEXEC, O_DIRECTORY, O_RDONLY, type Sys } from './sys.js';

const DIRENT_RECLEN = 16;
const DIRENT_NAME = 19;
const DIGIT_0 = 0x30;
const DIGIT_9 = 0x39;
const SLASH = 0x2f;
/** Longer than any path built here ("<pid>/task/<tid>/children"), and past V8's on-heap typed-array size. */
const PATH_BYTES = 256;
/** One getdents64 call lists ~1,300 threads; bigger processes take several calls. */
const DIRENT_BYTES = 32 * 1024;

function ascii(text: string): Uint8Array {
  return Uint8Array.from(text, (ch) => ch.charCodeAt(0));
}

/** Names of the per-process files the backend keeps open. */
export const PROC_STAT = ascii('stat');
export const PROC_SCHEDSTAT = ascii('schedstat');
export const PROC_STATUS = ascii('status');
const TASK = ascii('task');
const CHILDREN = ascii('children');

/**
 * Numbers of the directory entries in `buf[0, len)` (records of getdents64) into `out` from index `at`;
 * entries that are not whole numbers ("." and "..") are skipped. Returns the new count, which may pass
 * out.length: entries past the end are counted, not stored, so the caller knows how much room it needs.
 */
export function parseDirentNumbers(buf: Uint8Array, len: number, out: Int32Array, at: number): number {
  let count = at;
  let rec = 0;
  while (rec + DIRENT_NAME < len) {
    const reclen = buf[rec + DIRENT_RECLEN]! | (buf[rec + DIRENT_RECLEN + 1]! << 8);
    if (reclen === 0) break;
    let i = rec + DIRENT_NAME;
    const end = rec + reclen;
    let value = 0;
    let digits = 0;
    while (i < end) {
      const c = buf[i]!;
      if (c === 0) break;
      if (c < DIGIT_0 || c > DIGIT_9) {
        digits = 0;
        break;
      }
      value = value * 10 + (c - DIGIT_0);
      digits++;
      i++;
    }
    if (digits > 0) {
      if (count < out.length) out[count] = value;
      count++;
    }
    rec = end;
  }
  return count;
}

export class ProcDir {
  /** A descriptor of /proc: every path below is relative to it. */
  readonly fd: number;
  private readonly path = new Uint8Array(PATH_BYTES);
  private readonly dents = new Uint8Array(DIRENT_BYTES);
  private len = 0;

  constructor(
    private readonly s: Sys,
    root = '/proc',
  ) {
    this.fd = s.open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (this.fd < 0) throw new Error(`cannot open ${root} (errno ${s.errno()})`);
  }

  /** Opens /proc/<pid>/<name> read-only: a descriptor, or -1 (the process is gone). */
  openFile(pid: number, name: Uint8Array): number {
    this.len = 0;
    this.number(pid);
    this.byte(SLASH);
    this.bytes(name);
    return this.openPath(O_RDONLY | O_CLOEXEC);
  }

  /** Opens /proc/<pid>/task/<tid>/children: a descriptor, or -1. */
  openChildren(pid: number, tid: number): number {
    this.len = 0;
    this.number(pid);
    this.byte(SLASH);
    this.bytes(TASK);
    this.byte(SLASH);
    this.number(tid);
    this.byte(SLASH);
    this.bytes(CHILDREN);
    return this.openPath(O_RDONLY | O_CLOEXEC);
  }

  /**
   * Thread ids of `pid` into `out`, its own pid first. Returns how many threads it has (which may pass
   * out.length: call again with a bigger array), or -1 when the process is gone.
   */
  listTids(pid: number, out: Int32Array): number {
    this.len = 0;
    this.number(pid);
    this.byte(SLASH);
    this.bytes(TASK);
    const dir = this.openPath(O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir < 0) return -1;
    let count = 0;
    for (;;) {
      const n = this.s.getdents(dir, this.dents, this.dents.length);
      if (n <= 0) break;
      count = parseDirentNumbers(this.dents, n, out, count);
    }
    this.s.close(dir);
    // The leader first: its runtime stands for the process, and an empty list means the process is gone.
    const stored = count < out.length ? count : out.length;
    for (let i = 1; i < stored; i++) {
      if (out[i] === pid) {
        out[i] = out[0]!;
        out[0] = pid;
        break;
      }
    }
    return count > 0 ? count : -1;
  }

  /** The buffers the kernel writes into (to lock them in RAM with the task tables). */
  buffers(): ArrayBufferLike[] {
    return [this.path.buffer, this.dents.buffer];
  }

  close(): void {
    this.s.close(this.fd);
  }

  private openPath(flags: number): number {
    if (this.len >= PATH_BYTES) return -1;
    this.path[this.len] = 0;
    return this.s.openAt(this.fd, this.path, flags, 0);
  }

  private byte(b: number): void {
    if (this.len < PATH_BYTES) this.path[this.len] = b;
    this.len++;
  }

  private bytes(b: Uint8Array): void {
    for (let i = 0; i < b.length; i++) this.byte(b[i]!);
  }

  /** Decimal digits of a non-negative whole number. */
  private number(n: number): void {
    let digits = 1;
    for (let v = n; v >= 10; v = Math.floor(v / 10)) digits++;
    let v = n;
    for (let i = digits - 1; i >= 0; i--) {
      if (this.len + i < PATH_BYTES) this.path[this.len + i] = DIGIT_0 + (v % 10);
      v = Math.floor(v / 10);
    }
    this.len += digits;
  }
}
