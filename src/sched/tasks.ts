// The task table: fixed-size per-task records in slabs of SharedArrayBuffer (layout drawn in api.ts,
// offsets in task-layout.ts). Slabs are added on the task-creation path only; the dispatch path reads and
// writes existing records through the views kept here and never grows anything. A slot is a plain number;
// slot s lives in slab s >> slabShift.

import { PolicyError, SchedulerError, type TaskFieldType, type TaskField, type TaskView } from './api.js';
import {
  F64_DEADLINE as F64_DEADLINE_,
  F64_ENQ_TS_NS as F64_ENQ_TS,
  F64_EXEC_RUNTIME_NS as F64_EXEC_RUNTIME,
  F64_LAST_RAN_NS as F64_LAST_RAN,
  F64_NVCSW,
  F64_SLICE_NS as F64_SLICE,
  F64_SUM_EXEC_NS as F64_SUM_EXEC,
  NO_SUM_EXEC,
  F64_VRUNTIME,
  I32_CPU,
  I32_PID,
  I32_STATE,
  I32_WEIGHT,
  TASK_BASE_BYTES,
  TASK_FIELD_BYTES,
  TASK_FREE,
  TASK_SLEEPING,
  taskStrideBytes,
} from './task-layout.js';

const F64_DEADLINE = F64_DEADLINE_;

export interface TaskTableOptions {
  slabTasks: number;
  maxTasks: number;
  fields: Readonly<Record<string, TaskFieldType>>;
  /** Called with each new slab (to mlock it); returns whether it was locked. */
  lockSlab?: (sab: SharedArrayBuffer) => boolean;
}

export class TaskTable implements TaskView {
  readonly strideBytes: number;
  readonly slabShift: number;
  readonly slabTasks: number;
  readonly maxTasks: number;
  readonly fieldNames: string[];
  readonly slabs: SharedArrayBuffer[] = [];
  /** Slabs that could not be locked in RAM. */
  unlockedSlabs = 0;
  private readonly slabMask: number;
  private readonly strideI32: number;
  private readonly strideF64: number;
  private readonly i32s: Int32Array[] = [];
  private readonly f64s: Float64Array[] = [];
  private readonly fieldTypes: Readonly<Record<string, TaskFieldType>>;
  private readonly lockSlab: ((sab: SharedArrayBuffer) => boolean) | undefined;
  private readonly slabListeners: ((sab: SharedArrayBuffer, index: number) => void)[] = [];
  private free: Int32Array = new Int32Array(0);
  private nrFree = 0;
  private live = 0;

  constructor(opts: TaskTableOptions) {
    const { slabTasks, maxTasks } = opts;
    if (!Number.isInteger(slabTasks) || slabTasks < 1 || (slabTasks & (slabTasks - 1)) !== 0) {
      throw new SchedulerError(`slabTasks must be a power of two, got ${slabTasks}`);
    }
    if (!Number.isInteger(maxTasks) || maxTasks < 1 || maxTasks > 0x40000000) {
      throw new SchedulerError(`maxTasks must be a whole number in [1, 2^30], got ${maxTasks}`);
    }
    this.fieldTypes = opts.fields;
    this.fieldNames = Object.keys(opts.fields);
    for (const name of this.fieldNames) {
      const type = opts.fields[name];
      if (type !== 'f64' && type !== 'i32')
        throw new PolicyError(`policy field '${name}' has type '${String(type)}'; use 'f64' or 'i32'`);
    }
    this.strideBytes = taskStrideBytes(this.fieldNames.length);
    this.strideI32 = this.strideBytes >> 2;
    this.strideF64 = this.strideBytes >> 3;
    this.slabTasks = slabTasks;
    this.slabShift = Math.log2(slabTasks);
    this.slabMask = slabTasks - 1;
    this.maxTasks = maxTasks;
    this.lockSlab = opts.lockSlab;
  }

  get nrLive(): number {
    return this.live;
  }

  /** Slots the current slabs hold (live or free). */
  get capacity(): number {
    return this.slabs.length * this.slabTasks;
  }

  get memoryBytes(): number {
    return this.slabs.length * this.slabTasks * this.strideBytes + this.free.byteLength;
  }

  onSlab(listener: (sab: SharedArrayBuffer, index: number) => void): void {
    this.slabListeners.push(listener);
  }

  /** Adds slabs until `tasks` slots exist (creation path; used to size the table up front). */
  reserve(tasks: number): void {
    const want = Math.min(tasks, this.maxTasks);
    while (this.capacity < want) this.addSlab();
  }

  /** A free slot without growing, or -1 (hot path). */
  tryAlloc(): number {
    if (this.nrFree === 0 || this.live >= this.maxTasks) return -1;
    const t = this.free[--this.nrFree]!;
    this.live++;
    return t;
  }

  /** A free slot, adding a slab if needed (creation path). */
  alloc(): number {
    if (this.live >= this.maxTasks) throw new SchedulerError(`task table full: ${this.maxTasks} tasks (maxTasks)`);
    if (this.nrFree === 0) this.addSlab();
    return this.tryAlloc();
  }

  /** Returns slot t to the free list and marks it free. Never allocates. */
  release(t: number): void {
    this.i32s[t >>> this.slabShift]![(t & this.slabMask) * this.strideI32 + I32_STATE] = TASK_FREE;
    this.free[this.nrFree++] = t;
    this.live--;
  }

  /** Zeroes slot t and fills in what the backend told us. */
  init(t: number, pid: number, weight: number, cpu: number): void {
    const i = (t & this.slabMask) * this.strideI32;
    const i32 = this.i32s[t >>> this.slabShift]!;
    i32.fill(0, i, i + this.strideI32);
    i32[i + I32_PID] = pid;
    i32[i + I32_STATE] = TASK_SLEEPING;
    i32[i + I32_WEIGHT] = weight;
    i32[i + I32_CPU] = cpu;
    // No CPU time known yet: the first record sets it (Scheduler.handle), so what came before is not charged.
    this.f64s[t >>> this.slabShift]![(t & this.slabMask) * this.strideF64 + F64_SUM_EXEC] = NO_SUM_EXEC;
  }

  private addSlab(): void {
    const sab = new SharedArrayBuffer(this.slabTasks * this.strideBytes);
    const locked = this.lockSlab ? this.lockSlab(sab) : false;
    if (!locked) {
      if (this.lockSlab) this.unlockedSlabs++;
      // Touch every page now, on the creation path, so the first dispatch to use it does not fault.
      new Int32Array(sab).fill(0);
    }
    const index = this.slabs.length;
    this.slabs.push(sab);
    this.i32s.push(new Int32Array(sab));
    this.f64s.push(new Float64Array(sab));
    const grown = new Int32Array(this.capacity);
    grown.set(this.free.subarray(0, this.nrFree));
    this.free = grown;
    // Push in reverse so the lowest slot is handed out first.
    for (let s = this.capacity - 1; s >= index * this.slabTasks; s--) this.free[this.nrFree++] = s;
    for (const listener of this.slabListeners) listener(sab, index);
  }

  // ---- raw access for the core: the slab's views and the record's first word. Only objects and small
  // integers cross these calls, so nothing is boxed even where the optimizer does not inline them.

  f64Of(t: number): Float64Array {
    return this.f64s[t >>> this.slabShift]!;
  }
  i32Of(t: number): Int32Array {
    return this.i32s[t >>> this.slabShift]!;
  }
  f64Index(t: number): number {
    return (t & this.slabMask) * this.strideF64;
  }
  i32Index(t: number): number {
    return (t & this.slabMask) * this.strideI32;
  }

  // ---- typed access by slot: plain numbers, no objects ----

  pid(t: number): number {
    return this.i32s[t >>> this.slabShift]![(t & this.slabMask) * this.strideI32 + I32_PID]!;
  }
  state(t: number): number {
    return this.i32s[t >>> this.slabShift]![(t & this.slabMask) * this.strideI32 + I32_STATE]!;
  }
  setState(t: number, state: number): void {
    this.i32s[t >>> this.slabShift]![(t & this.slabMask) * this.strideI32 + I32_STATE] = state;
  }
  weight(t: number): number {
    return this.i32s[t >>> this.slabShift]![(t & this.slabMask) * this.strideI32 + I32_WEIGHT]!;
  }
  setWeight(t: number, weight: number): void {
    this.i32s[t >>> this.slabShift]![(t & this.slabMask) * this.strideI32 + I32_WEIGHT] = weight;
  }
  prevCpu(t: number): number {
    return this.i32s[t >>> this.slabShift]![(t & this.slabMask) * this.strideI32 + I32_CPU]!;
  }
  setCpu(t: number, cpu: number): void {
    this.i32s[t >>> this.slabShift]![(t & this.slabMask) * this.strideI32 + I32_CPU] = cpu;
  }
  vruntime(t: number): number {
    return this.f64s[t >>> this.slabShift]![(t & this.slabMask) * this.strideF64 + F64_VRUNTIME]!;
  }
  setVruntime(t: number, vruntimeNs: number): void {
    this.f64s[t >>> this.slabShift]![(t & this.slabMask) * this.strideF64 + F64_VRUNTIME] = vruntimeNs;
  }
  sumExecNs(t: number): number {
    return this.f64s[t >>> this.slabShift]![(t & this.slabMask) * this.strideF64 + F64_SUM_EXEC]!;
  }
  setSumExecNs(t: number, ns: number): void {
    this.f64s[t >>> this.slabShift]![(t & this.slabMask) * this.strideF64 + F64_SUM_EXEC] = ns;
  }
  deadline(t: number): number {
    return this.f64s[t >>> this.slabShift]![(t & this.slabMask) * this.strideF64 + F64_DEADLINE]!;
  }
  setDeadline(t: number, key: number): void {
    this.f64s[t >>> this.slabShift]![(t & this.slabMask) * this.strideF64 + F64_DEADLINE] = key;
  }
  execRuntimeNs(t: number): number {
    return this.f64s[t >>> this.slabShift]![(t & this.slabMask) * this.strideF64 + F64_EXEC_RUNTIME]!;
  }
  setExecRuntimeNs(t: number, ns: number): void {
    this.f64s[t >>> this.slabShift]![(t & this.slabMask) * this.strideF64 + F64_EXEC_RUNTIME] = ns;
  }
  enqTsNs(t: number): number {
    return this.f64s[t >>> this.slabShift]![(t & this.slabMask) * this.strideF64 + F64_ENQ_TS]!;
  }
  setEnqTsNs(t: number, ns: number): void {
    this.f64s[t >>> this.slabShift]![(t & this.slabMask) * this.strideF64 + F64_ENQ_TS] = ns;
  }
  nvcsw(t: number): number {
    return this.f64s[t >>> this.slabShift]![(t & this.slabMask) * this.strideF64 + F64_NVCSW]!;
  }
  setNvcsw(t: number, n: number): void {
    this.f64s[t >>> this.slabShift]![(t & this.slabMask) * this.strideF64 + F64_NVCSW] = n;
  }
  lastRanNs(t: number): number {
    return this.f64s[t >>> this.slabShift]![(t & this.slabMask) * this.strideF64 + F64_LAST_RAN]!;
  }
  setLastRanNs(t: number, ns: number): void {
    this.f64s[t >>> this.slabShift]![(t & this.slabMask) * this.strideF64 + F64_LAST_RAN] = ns;
  }
  sliceNs(t: number): number {
    return this.f64s[t >>> this.slabShift]![(t & this.slabMask) * this.strideF64 + F64_SLICE]!;
  }
  setSliceNs(t: number, ns: number): void {
    this.f64s[t >>> this.slabShift]![(t & this.slabMask) * this.strideF64 + F64_SLICE] = ns;
  }

  /** Accessor for a policy-declared field (made once, at init). */
  field(name: string): TaskField {
    const index = this.fieldNames.indexOf(name);
    if (index < 0) throw new PolicyError(`policy field '${name}' was not declared in Policy.fields`);
    const byteOffset = TASK_BASE_BYTES + index * TASK_FIELD_BYTES;
    return this.fieldTypes[name] === 'f64'
      ? new F64Field(this.f64s, this.slabShift, this.slabMask, this.strideF64, byteOffset >> 3)
      : new I32Field(this.i32s, this.slabShift, this.slabMask, this.strideI32, byteOffset >> 2);
  }
}

// Field accessors hold the table's own arrays of views, which grow in place as slabs are added.
class F64Field implements TaskField {
  constructor(
    private readonly views: Float64Array[],
    private readonly shift: number,
    private readonly mask: number,
    private readonly stride: number,
    private readonly offset: number,
  ) {}
  get word(): number {
    return this.offset;
  }
  get(t: number): number {
    return this.views[t >>> this.shift]![(t & this.mask) * this.stride + this.offset]!;
  }
  set(t: number, value: number): void {
    this.views[t >>> this.shift]![(t & this.mask) * this.stride + this.offset] = value;
  }
}

class I32Field implements TaskField {
  constructor(
    private readonly views: Int32Array[],
    private readonly shift: number,
    private readonly mask: number,
    private readonly stride: number,
    private readonly offset: number,
  ) {}
  get word(): number {
    return this.offset;
  }
  get(t: number): number {
    return this.views[t >>> this.shift]![(t & this.mask) * this.stride + this.offset]!;
  }
  set(t: number, value: number): void {
    this.views[t >>> this.shift]![(t & this.mask) * this.stride + this.offset] = value;
  }
}
