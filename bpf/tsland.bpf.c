// SPDX-License-Identifier: GPL-2.0
/*
 * tsland: the kernel half of a sched_ext scheduler whose policy runs in user space (TypeScript).
 *
 * Every task the kernel wants to run is sent to user space as a queued record through the RINGBUF map
 * `queued`; user space decides the order and CPU and answers with dispatch records through the
 * USER_RINGBUF map `dispatched`, which ops.dispatch drains into CPUs' local DSQs or the shared DSQ.
 * Record layouts: intf.h.
 *
 *   enqueue ----> `queued` ----> user space (policy) ----> `dispatched` ----> dispatch --> local / shared DSQ
 *      \ ring full: shared DSQ, nr_sched_congested                  stale: cancelled, CPU not allowed: bounced
 *
 * Never sent to user space (inserted directly, counted as kernel dispatches): the tsland process's own
 * threads (by tgid: its scheduler thread, V8's GC and compiler threads and libuv's pool must never wait
 * for a decision of their own scheduler) and every kernel thread. The scheduler thread can block in the
 * kernel (a page fault on a file-backed page, a read, an RCU grace period), and what unblocks it often
 * runs in a kernel thread: an unbound kworker completing the I/O, rcu_preempt. Sent to user space, that
 * kthread would wait for the very thread it must wake, and both CPUs idle until the kernel's watchdog
 * ejects the scheduler (seen in the guest: "watchdog failed to check in for 30.004s", kworker/u8:0 and
 * rcu_preempt queued 20 s in user space while both CPUs ran the idle task).
 *
 * User space also learns when a CPU frees up: a STOPPED record when a task it dispatched goes to sleep,
 * EXITED when a task it knows leaves, CPU_IDLE when a CPU finds nothing to run while user space holds
 * tasks. A timer kicks an idle CPU while user space holds tasks (that CPU says CPU_IDLE again), or while
 * dispatch records wait and no CPU has run ops.dispatch for a period. The
 * kernel's watchdog (timeout_ms) reverts every task to the fair class if one waits too long.
 *
 * How the scheduler thread waits (intf.h TSLAND_CFG_PARK): asleep in epoll on `queued`, woken by the ring;
 * or parked, the way scx_rustland's and scx_userland's user-space schedulers wait: it yields, its enqueue
 * keeps it out of every DSQ, and the CPU that runs out of work while user space has something to read
 * runs it next, straight from ops.dispatch:
 *
 *   sched thread: round, sched_yield --> enqueue: parked (nothing to read)
 *   a CPU: ops.dispatch finds nothing, records wait --> CPU_IDLE record, sched thread inserted here
 *   a task wakes, every CPU busy (SELF_PREEMPT) --> kick one CPU with preemption: its ops.dispatch does the same
 *   the timer, parked for TSLAND_PARK_HEARTBEAT_NS --> the next ops.dispatch runs it (its stop flag, the watchdog)
 *
 * Portability (6.12 and later): kfuncs that were renamed are declared __weak under every name they had
 * and called through the first one the loading kernel has (bpf_ksym_exists); enum values are CO-RE
 * relocated (bpf_core_enum_value), so they follow the loading kernel, not the build kernel.
 */
#define BPF_NO_KFUNC_PROTOTYPES
#include "vmlinux.h"
#include "bpf_defs.h"
#include "intf.h"

char _license[] SEC("license") = "GPL";

/*
 * Kfuncs. A `___tsland` suffix is dropped by libbpf when it looks the name up in the kernel (it strips the
 * last `___flavor`), which lets one object declare both `x` and `x___v2` with their own prototypes.
 *   insert:        scx_bpf_dsq_insert___v2 (bool; 7.x), scx_bpf_dsq_insert (6.13+), scx_bpf_dispatch (6.12)
 *   move to local: scx_bpf_dsq_move_to_local___v2 (7.x), scx_bpf_dsq_move_to_local (6.13+),
 *                  scx_bpf_consume (6.12)
 *   now:           scx_bpf_now (6.14+), else bpf_ktime_get_ns
 */
bool scx_bpf_dsq_insert___v2___tsland(struct task_struct *p, u64 dsq_id, u64 slice, u64 enq_flags) __ksym __weak;
void scx_bpf_dsq_insert___tsland(struct task_struct *p, u64 dsq_id, u64 slice, u64 enq_flags) __ksym __weak;
void scx_bpf_dispatch___tsland(struct task_struct *p, u64 dsq_id, u64 slice, u64 enq_flags) __ksym __weak;
bool scx_bpf_dsq_move_to_local___v2___tsland(u64 dsq_id, u64 enq_flags) __ksym __weak;
bool scx_bpf_dsq_move_to_local___tsland(u64 dsq_id) __ksym __weak;
bool scx_bpf_consume___tsland(u64 dsq_id) __ksym __weak;
u64 scx_bpf_now(void) __ksym __weak;
s32 scx_bpf_select_cpu_dfl(struct task_struct *p, s32 prev_cpu, u64 wake_flags, bool *is_idle) __ksym __weak;

u32 scx_bpf_dispatch_nr_slots(void) __ksym;
void scx_bpf_kick_cpu(s32 cpu, u64 flags) __ksym;
s32 scx_bpf_create_dsq(u64 dsq_id, s32 node) __ksym;
s32 scx_bpf_task_cpu(const struct task_struct *p) __ksym;
s32 scx_bpf_pick_idle_cpu(const struct cpumask *cpus_allowed, u64 flags) __ksym;
const struct cpumask *scx_bpf_get_online_cpumask(void) __ksym;
void scx_bpf_put_cpumask(const struct cpumask *cpumask) __ksym;
u32 scx_bpf_nr_cpu_ids(void) __ksym;
void scx_bpf_error_bstr(char *fmt, unsigned long long *data, u32 data__sz) __ksym;
void scx_bpf_dump_bstr(char *fmt, unsigned long long *data, u32 data__sz) __ksym __weak;
struct task_struct *bpf_task_from_pid(s32 pid) __ksym;
void bpf_task_release(struct task_struct *p) __ksym;
bool bpf_cpumask_test_cpu(u32 cpu, const struct cpumask *cpumask) __ksym;

/* The DSQ user space dispatches "any CPU" tasks to (and the kernel half its congested ones). */
#define SHARED_DSQ 0

/* Written by the loader before load (intf.h draws it). */
const volatile struct tsland_config tl_config = {};

/* Read live by user space through the mmapped .bss (intf.h draws both). */
struct tsland_counters counters;
struct tsland_exit_info exit_info;
/*
 * The kernel's own account of an error exit (scx_exit_info.dump: each CPU's current and queued tasks, and
 * every runnable task with how long it has waited and on which DSQ), with a line per task from
 * ops.dump_task. Filled by ops.exit before exit_info.kind; user space prints it when the kernel ejects us.
 */
char exit_dump[TSLAND_EXIT_DUMP_BYTES];

/*
 * The ring records reach the object's BTF only through a global that names them: user space's layout test
 * reads them there (src/backends/scx/layout.ts must match them byte for byte).
 */
struct tsland_queued *layout_queued;
struct tsland_dispatch *layout_dispatch;

/* Per CPU: a CPU_IDLE record was sent and nothing has run on that CPU since. */
u8 idle_sent[TSLAND_MAX_CPUS];
/* When a CPU last ran ops.dispatch (drained `dispatched`), in ns. */
u64 last_dispatch_ns;

/* TSLAND_CFG_PARK: the scheduler thread yielded with nothing to read and is kept out of every DSQ. */
u32 sched_parked;
/* The next ops.dispatch should run the parked scheduler thread (the heartbeat, a preempting wake-up). */
u32 sched_wanted;
/* When the scheduler thread last started running, ns (now_ns). */
u64 sched_last_run_ns;

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, TSLAND_QUEUED_RING_BYTES);
} queued SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_USER_RINGBUF);
	__uint(max_entries, TSLAND_DISPATCH_RING_BYTES);
} dispatched SEC(".maps");

/* Per-task state, private to this file. */
struct task_ctx {
	u64 enq_cnt;        /* generation: moves on at every enqueue and dequeue */
	u64 dispatched_cnt; /* enq_cnt of the last dispatch record inserted (a second one is a duplicate) */
	u64 start_ts;       /* ns, last ops.running */
	u64 stop_ts;        /* ns, last ops.stopping */
	u64 exec_runtime;   /* ns run since the task last woke up */
	u64 vtime;          /* the last dispatch record's vtime, echoed back */
	u32 state;          /* TC_* bits */
	u32 rsv;
};

#define TC_KNOWN (1u << 0)        /* user space has seen this task (a queued record was sent) */
#define TC_REQUEUE (1u << 1)      /* a user-dispatched run stopped runnable: next enqueue is STOPPED+RUNNABLE */
#define TC_PREEMPTED (1u << 2)    /* ... and it still had slice left */
#define TC_USER_PENDING (1u << 3) /* inserted into a DSQ by a dispatch record, not yet running */
/*
 * A dispatch record put this task on a CPU, and user space has not been told that this run ended: user space
 * counts that CPU as taken until a record about the task (STOPPED, STOPPED+RUNNABLE, RUNNABLE, EXITED)
 * arrives. It outlives a preemption by a higher class (RT, the stop class of migration): the kernel puts
 * the task back at the head of its local DSQ without ops.enqueue and runs it again, and the run goes on.
 * Dropping it there once lost the STOPPED record of the task's next sleep, so user space counted a CPU as
 * taken for good while it idled: tasks waited in user space until the watchdog ejected tsland.
 */
#define TC_USER_RUN (1u << 4)
#define TC_IN_USER (1u << 5) /* a record asked user space for a CPU for it; not placed yet (nr_in_user) */

struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, TL_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct task_ctx);
} task_ctxs SEC(".maps");

/*
 * Tasks sent to user space for a CPU, oldest first: what the kernel half places itself when user space
 * stalls (TSLAND_RESCUE_NS). An entry is valid while its task still waits with that enq_cnt; the head is
 * kept valid (stale entries are dropped from the front in ops.dispatch). When full, a push drops the oldest.
 */
struct pending_ent {
	s32 pid;
	u32 rsv;
	u64 enq_cnt;
	u64 ts; /* ns (bpf_ktime): when the record asked user space for a CPU */
};

struct {
	__uint(type, BPF_MAP_TYPE_QUEUE);
	__uint(max_entries, 8192);
	__type(value, struct pending_ent);
} pending SEC(".maps");

/* When user space last placed a task, or when a task started waiting while none did (ns, bpf_ktime). */
u64 last_progress_ns;
/* Set by the timer when user space stalled; cleared by the next dispatch record user space sends. */
u32 rescuing;
/* When the current rescue started (ns, bpf_ktime). */
u64 rescue_start_ns;

struct kick_timer {
	struct bpf_timer timer;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, u32);
	__type(value, struct kick_timer);
} kick_timers SEC(".maps");

/* ---- portable wrappers ---- */

static __always_inline u64 now_ns(void)
{
	if (bpf_ksym_exists(scx_bpf_now))
		return scx_bpf_now();
	return bpf_ktime_get_ns();
}

/* Returns false when the kernel refused the insert (only the 7.x variant says so). */
static __always_inline bool dsq_insert(struct task_struct *p, u64 dsq_id, u64 slice, u64 enq_flags)
{
	if (bpf_ksym_exists(scx_bpf_dsq_insert___v2___tsland))
		return scx_bpf_dsq_insert___v2___tsland(p, dsq_id, slice, enq_flags);
	if (bpf_ksym_exists(scx_bpf_dsq_insert___tsland)) {
		scx_bpf_dsq_insert___tsland(p, dsq_id, slice, enq_flags);
		return true;
	}
	scx_bpf_dispatch___tsland(p, dsq_id, slice, enq_flags);
	return true;
}

static __always_inline bool dsq_move_to_local(u64 dsq_id)
{
	if (bpf_ksym_exists(scx_bpf_dsq_move_to_local___v2___tsland))
		return scx_bpf_dsq_move_to_local___v2___tsland(dsq_id, 0);
	if (bpf_ksym_exists(scx_bpf_dsq_move_to_local___tsland))
		return scx_bpf_dsq_move_to_local___tsland(dsq_id);
	return scx_bpf_consume___tsland(dsq_id);
}

#define DSQ_LOCAL bpf_core_enum_value(enum scx_dsq_id_flags, SCX_DSQ_LOCAL)
#define DSQ_LOCAL_ON bpf_core_enum_value(enum scx_dsq_id_flags, SCX_DSQ_LOCAL_ON)
#define SLICE_DFL bpf_core_enum_value(enum scx_public_consts, SCX_SLICE_DFL)
#define KICK_IDLE bpf_core_enum_value(enum scx_kick_flags, SCX_KICK_IDLE)
#define KICK_PREEMPT bpf_core_enum_value(enum scx_kick_flags, SCX_KICK_PREEMPT)
#define ENQ_WAKEUP bpf_core_enum_value(enum scx_enq_flags, SCX_ENQ_WAKEUP)
#define ENQ_HEAD bpf_core_enum_value(enum scx_enq_flags, SCX_ENQ_HEAD)
#define ENQ_PREEMPT bpf_core_enum_value(enum scx_enq_flags, SCX_ENQ_PREEMPT)
#define TASK_QUEUED bpf_core_enum_value(enum scx_ent_flags, SCX_TASK_QUEUED)

/* User space placed nothing for stall_ns while tasks waited: hand the machine back to the fair class. */
static __always_inline void tl_fail_stalled(u64 ms, u64 waiting)
{
	static char fmt[] = "tsland: the scheduler thread stalled: it placed no task for %llu ms (the kernel half placed %llu meanwhile)";
	unsigned long long data[2] = { ms, waiting };

	scx_bpf_error_bstr(fmt, data, sizeof(data));
}

static __always_inline void tl_fail(const char *why)
{
	static char fmt[] = "tsland: %s"; /* writable: the kfunc takes a char * */
	unsigned long long data[1] = { (unsigned long long)why };

	scx_bpf_error_bstr(fmt, data, sizeof(data));
}

/* ---- who never waits for user space ---- */

static __always_inline bool is_self(const struct task_struct *p)
{
	return tl_config.tgid && p->tgid == tl_config.tgid;
}

/* The thread that reads the rings. */
static __always_inline bool is_sched_thread(const struct task_struct *p)
{
	return tl_config.sched_tid && p->pid == tl_config.sched_tid;
}

static __always_inline bool park_mode(void)
{
	return tl_config.flags & TSLAND_CFG_PARK;
}

/* A parked scheduler thread reads the ring when it is run, not when woken: records wake no one then. */
static __always_inline u64 submit_flags(void)
{
	return park_mode() ? BPF_RB_NO_WAKEUP : 0;
}

static __always_inline bool records_wait(void)
{
	return bpf_ringbuf_query(&queued, BPF_RB_AVAIL_DATA) > 0;
}

/* Every kernel thread, per-CPU or unbound (the header says why). */
static __always_inline bool is_kernel_direct(const struct task_struct *p)
{
	return p->flags & TL_PF_KTHREAD;
}

static __always_inline u64 kernel_slice(void)
{
	return tl_config.kslice_ns ? tl_config.kslice_ns : SLICE_DFL;
}

static __always_inline struct task_ctx *task_ctx(struct task_struct *p)
{
	return bpf_task_storage_get(&task_ctxs, p, 0, 0);
}

static __always_inline void kick_idle_for(struct task_struct *p)
{
	s32 cpu = scx_bpf_pick_idle_cpu(p->cpus_ptr, 0);

	if (cpu >= 0)
		scx_bpf_kick_cpu(cpu, KICK_IDLE);
}

/* ---- records to user space ---- */

static __always_inline void fill_task(struct tsland_queued *r, struct task_struct *p, struct task_ctx *tctx)
{
	r->pid = p->pid;
	r->cpu = scx_bpf_task_cpu(p);
	r->nr_cpus_allowed = p->nr_cpus_allowed;
	r->weight = p->scx.weight;
	r->start_ts = tctx->start_ts;
	r->stop_ts = tctx->stop_ts;
	r->exec_runtime = tctx->exec_runtime;
	r->sum_exec_runtime = p->se.sum_exec_runtime;
	r->vtime = tctx->vtime;
	r->enq_cnt = tctx->enq_cnt;
	r->nvcsw = p->nvcsw;
	r->ts_ns = now_ns();
}

/* STOPPED (asleep) and EXITED records; a full ring drops them and counts it. */
static __always_inline void send_event(struct task_struct *p, struct task_ctx *tctx, u32 kind)
{
	struct tsland_queued *r = bpf_ringbuf_reserve(&queued, sizeof(*r), 0);

	if (!r) {
		__sync_fetch_and_add(&counters.nr_events_lost, 1);
		return;
	}
	fill_task(r, p, tctx);
	r->kind = kind;
	r->flags = 0;
	bpf_ringbuf_submit(r, submit_flags());
	__sync_fetch_and_add(&counters.nr_events, 1);
	if (kind == TSLAND_EV_EXITED)
		__sync_fetch_and_add(&counters.nr_exits, 1);
}

static __always_inline void send_cpu_idle(s32 cpu)
{
	struct tsland_queued *r;

	if (cpu < 0 || cpu >= TSLAND_MAX_CPUS || idle_sent[cpu & (TSLAND_MAX_CPUS - 1)])
		return;
	r = bpf_ringbuf_reserve(&queued, sizeof(*r), 0);
	if (!r) {
		__sync_fetch_and_add(&counters.nr_events_lost, 1);
		return;
	}
	__builtin_memset(r, 0, sizeof(*r));
	r->cpu = cpu;
	r->kind = TSLAND_EV_CPU_IDLE;
	r->ts_ns = now_ns();
	bpf_ringbuf_submit(r, submit_flags());
	idle_sent[cpu & (TSLAND_MAX_CPUS - 1)] = 1;
	__sync_fetch_and_add(&counters.nr_events, 1);
	__sync_fetch_and_add(&counters.nr_cpu_idle, 1);
}

/* The user-dispatched run of this task ends (a record about it is about to be sent). */
static __always_inline void end_user_run(struct task_ctx *tctx)
{
	if (!(tctx->state & TC_USER_RUN))
		return;
	tctx->state &= ~TC_USER_RUN;
	__sync_fetch_and_sub(&counters.nr_running, 1);
}

/* The task no longer waits on user space for a CPU (placed, taken back by the kernel, or gone). */
static __always_inline void leave_user(struct task_ctx *tctx)
{
	if (!(tctx->state & TC_IN_USER))
		return;
	tctx->state &= ~TC_IN_USER;
	__sync_fetch_and_sub(&counters.nr_in_user, 1);
}

static __always_inline void send_exited(struct task_struct *p)
{
	struct task_ctx *tctx = task_ctx(p);

	if (!tctx || !(tctx->state & TC_KNOWN))
		return;
	end_user_run(tctx);
	leave_user(tctx);
	tctx->state = 0;
	tctx->enq_cnt++; /* any dispatch record still in flight is stale now */
	send_event(p, tctx, TSLAND_EV_EXITED);
}

/* Counted by the kernel half itself: right even while user space is blocked and writes nothing. */
static __always_inline bool user_space_holds_work(void)
{
	return READ_ONCE(counters.nr_in_user) || records_wait();
}

/* ---- the parked scheduler thread (TSLAND_CFG_PARK) ---- */

/*
 * The scheduler thread's enqueue after the sched_yield it parks with: true if it stays parked (out of every
 * DSQ). The flag is set before the ring is looked at, and a CPU that submits a record looks at the flag
 * after submitting it: one of the two sees the other (both are full barriers), so no record is left behind
 * a thread that parked without seeing it.
 */
static __always_inline bool park_sched(void)
{
	if (!READ_ONCE(counters.sched_parking))
		return false;
	WRITE_ONCE(counters.sched_parking, 0);
	__sync_lock_test_and_set(&sched_parked, 1);
	if (!records_wait() && !READ_ONCE(sched_wanted)) {
		__sync_fetch_and_add(&counters.nr_parks, 1);
		return true;
	}
	/* Records came meanwhile: run on, unless a CPU took the thread already (it inserts it then). */
	return __sync_val_compare_and_swap(&sched_parked, 1, 0) != 1;
}

/* From ops.dispatch: the parked scheduler thread runs on this CPU next. False if it was not parked. */
static __always_inline bool unpark_sched(void)
{
	struct task_struct *p;

	if (!READ_ONCE(sched_parked) || __sync_val_compare_and_swap(&sched_parked, 1, 0) != 1)
		return false;
	p = bpf_task_from_pid(tl_config.sched_tid);
	if (!p)
		return false;
	dsq_insert(p, DSQ_LOCAL, kernel_slice(), 0);
	bpf_task_release(p);
	__sync_fetch_and_add(&counters.nr_unparks, 1);
	__sync_fetch_and_add(&counters.nr_kernel_dispatches, 1);
	__sync_fetch_and_add(&counters.nr_self_dispatches, 1);
	return true;
}

/*
 * A record was sent while the scheduler thread may be parked: a CPU must run ops.dispatch to run it. An
 * idle one is kicked; with every CPU busy, only a task waking up (SELF_PREEMPT) preempts one, the CPU it
 * last ran on; the other records are read when a CPU next runs out of work.
 */
static __always_inline void wake_parked(struct task_struct *p, u64 enq_flags)
{
	s32 cpu;

	if (!READ_ONCE(sched_parked))
		return;
	cpu = scx_bpf_pick_idle_cpu(p->cpus_ptr, 0);
	if (cpu >= 0) {
		scx_bpf_kick_cpu(cpu, KICK_IDLE);
		return;
	}
	if (!(tl_config.flags & TSLAND_CFG_SELF_PREEMPT) || !(enq_flags & ENQ_WAKEUP))
		return;
	/* One preemption per park: the wake-ups that follow are read in the same round. */
	if (__sync_lock_test_and_set(&sched_wanted, 1))
		return;
	scx_bpf_kick_cpu(scx_bpf_task_cpu(p), KICK_PREEMPT);
}

/* ---- sched_ext_ops ---- */

SEC("struct_ops/tsland_select_cpu")
s32 tsland_select_cpu(u64 *ctx)
{
	struct task_struct *p = (void *)ctx[0];
	s32 prev_cpu = (s32)ctx[1];
	u64 wake_flags = ctx[2];
	bool is_idle = false;
	s32 cpu;

	/* Tasks user space schedules stay where they were until it decides. */
	if (!is_self(p) && !is_kernel_direct(p))
		return prev_cpu;
	if (!bpf_ksym_exists(scx_bpf_select_cpu_dfl))
		return prev_cpu;
	cpu = scx_bpf_select_cpu_dfl(p, prev_cpu, wake_flags, &is_idle);
	if (is_idle) {
		dsq_insert(p, DSQ_LOCAL, kernel_slice(), 0);
		__sync_fetch_and_add(&counters.nr_kernel_dispatches, 1);
		if (is_self(p))
			__sync_fetch_and_add(&counters.nr_self_dispatches, 1);
	}
	return cpu;
}

SEC("struct_ops/tsland_enqueue")
void tsland_enqueue(u64 *ctx)
{
	struct task_struct *p = (void *)ctx[0];
	u64 enq_flags = ctx[1];
	struct tsland_queued *r;
	struct task_ctx *tctx;

	__sync_fetch_and_add(&counters.nr_enqueues, 1);

	if (is_self(p)) {
		u64 flags = enq_flags;

		/*
		 * tsland's other threads (V8's compilers and GC helpers, libuv's pool, the main thread) go to the
		 * shared DSQ, served by every ops.dispatch: never to user space, but never ahead of it either.
		 * Inserted straight into the local DSQ, a CPU-bound one (V8 compiling a freshly started tsland under
		 * emulation, for minutes) was put back there at the end of every slice, so that CPU never ran
		 * ops.dispatch: neither the dispatch records nor the shared DSQ were served, and a restarted tsland
		 * was ejected seconds after attaching ("churn failed to run for 7.1s", 0 tasks waiting on user
		 * space, 1 dispatch record never drained).
		 */
		if (tl_config.sched_tid && p->pid != tl_config.sched_tid) {
			dsq_insert(p, SHARED_DSQ, kernel_slice(), enq_flags);
			__sync_fetch_and_add(&counters.nr_kernel_dispatches, 1);
			__sync_fetch_and_add(&counters.nr_self_dispatches, 1);
			kick_idle_for(p);
			return;
		}
		if (park_mode() && p->pid == tl_config.sched_tid && !(enq_flags & ENQ_WAKEUP) && park_sched())
			return;
		if ((tl_config.flags & TSLAND_CFG_SELF_PREEMPT) && (enq_flags & ENQ_WAKEUP)) {
			s32 cpu = scx_bpf_task_cpu(p);

			flags |= ENQ_PREEMPT;
			/*
			 * Measured in the guest: inserted with ENQ_PREEMPT into another CPU's queue, the scheduler
			 * thread waited for that CPU's next tick (4 ms at HZ=250) behind the task running there. A
			 * preempting kick interrupts that CPU now.
			 */
			if (cpu != (s32)bpf_get_smp_processor_id())
				scx_bpf_kick_cpu(cpu, KICK_PREEMPT);
		}
		dsq_insert(p, DSQ_LOCAL, kernel_slice(), flags);
		__sync_fetch_and_add(&counters.nr_kernel_dispatches, 1);
		__sync_fetch_and_add(&counters.nr_self_dispatches, 1);
		return;
	}
	if (is_kernel_direct(p)) {
		dsq_insert(p, DSQ_LOCAL, kernel_slice(), enq_flags);
		__sync_fetch_and_add(&counters.nr_kernel_dispatches, 1);
		return;
	}

	tctx = task_ctx(p);
	if (!tctx) {
		/* init_task always creates it; without it user space could not answer anyway */
		dsq_insert(p, SHARED_DSQ, kernel_slice(), enq_flags);
		__sync_fetch_and_add(&counters.nr_kernel_dispatches, 1);
		kick_idle_for(p);
		return;
	}
	tctx->enq_cnt++;
	tctx->state &= ~TC_USER_PENDING;
	leave_user(tctx);

	r = bpf_ringbuf_reserve(&queued, sizeof(*r), 0);
	if (!r) {
		/* user space keeps counting the CPU as taken until the task's next record: accepted under congestion */
		__sync_fetch_and_add(&counters.nr_sched_congested, 1);
		__sync_fetch_and_add(&counters.nr_kernel_dispatches, 1);
		tctx->state &= ~(TC_REQUEUE | TC_PREEMPTED);
		dsq_insert(p, SHARED_DSQ, kernel_slice(), enq_flags);
		kick_idle_for(p);
		return;
	}
	fill_task(r, p, tctx);
	if (tctx->state & TC_REQUEUE) {
		r->kind = TSLAND_EV_STOPPED;
		r->flags = TSLAND_QF_RUNNABLE | ((tctx->state & TC_PREEMPTED) ? TSLAND_QF_PREEMPTED : 0);
	} else {
		r->kind = TSLAND_EV_RUNNABLE;
		r->flags = (tctx->state & TC_KNOWN) ? 0 : TSLAND_QF_NEW;
	}
	end_user_run(tctx);
	tctx->state = (tctx->state & ~(TC_REQUEUE | TC_PREEMPTED)) | TC_KNOWN | TC_IN_USER;
	bpf_ringbuf_submit(r, submit_flags());
	__sync_fetch_and_add(&counters.nr_queued, 1);
	__sync_fetch_and_add(&counters.nr_events, 1);
	if (__sync_fetch_and_add(&counters.nr_in_user, 1) == 0)
		WRITE_ONCE(last_progress_ns, bpf_ktime_get_ns());
	{
		struct pending_ent e = { .pid = p->pid, .enq_cnt = tctx->enq_cnt, .ts = bpf_ktime_get_ns() };

		bpf_map_push_elem(&pending, &e, BPF_EXIST);
	}
	if (park_mode())
		wake_parked(p, enq_flags);
}

SEC("struct_ops/tsland_dequeue")
void tsland_dequeue(u64 *ctx)
{
	struct task_struct *p = (void *)ctx[0];
	struct task_ctx *tctx;

	/* Taken out of our hands while parked (a property change): its next enqueue decides anew. */
	if (park_mode() && is_sched_thread(p)) {
		__sync_val_compare_and_swap(&sched_parked, 1, 0);
		return;
	}
	tctx = task_ctx(p);
	/* Taken back before user space dispatched it: its record in flight must not dispatch it. */
	if (!tctx || !(tctx->state & TC_KNOWN) || tctx->dispatched_cnt == tctx->enq_cnt)
		return;
	tctx->enq_cnt++;
	leave_user(tctx);
	__sync_fetch_and_add(&counters.nr_dequeues, 1);
}

/* What one ops.dispatch call's drain did for the CPU that runs it. */
struct drain_ctx {
	s32 cpu;
	/* a task was inserted into this CPU's local DSQ or the shared DSQ: the CPU has work, it is not idle */
	bool placed_here;
};

/* One dispatch record from user space. Returns 1 to stop draining (no dispatch slot left). */
static long dispatch_one(struct bpf_dynptr *dynptr, void *arg)
{
	struct drain_ctx *dc = arg;
	const struct tsland_dispatch *d = bpf_dynptr_data(dynptr, 0, sizeof(*d));
	struct task_struct *p;
	struct task_ctx *tctx;
	u64 dsq_id = SHARED_DSQ, enq_flags = 0, slice;
	s32 cpu;

	__sync_fetch_and_add(&counters.nr_dispatch_drained, 1);
	if (!d) {
		__sync_fetch_and_add(&counters.nr_failed_dispatches, 1);
		return 0;
	}
	p = bpf_task_from_pid(d->pid);
	if (!p) {
		__sync_fetch_and_add(&counters.nr_failed_dispatches, 1);
		return 0;
	}
	tctx = task_ctx(p);
	if (!tctx || d->enq_cnt != tctx->enq_cnt || tctx->dispatched_cnt == d->enq_cnt) {
		__sync_fetch_and_add(&counters.nr_cancel_dispatches, 1);
		goto out;
	}

	slice = d->slice_ns ? d->slice_ns : SLICE_DFL;
	if (d->flags & TSLAND_DF_HEAD)
		enq_flags |= ENQ_HEAD;
	cpu = d->cpu;
	if (cpu != TSLAND_CPU_ANY) {
		if (cpu < 0 || cpu >= scx_bpf_nr_cpu_ids() || !bpf_cpumask_test_cpu(cpu, p->cpus_ptr)) {
			__sync_fetch_and_add(&counters.nr_bounce_dispatches, 1);
			cpu = scx_bpf_task_cpu(p);
			if (!bpf_cpumask_test_cpu(cpu, p->cpus_ptr))
				cpu = TSLAND_CPU_ANY;
		}
		if (cpu != TSLAND_CPU_ANY) {
			dsq_id = DSQ_LOCAL_ON | (u64)cpu;
			if (d->flags & TSLAND_DF_PREEMPT)
				enq_flags |= ENQ_PREEMPT;
		}
	}

	if (!dsq_insert(p, dsq_id, slice, enq_flags)) {
		__sync_fetch_and_add(&counters.nr_cancel_dispatches, 1);
		goto out;
	}
	if (cpu == TSLAND_CPU_ANY || cpu == dc->cpu)
		dc->placed_here = true;
	tctx->dispatched_cnt = d->enq_cnt;
	tctx->vtime = d->vtime;
	tctx->state |= TC_USER_PENDING;
	leave_user(tctx);
	__sync_fetch_and_add(&counters.nr_user_dispatches, 1);
	WRITE_ONCE(last_progress_ns, bpf_ktime_get_ns());
	if (READ_ONCE(rescuing))
		WRITE_ONCE(rescuing, 0);

	if (cpu != TSLAND_CPU_ANY) {
		idle_sent[cpu & (TSLAND_MAX_CPUS - 1)] = 0;
		/*
		 * A preempting dispatch to another CPU interrupts it now: an idle kick leaves a busy CPU alone, and
		 * the woken task then waited there for that CPU's next tick.
		 */
		if (cpu != (s32)bpf_get_smp_processor_id())
			scx_bpf_kick_cpu(cpu, (enq_flags & ENQ_PREEMPT) ? KICK_PREEMPT : KICK_IDLE);
	} else {
		kick_idle_for(p);
	}
out:
	bpf_task_release(p);
	return scx_bpf_dispatch_nr_slots() ? 0 : 1;
}

/* Is this pending entry's task still waiting on user space with that enq_cnt? Takes a reference to it. */
static __always_inline struct task_struct *pending_task(const struct pending_ent *e, struct task_ctx **tctxp)
{
	struct task_struct *p = bpf_task_from_pid(e->pid);
	struct task_ctx *tctx;

	if (!p)
		return NULL;
	tctx = task_ctx(p);
	if (tctx && (tctx->state & TC_IN_USER) && tctx->enq_cnt == e->enq_cnt && tctx->dispatched_cnt != e->enq_cnt) {
		*tctxp = tctx;
		return p;
	}
	bpf_task_release(p);
	return NULL;
}

/*
 * A task that has waited on user space this long is placed by the kernel half (shared DSQ, FIFO), whatever
 * the policy thinks of it: half the watchdog's timeout, so that no ordering a policy chooses, by mistake
 * or by design, gets tsland ejected. Seen in the guest: the rustland policy held a hackbench task 5.7 s
 * (its exec-runtime term put it behind a stream of woken tasks), and the watchdog ejected tsland.
 */
static __always_inline u64 starve_ns(void)
{
	return tl_config.stall_ns ? tl_config.stall_ns / 2 : TSLAND_STARVE_DFL_NS;
}

/*
 * Drops stale entries from the front of `pending`, so that its head is the oldest task still waiting, and
 * places the tasks at its front that have waited on user space longer than starve_ns().
 */
static __always_inline void prune_pending(void)
{
	struct pending_ent e;
	struct task_ctx *tctx;
	struct task_struct *p;
	u64 now = bpf_ktime_get_ns();

	for (int i = 0; i < 16; i++) {
		if (bpf_map_peek_elem(&pending, &e))
			return;
		p = pending_task(&e, &tctx);
		if (p) {
			if (now - e.ts < starve_ns() || !scx_bpf_dispatch_nr_slots()) {
				bpf_task_release(p);
				return;
			}
			if (dsq_insert(p, SHARED_DSQ, kernel_slice(), 0)) {
				/* the dispatch record user space sends for this enq_cnt later is a duplicate: cancelled */
				tctx->dispatched_cnt = e.enq_cnt;
				leave_user(tctx);
				__sync_fetch_and_add(&counters.nr_starved, 1);
			}
			bpf_task_release(p);
		}
		bpf_map_pop_elem(&pending, &e);
	}
}

/* User space stalled: place the waiting tasks ourselves, oldest first, on the shared DSQ. */
static __always_inline void rescue_waiting(void)
{
	struct pending_ent e;
	struct task_ctx *tctx;
	struct task_struct *p;

	for (int i = 0; i < 64; i++) {
		if (!scx_bpf_dispatch_nr_slots() || bpf_map_pop_elem(&pending, &e))
			return;
		p = pending_task(&e, &tctx);
		if (!p)
			continue;
		if (dsq_insert(p, SHARED_DSQ, kernel_slice(), 0)) {
			/* a dispatch record user space sends for this enq_cnt later is a duplicate: cancelled */
			tctx->dispatched_cnt = e.enq_cnt;
			leave_user(tctx);
			__sync_fetch_and_add(&counters.nr_rescued, 1);
		}
		bpf_task_release(p);
	}
}

/*
 * ops.dispatch found nothing for this CPU, parked mode. A runnable prev that user space placed is about to
 * be enqueued (its slice ended): user space decides what runs next, so the scheduler thread runs here
 * first (prev then goes through ops.enqueue as usual, not as the CPU's last task). Otherwise the CPU is
 * going idle: user space hears it (CPU_IDLE) if it holds tasks, and the scheduler thread runs here if it
 * has anything to read.
 */
static __always_inline void park_dispatch(s32 cpu, struct task_struct *prev)
{
	bool prev_user = false;

	if (prev && (prev->scx.flags & TASK_QUEUED) && !is_self(prev)) {
		struct task_ctx *pctx = task_ctx(prev);

		prev_user = pctx && (pctx->state & TC_USER_RUN);
	}
	if (!prev_user && user_space_holds_work())
		send_cpu_idle(cpu);
	if (prev_user || records_wait())
		unpark_sched();
}

SEC("struct_ops/tsland_dispatch")
void tsland_dispatch(u64 *ctx)
{
	s32 cpu = (s32)ctx[0];
	struct task_struct *prev = (void *)ctx[1];

	struct drain_ctx dc = { .cpu = cpu, .placed_here = false };
	long drained;

	WRITE_ONCE(last_dispatch_ns, now_ns());
	drained = bpf_user_ringbuf_drain(&dispatched, dispatch_one, &dc, BPF_RB_NO_WAKEUP);
	__sync_fetch_and_add(&counters.nr_dispatch_calls, 1);
	if (drained < 0) {
		__sync_fetch_and_add(&counters.nr_drain_errors, 1);
		WRITE_ONCE(counters.drain_errno, (u64)-drained);
	}
	if (READ_ONCE(rescuing))
		rescue_waiting();
	else
		prune_pending();

	if (park_mode() && READ_ONCE(sched_wanted) && READ_ONCE(sched_parked)) {
		WRITE_ONCE(sched_wanted, 0);
		if (unpark_sched())
			return;
	}
	if (dsq_move_to_local(SHARED_DSQ))
		return;
	/*
	 * A task the drain inserted into this CPU's local DSQ runs once ops.dispatch returns: the CPU is not idle.
	 * Saying CPU_IDLE here woke the scheduler thread, whose wake-up preempted that very task, whose stop was
	 * then answered with a dispatch to this CPU again: a loop seen at ~6,000 rounds a second in the guest.
	 */
	if (dc.placed_here)
		return;
	if (park_mode()) {
		park_dispatch(cpu, prev);
		return;
	}
	/* The kernel keeps running a runnable prev when nothing else is there: the CPU is not idle. */
	if (prev && (prev->scx.flags & TASK_QUEUED))
		return;
	if (user_space_holds_work())
		send_cpu_idle(cpu);
}

SEC("struct_ops/tsland_runnable")
void tsland_runnable(u64 *ctx)
{
	struct task_struct *p = (void *)ctx[0];
	struct task_ctx *tctx = task_ctx(p);

	if (tctx)
		tctx->exec_runtime = 0;
}

SEC("struct_ops/tsland_running")
void tsland_running(u64 *ctx)
{
	struct task_struct *p = (void *)ctx[0];
	s32 cpu = scx_bpf_task_cpu(p);
	struct task_ctx *tctx;

	/*
	 * User space learns again that a CPU idles once something else ran there; the scheduler thread running
	 * there tells it nothing new (it would answer its own CPU_IDLE with another, round after round, while it
	 * holds tasks that may not run on this CPU).
	 */
	if (cpu >= 0 && cpu < TSLAND_MAX_CPUS && !is_sched_thread(p))
		idle_sent[cpu & (TSLAND_MAX_CPUS - 1)] = 0;
	if (is_sched_thread(p)) {
		WRITE_ONCE(sched_last_run_ns, now_ns());
		if (READ_ONCE(sched_wanted))
			WRITE_ONCE(sched_wanted, 0);
	}
	tctx = task_ctx(p);
	if (!tctx)
		return;
	tctx->start_ts = now_ns();
	/* A run that goes on after a preemption by a higher class: no enqueue came between, nothing to report. */
	tctx->state &= ~(TC_REQUEUE | TC_PREEMPTED);
	if (tctx->state & TC_USER_PENDING) {
		tctx->state = (tctx->state & ~TC_USER_PENDING) | TC_USER_RUN;
		__sync_fetch_and_add(&counters.nr_running, 1);
	}
}

SEC("struct_ops/tsland_stopping")
void tsland_stopping(u64 *ctx)
{
	struct task_struct *p = (void *)ctx[0];
	bool runnable = (bool)ctx[1];
	struct task_ctx *tctx = task_ctx(p);
	u64 now = now_ns();

	if (!tctx)
		return;
	tctx->stop_ts = now;
	tctx->exec_runtime += now - tctx->start_ts;
	if (!(tctx->state & TC_USER_RUN))
		return;
	if (runnable) {
		/*
		 * Still runnable: the ops.enqueue that follows says STOPPED+RUNNABLE and ends the run. A higher
		 * class's preemption calls no ops.enqueue: the task runs again from its local DSQ, run unchanged.
		 */
		tctx->state |= TC_REQUEUE | (p->scx.slice ? TC_PREEMPTED : 0);
		return;
	}
	end_user_run(tctx);
	send_event(p, tctx, TSLAND_EV_STOPPED);
}

SEC("struct_ops.s/tsland_init_task")
s32 tsland_init_task(u64 *ctx)
{
	struct task_struct *p = (void *)ctx[0];

	if (!bpf_task_storage_get(&task_ctxs, p, 0, TL_LOCAL_STORAGE_GET_F_CREATE))
		return -12; /* -ENOMEM */
	return 0;
}

SEC("struct_ops/tsland_disable")
void tsland_disable(u64 *ctx)
{
	send_exited((void *)ctx[0]);
}

SEC("struct_ops/tsland_exit_task")
void tsland_exit_task(u64 *ctx)
{
	send_exited((void *)ctx[0]);
}

static int kick_timer_fn(void *map, int *key, struct bpf_timer *timer)
{
	u64 period_ns = tl_config.kick_ns ? tl_config.kick_ns : TSLAND_KICK_DFL_NS;
	u64 now = now_ns();
	bool holds = user_space_holds_work();
	bool undrained = READ_ONCE(counters.nr_dispatch_posted) != READ_ONCE(counters.nr_dispatch_drained);
	bool quiet = now - READ_ONCE(last_dispatch_ns) >= period_ns;
	const struct cpumask *online;
	s32 cpu;

	if (!READ_ONCE(rescuing) && READ_ONCE(counters.nr_in_user) &&
	    bpf_ktime_get_ns() - READ_ONCE(last_progress_ns) >= TSLAND_RESCUE_NS) {
		WRITE_ONCE(rescue_start_ns, bpf_ktime_get_ns());
		WRITE_ONCE(rescuing, 1);
		__sync_fetch_and_add(&counters.nr_rescues, 1);
	}
	/* A stopped or hung tsland: the rescue bridges a blocked thread, not one that never comes back. */
	if (READ_ONCE(rescuing) && tl_config.stall_ns) {
		u64 stalled = bpf_ktime_get_ns() - READ_ONCE(rescue_start_ns) + TSLAND_RESCUE_NS;

		if (stalled >= tl_config.stall_ns)
			tl_fail_stalled(stalled / 1000000, READ_ONCE(counters.nr_rescued));
	}
	if (park_mode() && READ_ONCE(sched_parked) && now - READ_ONCE(sched_last_run_ns) >= TSLAND_PARK_HEARTBEAT_NS) {
		/* The parked thread checks its stop flag and signals now and then, and never trips the watchdog. */
		WRITE_ONCE(sched_wanted, 1);
		online = scx_bpf_get_online_cpumask();
		cpu = scx_bpf_pick_idle_cpu(online, 0);
		scx_bpf_put_cpumask(online);
		if (cpu >= 0)
			scx_bpf_kick_cpu(cpu, KICK_IDLE);
	}
	if (!holds && !undrained) {
		bpf_timer_start(timer, period_ns, 0);
		return 0;
	}
	/*
	 * A CPU idles while user space holds tasks or dispatch records wait: kick it, and let its ops.dispatch send
	 * CPU_IDLE again even if one was sent (user space's view of that CPU may have gone stale; one record per
	 * period at most).
	 */
	online = scx_bpf_get_online_cpumask();
	cpu = scx_bpf_pick_idle_cpu(online, 0);
	if (cpu >= 0) {
		if (holds && cpu < TSLAND_MAX_CPUS)
			idle_sent[cpu & (TSLAND_MAX_CPUS - 1)] = 0;
		scx_bpf_kick_cpu(cpu, KICK_IDLE);
		__sync_fetch_and_add(&counters.nr_timer_kicks, 1);
	}
	if ((cpu < 0 && quiet) || READ_ONCE(rescuing)) {
		/*
		 * Rescuing, or no CPU ran ops.dispatch for a whole period yet the idle mask offers none: kick every
		 * online CPU that runs its idle task (SCX_KICK_IDLE leaves busy ones alone), so that ops.dispatch
		 * runs there.
		 */
		u32 nr = scx_bpf_nr_cpu_ids();

		__sync_fetch_and_add(&counters.nr_kick_sweeps, 1);
		for (u32 i = 0; i < TSLAND_MAX_CPUS && i < nr; i++) {
			if (!bpf_cpumask_test_cpu(i, online))
				continue;
			if (holds)
				idle_sent[i & (TSLAND_MAX_CPUS - 1)] = 0;
			scx_bpf_kick_cpu(i, KICK_IDLE);
			__sync_fetch_and_add(&counters.nr_timer_kicks, 1);
		}
	}
	scx_bpf_put_cpumask(online);
	bpf_timer_start(timer, period_ns, 0);
	return 0;
}

SEC("struct_ops.s/tsland_init")
s32 tsland_init(u64 *ctx __unused)
{
	u64 period_ns = tl_config.kick_ns ? tl_config.kick_ns : TSLAND_KICK_DFL_NS;
	struct kick_timer *kt;
	u32 key = 0;
	s32 err;

	err = scx_bpf_create_dsq(SHARED_DSQ, -1);
	if (err) {
		tl_fail("cannot create the shared DSQ");
		return err;
	}
	kt = bpf_map_lookup_elem(&kick_timers, &key);
	if (!kt) {
		tl_fail("no kick timer");
		return -2; /* -ENOENT */
	}
	bpf_timer_init(&kt->timer, &kick_timers, TL_CLOCK_MONOTONIC);
	bpf_timer_set_callback(&kt->timer, kick_timer_fn);
	err = bpf_timer_start(&kt->timer, period_ns, 0);
	if (err) {
		tl_fail("cannot start the kick timer");
		return err;
	}
	return 0;
}

SEC("struct_ops/tsland_exit")
void tsland_exit(u64 *ctx)
{
	struct scx_exit_info *ei = (void *)ctx[0];

	bpf_probe_read_kernel_str(exit_info.reason, sizeof(exit_info.reason), ei->reason);
	bpf_probe_read_kernel_str(exit_info.msg, sizeof(exit_info.msg), ei->msg);
	if (ei->dump)
		bpf_probe_read_kernel_str(exit_dump, sizeof(exit_dump), ei->dump);
	exit_info.exit_code = ei->exit_code;
	/* kind last: user space reads it as "the rest is filled" */
	WRITE_ONCE(exit_info.kind, (u32)ei->kind);
}

/*
 * One line per runnable task in the kernel's dump at an error exit: where the task is in tsland's hands
 * (waiting on user space, placed by a dispatch record, running a user-placed run) and its generations.
 */
SEC("struct_ops/tsland_dump_task")
void tsland_dump_task(u64 *ctx)
{
	static char fmt[] = "tsland: state=0x%x%s%s%s enq_cnt=%llu dispatched_cnt=%llu";
	struct task_struct *p = (void *)ctx[1];
	struct task_ctx *tctx = task_ctx(p);
	unsigned long long data[6];

	if (!tctx || !bpf_ksym_exists(scx_bpf_dump_bstr))
		return;
	data[0] = tctx->state;
	data[1] = (unsigned long long)((tctx->state & TC_IN_USER) ? " waiting-on-tsland" : "");
	data[2] = (unsigned long long)((tctx->state & TC_USER_PENDING) ? " placed-not-run" : "");
	data[3] = (unsigned long long)((tctx->state & TC_USER_RUN) ? " user-run" : "");
	data[4] = tctx->enq_cnt;
	data[5] = tctx->dispatched_cnt;
	scx_bpf_dump_bstr(fmt, data, sizeof(data));
}

SEC(".struct_ops.link")
struct sched_ext_ops tsland_ops = {
	.select_cpu = (void *)tsland_select_cpu,
	.enqueue = (void *)tsland_enqueue,
	.dequeue = (void *)tsland_dequeue,
	.dispatch = (void *)tsland_dispatch,
	.runnable = (void *)tsland_runnable,
	.running = (void *)tsland_running,
	.stopping = (void *)tsland_stopping,
	.init_task = (void *)tsland_init_task,
	.disable = (void *)tsland_disable,
	.exit_task = (void *)tsland_exit_task,
	.init = (void *)tsland_init,
	.exit = (void *)tsland_exit,
	.dump_task = (void *)tsland_dump_task,
	.exit_dump_len = TSLAND_EXIT_DUMP_BYTES,
	/*
	 * ENQ_LAST: a task whose slice ends with nothing else in its CPU's local queue is enqueued again
	 * (SCX_ENQ_LAST) instead of running on. Without it, a CPU hog kept its CPU for good while the tasks
	 * waiting in user space were invisible to the kernel: the watchdog ejected tsland ("runnable task
	 * stall") in the guest with 4 hogs on 2 CPUs. scx_rustland sets it for the same reason.
	 */
	.flags = SCX_OPS_ENQ_LAST,
	.dispatch_max_batch = 256,
	.timeout_ms = 5000,
	.name = "tsland",
};
