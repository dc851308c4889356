// `tsland stats`: reads a running instance's stats socket once, or every --watch seconds.

import { connectStatsResilient, findInstances, type StatsConnection } from '../../stats/client.js';
import { formatStatsBlock, formatStatsLine, type CounterSnapshot } from '../../stats/format.js';
import { searchDirs } from '../../stats/paths.js';
import type { Health } from '../../stats/sampler.js';
import { UsageError, type CommandDef } from '../command.js';

interface StatsResp {
  atMs: number;
  counters: CounterSnapshot;
  health: Health;
  info: Record<string, unknown>;
}

/** The socket to read: --socket, else the instance with --pid, else the only (or newest) one running. */
export async function resolveSocket(
  socket: string | undefined,
  pid: number | undefined,
): Promise<{ path: string; note: string }> {
  if (socket) return { path: socket, note: '' };
  const found = await findInstances();
  if (pid !== undefined) {
    const hit = found.find((i) => i.pid === pid);
    if (!hit) throw new Error(`no tsland instance with pid ${pid} serves stats (looked in ${searchDirs().join(', ')})`);
    return { path: hit.socketPath, note: '' };
  }
  if (found.length === 0) {
    throw new Error(
      `no running tsland instance found (looked in ${searchDirs().join(', ')}); start one with 'tsland run -- cmd' or pass --socket`,
    );
  }
  const newest = found.at(-1)!;
  const note =
    found.length > 1
      ? `${found.length} instances running (pids ${found.map((i) => i.pid).join(', ')}); showing ${newest.pid}, choose with --pid`
      : '';
  return { path: newest.socketPath, note };
}

function waitOrInterrupt(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(resolve, ms);
    signal.addEventListener(
      'abort',
      () => {
        clearTimeout(t);
        resolve();
      },
      { once: true },
    );
  });
}

export const statsCommand: CommandDef = {
  name: 'stats',
  summary: 'Print the counters and health of a running scheduler.',
  usage: '[--watch S] [--socket PATH | --pid PID] [--json]',
  description:
    'Reads the stats socket that `tsland run` serves (JSON lines, scx_stats style). Without --socket it finds ' +
    'the running instance by scanning /run/tsland (root) or the per-user directory, skipping sockets whose ' +
    'process is gone. With --watch it prints one line per interval until interrupted; --json prints the raw ' +
    'replies as JSON lines.',
  flags: [
    {
      name: 'watch',
      short: 'w',
      type: 'number',
      valueName: 'S',
      min: 0.1,
      max: 3600,
      help: 'Print again every S seconds until interrupted.',
    },
    { name: 'socket', type: 'string', valueName: 'PATH', help: 'Stats socket to read instead of finding one.' },
    { name: 'pid', type: 'number', integer: true, min: 1, valueName: 'PID', help: 'Read the instance with this pid.' },
    { name: 'json', type: 'boolean', default: false, help: 'Print the stats reply as JSON (one object per line).' },
  ],
  examples: ['tsland stats', 'tsland stats --watch 1', 'tsland stats --json --socket /run/tsland/1234.sock'],
  async run({ flags }) {
    if (flags.socket !== undefined && flags.pid !== undefined)
      throw new UsageError('--socket and --pid are alternatives; give one');
    const { path, note } = await resolveSocket(flags.socket as string | undefined, flags.pid as number | undefined);
    if (note) process.stderr.write(`tsland: ${note}\n`);
    const conn: StatsConnection = await connectStatsResilient(path);
    const watchS = flags.watch as number | undefined;
    const json = flags.json === true;
    const stop = new AbortController();
    const onSignal = () => stop.abort();
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
    try {
      const first = await conn.request<StatsResp>('stats');
      if (json) process.stdout.write(JSON.stringify(first) + '\n');
      else
        process.stdout.write(
          (watchS ? formatStatsLine(first.counters, first.health) : formatStatsBlock(first.counters, first.health, first.info)) +
            '\n',
        );
      if (watchS === undefined) return 0;
      while (!stop.signal.aborted) {
        await waitOrInterrupt(watchS * 1000, stop.signal);
        if (stop.signal.aborted) break;
        let resp: StatsResp;
        try {
          resp = await conn.request<StatsResp>('stats');
        } catch (err) {
          process.stderr.write(`tsland: the instance stopped serving stats (${(err as Error).message})\n`);
          return 1;
        }
        process.stdout.write((json ? JSON.stringify(resp) : formatStatsLine(resp.counters, resp.health)) + '\n');
      }
      return 0;
    } finally {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      conn.close();
    }
  },
};
