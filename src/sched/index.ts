// tsland/sched: the scheduler core, the policy API, the built-in policies and the rings between a backend
// and the scheduler. The contract is documented in api.ts.

export * from './api.js';
export * from '../base/counters.js';
export * from './records.js';
export * from './task-layout.js';
export { createScheduler, validatePolicy, DEFAULT_SLICE_NS } from './scheduler.js';
export { NSEC_PER_MSEC, NSEC_PER_SEC, NSEC_PER_USEC } from '../base/units.js';
export { TaskTableReader, type TaskRow } from './reader.js';
export { weightFromNice, clampWeight, WEIGHT_NICE_0, WEIGHT_MIN, WEIGHT_MAX, NICE_MIN, NICE_MAX } from './weights.js';
export { BUILTIN_POLICIES, builtinPolicyNames, fifo, FifoPolicy, rustland, RustlandPolicy } from './policies/index.js';
export { loadPolicy } from './load-policy.js';
export { SpscRing, RingError, RING_NONE, ringBytes } from '../ring/spsc.js';
export { RunQueue } from './runqueue.js';
export { TaskMap } from './taskmap.js';
