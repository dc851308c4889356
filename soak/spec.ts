// What the harness tells the workload root to run, written to a JSON file the root reads at start.

export interface WorkloadSpec {
  runId: string;
  runDir: string;
  ledgerPath: string;
  /** Epoch ms after which the root stops everything by itself, should the harness be gone. */
  deadlineMs: number;
  cpuWorkers: number;
  vmWorkers: number;
  /** Held by all vm workers together: stress-ng shares --vm-bytes among the instances of the stressor. */
  vmMiBTotal: number;
  jumpMiB: number;
  jumpS: number;
  buildDir: string;
  buildJobs: number;
  forkRatePerS: number;
  forkMaxLive: number;
  burstCount: number;
  churnPath: string;
}

/** The environment entry that marks every process of the workload (read back from /proc/<pid>/environ). */
export const MARK_KEY = 'TSLAND_SOAK_RUN';

export function markEntry(runId: string): string {
  return `${MARK_KEY}=${runId}`;
}

/** The root's control signals: each starts one fault inside the managed tree. */
export const BURST_SIGNAL = 'SIGUSR1';
export const MEMORY_JUMP_SIGNAL = 'SIGUSR2';
