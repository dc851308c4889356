// The stats protocol, in scx_stats' shape: one JSON object per line each way.
//
//   request:  {"req": "stats" | "stats_meta" | "tasks" | "history", "args": {...}}
//             tasks takes {"limit": "N"}: the N tasks with the smallest vruntime (default: all, slot order)
//   reply:    {"errno": 0, "args": {"resp": <value>}}
//   error:    {"errno": 22, "args": {"resp": {"error": "one line saying what was wrong"}}}
//
// Everything a client sends is checked here; a bad request costs the client an error line, never the
// connection or the server.

import { COUNTER_NAMES, snapshotCounters, type Counters } from '../base/counters.js';
import { allFieldMeta, HEALTH_META, TASK_META } from './meta.js';
import type { CounterSampler, Health } from './sampler.js';

/** One managed task as served by `tasks` and shown by `tsland top`. */
export interface TaskRow {
  pid: number;
  comm: string;
  weight: number;
  vruntimeNs: number;
  cpuTimeNs: number;
  /** R running, Q queued, S sleeping, T stopped by the scheduler. */
  state: string;
  /** CPU the task runs on or last ran on; -1 when unknown. */
  cpu: number;
}

export interface StatsSources {
  counters: Counters;
  sampler: CounterSampler;
  /** The managed tasks; omitted when the backend has none to show (e.g. the simulator). */
  tasks?: () => TaskRow[];
  /** Overrides the sampler's health, e.g. with the memory part's own judgement. */
  health?: () => Health;
  /** Static facts about the instance: policy, pid, command, version. */
  info?: () => Record<string, unknown>;
}

export const ERRNO_OK = 0;
export const ERRNO_EINVAL = 22;
export const ERRNO_ENOENT = 2;
export const ERRNO_EIO = 5;

export const REQUESTS = ['stats', 'stats_meta', 'tasks', 'history'] as const;

export interface Reply {
  errno: number;
  args: { resp: unknown };
}

function fail(errno: number, message: string): Reply {
  return { errno, args: { resp: { error: message } } };
}

function ok(resp: unknown): Reply {
  return { errno: ERRNO_OK, args: { resp } };
}

export function handleLine(line: string, src: StatsSources): Reply {
  let msg: unknown;
  try {
    msg = JSON.parse(line);
  } catch {
    return fail(ERRNO_EINVAL, 'malformed JSON: send one object per line, e.g. {"req":"stats"}');
  }
  if (typeof msg !== 'object' || msg === null || Array.isArray(msg)) return fail(ERRNO_EINVAL, 'a request must be a JSON object');
  const req = (msg as { req?: unknown }).req;
  if (typeof req !== 'string') return fail(ERRNO_EINVAL, 'missing "req" (one of ' + REQUESTS.join(', ') + ')');
  try {
    const args = (msg as { args?: unknown }).args;
    if (args !== undefined && (typeof args !== 'object' || args === null || Array.isArray(args))) {
      return fail(ERRNO_EINVAL, '"args" must be an object of strings');
    }
    return dispatch(req, (args ?? {}) as Record<string, unknown>, src);
  } catch (err) {
    // A data source that throws is our bug, not the client's: report it and keep serving.
    return fail(ERRNO_EIO, `internal error serving '${req}': ${(err as Error).message}`);
  }
}

/** Tasks smallest vruntime first (the order a fair scheduler runs them), at most `limit` of them. */
function tasksReply(args: Record<string, unknown>, src: StatsSources): Reply {
  const all = src.tasks ? src.tasks() : [];
  if (args.limit === undefined) return ok({ total: all.length, tasks: all });
  const limit = Number(args.limit);
  if (!Number.isInteger(limit) || limit < 0)
    return fail(ERRNO_EINVAL, `"limit" must be a whole number >= 0, got ${JSON.stringify(args.limit).slice(0, 32)}`);
  const sorted = [...all].sort((a, b) => a.vruntimeNs - b.vruntimeNs || a.pid - b.pid);
  return ok({ total: all.length, tasks: sorted.slice(0, limit) });
}

function dispatch(req: string, args: Record<string, unknown>, src: StatsSources): Reply {
  switch (req) {
    case 'stats':
      return ok({
        atMs: Date.now(),
        counters: snapshotCounters(src.counters),
        health: src.health ? src.health() : src.sampler.health(),
        info: src.info ? src.info() : {},
      });
    case 'stats_meta':
      return ok({ counters: allFieldMeta(), health: HEALTH_META, tasks: TASK_META, requests: REQUESTS });
    case 'tasks':
      return tasksReply(args, src);
    case 'history':
      return ok({
        names: COUNTER_NAMES,
        samples: src.sampler.history.map((s) => ({ atMs: s.atMs, values: Array.from(s.values) })),
      });
    default:
      return fail(ERRNO_ENOENT, `unknown request '${req.slice(0, 64)}' (one of ${REQUESTS.join(', ')})`);
  }
}
