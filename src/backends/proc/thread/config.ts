// What the proc backend's scheduler thread is started with beyond the session's common part
// (SessionThreadConfig): its look timing, the run's files and the pids it must treat apart.

import type { SessionThreadConfig } from '../../session/control.js';

export interface ProcThreadConfig {
  graceNs: number;
  lookNs: number;
  freeLookMinNs: number;
  freeLookMaxNs: number;
  tasksFile: string;
  heartbeatFile: string;
  heartbeatNs: number;
  excludePids: number[];
  noReapPids: number[];
  subreaperPid: number;
  guardianPid: number;
  guardianStartTicks: number;
}

export type WorkerConfig = SessionThreadConfig & ProcThreadConfig;
