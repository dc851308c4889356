/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The few BPF definitions tsland.bpf.c needs, so building it takes only clang and a kernel's BTF (no
 * libbpf development headers). Helper numbers are the kernel's stable UAPI ids (include/uapi/linux/bpf.h,
 * enum bpf_func_id); the section names and attributes are the ones libbpf reads.
 */
#ifndef TSLAND_BPF_DEFS_H
#define TSLAND_BPF_DEFS_H

#define SEC(name) __attribute__((section(name), used))
#define __uint(name, val) int (*name)[val]
#define __type(name, val) typeof(val) *name
#define __ksym __attribute__((section(".ksyms")))
#define __weak __attribute__((weak))
#define __always_inline inline __attribute__((always_inline))
#define __unused __attribute__((unused))
#ifndef NULL
#define NULL ((void *)0)
#endif

#define likely(x) __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)

/* A __weak extern the loading kernel lacks resolves to 0; the verifier then drops the branch that calls it. */
#define bpf_ksym_exists(sym) (!!(sym))

/* CO-RE: the value of an enumerator as the loading kernel's BTF has it (libbpf relocates the constant). */
#define TL_ENUMVAL_EXISTS 0
#define TL_ENUMVAL_VALUE 1
#define bpf_core_enum_value(enum_type, enum_value) \
	__builtin_preserve_enum_value(*(typeof(enum_type) *)enum_value, TL_ENUMVAL_VALUE)
#define bpf_core_enum_value_exists(enum_type, enum_value) \
	__builtin_preserve_enum_value(*(typeof(enum_type) *)enum_value, TL_ENUMVAL_EXISTS)

#define READ_ONCE(x) (*(volatile typeof(x) *)&(x))
#define WRITE_ONCE(x, v) (*(volatile typeof(x) *)&(x) = (v))

static void *(* const bpf_map_lookup_elem)(void *map, const void *key) = (void *)1;
static u64 (* const bpf_ktime_get_ns)(void) = (void *)5;
static u32 (* const bpf_get_smp_processor_id)(void) = (void *)8;
static long (* const bpf_probe_read_kernel_str)(void *dst, u32 size, const void *unsafe_ptr) = (void *)115;
static void *(* const bpf_ringbuf_reserve)(void *ringbuf, u64 size, u64 flags) = (void *)131;
static void (* const bpf_ringbuf_submit)(void *data, u64 flags) = (void *)132;
static u64 (* const bpf_ringbuf_query)(void *ringbuf, u64 flags) = (void *)134;
static long (* const bpf_map_push_elem)(void *map, const void *value, u64 flags) = (void *)87;
static long (* const bpf_map_pop_elem)(void *map, void *value) = (void *)88;
static long (* const bpf_map_peek_elem)(void *map, void *value) = (void *)89;
static void *(* const bpf_task_storage_get)(void *map, struct task_struct *task, void *value, u64 flags) =
	(void *)156;
static long (* const bpf_timer_init)(struct bpf_timer *timer, void *map, u64 flags) = (void *)169;
static long (* const bpf_timer_set_callback)(struct bpf_timer *timer, void *callback_fn) = (void *)170;
static long (* const bpf_timer_start)(struct bpf_timer *timer, u64 nsecs, u64 flags) = (void *)171;
static void *(* const bpf_dynptr_data)(const struct bpf_dynptr *ptr, u32 offset, u32 len) = (void *)203;
static long (* const bpf_user_ringbuf_drain)(void *map, void *callback_fn, void *ctx, u64 flags) = (void *)209;

#define TL_CLOCK_MONOTONIC 1
#define TL_LOCAL_STORAGE_GET_F_CREATE 1
#define TL_F_NO_PREALLOC 1

/* task_struct.flags bits (include/linux/sched.h; the same since long before sched_ext). */
#define TL_PF_KTHREAD 0x00200000

#endif /* TSLAND_BPF_DEFS_H */
