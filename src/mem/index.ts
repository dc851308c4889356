// tsland/mem: the operating-system side of the arena. Lock and prefault what tsland owns, count page faults
// and GCs without allocating, judge health, and prove a hot path clean with measureHotPath.
export { lockArena, lockBuffer, lockedBytes, MemLockError, REMEDIES } from './lock.js';
export type { HasBuffer, LockHandle, LockOptions, PrefaultMethod } from './lock.js';
export { memlockLimit } from './limits.js';
export type { MemlockLimit } from './limits.js';
export { FaultCounter, FaultCounterError, processFaultCounter, threadFaultCounter } from './faults.js';
export type { FaultCounterOptions, FaultMethod, FaultScope } from './faults.js';
export {
  collectGarbageNow,
  GcCounter,
  HeapKeeper,
  oldSpaceUsedBytes,
  settleGcEntries,
  touchYoungGeneration,
  YoungGenerationTouch,
} from './gc.js';
export { measureHotPath } from './measure.js';
export type { HotPathReport, MeasureOptions } from './measure.js';
export { evaluateHealth, HealthMonitor, UNLOCKED_NOTE } from './health.js';
export type { MemHealth } from './health.js';
export { MemPublisher } from './publish.js';
export type { MemPublisherOptions } from './publish.js';
export { COMPACT_UNEVICTABLE_PATH } from './sysctl.js';
export { disableTransparentHugePages, transparentHugePagesDisabled } from './thp.js';
