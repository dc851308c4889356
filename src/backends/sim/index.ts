// The deterministic simulator backend.
export { simulate, SimError, DEFAULT_DISPATCH_COST_NS, MAX_SIM_TASKS, MAX_SIM_CPUS } from './simulator.js';
export type { SimOptions, SimOutcome, SimResults, SimPerf, ClassResult } from './simulator.js';
export { WORKLOAD_NAMES, buildWorkload, type WorkloadName } from './workloads.js';
export { Prng } from './prng.js';
export { formatSimTable } from './format.js';
