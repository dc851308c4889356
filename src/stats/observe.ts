// One call for a command that runs a scheduler (`tsland run`, `tsland attach`) to serve what users see:
// the stats socket (on by default) and the OpenMetrics endpoint (opt-in). The flags are defined here so that
// every such command spells them the same way; the command spreads OBSERVABILITY_FLAGS into its own.

import type { FlagDef, FlagValues } from '../base/flags.js';
import type { Counters } from '../base/counters.js';
import { parseMetricsAddress, startMetricsServer, type ListenAddress, type MetricsServer } from './metrics-server.js';
import type { TaskRow } from './protocol.js';
import { CounterSampler, type Health } from './sampler.js';
import { startStatsServer, type StatsServer } from './server.js';

export const OBSERVABILITY_FLAGS: FlagDef[] = [
  {
    name: 'stats-server',
    type: 'boolean',
    default: true,
    help: 'Serve counters, health and tasks as JSON lines on a UNIX socket (read by tsland stats and tsland top).',
  },
  {
    name: 'stats-socket',
    type: 'string',
    valueName: 'PATH',
    help: 'Socket path for the stats server. Default: /run/tsland/<pid>.sock as root, a private per-user directory otherwise.',
  },
  {
    name: 'metrics',
    type: 'string',
    valueName: 'HOST:PORT',
    help: 'Serve OpenMetrics text (tsland_* counters) at http://HOST:PORT/metrics, e.g. 127.0.0.1:9464. Off by default.',
  },
  { name: 'metrics-allow-remote', type: 'boolean', default: false, help: 'Allow --metrics on a non-loopback address.' },
];

export interface ObservabilityOptions {
  statsServer: boolean;
  statsSocket?: string;
  metrics?: ListenAddress;
}

/** Validates the flags where they enter, before anything starts: a bad --metrics is a UsageError. */
export function observabilityFromFlags(flags: FlagValues): ObservabilityOptions {
  const out: ObservabilityOptions = { statsServer: flags['stats-server'] !== false };
  if (typeof flags['stats-socket'] === 'string') out.statsSocket = flags['stats-socket'];
  if (typeof flags.metrics === 'string') out.metrics = parseMetricsAddress(flags.metrics, flags['metrics-allow-remote'] === true);
  return out;
}

export interface ObservabilitySources {
  counters: Counters;
  tasks?: () => TaskRow[];
  health?: () => Health;
  /** Shown by `stats` and as labels of tsland_build_info: policy, backend, command... */
  info?: () => Record<string, string>;
}

export interface Observability {
  stats?: StatsServer;
  metrics?: MetricsServer;
  close(): Promise<void>;
}

export async function startObservability(opts: ObservabilityOptions, src: ObservabilitySources): Promise<Observability> {
  let ownSampler: CounterSampler | undefined;
  const out: Observability = {
    async close() {
      ownSampler?.stop();
      await Promise.all([out.stats?.close(), out.metrics?.close()]);
    },
  };
  try {
    if (opts.statsServer) {
      out.stats = await startStatsServer({ ...src, ...(opts.statsSocket ? { socketPath: opts.statsSocket } : {}) });
    }
    if (opts.metrics) {
      // Without the stats server, the metrics keep their own sampler so tsland_healthy is still served.
      let sampler = out.stats?.sampler;
      if (!sampler) {
        const own = new CounterSampler(src.counters).start();
        ownSampler = own;
        sampler = own;
      }
      const judged = sampler;
      const health = src.health ?? (() => judged.health());
      out.metrics = await startMetricsServer(opts.metrics, {
        counters: src.counters,
        health,
        ...(src.info ? { info: src.info } : {}),
      });
    }
  } catch (err) {
    await out.close();
    throw err;
  }
  return out;
}
