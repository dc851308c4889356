// Time units, defined once: every name that holds a time carries its unit (sliceNs, watchdogMs), and every
// conversion goes through one of these. Imports nothing, so any layer may use it.

export const NSEC_PER_USEC = 1_000;
export const NSEC_PER_MSEC = 1_000_000;
export const NSEC_PER_SEC = 1_000_000_000;
export const USEC_PER_MSEC = 1_000;
export const USEC_PER_SEC = 1_000_000;
export const MSEC_PER_SEC = 1_000;
