// Reads the task table from another thread (the stats server, `tsland top`) without touching the scheduler
// thread: the slabs are SharedArrayBuffers, posted once when created (Scheduler.onSlab / taskSlabs()).
// A record may be read while the scheduler writes it, so one row can mix two moments; every field is an
// aligned store, never torn.

import type { TaskSlabsInfo } from './api.js';
import {
  F64_DEADLINE,
  F64_SUM_EXEC_NS,
  F64_VRUNTIME,
  I32_CPU,
  I32_PID,
  I32_STATE,
  I32_WEIGHT,
  TASK_FREE,
  TASK_STATE_NAMES,
} from './task-layout.js';

export interface TaskRow {
  slot: number;
  pid: number;
  weight: number;
  vruntime: number;
  /** CPU time used since the task was created. */
  cpuTimeNs: number;
  deadline: number;
  state: (typeof TASK_STATE_NAMES)[number];
  lastCpu: number;
}

export class TaskTableReader {
  private readonly strideI32: number;
  private readonly strideF64: number;
  private readonly slabTasks: number;
  private readonly i32s: Int32Array[] = [];
  private readonly f64s: Float64Array[] = [];

  constructor(info: Pick<TaskSlabsInfo, 'strideBytes' | 'slabShift' | 'slabs'>) {
    this.strideI32 = info.strideBytes >> 2;
    this.strideF64 = info.strideBytes >> 3;
    this.slabTasks = 1 << info.slabShift;
    for (const sab of info.slabs) this.addSlab(sab);
  }

  /** Adds a slab posted later (slabs arrive in order). */
  addSlab(sab: SharedArrayBuffer): void {
    this.i32s.push(new Int32Array(sab));
    this.f64s.push(new Float64Array(sab));
  }

  get slabCount(): number {
    return this.i32s.length;
  }

  /** Every live task, in slot order; at most `limit` rows. */
  list(limit = Infinity): TaskRow[] {
    const rows: TaskRow[] = [];
    for (let s = 0; s < this.i32s.length && rows.length < limit; s++) {
      const i32 = this.i32s[s]!;
      const f64 = this.f64s[s]!;
      for (let k = 0; k < this.slabTasks && rows.length < limit; k++) {
        const ii = k * this.strideI32;
        const state = i32[ii + I32_STATE]!;
        if (state === TASK_FREE) continue;
        const fi = k * this.strideF64;
        rows.push({
          slot: s * this.slabTasks + k,
          pid: i32[ii + I32_PID]!,
          weight: i32[ii + I32_WEIGHT]!,
          vruntime: f64[fi + F64_VRUNTIME]!,
          cpuTimeNs: Math.max(0, f64[fi + F64_SUM_EXEC_NS]!),
          deadline: f64[fi + F64_DEADLINE]!,
          state: TASK_STATE_NAMES[state] ?? 'free',
          lastCpu: i32[ii + I32_CPU]!,
        });
      }
    }
    return rows;
  }

  /** Live tasks counted without building rows. */
  countLive(): number {
    let n = 0;
    for (let s = 0; s < this.i32s.length; s++) {
      const i32 = this.i32s[s]!;
      for (let k = 0; k < this.slabTasks; k++) if (i32[k * this.strideI32 + I32_STATE] !== TASK_FREE) n++;
    }
    return n;
  }
}
