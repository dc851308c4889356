// The soak's record: everything it measured, written as JSON next to the HTML report. Times are seconds
// since the soak started (tS) unless the name says otherwise.

import type { MemoryPlan } from './meminfo.js';
import type { FaultKind, SoakOptions } from './options.js';
import type { InstanceMode } from './instance.js';

export interface SoakSample {
  tS: number;
  /** Index of the tsland instance sampled, -1 when none was running. */
  instance: number;
  rssKiB: number | null;
  memAvailableMiB: number;
  /**
   * Cumulative counters of the running instance, null when its stats did not answer. pageFaults counts
   * every fault of the scheduler thread, creationPageFaults the part taken while adopting new tasks.
   */
  pageFaults: number | null;
  creationPageFaults: number | null;
  gcEvents: number | null;
  /**
   * The instance's own word that its warm-up is over (counter warmed_up: V8's compilers stopped); null when
   * its stats did not answer or it has no such counter. Faults and GCs count from the later of this and
   * --warmup-s.
   */
  warmedUp?: boolean | null;
  failedDispatches: number | null;
  congested: number | null;
  dispatchPerS: number | null;
  nrTasks: number | null;
  healthy: boolean | null;
  healthReason: string | null;
  /** Oldest heartbeat seen in this second, ms (polled every 50 ms). */
  heartbeatAgeMaxMs: number | null;
  workloadProcs: number;
  stoppedProcs: number;
  orphanProcs: number;
  /** Inside a fault window: lateness and stops there are the fault's, not the scheduler's. */
  inFault: boolean;
  /** scx: /sys/kernel/sched_ext/state at the sample (enabled while tsland schedules the machine). */
  scxState?: string | null;
}

/** scx: the kernel took a tsland out (its watchdog, an error, or tsland's death). */
export interface Ejection {
  instance: number;
  tS: number;
  /** Asked for by a fault (stopped past the watchdog, killed); any other is a violation. */
  injected: boolean;
  how: string;
  /** tsland's own last line, which quotes the kernel's exit reason. */
  reason: string;
}

export interface Violation {
  tS: number;
  check: string;
  detail: string;
}

export interface FaultRecord {
  kind: FaultKind;
  plannedS: number;
  atS: number;
  ok: boolean;
  /** The tsland instance a scheduler fault was aimed at. */
  instance?: number;
  /**
   * proc: time from the injection until no workload process was stopped, ms. scx: time from the injection
   * until the kernel had taken tsland out (sched_ext no longer enabled).
   */
  releaseMs?: number;
  /** scx, stop-scheduler: the kernel's exit reason as tsland reported it once resumed. */
  exitReason?: string;
  /** scx: workload processes runnable at the injection, and how many of them never ran again. */
  runnable?: number;
  stalled?: number;
  /** Time from the injection until a new scheduler answered with its stats, ms. */
  recoveredMs?: number;
  durationMs?: number;
  notes: string[];
}

export interface InstanceSummary {
  index: number;
  mode: InstanceMode;
  pid: number;
  startS: number;
  endS: number | null;
  exitCode: number | null;
  exitSignal: string | null;
  exitExpected: boolean;
  /** From the first sample after warm-up to the last sample. */
  measuredS: number;
  rssAfterWarmupKiB: number | null;
  rssLastKiB: number | null;
  rssDriftKiB: number | null;
  rssMinKiB: number | null;
  rssMaxKiB: number | null;
  /** Least-squares trend of RSS after warm-up, KiB per minute: drift without the endpoints' noise. */
  rssTrendKiBPerMin: number | null;
  pageFaultsAfterWarmup: number | null;
  gcEventsAfterWarmup: number | null;
  maxHeartbeatAgeMs: number | null;
  watchdogTrips: number;
  /** Each trip's reason as its guardian logged it (heartbeat age, silence, wait for a CPU, or a death). */
  tripReasons: string[];
  /** How the instance ended, in tsland's own last words on stderr (empty while it runs or when it said nothing). */
  lastWords: string;
}

export interface Accounting {
  componentsStarted: number;
  componentsExited: number;
  stormStarted: number;
  stormReaped: number;
  stormFailed: number;
  burstStarted: number;
  burstReaped: number;
  burstFailed: number;
  builds: number;
  buildsFailed: number;
  leftAtEnd: number;
  orphansSeen: number;
  lost: number;
}

export interface SoakSummary {
  passed: boolean;
  violations: number;
  pageFaultsAfterWarmup: number;
  gcEventsAfterWarmup: number;
  maxRssDriftKiB: number | null;
  longestMeasuredS: number;
  watchdogTripsWithoutFault: number;
  faultsInjected: number;
  faultsRecovered: number;
  maxReleaseMs: number | null;
  /** Scheduler faults after which some task was never seen released within the limit. */
  releasesMissed: number;
  maxSteadyStopMs: number;
  maxSteadyHeartbeatAgeMs: number | null;
  tasksLost: number;
  oomKills: number;
}

export interface SoakRecord {
  kind: 'tsland-soak';
  version: 1;
  startedAt: string;
  finishedAt: string;
  machine: { cpus: number; memTotalMiB: number; kernel: string; node: string };
  /** The commit the run was built from (and whether the tree had changes), when run from a git checkout. */
  source: { commit: string | null; dirty: boolean };
  options: SoakOptions;
  memory: MemoryPlan;
  plan: { quietUntilS: number; tailFromS: number; faults: { kind: FaultKind; atS: number }[] };
  samples: SoakSample[];
  faults: FaultRecord[];
  instances: InstanceSummary[];
  accounting: Accounting;
  summary: SoakSummary;
  violations: Violation[];
  /** scx: every ejection seen (injected or not). */
  ejections?: Ejection[];
  files: { json: string; html: string; logs: string };
}
