// Page-fault counters, readable on the hot path without creating anything on the JS heap.
//
// Two ways to ask the kernel, both kept so the benchmark can set them side by side:
//  - 'rusage': getrusage(RUSAGE_THREAD | RUSAGE_SELF) into a preallocated struct (one syscall, no parsing);
//  - 'procfs': pread of /proc/thread-self/stat (or /proc/self/stat) on a descriptor opened once, into a
//    preallocated byte buffer, the digits parsed by hand.
// 'rusage' is the default: it measured ~8x cheaper here (see BENCHMARKS.md, "Memory").
//
// Thread scope counts faults of the thread that *created* the counter. /proc/thread-self resolves when it is
// opened, and RUSAGE_THREAD means the calling thread, so create and read it on the same thread.

import {
  O_CLOEXEC,
  O_RDONLY,
  getSys,
  RU_MAJFLT_U32,
  RU_MINFLT_U32,
  RUSAGE_BYTES,
  RUSAGE_SELF,
  RUSAGE_THREAD,
  sysUnavailableReason,
  U32_SPAN,
  type Sys,
} from './sys.js';

export type FaultScope = 'thread' | 'process';
export type FaultMethod = 'rusage' | 'procfs';

export interface FaultCounterOptions {
  scope?: FaultScope;
  method?: FaultMethod;
}

/** Raised when a counter cannot be created here (no libc, no procfs). */
export class FaultCounterError extends Error {
  override readonly name = 'FaultCounterError';
}

// /proc/<pid>/stat: "pid (comm) state ppid ... minflt cminflt majflt ..." - fields 10 and 12 (1-based).
// comm may hold spaces and parentheses, so the parse starts after the *last* ')', which is field 2's end.
const STAT_FIELD_AFTER_COMM = 3;
const STAT_FIELD_MINFLT = 10;
const STAT_FIELD_MAJFLT = 12;
const STAT_BUFFER_BYTES = 1024;
const CH_SPACE = 0x20;
const CH_CLOSE_PAREN = 0x29;
const CH_ZERO = 0x30;

/**
 * Reads minor and major page faults. `sample()` asks the kernel once and returns minor + major; `minor`
 * and `major` hold the values of that sample. Nothing here allocates after construction.
 */
export class FaultCounter {
  readonly scope: FaultScope;
  readonly method: FaultMethod;
  /** Minor faults at the last sample. */
  minor = 0;
  /** Major faults (the ones that waited for I/O) at the last sample. */
  major = 0;
  private readonly sys: Sys;
  private readonly rusage: Int32Array;
  private readonly who: number;
  private readonly statBytes: Uint8Array;
  private fd: number;

  constructor(opts: FaultCounterOptions = {}) {
    const scope = opts.scope ?? 'thread';
    const method = opts.method ?? 'rusage';
    if (scope !== 'thread' && scope !== 'process')
      throw new TypeError(`fault counter scope must be 'thread' or 'process', got ${String(scope)}`);
    if (method !== 'rusage' && method !== 'procfs')
      throw new TypeError(`fault counter method must be 'rusage' or 'procfs', got ${String(method)}`);
    const sys = getSys();
    if (!sys) throw new FaultCounterError(`page-fault counters unavailable: ${sysUnavailableReason()}`);
    this.scope = scope;
    this.method = method;
    this.sys = sys;
    this.rusage = new Int32Array(RUSAGE_BYTES / Int32Array.BYTES_PER_ELEMENT);
    this.who = scope === 'thread' ? RUSAGE_THREAD : RUSAGE_SELF;
    this.statBytes = new Uint8Array(method === 'procfs' ? STAT_BUFFER_BYTES : 0);
    this.fd = -1;
    if (method === 'procfs') {
      const path = scope === 'thread' ? '/proc/thread-self/stat' : '/proc/self/stat';
      this.fd = sys.open(path, O_RDONLY | O_CLOEXEC);
      if (this.fd < 0) throw new FaultCounterError(`cannot open ${path} (errno ${sys.errno()})`);
    }
    // Run the read path once so its first-call costs (koffi's call stub, stack pages) are paid now.
    this.sample();
    this.sample();
  }

  /** Asks the kernel; returns minor + major faults so far (-1 if the read failed). */
  sample(): number {
    return this.method === 'rusage' ? this.sampleRusage() : this.sampleProcfs();
  }

  /** Releases the descriptor (procfs); the counter must not be sampled afterwards. */
  close(): void {
    if (this.fd >= 0) this.sys.close(this.fd);
    this.fd = -1;
  }

  private sampleRusage(): number {
    const ru = this.rusage;
    if (this.sys.getrusage(this.who, ru) !== 0) return -1;
    // Each long is read as two u32 halves; fault counts never reach the sign bit.
    this.minor = (ru[RU_MINFLT_U32]! >>> 0) + (ru[RU_MINFLT_U32 + 1]! >>> 0) * U32_SPAN;
    this.major = (ru[RU_MAJFLT_U32]! >>> 0) + (ru[RU_MAJFLT_U32 + 1]! >>> 0) * U32_SPAN;
    return this.minor + this.major;
  }

  private sampleProcfs(): number {
    const bytes = this.statBytes;
    const n = this.sys.pread(this.fd, bytes, STAT_BUFFER_BYTES, 0);
    if (n <= 0) return -1;
    let i = n - 1;
    while (i > 0 && bytes[i] !== CH_CLOSE_PAREN) i--;
    i += 2; // past ") "
    let field = STAT_FIELD_AFTER_COMM;
    let minor = 0;
    let major = 0;
    while (i < n && field <= STAT_FIELD_MAJFLT) {
      const ch = bytes[i]!;
      if (ch === CH_SPACE) {
        field++;
      } else if (field === STAT_FIELD_MINFLT) {
        minor = minor * 10 + (ch - CH_ZERO);
      } else if (field === STAT_FIELD_MAJFLT) {
        major = major * 10 + (ch - CH_ZERO);
      }
      i++;
    }
    this.minor = minor;
    this.major = major;
    return minor + major;
  }
}

/** A counter for the calling thread's faults (create it on the thread that will read it). */
export function threadFaultCounter(method: FaultMethod = 'rusage'): FaultCounter {
  return new FaultCounter({ scope: 'thread', method });
}

/** A counter for the whole process's faults. */
export function processFaultCounter(method: FaultMethod = 'rusage'): FaultCounter {
  return new FaultCounter({ scope: 'process', method });
}
