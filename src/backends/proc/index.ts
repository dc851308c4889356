// tsland's real-process backend: schedule a Linux process tree from user space, guarded so that no task is
// ever left stopped. `runManaged` starts a command, `attachManaged` takes over running trees.
export { runManaged, attachManaged, ManagedStartError } from './main/managed.js';
export type { RunOptions, AttachOptions, ManagedHandle, ManagedExit, ExitReason } from './main/managed.js';
export { DEFAULTS as MANAGED_DEFAULTS, ManagedOptionError, parseCpuList } from './main/options.js';
export type { ManagedOptions } from './main/options.js';
export { readReleaseRecords, stateDir, STATE_DIR_ENV } from './guardian/state.js';
export type { ReleaseRecord } from './guardian/state.js';
