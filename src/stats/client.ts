// The client side of the stats socket: one-shot requests, a kept-open connection for `--watch` and
// `tsland top`, and discovery of running instances (sockets named <pid>.sock whose process is alive and
// which answer; files left by an instance that died are skipped).

import { readdirSync } from 'node:fs';
import { createConnection, type Socket } from 'node:net';
import { join } from 'node:path';
import { searchDirs, SOCKET_SUFFIX } from './paths.js';
import type { Reply } from './protocol.js';

export const DEFAULT_REQUEST_TIMEOUT_MS = 3000;
const MAX_REPLY_BYTES = 64 * 1024 * 1024;

export class StatsClientError extends Error {
  override name = 'StatsClientError';
}

export interface StatsConnection {
  /** Sends one request and resolves to its `resp`; rejects with the server's error message. */
  request<T = unknown>(req: string, args?: Record<string, string>): Promise<T>;
  close(): void;
}

export function connectStats(socketPath: string, timeoutMs = DEFAULT_REQUEST_TIMEOUT_MS): Promise<StatsConnection> {
  return new Promise((resolve, reject) => {
    const sock: Socket = createConnection(socketPath);
    const waiting: { resolve: (r: Reply) => void; reject: (e: Error) => void; timer: NodeJS.Timeout }[] = [];
    let buffered = '';
    let failure: Error | undefined;
    const failAll = (err: Error) => {
      failure ??= err;
      for (const w of waiting.splice(0)) {
        clearTimeout(w.timer);
        w.reject(failure);
      }
    };
    sock.setEncoding('utf8');
    sock.on('data', (text: string) => {
      buffered += text;
      if (buffered.length > MAX_REPLY_BYTES) {
        sock.destroy();
        return failAll(new StatsClientError(`reply from ${socketPath} is larger than ${MAX_REPLY_BYTES} bytes`));
      }
      for (let nl = buffered.indexOf('\n'); nl >= 0; nl = buffered.indexOf('\n')) {
        const line = buffered.slice(0, nl);
        buffered = buffered.slice(nl + 1);
        const w = waiting.shift();
        if (!w) continue;
        clearTimeout(w.timer);
        try {
          w.resolve(JSON.parse(line) as Reply);
        } catch {
          w.reject(new StatsClientError(`malformed reply from ${socketPath}`));
        }
      }
    });
    sock.once('error', (err) => {
      failAll(new StatsClientError(`cannot talk to ${socketPath}: ${(err as NodeJS.ErrnoException).code ?? err.message}`));
      reject(failure);
    });
    sock.once('close', () => failAll(new StatsClientError(`${socketPath} closed the connection`)));
    sock.once('connect', () => {
      resolve({
        request<T>(req: string, args: Record<string, string> = {}): Promise<T> {
          if (failure) return Promise.reject(failure);
          return new Promise<Reply>((res, rej) => {
            const timer = setTimeout(() => {
              sock.destroy();
              failAll(new StatsClientError(`no reply from ${socketPath} within ${timeoutMs} ms`));
            }, timeoutMs);
            waiting.push({ resolve: res, reject: rej, timer });
            sock.write(JSON.stringify({ req, args }) + '\n');
          }).then((reply) => {
            if (reply.errno !== 0) {
              const resp = reply.args?.resp as { error?: string } | undefined;
              throw new StatsClientError(resp?.error ?? `request '${req}' failed with errno ${reply.errno}`);
            }
            return reply.args.resp as T;
          });
        },
        close: () => sock.destroy(),
      });
    });
  });
}

/** One request on a fresh connection. */
export async function requestStats<T = unknown>(
  socketPath: string,
  req: string,
  timeoutMs = DEFAULT_REQUEST_TIMEOUT_MS,
): Promise<T> {
  const conn = await connectStats(socketPath, timeoutMs);
  try {
    return await conn.request<T>(req);
  } finally {
    conn.close();
  }
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export interface Instance {
  pid: number;
  socketPath: string;
}

/** Running instances, newest pid last; a socket whose process is gone or that does not answer is skipped. */
export async function findInstances(dirs: readonly string[] = searchDirs()): Promise<Instance[]> {
  const candidates: Instance[] = [];
  for (const dir of dirs) {
    let names: string[];
    try {
      names = readdirSync(dir);
    } catch {
      continue;
    }
    for (const name of names) {
      if (!name.endsWith(SOCKET_SUFFIX)) continue;
      const pid = Number(name.slice(0, -SOCKET_SUFFIX.length));
      if (!Number.isInteger(pid) || pid <= 0 || !pidAlive(pid)) continue;
      candidates.push({ pid, socketPath: join(dir, name) });
    }
  }
  const live: Instance[] = [];
  for (const c of candidates) {
    try {
      await requestStats(c.socketPath, 'stats_meta', 1000);
      live.push(c);
    } catch {
      /* stale or not ours */
    }
  }
  return live.sort((a, b) => a.pid - b.pid);
}

/**
 * A connection that reconnects once when the server dropped it (it drops clients silent for a minute, and
 * `--watch 300` is silent for five): for long-lived readers such as `tsland stats --watch` and `tsland top`.
 */
export async function connectStatsResilient(
  socketPath: string,
  timeoutMs = DEFAULT_REQUEST_TIMEOUT_MS,
): Promise<StatsConnection> {
  let conn = await connectStats(socketPath, timeoutMs);
  return {
    async request<T>(req: string, args?: Record<string, string>): Promise<T> {
      try {
        return await conn.request<T>(req, args);
      } catch (err) {
        if (!(err instanceof StatsClientError) || !/closed the connection|cannot talk/.test(err.message)) throw err;
        conn.close();
        conn = await connectStats(socketPath, timeoutMs);
        return conn.request<T>(req, args);
      }
    },
    close: () => conn.close(),
  };
}
