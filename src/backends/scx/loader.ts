// Loads bpf/tsland.bpf.o as the kernel's sched_ext scheduler: checks what would make it fail with a clear
// line first (no sched_ext, another scheduler loaded, no privileges, no or old libbpf), opens the object,
// configures it (tgid, partial switch, watchdog timeout) through the BTF offsets of the object itself,
// loads it (printing the verifier's last lines when it is rejected), attaches it, and hands back the ring
// map fds and a live view of the counters and exit information. Nothing stays loaded on any failure.

import { guestPaths } from '../../guest/paths.js';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { getSys } from '../../mem/sys.js';
import { sys as osSys } from '../os/sys.js';
import { Btf, btfOfElf, elfSymbol } from './btf.js';
import {
  C_DISPATCH_POSTED,
  C_SCHED_PARKING,
  C_SCHEDULED,
  CFG_F_PARK,
  CFG_F_SELF_PREEMPT,
  CFG_FLAGS,
  CFG_KICK_NS,
  CFG_KSLICE_NS,
  CFG_STALL_NS,
  CFG_SCHED_TID,
  CFG_RSV,
  CFG_TGID,
  CONFIG_BYTES,
  COUNTER_FIELDS,
  COUNTERS_BYTES,
  type CounterName,
  DISPATCH_RING_BYTES,
  EXIT_DUMP_BYTES,
  EXIT_INFO_BYTES,
  EXIT_MSG_BYTES,
  EXIT_REASON_BYTES,
  MAP_DISPATCHED,
  MAP_OPS,
  MAP_QUEUED,
  QUEUED_RING_BYTES,
  VAR_CONFIG,
  VAR_COUNTERS,
  VAR_EXIT_DUMP,
  VAR_EXIT_INFO,
  X_EXIT_CODE,
  X_KIND,
  X_MSG,
  X_REASON,
} from './layout.js';
import { type Libbpf, LibbpfError, openLibbpf, type Ptr } from './libbpf.js';
import { scxNative, type Mapping } from './native.js';
import { DispatchRing, QueuedRing, readU64, writeU64 } from './rings.js';

export const SCX_SYSFS = '/sys/kernel/sched_ext';
/** enum scx_ops_flags: SCX_OPS_SWITCH_PARTIAL (the same value since 6.12; read from the kernel's BTF when it can be). */
const SWITCH_PARTIAL_FALLBACK = 8;
const CAP_SYS_ADMIN = 21;
const CAP_BPF = 39;
const VERIFIER_LOG_BYTES = 4 << 20;
const VERIFIER_TAIL_LINES = 12;
/** struct bpf_object_open_opts (libbpf 1.4): sz, kernel_log_buf at 56, kernel_log_size at 64, level at 72. */
const OPEN_OPTS_BYTES = 88;
const OPEN_OPTS_LOG_BUF = 56;
const OPEN_OPTS_LOG_SIZE = 64;
const OPEN_OPTS_LOG_LEVEL = 72;

export const DEFAULT_OBJECT_PATH = fileURLToPath(new URL('../../../../bpf/tsland.bpf.o', import.meta.url));

export interface ScxLoadOptions {
  /** The compiled object (default: bpf/tsland.bpf.o of this package). */
  objectPath?: string;
  /** Thread-group id whose threads never wait for user space (default: this process). */
  tgid?: number;
  /** Only tasks set to SCHED_EXT are scheduled (SCX_OPS_SWITCH_PARTIAL). */
  partial?: boolean;
  /** Watchdog: a runnable task waiting longer ejects the scheduler (default 5000; the kernel caps it at 30 s). */
  timeoutMs?: number;
  /** The scheduler thread, woken up, preempts what runs on its CPU (default true). */
  selfPreempt?: boolean;
  /**
   * Thread id of the scheduler thread, the one that preempts (default: the calling thread, which is the
   * one that reads the rings; 0: every thread of tgid preempts).
   */
  schedTid?: number;
  /**
   * The scheduler thread waits parked by the kernel half (sched_yield, run again by ops.dispatch when a CPU
   * runs out of work and records wait) instead of asleep in epoll (default false; whole-machine mode only).
   */
  park?: boolean;
  /** Period of the BPF timer that kicks idle CPUs when work waits (default 20 ms). */
  kickIntervalNs?: number;
  /** Slice of the tasks the kernel half runs itself (default: the kernel's SCX_SLICE_DFL). */
  kernelSliceNs?: number;
  /** The guest cache's libbpf.so.1, tried after $TSLAND_LIBBPF. */
  guestLibbpf?: string | null;
}

export interface ScxExitInfo {
  /** enum scx_exit_kind (see bpf/intf.h). */
  kind: number;
  exitCode: number;
  reason: string;
  message: string;
  /**
   * The kernel's dump at an error exit (each CPU's tasks, every runnable task with its wait and DSQ, and
   * tsland's line per task); empty on a normal unload or a kernel that gives none.
   */
  dump: string;
}

export interface ScxRings {
  queued: QueuedRing;
  dispatch: DispatchRing;
  /** Unmaps both rings: call it only after the last use of either ring. */
  unmap(): void;
}

export interface ScxScheduler {
  readonly queuedFd: number;
  readonly dispatchedFd: number;
  /** ms from open to attached. */
  readonly loadMs: number;
  /** Where that time went, ms: libbpf open (parses the object), load (kernel BTF, verifier), attach (enable). */
  readonly phasesMs: { open: number; load: number; attach: number };
  readonly libbpfVersion: string;
  /** The kernel's name for it (/sys/kernel/sched_ext/root/ops). */
  readonly opsName: string;
  /** Live u32 view of the counters (u64 each, as lo/hi pairs): read with counter(C_*). */
  readonly countersU32: Uint32Array;
  /** A counter by byte offset (C_* of layout.ts); allocates nothing. */
  counter(offsetBytes: number): number;
  /** Tells the kernel half how many tasks user space holds (nr_scheduled). */
  setScheduled(tasks: number): void;
  /** Mirrors the dispatch records committed so far (nr_dispatch_posted: the timer kicks a CPU while some wait). */
  setDispatchPosted(records: number): void;
  /** The next sched_yield of the scheduler thread parks it (sched_parking; park mode). */
  setParking(): void;
  /** Every counter by its C name (slow path: allocates). */
  snapshot(): Record<CounterName, number>;
  /** Exit information once the kernel has unloaded or ejected the scheduler, else null. */
  exitInfo(): ScxExitInfo | null;
  /** enum scx_exit_kind, 0 while the scheduler runs: one read in place, nothing allocated (for the loop). */
  exitKind(): number;
  /** Maps both rings into this process (do it once, on the thread that schedules or before it starts). */
  mapRings(): ScxRings;
  /** /sys/kernel/sched_ext/state: "enabled", "disabled", ... */
  state(): string;
  /** Detaches and closes everything (idempotent). The counters view stays readable, frozen, until then. */
  detach(): void;
}

export class ScxLoadError extends Error {
  override name = 'ScxLoadError';
}

function readText(path: string): string | null {
  try {
    return readFileSync(path, 'utf8').trim();
  } catch {
    return null;
  }
}

export function scxState(): string | null {
  return readText(`${SCX_SYSFS}/state`);
}

/** The checks that need no libbpf, each with the one line a user sees. Throws ScxLoadError. */
export function preflight(): void {
  if (!existsSync(SCX_SYSFS)) {
    const release = readText('/proc/sys/kernel/osrelease') ?? 'unknown';
    throw new ScxLoadError(
      `this kernel (${release}) has no sched_ext (CONFIG_SCHED_CLASS_EXT): use the signals backend (--backend proc) or a sched_ext guest (tsland guest run)`,
    );
  }
  const state = scxState();
  if (state !== 'disabled') {
    const ops = readText(`${SCX_SYSFS}/root/ops`);
    throw new ScxLoadError(
      ops
        ? `another sched_ext scheduler is loaded: ${ops} (state ${state}); unload it first`
        : `sched_ext is busy (state ${state ?? 'unknown'}); wait until /sys/kernel/sched_ext/state reads disabled`,
    );
  }
  const status = readText('/proc/self/status') ?? '';
  const capHex = /^CapEff:\s*([0-9a-f]+)/m.exec(status)?.[1];
  if (capHex !== undefined) {
    const caps = BigInt(`0x${capHex}`);
    const has = (bit: number) => (caps >> BigInt(bit)) & 1n;
    if (!has(CAP_SYS_ADMIN) || !has(CAP_BPF)) {
      throw new ScxLoadError('loading a sched_ext scheduler needs root (CAP_BPF and CAP_SYS_ADMIN): run it with sudo');
    }
  }
}

function findInternalMap(lib: Libbpf, obj: Ptr, suffix: string): Ptr | null {
  for (let m = lib.nextMap(obj, null); m; m = lib.nextMap(obj, m)) {
    if (lib.mapName(m).endsWith(suffix)) return m;
  }
  return null;
}

function varOffset(file: Uint8Array, section: string, name: string, sizeBytes: number): number {
  const sym = elfSymbol(file, name);
  if (!sym || sym.section !== section) {
    throw new ScxLoadError(`the BPF object has no ${section} variable ${name}: rebuild it (npm run build:bpf)`);
  }
  if (sym.sizeBytes !== sizeBytes) {
    throw new ScxLoadError(`${name} is ${sym.sizeBytes} bytes in the BPF object, ${sizeBytes} in layout.ts: rebuild it`);
  }
  return sym.valueBytes;
}

const EAGAIN = 11;

function verifierTail(log: Uint8Array): string {
  let end = log.indexOf(0);
  if (end < 0) end = log.length;
  const lines = new TextDecoder()
    .decode(log.subarray(0, end))
    .split('\n')
    .map((l) => l.trimEnd())
    .filter(Boolean);
  return lines.slice(-VERIFIER_TAIL_LINES).join('\n');
}

function switchPartialValue(): number {
  try {
    const btf = new Btf(readFileSync('/sys/kernel/btf/vmlinux'));
    return btf.enumValue('SCX_OPS_SWITCH_PARTIAL') ?? SWITCH_PARTIAL_FALLBACK;
  } catch {
    return SWITCH_PARTIAL_FALLBACK;
  }
}

function cString(bytes: Uint8Array): string {
  const end = bytes.indexOf(0);
  return new TextDecoder().decode(end < 0 ? bytes : bytes.subarray(0, end));
}

/** Loads and attaches the scheduler, or throws ScxLoadError (one line; the verifier's tail on a new line). */
export function loadScx(options: ScxLoadOptions = {}): ScxScheduler {
  const started = performance.now();
  const objectPath = options.objectPath ?? DEFAULT_OBJECT_PATH;
  const timeoutMs = options.timeoutMs ?? 5000;
  if (!Number.isInteger(timeoutMs) || timeoutMs < 1 || timeoutMs > 30_000) {
    throw new ScxLoadError(`timeoutMs must be an integer from 1 to 30000, got ${timeoutMs}`);
  }
  const tgid = options.tgid ?? process.pid;
  preflight();
  let lib: Libbpf;
  try {
    // Not given: the guest cache's, where `tsland guest setup` put one (undefined; null means none).
    lib = openLibbpf(options.guestLibbpf === undefined ? (guestPaths()?.libbpfPath ?? null) : options.guestLibbpf);
  } catch (err) {
    throw new ScxLoadError((err as LibbpfError).message);
  }
  const sys = getSys();
  const native = scxNative();
  if (!sys || !native) throw new ScxLoadError('libc is not available');
  if (!existsSync(objectPath)) throw new ScxLoadError(`BPF object not found: ${objectPath}`);
  const file = readFileSync(objectPath);
  const btf = btfOfElf(file);
  const timeoutAt = btf.memberOffset('sched_ext_ops', 'timeout_ms');
  const flagsAt = btf.memberOffset('sched_ext_ops', 'flags');

  const log = new Uint8Array(VERIFIER_LOG_BYTES);
  const opts = new Uint8Array(OPEN_OPTS_BYTES);
  const optsU32 = new Uint32Array(opts.buffer);
  writeU64(optsU32, 0, OPEN_OPTS_BYTES);
  writeU64(optsU32, OPEN_OPTS_LOG_BUF, sys.addressOf(log));
  writeU64(optsU32, OPEN_OPTS_LOG_SIZE, log.length);
  optsU32[OPEN_OPTS_LOG_LEVEL >> 2] = 0; // libbpf retries a failed load with level 1 into our buffer

  lib.takeMessages();
  const tOpen = performance.now();
  const obj = lib.openFile(objectPath, opts);
  if (!obj) {
    throw new ScxLoadError(`cannot open ${objectPath}: ${lib.takeMessages().pop() ?? `errno ${lib.errno()}`}`);
  }
  let link: Ptr | null = null;
  const mappings: Mapping[] = [];
  let closed = false;
  const closeAll = () => {
    if (closed) return;
    closed = true;
    for (const m of mappings) m.unmap();
    if (link) lib.linkDestroy(link);
    link = null;
    lib.close(obj);
  };
  try {
    const rodata = findInternalMap(lib, obj, '.rodata');
    const ops = lib.findMapByName(obj, MAP_OPS);
    if (!rodata || !ops) throw new ScxLoadError(`the BPF object lacks .rodata or ${MAP_OPS}: rebuild it (npm run build:bpf)`);
    const cfgAt = varOffset(file, '.rodata', VAR_CONFIG, CONFIG_BYTES);
    const ro = lib.initialValue(rodata);
    const opsValue = lib.initialValue(ops);
    if (!ro || !opsValue) throw new ScxLoadError(`libbpf ${lib.version} gives no initial value of .rodata or ${MAP_OPS}`);
    const cfg = new Uint32Array(lib.view(ro.ptr, ro.sizeBytes), cfgAt, CONFIG_BYTES / 4);
    cfg[CFG_TGID / 4] = tgid;
    if (options.park && options.partial)
      throw new ScxLoadError('the scheduler thread can park only when tsland schedules the whole machine (not --partial)');
    cfg[CFG_FLAGS / 4] = (options.selfPreempt === false ? 0 : CFG_F_SELF_PREEMPT) | (options.park ? CFG_F_PARK : 0);
    writeU64(cfg, CFG_KICK_NS, options.kickIntervalNs ?? 0);
    writeU64(cfg, CFG_KSLICE_NS, options.kernelSliceNs ?? 0);
    // A stalled scheduler thread is bridged by the kernel half's rescue, for as long as the watchdog allows
    // a task to wait; after that the kernel half ejects itself, as the watchdog would have.
    writeU64(cfg, CFG_STALL_NS, timeoutMs * 1_000_000);
    cfg[CFG_SCHED_TID / 4] = options.schedTid ?? osSys().gettid();
    cfg[CFG_RSV / 4] = 0;
    const opsView = new DataView(lib.view(opsValue.ptr, opsValue.sizeBytes));
    opsView.setUint32(timeoutAt, timeoutMs, true);
    if (options.partial) {
      const flags = opsView.getBigUint64(flagsAt, true) | BigInt(switchPartialValue());
      opsView.setBigUint64(flagsAt, flags, true);
    }

    const tLoad = performance.now();
    if (lib.withSignalsBlocked(() => lib.load(obj)) < 0) {
      const code = lib.errno();
      const tail = verifierTail(log);
      const said = lib.takeMessages().filter((m) => !m.includes('-- BEGIN') && !m.includes('-- END'));
      // EAGAIN: the verifier stopped because a signal was pending (libbpf's retries too); not a rejection.
      if (code === EAGAIN) {
        throw new ScxLoadError(
          `loading the BPF object was interrupted by a signal (errno ${code}, ${said.pop() ?? 'EAGAIN'}); try again`,
        );
      }
      throw new ScxLoadError(
        tail
          ? `the kernel's BPF verifier rejected the scheduler; its last lines:\n${tail}`
          : `loading the BPF object failed: ${said.pop() ?? `errno ${code}`}`,
      );
    }

    // .bss is mapped here from the map's fd: libbpf before 1.5 remaps its own copy onto the kernel's
    // memory only for skeletons, so its initial value would be a private copy nobody updates.
    const bss = findInternalMap(lib, obj, '.bss');
    const bssValue = bss ? lib.initialValue(bss) : null;
    const bssFd = bss ? lib.mapFd(bss) : -1;
    if (!bssValue || bssFd < 0) throw new ScxLoadError('the loaded object has no .bss map: cannot read its counters');
    const page = native.sysconfPageSize();
    const bssMapping = native.mmap(bssFd, Math.ceil(bssValue.sizeBytes / page) * page, 0, true);
    mappings.push(bssMapping);
    const bssBuffer = bssMapping.buffer;
    const countersU32 = new Uint32Array(bssBuffer, varOffset(file, '.bss', VAR_COUNTERS, COUNTERS_BYTES), COUNTERS_BYTES / 4);
    const exitBytes = new Uint8Array(bssBuffer, varOffset(file, '.bss', VAR_EXIT_INFO, EXIT_INFO_BYTES), EXIT_INFO_BYTES);
    const exitKindU32 = new Uint32Array(bssBuffer, exitBytes.byteOffset + X_KIND, 1);
    const dumpBytes = new Uint8Array(bssBuffer, varOffset(file, '.bss', VAR_EXIT_DUMP, EXIT_DUMP_BYTES), EXIT_DUMP_BYTES);
    const queuedMap = lib.findMapByName(obj, MAP_QUEUED);
    const dispatchedMap = lib.findMapByName(obj, MAP_DISPATCHED);
    if (!queuedMap || !dispatchedMap) throw new ScxLoadError('the BPF object lacks its ring maps: rebuild it');
    const queuedFd = lib.mapFd(queuedMap);
    const dispatchedFd = lib.mapFd(dispatchedMap);

    const tAttach = performance.now();
    link = lib.withSignalsBlocked(() => lib.attachStructOps(ops));
    if (!link) {
      const code = lib.errno();
      const other = readText(`${SCX_SYSFS}/root/ops`);
      throw new ScxLoadError(
        other && other !== 'tsland'
          ? `another sched_ext scheduler is loaded: ${other}; unload it first`
          : `attaching the scheduler failed: ${lib.takeMessages().pop() ?? `errno ${code}`}`,
      );
    }
    const tDone = performance.now();
    const loadMs = tDone - started;
    const phasesMs = { open: tLoad - tOpen, load: tAttach - tLoad, attach: tDone - tAttach };
    const opsName = readText(`${SCX_SYSFS}/root/ops`) ?? 'tsland';
    let rings: ScxRings | null = null;

    const sched: ScxScheduler = {
      queuedFd,
      dispatchedFd,
      loadMs,
      phasesMs,
      libbpfVersion: lib.version,
      opsName,
      countersU32,
      counter: (at) => readU64(countersU32, at),
      setScheduled: (tasks) => writeU64(countersU32, C_SCHEDULED, tasks),
      setDispatchPosted: (records) => writeU64(countersU32, C_DISPATCH_POSTED, records),
      setParking: () => writeU64(countersU32, C_SCHED_PARKING, 1),
      snapshot() {
        const out = {} as Record<CounterName, number>;
        for (const [name, at] of COUNTER_FIELDS) out[name] = readU64(countersU32, at);
        return out;
      },
      exitKind: () => exitKindU32[0]!,
      exitInfo() {
        const kind = new DataView(exitBytes.buffer, exitBytes.byteOffset).getUint32(X_KIND, true);
        if (kind === 0) return null;
        const dv = new DataView(exitBytes.buffer, exitBytes.byteOffset, EXIT_INFO_BYTES);
        return {
          kind,
          exitCode: Number(dv.getBigInt64(X_EXIT_CODE, true)),
          reason: cString(exitBytes.subarray(X_REASON, X_REASON + EXIT_REASON_BYTES)),
          message: cString(exitBytes.subarray(X_MSG, X_MSG + EXIT_MSG_BYTES)),
          dump: cString(dumpBytes).trimEnd(),
        };
      },
      mapRings() {
        if (rings) return rings;
        const qCons = native.mmap(queuedFd, page, 0, true);
        mappings.push(qCons);
        const qProd = native.mmap(queuedFd, page + 2 * QUEUED_RING_BYTES, page, false);
        mappings.push(qProd);
        const dCons = native.mmap(dispatchedFd, page, 0, false);
        mappings.push(dCons);
        const dProd = native.mmap(dispatchedFd, page + 2 * DISPATCH_RING_BYTES, page, true);
        mappings.push(dProd);
        rings = {
          queued: new QueuedRing({
            consumerPage: qCons.buffer,
            producerArea: qProd.buffer,
            pageBytes: page,
            dataBytes: QUEUED_RING_BYTES,
          }),
          dispatch: new DispatchRing({
            consumerPage: dCons.buffer,
            producerArea: dProd.buffer,
            pageBytes: page,
            dataBytes: DISPATCH_RING_BYTES,
          }),
          unmap() {
            for (const m of [qCons, qProd, dCons, dProd]) m.unmap();
          },
        };
        return rings;
      },
      state: () => scxState() ?? 'unknown',
      detach() {
        if (closed) return;
        // Destroying the link runs ops.exit to completion (the kernel flushes its disable work); then the
        // exit information and counters are copied out, because closing the object unmaps .bss.
        if (link) lib.linkDestroy(link);
        link = null;
        const info = sched.exitInfo();
        sched.exitKind = () => info?.kind ?? 0;
        const counters = sched.snapshot();
        closeAll();
        sched.exitInfo = () => info;
        sched.snapshot = () => counters;
        sched.counter = (at) => counters[COUNTER_FIELDS.find(([, off]) => off === at)?.[0] ?? 'nr_queued'];
      },
    };
    return sched;
  } catch (err) {
    closeAll();
    if (err instanceof ScxLoadError) throw err;
    throw new ScxLoadError((err as Error).message);
  }
}
