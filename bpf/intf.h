/* SPDX-License-Identifier: GPL-2.0 */
/*
 * tsland: the records and constants shared by the kernel half (tsland.bpf.c) and the user half
 * (src/backends/scx/layout.ts). Each layout is drawn once here; a test reads the compiled object's BTF and
 * proves that layout.ts gives the same offsets and sizes, byte for byte.
 *
 * Times are nanoseconds (CLOCK_MONOTONIC, as bpf_ktime_get_ns and scx_bpf_now count them), sizes bytes.
 * Every field is naturally aligned and every struct is padded by hand, so no compiler adds holes.
 */
#ifndef TSLAND_INTF_H
#define TSLAND_INTF_H

#ifndef __VMLINUX_H__
typedef int s32;
typedef unsigned int u32;
typedef long long s64;
typedef unsigned long long u64;
#endif

/*
 * Queued record: kernel -> user space, one per event, in the BPF_MAP_TYPE_RINGBUF map `queued`.
 * TSLAND_QUEUED_BYTES = 88.
 *
 *   0      4      8      12     16     20     24            32            40            48
 *   +------+------+------+------+------+------+-------------+-------------+-------------+
 *   | pid  | cpu  | kind |flags |ncpus |weight| start_ts    | stop_ts     | exec_runtime|
 *   +------+------+------+------+------+------+-------------+-------------+-------------+
 *   48            56            64            72            80            88
 *   +-------------+-------------+-------------+-------------+-------------+
 *   | sum_exec_rt | vtime       | enq_cnt     | nvcsw       | ts_ns       |
 *   +-------------+-------------+-------------+-------------+-------------+
 *
 *   pid           s32  thread id (p->pid); 0 for TSLAND_EV_CPU_IDLE
 *   cpu           s32  CPU the task is on (scx_bpf_task_cpu), or the idle CPU for TSLAND_EV_CPU_IDLE
 *   kind          u32  TSLAND_EV_*
 *   flags         u32  TSLAND_QF_* bits
 *   ncpus         u32  nr_cpus_allowed: how many CPUs the task may run on
 *   weight        u32  p->scx.weight, 100 at nice 0 (1..10000)
 *   start_ts      u64  ns, when the task last started running (0 if never)
 *   stop_ts       u64  ns, when the task last stopped running (0 if never)
 *   exec_runtime  u64  ns the task ran since it last woke up (reset by ops.runnable)
 *   sum_exec_rt   u64  ns, p->se.sum_exec_runtime: CPU time used since creation, cumulative
 *   vtime         u64  p->scx.dsq_vtime (what the last dispatch record set)
 *   enq_cnt       u64  the task's enqueue generation: a dispatch record must carry it back; it moves on at
 *                      every enqueue and dequeue, so an older record is stale
 *   nvcsw         u64  voluntary context switches so far, cumulative
 *   ts_ns         u64  ns, when this record was written
 */
#define TSLAND_QUEUED_BYTES 88

/* The task became runnable: woke up, or is new (TSLAND_QF_NEW). User space must dispatch it. */
#define TSLAND_EV_RUNNABLE 1
/*
 * The task stopped running on `cpu`. Without TSLAND_QF_RUNNABLE it went to sleep and its CPU is free;
 * with it, its slice ran out or it was preempted, and it wants a CPU again: dispatch it like RUNNABLE.
 * Sent only for runs that user space dispatched.
 */
#define TSLAND_EV_STOPPED 2
/* The task left sched_ext (exited, or moved to another scheduling class). Sent for tasks ever queued. */
#define TSLAND_EV_EXITED 3
/*
 * CPU `cpu` found nothing to run while user space holds tasks. Sent once, then again only after a task
 * started on that CPU or a dispatch record targeted it.
 */
#define TSLAND_EV_CPU_IDLE 4

/* On STOPPED: the task is still runnable (slice used up or preempted). */
#define TSLAND_QF_RUNNABLE (1u << 0)
/* On RUNNABLE: the task's first enqueue under this scheduler. */
#define TSLAND_QF_NEW (1u << 1)
/* On STOPPED with TSLAND_QF_RUNNABLE: it still had slice left (a higher-priority task preempted it). */
#define TSLAND_QF_PREEMPTED (1u << 2)

struct tsland_queued {
	s32 pid;
	s32 cpu;
	u32 kind;
	u32 flags;
	u32 nr_cpus_allowed;
	u32 weight;
	u64 start_ts;
	u64 stop_ts;
	u64 exec_runtime;
	u64 sum_exec_runtime;
	u64 vtime;
	u64 enq_cnt;
	u64 nvcsw;
	u64 ts_ns;
};

/*
 * Dispatch record: user space -> kernel, in the BPF_MAP_TYPE_USER_RINGBUF map `dispatched`, drained by
 * ops.dispatch. TSLAND_DISPATCH_BYTES = 40.
 *
 *   0      4      8      12     16            24            32            40
 *   +------+------+------+------+-------------+-------------+-------------+
 *   | pid  | cpu  |flags | rsv  | slice_ns    | vtime       | enq_cnt     |
 *   +------+------+------+------+-------------+-------------+-------------+
 *
 *   pid       s32  thread id, from the queued record
 *   cpu       s32  CPU to run on (its local DSQ), or TSLAND_CPU_ANY: the shared DSQ, first CPU free
 *   flags     u32  TSLAND_DF_* bits
 *   rsv       u32  0
 *   slice_ns  u64  ns the task may run before it is stopped (0: the kernel's default, SCX_SLICE_DFL)
 *   vtime     u64  stored in p->scx.dsq_vtime and echoed in the task's next queued record
 *   enq_cnt   u64  the queued record's enq_cnt; a different one = stale: cancelled and counted
 */
#define TSLAND_DISPATCH_BYTES 40
#define TSLAND_CPU_ANY (-1)

/* Preempt what runs on the target CPU now (only with a CPU, not TSLAND_CPU_ANY). */
#define TSLAND_DF_PREEMPT (1u << 0)
/* Run before the tasks already waiting in the target DSQ. */
#define TSLAND_DF_HEAD (1u << 1)

struct tsland_dispatch {
	s32 pid;
	s32 cpu;
	u32 flags;
	u32 rsv;
	u64 slice_ns;
	u64 vtime;
	u64 enq_cnt;
};

/*
 * Counters: the .bss variable `counters`, u64 each, read live by user space through the mmapped .bss.
 * The kernel adds to them atomically; user space writes only nr_scheduled, nr_dispatch_posted and
 * sched_parking. TSLAND_COUNTERS_BYTES = 240.
 *
 *   0        8        16       24       32       40       48       56       64       72
 *   +--------+--------+--------+--------+--------+--------+--------+--------+--------+
 *   | kernel | user   | cancel | bounce | failed |congest.|running | queued |schedul.|
 *   +--------+--------+--------+--------+--------+--------+--------+--------+--------+
 *   72       80       88       96       104      112      120      128      136      144      152
 *   +--------+--------+--------+--------+--------+--------+--------+--------+--------+--------+
 *   |enqueues| events | lost   | kicks  |cpu_idle| posted |drained | self   |dequeues| exits  |
 *   +--------+--------+--------+--------+--------+--------+--------+--------+--------+--------+
 *   152      160      168      176      184      192      200      208      216
 *   +--------+--------+--------+--------+--------+--------+--------+--------+
 *   |drain er|errno   |dispatch|in user |sweeps  |rescued |rescues |starved |
 *   +--------+--------+--------+--------+--------+--------+--------+--------+
 *   216      224      232      240
 *   +--------+--------+--------+
 *   |parking |parks   |unparks |
 *   +--------+--------+--------+
 *
 *   nr_kernel_dispatches  tasks the kernel half ran without asking user space (the tsland process's
 *                         threads, kernel threads, congestion)
 *   nr_user_dispatches    dispatch records inserted into a DSQ (bounced ones included)
 *   nr_cancel_dispatches  dispatch records dropped as stale (enq_cnt moved on, or already dispatched)
 *   nr_bounce_dispatches  dispatch records whose CPU the task may not use: sent to a CPU it may use
 *   nr_failed_dispatches  dispatch records for a task that no longer exists
 *   nr_sched_congested    tasks run by the kernel because the `queued` ring was full
 *   nr_running            tasks user space dispatched that run now
 *   nr_queued             RUNNABLE and STOPPED+RUNNABLE records sent: each needs one dispatch record
 *   nr_scheduled          written by user space: tasks it holds, not yet dispatched
 *   nr_enqueues           ops.enqueue calls
 *   nr_events             records of any kind submitted to `queued`
 *   nr_events_lost        STOPPED, EXITED and CPU_IDLE records dropped because `queued` was full
 *   nr_timer_kicks        idle CPUs kicked by the timer because work waited
 *   nr_cpu_idle           CPU_IDLE records sent
 *   nr_dispatch_posted    written by user space: dispatch records it committed to `dispatched`
 *   nr_dispatch_drained   dispatch records ops.dispatch took from `dispatched`
 *   nr_self_dispatches    of nr_kernel_dispatches: the tsland process's own threads
 *   nr_dequeues           tasks taken back from user space by the kernel before their dispatch
 *   nr_exits              EXITED records sent
 *   nr_drain_errors       drains of `dispatched` that failed (a record the kernel refuses stops the ring)
 *   drain_errno           the errno of the last failed drain (EBUSY: another CPU was draining)
 *   nr_dispatch_calls     ops.dispatch calls
 *   nr_in_user            tasks sent to user space for a CPU and not yet placed (a gauge the kernel half
 *                         keeps itself: it does not depend on user space running)
 *   nr_kick_sweeps        timer rounds that kicked every CPU: work waited, no ops.dispatch ran for a
 *                         period and the idle mask offered no CPU
 *   nr_rescued            tasks the kernel half placed itself (shared DSQ, FIFO) because user space had
 *                         placed none for TSLAND_RESCUE_NS while tasks waited on it
 *   nr_rescues            times that started (each ends at the next dispatch record user space sends)
 *   nr_starved            tasks the kernel half placed itself (shared DSQ, FIFO) because they had waited
 *                         on user space for half the watchdog's timeout (the policy held them back)
 *   sched_parking         written by user space (TSLAND_CFG_PARK): 1 just before the scheduler thread calls
 *                         sched_yield to park; the kernel half reads and clears it in that yield's enqueue
 *   nr_parks              times the scheduler thread was parked (runnable, kept out of every DSQ)
 *   nr_unparks            times the kernel half put it on a CPU again (work came, or the heartbeat)
 */
#define TSLAND_COUNTERS_BYTES 240
/* A parked scheduler thread runs at least this often, work or not (it checks its stop flag then). */
#define TSLAND_PARK_HEARTBEAT_NS 100000000ull
/* How long a task may wait on user space before the kernel half places it, when no timeout is configured. */
#define TSLAND_STARVE_DFL_NS 2500000000ull
/*
 * User space placed no task for this long while tasks waited on it: its thread is blocked (a page it needs
 * is locked by a task it has not placed yet, say). The kernel half then places the waiting tasks itself,
 * oldest first, so that whatever blocks user space can run, until user space sends a dispatch record again.
 */
#define TSLAND_RESCUE_NS 250000000ull

struct tsland_counters {
	u64 nr_kernel_dispatches;
	u64 nr_user_dispatches;
	u64 nr_cancel_dispatches;
	u64 nr_bounce_dispatches;
	u64 nr_failed_dispatches;
	u64 nr_sched_congested;
	u64 nr_running;
	u64 nr_queued;
	u64 nr_scheduled;
	u64 nr_enqueues;
	u64 nr_events;
	u64 nr_events_lost;
	u64 nr_timer_kicks;
	u64 nr_cpu_idle;
	u64 nr_dispatch_posted;
	u64 nr_dispatch_drained;
	u64 nr_self_dispatches;
	u64 nr_dequeues;
	u64 nr_exits;
	u64 nr_drain_errors;
	u64 drain_errno;
	u64 nr_dispatch_calls;
	u64 nr_in_user;
	u64 nr_kick_sweeps;
	u64 nr_rescued;
	u64 nr_rescues;
	u64 nr_starved;
	u64 sched_parking;
	u64 nr_parks;
	u64 nr_unparks;
};

/*
 * Exit information: the .bss variable `exit_info`, filled by ops.exit from struct scx_exit_info when the
 * scheduler is unloaded or ejected. kind stays 0 while the scheduler runs.
 * TSLAND_EXIT_INFO_BYTES = 1168.
 *
 *   0      4      8             16                       144                          1168
 *   +------+------+-------------+------------------------+----------------------------+
 *   | kind | rsv  | exit_code   | reason[128]            | msg[1024]                  |
 *   +------+------+-------------+------------------------+----------------------------+
 *
 *   kind       u32  enum scx_exit_kind (7.3 values): 1 done, 64 unregistered from user space,
 *                   65 by the BPF program, 66 by the kernel, 67 sysrq; 1024 and up: ejected on an error
 *                   (1025 the BPF program reported one, 1026 a runnable task waited longer than
 *                   timeout_ms: the watchdog)
 *   exit_code  s64  scx_exit_info.exit_code
 *   reason     char NUL-terminated, e.g. "runnable task stall"
 *   msg        char NUL-terminated details
 */
/* The .bss variable `exit_dump` (char[], NUL-terminated): the kernel's dump at an error exit. */
#define TSLAND_EXIT_DUMP_BYTES 16384
#define TSLAND_EXIT_REASON_BYTES 128
#define TSLAND_EXIT_MSG_BYTES 1024
#define TSLAND_EXIT_INFO_BYTES 1168

struct tsland_exit_info {
	u32 kind;
	u32 rsv;
	s64 exit_code;
	char reason[TSLAND_EXIT_REASON_BYTES];
	char msg[TSLAND_EXIT_MSG_BYTES];
};

/*
 * Configuration: the .rodata variable `tl_config`, written by the loader before load (constant after).
 * TSLAND_CONFIG_BYTES = 40.
 *
 *   0      4      8             16            24            32     36     40
 *   +------+------+-------------+-------------+-------------+------+------+
 *   | tgid |flags | kick_ns     | kslice_ns   | stall_ns    | stid | rsv  |
 *   +------+------+-------------+-------------+-------------+------+------+
 *
 *   tgid       u32  thread-group id of the tsland process: its threads never wait for user space
 *   flags      u32  TSLAND_CFG_* bits
 *   kick_ns    u64  ns: period of the timer that kicks an idle CPU while user space holds tasks, or
 *                   while dispatch records wait and no CPU has run ops.dispatch for that long
 *                   (0: TSLAND_KICK_DFL_NS)
 *   kslice_ns  u64  ns: slice of the tasks the kernel half runs itself (0: SCX_SLICE_DFL)
 *   stall_ns   u64  ns: user space placed no task for this long while tasks waited on it (a rescue has
 *                   run since TSLAND_RESCUE_NS): the kernel half ejects itself with an error, as the
 *                   watchdog would have without the rescue (0: never; the loader sets ops.timeout_ms)
 *   stid       u32  thread id of the scheduler thread (the one that reads the rings): with SELF_PREEMPT it
 *                   alone preempts on wake-up (0: every thread of tgid does)
 *   rsv        u32  0
 */
#define TSLAND_CONFIG_BYTES 40
#define TSLAND_KICK_DFL_NS 20000000ull

/*
 * The scheduler thread, woken up, preempts what runs on its CPU at once (keeps the loop prompt). The
 * process's other threads (V8's, libuv's, the main thread) wait for the running slice, so that they can
 * never push the scheduler thread back in its CPU's queue.
 */
#define TSLAND_CFG_SELF_PREEMPT (1u << 0)
/*
 * The scheduler thread waits by parking instead of sleeping in epoll: with nothing to read it sets
 * counters.sched_parking and calls sched_yield; its enqueue then keeps it out of every DSQ (runnable, not
 * run). ops.dispatch puts it on the CPU that runs out of work while user space has something to read or a
 * slice-expired task to decide on, and the records are sent without waking anyone (no irq_work, no
 * epoll). With SELF_PREEMPT, a task waking up while every CPU is busy preempts one for it, as a woken
 * scheduler thread would. Whole-machine mode only: in partial mode the thread is not a sched_ext task.
 */
#define TSLAND_CFG_PARK (1u << 1)

struct tsland_config {
	u32 tgid;
	u32 flags;
	u64 kick_ns;
	u64 kslice_ns;
	u64 stall_ns;
	u32 sched_tid;
	u32 rsv;
};

/*
 * Ring sizes in bytes (a power of two, a multiple of the page size). A record takes its size plus the
 * ring's 8-byte header, rounded up to 8: 96 bytes queued (5,461 records), 48 bytes dispatch (5,461).
 */
#define TSLAND_QUEUED_RING_BYTES (1u << 19)
#define TSLAND_DISPATCH_RING_BYTES (1u << 18)
/* CPUs the per-CPU state covers (a power of two). */
#define TSLAND_MAX_CPUS 1024

#endif /* TSLAND_INTF_H */
