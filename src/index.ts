// The package root re-exports each part; `tsland/arena`, `tsland/mem` and `tsland/sched` import one part alone.
export * from './sched/index.js';
export * from './arena/index.js';
export * from './mem/index.js';
export * from './stats/index.js';
export * from './backends/proc/index.js';
