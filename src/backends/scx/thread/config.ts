// What the sched_ext scheduler thread gets besides the session's common config (session/control.ts
// SessionThreadConfig): the kernel half's settings. Structured-cloneable: it travels in workerData.

export interface ScxThreadConfig {
  /** Only tasks set to SCHED_EXT are scheduled (SCX_OPS_SWITCH_PARTIAL): `run --backend scx`. */
  partial: boolean;
  /** The thread waits parked by the kernel half, not in epoll (loader.ts ScxLoadOptions.park). */
  park: boolean;
  /** Tasks the core places ahead on the shared DSQ (SchedulerOptions.queueAhead). */
  queueAhead: number;
  /** The kernel's watchdog: a runnable task waiting longer than this ejects the scheduler. */
  timeoutMs: number;
  /** The compiled BPF object; null: the package's bpf/tsland.bpf.o. */
  objectPath: string | null;
  /** libbpf.so.1 of the guest cache, tried after $TSLAND_LIBBPF (null: none set up). */
  guestLibbpf: string | null;
}
