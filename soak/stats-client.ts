// The soak's view of the stats socket: the shared client with a short deadline, where a scheduler that is
// stopped, dead or not yet listening costs one missed sample (undefined), never a hang or an exception.

import { requestStats } from '../src/stats/client.js';

export interface StatsReply {
  atMs: number;
  counters: Record<string, number>;
  health: { healthy: boolean; reason: string } & Record<string, unknown>;
  info: Record<string, unknown>;
}

export interface TaskRowLite {
  pid: number;
  comm: string;
  state: string;
}

export async function fetchStats(socketPath: string, timeoutMs = 800): Promise<StatsReply | undefined> {
  try {
    const resp = await requestStats<StatsReply>(socketPath, 'stats', timeoutMs);
    return resp && typeof resp === 'object' && resp.counters ? resp : undefined;
  } catch {
    return undefined;
  }
}

export async function fetchTasks(socketPath: string, timeoutMs = 2000): Promise<TaskRowLite[] | undefined> {
  try {
    const resp = await requestStats<{ tasks?: TaskRowLite[] }>(socketPath, 'tasks', timeoutMs);
    return Array.isArray(resp?.tasks) ? resp.tasks : undefined;
  } catch {
    return undefined;
  }
}
