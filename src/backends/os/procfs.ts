// Hand parsers for the /proc files the scheduling path reads. They take the bytes pread() left in a
// preallocated buffer and write numbers into preallocated typed arrays: no string, no split, no regexp, so
// reading a task's state costs a few microseconds and creates nothing on the JS heap.
//
// /proc/<pid>/stat:  "1234 (comm with ) maybe) R 1 1234 ... utime stime ... nice num_threads 0 starttime ..."
//                    the command name may hold spaces and parentheses, so fields count from the LAST ')'.
//                    Field numbers below are the 1-based ones of proc(5).

import { NSEC_PER_SEC } from '../../base/units.js';
/** Kernel clock ticks per second for utime/stime/starttime (USER_HZ is 100 on every Linux ABI Node runs on). */
export const USER_HZ = 100;
export const NSEC_PER_TICK = NSEC_PER_SEC / USER_HZ;

const SPACE = 0x20;
const NEWLINE = 0x0a;
const CLOSE_PAREN = 0x29;
const DIGIT_0 = 0x30;
const DIGIT_9 = 0x39;
const MINUS = 0x2d;

// proc(5) field numbers, and where each lands in the parsed-stat array.
const FIELD_STATE = 3;
const FIELD_UTIME = 14;
const FIELD_STIME = 15;
const FIELD_NICE = 19;
const FIELD_NUM_THREADS = 20;
const FIELD_STARTTIME = 22;
const FIELD_LAST_NEEDED = FIELD_STARTTIME;

export const STAT_STATE = 0; // the state letter as a char code: R, S, D, T, t, Z, X, I ...
export const STAT_CPU_TICKS = 1; // utime + stime, summed over every thread of the process
export const STAT_NICE = 2;
export const STAT_THREADS = 3;
export const STAT_START_TICKS = 4; // start time since boot: with the pid, names one process for ever
export const STAT_FIELDS = 5;

export const STATE_RUNNING = 0x52; // 'R'
export const STATE_STOPPED = 0x54; // 'T'
export const STATE_TRACED = 0x74; // 't'
export const STATE_ZOMBIE = 0x5a; // 'Z'
export const STATE_DEAD = 0x58; // 'X'

/**
 * Parses /proc/<pid>/stat bytes into `out` (STAT_* slots). Returns false when the bytes are not a stat line
 * (truncated read, a task that vanished mid-read).
 */
export function parseStat(buf: Uint8Array, len: number, out: Float64Array): boolean {
  let i = len - 1;
  while (i >= 0 && buf[i] !== CLOSE_PAREN) i--;
  if (i < 0) return false;
  i += 2; // skip ") "
  let field = FIELD_STATE;
  if (i >= len) return false;
  out[STAT_STATE] = buf[i]!;
  let utime = 0;
  while (field < FIELD_LAST_NEEDED) {
    while (i < len && buf[i] !== SPACE) i++;
    i++;
    field++;
    if (i >= len) return false;
    if (
      field === FIELD_UTIME ||
      field === FIELD_STIME ||
      field === FIELD_NICE ||
      field === FIELD_NUM_THREADS ||
      field === FIELD_STARTTIME
    ) {
      let negative = false;
      if (buf[i] === MINUS) {
        negative = true;
        i++;
      }
      let value = 0;
      while (i < len) {
        const c = buf[i]!;
        if (c < DIGIT_0 || c > DIGIT_9) break;
        value = value * 10 + (c - DIGIT_0);
        i++;
      }
      if (negative) value = -value;
      if (field === FIELD_UTIME) utime = value;
      else if (field === FIELD_STIME) out[STAT_CPU_TICKS] = utime + value;
      else if (field === FIELD_NICE) out[STAT_NICE] = value;
      else if (field === FIELD_NUM_THREADS) out[STAT_THREADS] = value;
      else out[STAT_START_TICKS] = value;
    }
  }
  return true;
}

/**
 * First number of /proc/<pid>/schedstat (nanoseconds the thread has run) into out[index]. Returns false
 * when the bytes hold no number. Written in place because the value is past the small-integer range and
 * V8 would box it on return.
 */
export function parseSchedstatRuntimeNs(buf: Uint8Array, len: number, out: Float64Array, index: number): boolean {
  let value = 0;
  let i = 0;
  for (; i < len; i++) {
    const c = buf[i]!;
    if (c < DIGIT_0 || c > DIGIT_9) break;
    value = value * 10 + (c - DIGIT_0);
  }
  if (i === 0) return false;
  out[index] = value;
  return true;
}

// "voluntary_ctxt_switches:\t123\n" near the end of /proc/<pid>/status; the line after it starts "non".
const VOLUNTARY = Uint8Array.of(0x76, 0x6f, 0x6c, 0x75, 0x6e, 0x74, 0x61, 0x72, 0x79, 0x5f); // "voluntary_"

/** voluntary_ctxt_switches from /proc/<pid>/status bytes, or -1 when absent. */
export function parseVoluntarySwitches(buf: Uint8Array, len: number): number {
  // Walk lines from the end: the line is the second to last, so this touches a few dozen bytes.
  let lineEnd = len > 0 && buf[len - 1] === NEWLINE ? len - 1 : len;
  while (lineEnd > 0) {
    let lineStart = lineEnd;
    while (lineStart > 0 && buf[lineStart - 1] !== NEWLINE) lineStart--;
    let match = lineEnd - lineStart > VOLUNTARY.length;
    for (let k = 0; match && k < VOLUNTARY.length; k++) match = buf[lineStart + k] === VOLUNTARY[k];
    if (match) {
      let i = lineStart + VOLUNTARY.length;
      while (i < lineEnd && (buf[i]! < DIGIT_0 || buf[i]! > DIGIT_9)) i++;
      let value = 0;
      while (i < lineEnd && buf[i]! >= DIGIT_0 && buf[i]! <= DIGIT_9) value = value * 10 + (buf[i++]! - DIGIT_0);
      return value;
    }
    lineEnd = lineStart - 1;
  }
  return -1;
}

/**
 * Space-separated pids of /proc/<pid>/task/<tid>/children into `out`, from index `at`.
 * Returns the new count; pids past the end of `out` are dropped (the caller sizes it and re-reads later).
 */
export function parsePidList(buf: Uint8Array, len: number, out: Int32Array, at: number): number {
  let count = at;
  let value = 0;
  let inNumber = false;
  for (let i = 0; i < len; i++) {
    const c = buf[i]!;
    if (c >= DIGIT_0 && c <= DIGIT_9) {
      value = value * 10 + (c - DIGIT_0);
      inNumber = true;
    } else if (inNumber) {
      if (count < out.length) out[count++] = value;
      value = 0;
      inNumber = false;
    }
  }
  if (inNumber && count < out.length) out[count++] = value;
  return count;
}

/**
 * Runs every parser on synthetic lines holding numbers past the small-integer range (CPU times of hours,
 * start times of weeks) before the scheduling loop starts, so V8 compiles their arithmetic as doubles from
 * the first optimization. Otherwise the first task to pass ~2.1 s of CPU overflows the integer code,
 * deoptimizes it and runs it unoptimized, allocating, until it is compiled again.
 */
export function warmParsers(rounds = 2000): void {
  const encode = (text: string): Uint8Array => Uint8Array.from(text, (ch) => ch.charCodeAt(0));
  const stat = encode('4242 (warm (up)) R 1 4242 4242 0 -1 4194304 120 0 0 0 987654321 123456789 0 0 20 -5 3 0 9876543210 1 1');
  const schedstat = encode('98765432109876 1234567890123 4567\n');
  const status = encode('Name:\twarm\nvoluntary_ctxt_switches:\t9876543210\nnonvoluntary_ctxt_switches:\t12\n');
  const children = encode('4194301 4194302 4194303 ');
  // And what a read can return when the task goes mid-read or the kernel changes: the rare branches, so
  // code optimized meanwhile is not deoptimized by the first of them minutes into a run.
  const badStats = ['no paren', '4242 (warm)', '4242 (warm) R 1 2 3'].map(encode);
  const noNumber = encode('none\n');
  const statusWithout = encode('Name:\twarm\nState:\tS');
  const statusUnterminated = encode('Name:\twarm\nvoluntary_ctxt_switches:\t42');
  const tooManyChildren = encode('1 2 3 4 5 6 7 8 9 10');
  const unterminatedChildren = encode('11 12');
  const out = new Float64Array(STAT_FIELDS);
  const pids = new Int32Array(8);
  for (let i = 0; i < rounds; i++) {
    parseStat(stat, stat.length, out);
    parseSchedstatRuntimeNs(schedstat, schedstat.length, out, 0);
    parseVoluntarySwitches(status, status.length);
    parsePidList(children, children.length, pids, 0);
    if (i % 16 === 0) {
      const bad = badStats[(i >> 4) % badStats.length]!;
      parseStat(bad, bad.length, out);
      parseSchedstatRuntimeNs(noNumber, noNumber.length, out, 0);
      parseVoluntarySwitches(statusWithout, statusWithout.length);
      parseVoluntarySwitches(statusUnterminated, statusUnterminated.length);
      parsePidList(tooManyChildren, tooManyChildren.length, pids, 0);
      parsePidList(unterminatedChildren, unterminatedChildren.length, pids, 0);
    }
  }
}
