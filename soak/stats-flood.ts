// The stats-flood fault's clients: N connections, each asking tsland's stats socket for its counters again
// as soon as it has an answer, for S seconds. They run in the soak's own process: a process of their own
// would take tens of seconds just to start Node in the guest. What they saw: replies, errors, and the
// dispatch counters of the first and the last reply (the scheduler must keep placing tasks while its main
// thread serves the flood).
import { requestStats } from '../src/stats/client.js';

export interface FloodResult {
  clients: number;
  seconds: number;
  requests: number;
  replies: number;
  errors: number;
  firstError: string;
  /** nr_user_dispatches + nr_kernel_dispatches in the first and last reply, with their times. */
  first: { atMs: number; dispatches: number } | null;
  last: { atMs: number; dispatches: number } | null;
  maxReplyMs: number;
}

/** Runs the flood: `clients` loops, each asking for the counters again as soon as it has an answer. */
export async function floodStats(socketPath: string, clients: number, seconds: number): Promise<FloodResult> {
  const res: FloodResult = {
    clients,
    seconds,
    requests: 0,
    replies: 0,
    errors: 0,
    firstError: '',
    first: null,
    last: null,
    maxReplyMs: 0,
  };
  const endMs = Date.now() + seconds * 1000;
  const client = async (): Promise<void> => {
    while (Date.now() < endMs) {
      res.requests++;
      const t0 = Date.now();
      try {
        const r = await requestStats<{ counters?: Record<string, number> }>(socketPath, 'stats', 10_000);
        const c = r?.counters;
        if (!c) throw new Error('a reply without counters');
        res.replies++;
        res.maxReplyMs = Math.max(res.maxReplyMs, Date.now() - t0);
        const seen = { atMs: Date.now(), dispatches: (c.nr_user_dispatches ?? 0) + (c.nr_kernel_dispatches ?? 0) };
        if (!res.first) res.first = seen;
        res.last = seen;
      } catch (err) {
        res.errors++;
        if (!res.firstError) res.firstError = (err as Error).message;
        // A refused connection would otherwise spin: the flood is many clients, not a busy loop.
        await new Promise((r) => setTimeout(r, 10));
      }
    }
  };
  await Promise.all(Array.from({ length: clients }, client));
  return res;
}
