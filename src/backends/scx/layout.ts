// The TypeScript side of bpf/intf.h: every record the kernel half and user space share, at the same byte
// offsets. The drawings (byte rulers and legends with units) live once, in bpf/intf.h; test/scx-layout.test
// reads the BTF of the compiled bpf/tsland.bpf.o and proves that each offset and size here is the C one.
//
// u64 fields are read and written as two u32 halves (lo at the offset, hi at offset + 4): a BigInt would
// allocate. Every value here stays below 2^53 (ns since boot, counts), so lo + hi * 2^32 is exact.

/** Queued record (kernel -> user, ring `queued`): struct tsland_queued. */
export const Q_PID = 0; // s32
export const Q_CPU = 4; // s32
export const Q_KIND = 8; // u32, EV_*
export const Q_FLAGS = 12; // u32, QF_*
export const Q_NR_CPUS_ALLOWED = 16; // u32
export const Q_WEIGHT = 20; // u32, 100 at nice 0
export const Q_START_TS = 24; // u64 ns
export const Q_STOP_TS = 32; // u64 ns
export const Q_EXEC_RUNTIME = 40; // u64 ns since the last wake-up
export const Q_SUM_EXEC_RUNTIME = 48; // u64 ns, cumulative
export const Q_VTIME = 56; // u64
export const Q_ENQ_CNT = 64; // u64
export const Q_NVCSW = 72; // u64, cumulative
export const Q_TS_NS = 80; // u64 ns
export const QUEUED_BYTES = 88;

export const EV_RUNNABLE = 1;
export const EV_STOPPED = 2;
export const EV_EXITED = 3;
export const EV_CPU_IDLE = 4;

export const QF_RUNNABLE = 1 << 0;
export const QF_NEW = 1 << 1;
export const QF_PREEMPTED = 1 << 2;

/** Dispatch record (user -> kernel, ring `dispatched`): struct tsland_dispatch. */
export const D_PID = 0; // s32
export const D_CPU = 4; // s32, CPU_ANY for the shared DSQ
export const D_FLAGS = 8; // u32, DF_*
export const D_RSV = 12; // u32
export const D_SLICE_NS = 16; // u64 ns (0: the kernel's default slice)
export const D_VTIME = 24; // u64
export const D_ENQ_CNT = 32; // u64, the queued record's
export const DISPATCH_BYTES = 40;

export const CPU_ANY = -1;
export const DF_PREEMPT = 1 << 0;
export const DF_HEAD = 1 << 1;

/** Counters (the .bss variable `counters`, struct tsland_counters): byte offsets, u64 each. */
export const C_KERNEL_DISPATCHES = 0;
export const C_USER_DISPATCHES = 8;
export const C_CANCEL_DISPATCHES = 16;
export const C_BOUNCE_DISPATCHES = 24;
export const C_FAILED_DISPATCHES = 32;
export const C_SCHED_CONGESTED = 40;
export const C_RUNNING = 48;
export const C_QUEUED = 56;
export const C_SCHEDULED = 64; // written by user space
export const C_ENQUEUES = 72;
export const C_EVENTS = 80;
export const C_EVENTS_LOST = 88;
export const C_TIMER_KICKS = 96;
export const C_CPU_IDLE = 104;
export const C_DISPATCH_POSTED = 112; // written by user space
export const C_DISPATCH_DRAINED = 120;
export const C_SELF_DISPATCHES = 128;
export const C_DEQUEUES = 136;
export const C_EXITS = 144;
export const C_DRAIN_ERRORS = 152;
export const C_DRAIN_ERRNO = 160;
export const C_DISPATCH_CALLS = 168;
export const C_IN_USER = 176;
export const C_KICK_SWEEPS = 184;
export const C_RESCUED = 192;
export const C_RESCUES = 200;
export const C_STARVED = 208;
export const C_SCHED_PARKING = 216; // written by user space
export const C_PARKS = 224;
export const C_UNPARKS = 232;
export const COUNTERS_BYTES = 240;

/** Counter names in struct order, as the C struct spells them (for stats and the layout test). */
export const COUNTER_FIELDS = [
  ['nr_kernel_dispatches', C_KERNEL_DISPATCHES],
  ['nr_user_dispatches', C_USER_DISPATCHES],
  ['nr_cancel_dispatches', C_CANCEL_DISPATCHES],
  ['nr_bounce_dispatches', C_BOUNCE_DISPATCHES],
  ['nr_failed_dispatches', C_FAILED_DISPATCHES],
  ['nr_sched_congested', C_SCHED_CONGESTED],
  ['nr_running', C_RUNNING],
  ['nr_queued', C_QUEUED],
  ['nr_scheduled', C_SCHEDULED],
  ['nr_enqueues', C_ENQUEUES],
  ['nr_events', C_EVENTS],
  ['nr_events_lost', C_EVENTS_LOST],
  ['nr_timer_kicks', C_TIMER_KICKS],
  ['nr_cpu_idle', C_CPU_IDLE],
  ['nr_dispatch_posted', C_DISPATCH_POSTED],
  ['nr_dispatch_drained', C_DISPATCH_DRAINED],
  ['nr_self_dispatches', C_SELF_DISPATCHES],
  ['nr_dequeues', C_DEQUEUES],
  ['nr_exits', C_EXITS],
  ['nr_drain_errors', C_DRAIN_ERRORS],
  ['drain_errno', C_DRAIN_ERRNO],
  ['nr_dispatch_calls', C_DISPATCH_CALLS],
  ['nr_in_user', C_IN_USER],
  ['nr_kick_sweeps', C_KICK_SWEEPS],
  ['nr_rescued', C_RESCUED],
  ['nr_rescues', C_RESCUES],
  ['nr_starved', C_STARVED],
  ['sched_parking', C_SCHED_PARKING],
  ['nr_parks', C_PARKS],
  ['nr_unparks', C_UNPARKS],
] as const;
export type CounterName = (typeof COUNTER_FIELDS)[number][0];

/** Exit information (the .bss variable `exit_info`, struct tsland_exit_info). */
export const X_KIND = 0; // u32, enum scx_exit_kind; 0 while running
export const X_RSV = 4;
export const X_EXIT_CODE = 8; // s64
export const X_REASON = 16; // char[128], NUL-terminated
export const X_MSG = 144; // char[1024], NUL-terminated
export const EXIT_REASON_BYTES = 128;
export const EXIT_MSG_BYTES = 1024;
export const EXIT_INFO_BYTES = 1168;
/** The .bss variable `exit_dump`: the kernel's dump at an error exit (char[], NUL-terminated). */
export const EXIT_DUMP_BYTES = 16384;
/** enum scx_exit_kind values user space acts on (the same from 6.12 to 7.3). */
export const EXIT_DONE = 1;
export const EXIT_UNREG = 64;
export const EXIT_ERROR = 1024;
export const EXIT_ERROR_BPF = 1025;
export const EXIT_ERROR_STALL = 1026;

/** Configuration (the .rodata variable `tl_config`, struct tsland_config), written before load. */
export const CFG_TGID = 0; // u32
export const CFG_FLAGS = 4; // u32, CFG_F_*
export const CFG_KICK_NS = 8; // u64 ns
export const CFG_KSLICE_NS = 16; // u64 ns
export const CFG_STALL_NS = 24; // u64 ns
export const CFG_SCHED_TID = 32; // u32
export const CFG_RSV = 36; // u32
export const CONFIG_BYTES = 40;
export const CFG_F_SELF_PREEMPT = 1 << 0;
export const CFG_F_PARK = 1 << 1;

/** Names the object uses (maps, variables, struct_ops), as the loader and the layout test look them up. */
export const MAP_QUEUED = 'queued';
export const MAP_DISPATCHED = 'dispatched';
export const MAP_OPS = 'tsland_ops';
export const VAR_COUNTERS = 'counters';
export const VAR_EXIT_INFO = 'exit_info';
export const VAR_EXIT_DUMP = 'exit_dump';
export const VAR_CONFIG = 'tl_config';
export const OPS_NAME = 'tsland';

/** Ring sizes in bytes (TSLAND_*_RING_BYTES). */
export const QUEUED_RING_BYTES = 1 << 19;
export const DISPATCH_RING_BYTES = 1 << 18;

/** Each record's fields as the C struct names them, with offset and size: what the layout test checks. */
export const RECORD_LAYOUTS: Readonly<
  Record<string, { bytes: number; fields: ReadonlyArray<readonly [string, number, number]> }>
> = {
  tsland_queued: {
    bytes: QUEUED_BYTES,
    fields: [
      ['pid', Q_PID, 4],
      ['cpu', Q_CPU, 4],
      ['kind', Q_KIND, 4],
      ['flags', Q_FLAGS, 4],
      ['nr_cpus_allowed', Q_NR_CPUS_ALLOWED, 4],
      ['weight', Q_WEIGHT, 4],
      ['start_ts', Q_START_TS, 8],
      ['stop_ts', Q_STOP_TS, 8],
      ['exec_runtime', Q_EXEC_RUNTIME, 8],
      ['sum_exec_runtime', Q_SUM_EXEC_RUNTIME, 8],
      ['vtime', Q_VTIME, 8],
      ['enq_cnt', Q_ENQ_CNT, 8],
      ['nvcsw', Q_NVCSW, 8],
      ['ts_ns', Q_TS_NS, 8],
    ],
  },
  tsland_dispatch: {
    bytes: DISPATCH_BYTES,
    fields: [
      ['pid', D_PID, 4],
      ['cpu', D_CPU, 4],
      ['flags', D_FLAGS, 4],
      ['rsv', D_RSV, 4],
      ['slice_ns', D_SLICE_NS, 8],
      ['vtime', D_VTIME, 8],
      ['enq_cnt', D_ENQ_CNT, 8],
    ],
  },
  tsland_counters: {
    bytes: COUNTERS_BYTES,
    fields: COUNTER_FIELDS.map(([name, at]) => [name, at, 8] as const),
  },
  tsland_exit_info: {
    bytes: EXIT_INFO_BYTES,
    fields: [
      ['kind', X_KIND, 4],
      ['rsv', X_RSV, 4],
      ['exit_code', X_EXIT_CODE, 8],
      ['reason', X_REASON, EXIT_REASON_BYTES],
      ['msg', X_MSG, EXIT_MSG_BYTES],
    ],
  },
  tsland_config: {
    bytes: CONFIG_BYTES,
    fields: [
      ['tgid', CFG_TGID, 4],
      ['flags', CFG_FLAGS, 4],
      ['kick_ns', CFG_KICK_NS, 8],
      ['kslice_ns', CFG_KSLICE_NS, 8],
      ['stall_ns', CFG_STALL_NS, 8],
      ['sched_tid', CFG_SCHED_TID, 4],
      ['rsv', CFG_RSV, 4],
    ],
  },
};
