// The per-task record in a task slab, defined once for the scheduler (tasks.ts) and for readers on other
// threads (reader.ts). The box diagram is in api.ts.

export const T_PID = 0;
export const T_STATE = 4;
export const T_WEIGHT = 8;
export const T_CPU = 12;
export const T_VRUNTIME = 16;
export const T_SUM_EXEC_NS = 24;
export const T_DEADLINE = 32;
export const T_EXEC_RUNTIME_NS = 40;
export const T_ENQ_TS_NS = 48;
export const T_NVCSW = 56;
export const T_LAST_RAN_NS = 64;
export const T_SLICE_NS = 72;
export const T_WOKE_TS_NS = 80;
/** Bytes of the fields every task has; a policy's own fields follow, 8 bytes each. */
export const TASK_BASE_BYTES = 88;
export const TASK_FIELD_BYTES = 8;

// Word indexes of the same fields, for code that indexes a slab's Int32Array / Float64Array directly.
export const I32_PID = T_PID >> 2;
export const I32_STATE = T_STATE >> 2;
export const I32_WEIGHT = T_WEIGHT >> 2;
export const I32_CPU = T_CPU >> 2;
export const F64_VRUNTIME = T_VRUNTIME >> 3;
export const F64_SUM_EXEC_NS = T_SUM_EXEC_NS >> 3;
export const F64_DEADLINE = T_DEADLINE >> 3;
export const F64_EXEC_RUNTIME_NS = T_EXEC_RUNTIME_NS >> 3;
export const F64_ENQ_TS_NS = T_ENQ_TS_NS >> 3;
export const F64_NVCSW = T_NVCSW >> 3;
export const F64_LAST_RAN_NS = T_LAST_RAN_NS >> 3;
export const F64_SLICE_NS = T_SLICE_NS >> 3;
export const F64_WOKE_TS_NS = T_WOKE_TS_NS >> 3;

export const TASK_FREE = 0;
export const TASK_SLEEPING = 1;
export const TASK_QUEUED = 2;
export const TASK_RUNNING = 3;

/** F64_SUM_EXEC_NS of a task no record has reported on yet: the first record sets the baseline. */
export const NO_SUM_EXEC = -1;

export const TASK_STATE_NAMES = ['free', 'sleeping', 'queued', 'running'] as const;

/** Stride of one task record with `policyFieldCount` extra fields. */
export function taskStrideBytes(policyFieldCount: number): number {
  return TASK_BASE_BYTES + policyFieldCount * TASK_FIELD_BYTES;
}
