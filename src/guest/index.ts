// The sched_ext guest: a Debian kernel with sched_ext booted under qemu over the host's own filesystem, for
// machines whose kernel lacks it. Tests and benchmarks use runInGuest and guestAvailability.

export { guestAvailability, type GuestAvailability } from './availability.js';
export {
  runInGuest,
  TIMEOUT_EXIT_CODE,
  ABORT_EXIT_CODE,
  type GuestRunOptions,
  type GuestRunResult,
  type GuestRunTimings,
} from './launch.js';
export { setupGuest, type SetupOptions, type SetupResult } from './setup.js';
export { guestPaths, cacheRoot, type GuestPaths } from './paths.js';
export { chooseAccel, hostAccelFacts, type Accel } from './accel.js';
export { GuestError } from './errors.js';
