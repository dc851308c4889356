// Serves OpenMetrics text over HTTP, opt-in (`--metrics 127.0.0.1:9464`). Loopback only unless the user
// says otherwise: the counters reveal what runs on the machine, and the listener is one more thing to
// attack. Runs on the main thread, like the stats socket, never on the scheduler's.

import { createServer, type Server } from 'node:http';
import { isIP } from 'node:net';
import { UsageError } from '../base/flags.js';
import { formatOpenMetrics, OPENMETRICS_CONTENT_TYPE, type MetricsSources } from './openmetrics.js';

export const DEFAULT_METRICS_ADDRESS = '127.0.0.1:9464';
export const METRICS_PATH = '/metrics';
const REQUEST_TIMEOUT_MS = 10_000;

export interface ListenAddress {
  host: string;
  port: number;
}

export function isLoopback(host: string): boolean {
  if (host === 'localhost') return true;
  if (isIP(host) === 4) return host.startsWith('127.');
  if (isIP(host) === 6) return host === '::1' || /^::ffff:127\./i.test(host);
  return false;
}

/** Parses `HOST:PORT` or `[IPV6]:PORT` from the --metrics flag; refuses non-loopback unless allowed. */
export function parseMetricsAddress(text: string, allowRemote = false): ListenAddress {
  const m = /^\[([^\]]+)\]:(\d+)$/.exec(text) ?? /^([^:]+):(\d+)$/.exec(text);
  if (!m) throw new UsageError(`--metrics takes HOST:PORT (e.g. ${DEFAULT_METRICS_ADDRESS}), got '${text}'`);
  const host = m[1]!;
  const port = Number(m[2]);
  if (!Number.isInteger(port) || port > 65535)
    throw new UsageError(`--metrics port must be 0..65535 (0: any free port), got ${m[2]}`);
  if (host !== 'localhost' && isIP(host) === 0)
    throw new UsageError(`--metrics host must be an IP address or localhost, got '${host}'`);
  if (!allowRemote && !isLoopback(host)) {
    throw new UsageError(`--metrics ${text} is not a loopback address; pass --metrics-allow-remote to expose it`);
  }
  return { host, port };
}

export interface MetricsServer {
  readonly address: ListenAddress;
  readonly url: string;
  close(): Promise<void>;
}

export async function startMetricsServer(address: ListenAddress, src: MetricsSources): Promise<MetricsServer> {
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain' }).end('method not allowed\n');
      return;
    }
    if (path !== METRICS_PATH && path !== '/') {
      res.writeHead(404, { 'content-type': 'text/plain' }).end(`not found; metrics are at ${METRICS_PATH}\n`);
      return;
    }
    const body = formatOpenMetrics(src);
    res.writeHead(200, { 'content-type': OPENMETRICS_CONTENT_TYPE, 'content-length': Buffer.byteLength(body) });
    res.end(req.method === 'HEAD' ? undefined : body);
  });
  server.requestTimeout = REQUEST_TIMEOUT_MS;
  server.headersTimeout = REQUEST_TIMEOUT_MS;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(address.port, address.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  server.on('error', () => {});
  const actual = server.address();
  const port = typeof actual === 'object' && actual ? actual.port : address.port;
  const hostForUrl = address.host.includes(':') ? `[${address.host}]` : address.host;
  let closed: Promise<void> | undefined;
  return {
    address: { host: address.host, port },
    url: `http://${hostForUrl}:${port}${METRICS_PATH}`,
    close() {
      closed ??= new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      });
      return closed;
    },
  };
}
