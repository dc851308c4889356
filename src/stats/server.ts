// The stats server: JSON lines over a UNIX socket, run on the main thread while the scheduler loop runs in
// a worker, so formatting and client I/O never touch the scheduling thread. It only reads the counters'
// SharedArrayBuffer and asks the backend for task rows.
//
// Defences, each against a client that could otherwise hurt the process:
//   - a line longer than maxLineBytes (someone sends megabytes) -> error reply, connection dropped;
//   - a client silent for idleTimeoutMs -> connection dropped (it cost a descriptor, nothing else);
//   - a client that asks but never reads -> dropped when its unread replies pass maxPendingBytes;
//   - more than maxClients at once -> new connections refused by the listener.

import { chmodSync, existsSync, unlinkSync } from 'node:fs';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { dirname } from 'node:path';
import { isMainThread } from 'node:worker_threads';
import type { Counters } from '../base/counters.js';
import { defaultSocketPath, ensureSocketDir } from './paths.js';
import { ERRNO_EINVAL, handleLine, type StatsSources, type TaskRow } from './protocol.js';
import { CounterSampler, DEFAULT_SAMPLE_INTERVAL_MS, type Health } from './sampler.js';

export interface StatsServerOptions {
  counters: Counters;
  /** Default: /run/tsland/<pid>.sock for root, a private per-user directory otherwise. */
  socketPath?: string;
  tasks?: () => TaskRow[];
  health?: () => Health;
  info?: () => Record<string, unknown>;
  maxLineBytes?: number;
  idleTimeoutMs?: number;
  maxClients?: number;
  maxPendingBytes?: number;
  sampleIntervalMs?: number;
}

export interface StatsServer {
  readonly socketPath: string;
  readonly sampler: CounterSampler;
  /** Connections open right now. */
  clientCount(): number;
  /** Stops listening, drops every client and removes the socket file. */
  close(): Promise<void>;
}

export const DEFAULT_MAX_LINE_BYTES = 64 * 1024;
export const DEFAULT_IDLE_TIMEOUT_MS = 60_000;
export const DEFAULT_MAX_CLIENTS = 256;
export const DEFAULT_MAX_PENDING_BYTES = 4 * 1024 * 1024;
const SOCKET_MODE = 0o600;
const NEWLINE = 0x0a;

export class StatsServerError extends Error {
  override name = 'StatsServerError';
}

/** True when something answers on the socket: another live instance, not a leftover file. */
function isLive(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createConnection(path);
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

export async function startStatsServer(opts: StatsServerOptions): Promise<StatsServer> {
  const socketPath = opts.socketPath ?? defaultSocketPath();
  const maxLineBytes = opts.maxLineBytes ?? DEFAULT_MAX_LINE_BYTES;
  const maxPendingBytes = opts.maxPendingBytes ?? DEFAULT_MAX_PENDING_BYTES;
  const idleTimeoutMs = opts.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS;
  ensureSocketDir(dirname(socketPath));
  if (existsSync(socketPath)) {
    if (await isLive(socketPath)) throw new StatsServerError(`another instance is serving stats on ${socketPath}`);
    unlinkSync(socketPath); // left behind by an instance that died
  }

  const sampler = new CounterSampler(opts.counters).start(opts.sampleIntervalMs ?? DEFAULT_SAMPLE_INTERVAL_MS);
  const src: StatsSources = { counters: opts.counters, sampler };
  if (opts.tasks) src.tasks = opts.tasks;
  if (opts.health) src.health = opts.health;
  if (opts.info) src.info = opts.info;
  const clients = new Set<Socket>();

  const server: Server = createServer((sock) => {
    clients.add(sock);
    sock.once('close', () => clients.delete(sock));
    sock.on('error', () => sock.destroy());
    sock.setTimeout(idleTimeoutMs, () => sock.destroy());
    let pending: Buffer[] = [];
    let pendingBytes = 0;
    const reply = (obj: unknown) => {
      if (sock.destroyed) return;
      sock.write(JSON.stringify(obj) + '\n');
      if (sock.writableLength > maxPendingBytes) sock.destroy();
    };
    sock.on('data', (chunk: Buffer) => {
      let start = 0;
      for (let nl = chunk.indexOf(NEWLINE); nl >= 0; nl = chunk.indexOf(NEWLINE, start)) {
        const part = chunk.subarray(start, nl);
        if (pendingBytes + part.length > maxLineBytes) return tooLong();
        const line = pendingBytes ? Buffer.concat([...pending, part]).toString('utf8') : part.toString('utf8');
        pending = [];
        pendingBytes = 0;
        start = nl + 1;
        if (line.trim() !== '') reply(handleLine(line, src));
        if (sock.destroyed) return;
      }
      const rest = chunk.subarray(start);
      if (pendingBytes + rest.length > maxLineBytes) return tooLong();
      if (rest.length) {
        pending.push(Buffer.from(rest));
        pendingBytes += rest.length;
      }
    });
    function tooLong(): void {
      pending = [];
      pendingBytes = 0;
      // Whatever else the client sends is discarded rather than buffered; the connection goes once the
      // error line is flushed.
      sock.removeAllListeners('data');
      sock.resume();
      const msg = { errno: ERRNO_EINVAL, args: { resp: { error: `request line longer than ${maxLineBytes} bytes` } } };
      sock.end(JSON.stringify(msg) + '\n', () => sock.destroy());
    }
  });
  server.maxConnections = opts.maxClients ?? DEFAULT_MAX_CLIENTS;

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    // listen() binds synchronously, so a umask set around the call makes the socket appear with its final
    // mode: a chmod after the bind left a moment where a client (or a test) saw it group-readable.
    // Worker threads cannot change the umask; there the chmod below is the only guard.
    const restore = narrowUmask(0o777 & ~SOCKET_MODE);
    try {
      server.listen(socketPath, () => {
        server.off('error', reject);
        resolve();
      });
    } finally {
      restore();
    }
  });
  chmodSync(socketPath, SOCKET_MODE);
  server.on('error', () => {}); // accept errors (EMFILE) must not kill the scheduler's process

  const removeFile = () => {
    try {
      unlinkSync(socketPath);
    } catch {
      /* already gone */
    }
  };
  process.once('exit', removeFile);
  let closed: Promise<void> | undefined;
  return {
    socketPath,
    sampler,
    clientCount: () => clients.size,
    close() {
      closed ??= new Promise<void>((resolve) => {
        sampler.stop();
        for (const c of clients) c.destroy();
        server.close(() => {
          removeFile();
          process.off('exit', removeFile);
          resolve();
        });
      });
      return closed;
    },
  };
}

/** Sets the process umask to `mask` where this thread may, returning what puts the old one back. */
function narrowUmask(mask: number): () => void {
  if (!isMainThread) return () => {};
  const old = process.umask(mask);
  return () => void process.umask(old);
}
