// The sched_ext round's warm-up: before the scheduler is attached, the same loop, bridge and ring code runs
// on rings laid out like the kernel's in ordinary memory, fed by a stand-in kernel that plays every case
// the real one can produce. V8 then optimizes the round with every branch known, and the first rare case
// minutes into a real run deoptimizes nothing (DESIGN.md: "after warm-up" means every branch has run).
// test/scx-drill-coverage.test.ts fails on any block of the round the scenario leaves untaken. Nothing here
// touches the kernel or the real rings; the pids are above PID_MAX_LIMIT, so none can be a real task's.

import { createCounters } from '../../../base/counters.js';
import type { Policy } from '../../../sched/api.js';
import { createScheduler } from '../../../sched/scheduler.js';
import { ScxBridge } from './bridge.js';
import * as K from '../layout.js';
import { MAX_SLEEP_MS, ScxLoop, type KernelHalf, type ReadClockNs } from './loop.js';
import {
  DispatchRing,
  QueuedRing,
  readU64,
  RINGBUF_BUSY_BIT,
  RINGBUF_DISCARD_BIT,
  RINGBUF_HDR_BYTES,
  ringMemoryForTest,
  type RingMemory,
  writeU64,
} from '../rings.js';

const DRILL_CPUS = 4;
/** Pids of the drill's tasks: more than its task table holds, so some meet a full table. */
const DRILL_PIDS = 48;
const DRILL_MAX_TASKS = 40;
/** The core's queued ring in the drill: small, so a burst of kernel records fills it. */
const DRILL_CORE_QUEUED = 16;
/** Above PID_MAX_LIMIT (4,194,304): no real task can have one of these pids. */
const DRILL_PID_BASE = 5_000_000;
const NSEC_PER_MSEC = 1_000_000;
/** Rounds of the steady step: enough for V8 to optimize the round (the worker sets a small interrupt budget). */
export const DRILL_STEADY_ROUNDS = 2000;

/** A queued record with its ring header, rounded up to 8 bytes as the kernel lays them out. */
const RECORD_SLOT_BYTES = ((K.QUEUED_BYTES + RINGBUF_HDR_BYTES + 7) >>> 3) << 3;

/** A stand-in for the kernel's side of both rings and of the counters. */
export class StandInKernel implements KernelHalf {
  readonly qMem: RingMemory;
  readonly dMem: RingMemory;
  private readonly qu32: Uint32Array;
  private readonly qCons: Uint32Array;
  private readonly dProd: Uint32Array;
  private readonly dCons: Uint32Array;

  constructor(queuedBytes = 1 << 14, dispatchBytes = 1 << 12) {
    this.qMem = ringMemoryForTest(queuedBytes);
    this.dMem = ringMemoryForTest(dispatchBytes);
    this.qu32 = new Uint32Array(this.qMem.producerArea);
    this.qCons = new Uint32Array(this.qMem.consumerPage, 0, 2);
    this.dProd = new Uint32Array(this.dMem.producerArea, 0, 2);
    this.dCons = new Uint32Array(this.dMem.consumerPage, 0, 2);
  }
  /** Laid out as the .bss counters are, read the way the loader reads them. */
  private readonly counters = new Uint32Array(K.COUNTERS_BYTES / 4);
  private produced = 0;
  private enqCnt = 0;
  /** Where a record left half-written (BUSY) sits, or -1. */
  private busyAt = -1;

  counter(at: number): number {
    return readU64(this.counters, at);
  }
  setScheduled(tasks: number): void {
    writeU64(this.counters, K.C_SCHEDULED, tasks);
  }
  setDispatchPosted(records: number): void {
    writeU64(this.counters, K.C_DISPATCH_POSTED, records);
  }
  exitKind(): number {
    return 0;
  }

  /** Writes one queued record the way the kernel does; false when the ring is full. */
  emit(
    kind: number,
    pid: number,
    cpu: number,
    flags: number,
    weight = 100,
    mode: 'commit' | 'discard' | 'busy' = 'commit',
  ): boolean {
    const at = this.reserve();
    if (at < 0) return false;
    const u32 = this.qu32;
    const p = (at + RINGBUF_HDR_BYTES) >> 2;
    u32.fill(0, p, p + K.QUEUED_BYTES / 4);
    u32[p + K.Q_PID / 4] = pid;
    u32[p + K.Q_CPU / 4] = cpu;
    u32[p + K.Q_KIND / 4] = kind;
    u32[p + K.Q_FLAGS / 4] = flags;
    u32[p + K.Q_WEIGHT / 4] = weight;
    writeU64(u32, at + RINGBUF_HDR_BYTES + K.Q_SUM_EXEC_RUNTIME, this.enqCnt * 1000);
    writeU64(u32, at + RINGBUF_HDR_BYTES + K.Q_ENQ_CNT, ++this.enqCnt);
    u32[at >> 2] = K.QUEUED_BYTES | (mode === 'discard' ? RINGBUF_DISCARD_BIT : mode === 'busy' ? RINGBUF_BUSY_BIT : 0);
    if (mode === 'busy') this.busyAt = at;
    this.publish();
    return true;
  }

  /**
   * Writes a recorded queued record (QUEUED_BYTES from `src` at word `word`) the way the kernel does; false
   * when the ring is full. The replay of a capture (bench/scx/replay.ts) feeds the loop with it.
   */
  emitRecorded(src: Uint32Array, word: number): boolean {
    const at = this.reserve();
    if (at < 0) return false;
    const u32 = this.qu32;
    const p = (at + RINGBUF_HDR_BYTES) >> 2;
    for (let w = 0; w < K.QUEUED_BYTES / 4; w++) u32[p + w] = src[word + w]!;
    u32[at >> 2] = K.QUEUED_BYTES;
    this.publish();
    return true;
  }

  /** Plays a consumer that read everything (to time emitRecorded alone). */
  consumeAll(): void {
    writeU64(this.qCons, 0, this.produced);
  }

  /** Byte offset of the next record's header in the producer area, or -1 when the ring is full. */
  private reserve(): number {
    const size = this.qMem.dataBytes;
    // Positions only grow, as the kernel's do: full when the unread records and this one would not fit.
    if (this.produced - readU64(this.qCons, 0) + RECORD_SLOT_BYTES > size) return -1;
    return this.qMem.pageBytes + (this.produced % size);
  }

  /** Moves the producer position past the record just written: the consumer may see it now. */
  private publish(): void {
    this.produced += RECORD_SLOT_BYTES;
    writeU64(this.qu32, 0, this.produced);
  }

  /** Finishes the record left BUSY: the consumer may read it now. */
  finishBusy(): void {
    if (this.busyAt >= 0) this.qu32[this.busyAt >> 2] = K.QUEUED_BYTES;
    this.busyAt = -1;
  }

  /** ops.dispatch took every dispatch record: the consumer position catches up with the producer's. */
  drainDispatches(): void {
    this.dCons[0] = this.dProd[0]!;
    this.dCons[1] = this.dProd[1]!;
  }
}

interface Drill {
  kernel: StandInKernel;
  loop: ScxLoop;
  /** [0] burst end in ns, for the idle steps. */
  times: Float64Array;
  /** A second loop over fresh rings and a fresh scheduler, for a step that needs a known start. */
  fresh(): { kernel: StandInKernel; loop: ScxLoop; close(): void };
}

/** One named step of the scenario: what the stand-in kernel does, then the rounds it asks for. */
interface Step {
  name: string;
  run(d: Drill): void;
}

const pidOf = (i: number): number => DRILL_PID_BASE + (i % DRILL_PIDS);

const STEPS: Step[] = [
  {
    name: 'new tasks wake up, more than the task table holds (the rest run unplaced), some with odd fields',
    run({ kernel, loop }) {
      for (let i = 0; i < DRILL_PIDS; i++) {
        // A weight of 0 and a CPU outside the machine: the bridge clamps both.
        kernel.emit(K.EV_RUNNABLE, pidOf(i), i % 5 === 0 ? DRILL_CPUS + 3 : i % DRILL_CPUS, K.QF_NEW, i % 7 === 0 ? 0 : 100);
        if (i % 8 === 7) loop.round();
      }
      loop.round();
      kernel.drainDispatches();
    },
  },
  {
    name: 'steady: wake-ups, sleeps, preemptions, idle CPUs, exits of known and unknown tasks, discarded records',
    run({ kernel, loop }) {
      for (let r = 0; r < DRILL_STEADY_ROUNDS; r++) {
        const cpu = r % DRILL_CPUS;
        kernel.emit(K.EV_RUNNABLE, pidOf(r), cpu, 0);
        kernel.emit(K.EV_STOPPED, pidOf(r + 5), cpu, r & 1 ? K.QF_RUNNABLE : 0);
        if (r % 7 === 0) kernel.emit(K.EV_CPU_IDLE, 0, cpu, 0);
        if (r % 11 === 0) kernel.emit(K.EV_EXITED, pidOf(r + 3), cpu, 0);
        if (r % 13 === 0) kernel.emit(K.EV_EXITED, DRILL_PID_BASE + DRILL_PIDS + r, cpu, 0);
        if (r % 17 === 0) kernel.emit(K.EV_RUNNABLE, pidOf(r), cpu, 0, 100, 'discard');
        loop.round();
        kernel.drainDispatches();
      }
    },
  },
  {
    name: 'the kernel does not drain the dispatch ring until it is full: decisions are held back, then sent',
    run({ kernel, loop }) {
      for (let r = 0; r < 200; r++) {
        for (let c = 0; c < DRILL_CPUS; c++) {
          kernel.emit(K.EV_CPU_IDLE, 0, c, 0);
          kernel.emit(K.EV_STOPPED, pidOf(r * DRILL_CPUS + c), c, K.QF_RUNNABLE);
        }
        // New tasks arrive while the ring is full and the table too: the unplaced ones wait for room.
        kernel.emit(K.EV_RUNNABLE, DRILL_PID_BASE + 2 * DRILL_PIDS + r, 0, K.QF_NEW);
        loop.round();
      }
      kernel.drainDispatches();
      loop.round();
    },
  },
  {
    name: "a burst larger than the core's queued ring: the round makes room and goes on",
    run({ kernel, loop }) {
      for (let i = 0; i < 3 * DRILL_CORE_QUEUED; i++) kernel.emit(K.EV_STOPPED, pidOf(i), i % DRILL_CPUS, K.QF_RUNNABLE);
      loop.round();
      kernel.drainDispatches();
    },
  },
  {
    name: 'hogs hold every CPU and a task wakes up: it preempts one (the core preempts on wake-up)',
    run({ fresh }) {
      // A fresh scheduler: in the shared one the table is full by now and the clocks of its policy are far
      // from what a few new tasks would show. The code it runs is the same, and so is what V8 learns.
      const { kernel, loop, close } = fresh();
      const sleeper = pidOf(DRILL_CPUS);
      for (let c = 0; c < DRILL_CPUS; c++) kernel.emit(K.EV_RUNNABLE, pidOf(c), c, K.QF_NEW);
      loop.round();
      kernel.drainDispatches();
      for (let r = 0; r < 64; r++) {
        // Each hog's slice ends and it runs again at once: its CPU time since it last slept keeps growing.
        for (let c = 0; c < DRILL_CPUS; c++) kernel.emit(K.EV_STOPPED, pidOf(c), c, K.QF_RUNNABLE);
        loop.round();
        kernel.drainDispatches();
        kernel.emit(K.EV_RUNNABLE, sleeper, r % DRILL_CPUS, r === 0 ? K.QF_NEW : 0);
        loop.round();
        kernel.drainDispatches();
        kernel.emit(K.EV_STOPPED, sleeper, r % DRILL_CPUS, 0);
      }
      loop.copyCounters();
      close();
    },
  },
  {
    name: 'a record still being written is not read until it is finished',
    run({ kernel, loop }) {
      kernel.emit(K.EV_RUNNABLE, pidOf(1), 0, 0, 100, 'busy');
      loop.round();
      kernel.finishBusy();
      loop.round();
      kernel.drainDispatches();
    },
  },
  {
    name: 'idle rounds: nothing to read or send, sleeps short and long, the burst ends',
    run({ loop, times }) {
      for (let r = 0; r < 50; r++) {
        loop.setBurstNs(r % 3 === 0 ? 0 : r % 3 === 1 ? NSEC_PER_MSEC : 10 * MAX_SLEEP_MS * NSEC_PER_MSEC);
        loop.startBurst();
        loop.round();
        loop.round();
      }
      times[0] = 0;
    },
  },
];

/** The drill's sizes unless given: ring bytes, CPUs, the task table and the core's queued ring. */
export interface StandInSizes {
  queuedBytes?: number;
  dispatchBytes?: number;
  nrCpus?: number;
  maxTasks?: number;
  coreQueued?: number;
}

/**
 * A loop over stand-in rings, with a scratch scheduler whose policy is `policy`; `schedYield` plays
 * sched_yield(2). The drill runs its scenario on one; tests drive one to check the round's decisions.
 */
export function standInLoop(
  policy: Policy,
  readClockNs: ReadClockNs,
  schedYield: () => number = () => 0,
  sizes: StandInSizes = {},
): { kernel: StandInKernel; loop: ScxLoop; close(): void } {
  const kernel = new StandInKernel(sizes.queuedBytes, sizes.dispatchBytes);
  const queued = new QueuedRing(kernel.qMem);
  const dispatch = new DispatchRing(kernel.dMem);
  const counters = createCounters();
  const scheduler = createScheduler({
    nrCpus: sizes.nrCpus ?? DRILL_CPUS,
    policy,
    counters,
    crossThreadRings: false,
    lockMemory: false,
    maxTasks: sizes.maxTasks ?? DRILL_MAX_TASKS,
    slabTasks: 64,
    queuedCapacity: sizes.coreQueued ?? DRILL_CORE_QUEUED,
    // As the real scheduler thread (worker.ts): the drill warms the preemption path too, and placing ahead
    // on the shared queue (taken by the real thread with --queue-ahead; its branches warmed either way).
    preemptWakeups: true,
    queueAhead: 2,
  });
  const bridge = new ScxBridge(scheduler, counters, dispatch, sizes.maxTasks ?? DRILL_PIDS);
  const loop = new ScxLoop(
    scheduler,
    bridge,
    queued,
    dispatch,
    kernel,
    counters,
    new Int32Array(1),
    0,
    readClockNs,
    schedYield,
    1e12,
  );
  // As the real thread's (it publishes its counters there): the drill takes the tick too.
  const ticks = new Float64Array(1);
  loop.onTick = () => {
    ticks[0] = ticks[0]! + 1;
  };
  bridge.creationMeter = {
    creationBegin: () => void (ticks[0] = ticks[0]! + 1),
    creationEnd: () => void (ticks[0] = ticks[0]! + 1),
  };
  loop.startBurst();
  return { kernel, loop, close: () => scheduler.close() };
}

/**
 * Runs the scenario over stand-in rings, with a scratch scheduler whose policy comes from `makePolicy` (a
 * policy of the kind the real scheduler runs: its code is what V8 must learn).
 */
export function drillScxRound(makePolicy: () => Policy, readClockNs: ReadClockNs): void {
  const { kernel, loop, close } = standInLoop(makePolicy(), readClockNs);
  const drill: Drill = { kernel, loop, times: new Float64Array(1), fresh: () => standInLoop(makePolicy(), readClockNs) };
  for (const step of STEPS) step.run(drill);
  loop.copyCounters();
  close();
}

/** The scenario's step names, in order (for the coverage test's messages and the docs). */
export const DRILL_STEP_NAMES = STEPS.map((s) => s.name);
