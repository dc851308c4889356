// `tsland top`: a live view of a running scheduler, read from its stats socket.

import { ReadStream, WriteStream } from 'node:tty';
import { connectStatsResilient } from '../../stats/client.js';
import type { TaskRow } from '../../stats/protocol.js';
import { TerminalSession } from '../../stats/terminal.js';
import { TopModel, type StatsReply } from '../../stats/top-model.js';
import { renderTop } from '../../stats/top-view.js';
import { UsageError, type CommandDef } from '../command.js';
import { resolveSocket } from './stats.js';
import { MSEC_PER_SEC } from '../../base/units.js';

interface HistoryReply {
  names: string[];
  samples: { atMs: number; values: number[] }[];
}

const PLAIN_SIZE = { cols: 100, rows: 60 };
const KEY_CTRL_C = '\x03';

/** Seeds the sparklines with what the server sampled before we connected. */
async function prefill(model: TopModel, request: <T>(req: string) => Promise<T>): Promise<void> {
  const hist = await request<HistoryReply>('history');
  for (const s of hist.samples) {
    const counters: Record<string, number> = {};
    hist.names.forEach((n, i) => (counters[n] = s.values[i] ?? 0));
    model.observe(s.atMs, counters);
  }
}

export const topCommand: CommandDef = {
  name: 'top',
  summary: 'Live terminal view of a running scheduler: counters, health, CPUs, tasks by vruntime.',
  usage: '[--interval S] [--socket PATH | --pid PID] [--plain] [--iterations N]',
  description:
    'Shows the counters and health, the task on each CPU, the managed tasks sorted by vruntime and ' +
    'sparklines of the dispatch rate, wake-up latency and page faults, refreshed every --interval seconds. ' +
    'Press q to quit; the terminal is restored on any exit. When stdout or stdin is not a terminal (or with ' +
    '--plain) it prints plain-text snapshots instead.',
  flags: [
    {
      name: 'interval',
      short: 'd',
      type: 'number',
      valueName: 'S',
      default: 1,
      min: 0.1,
      max: 3600,
      help: 'Seconds between refreshes.',
    },
    { name: 'socket', type: 'string', valueName: 'PATH', help: 'Stats socket to read instead of finding one.' },
    { name: 'pid', type: 'number', integer: true, min: 1, valueName: 'PID', help: 'Show the instance with this pid.' },
    { name: 'plain', type: 'boolean', default: false, help: 'Print plain snapshots even on a terminal.' },
    {
      name: 'iterations',
      short: 'n',
      type: 'number',
      integer: true,
      min: 1,
      valueName: 'N',
      help: 'Stop after N refreshes (default: until q or Ctrl-C).',
    },
  ],
  examples: ['tsland top', 'tsland top --interval 0.5', 'tsland top --plain --iterations 3 > snapshot.txt'],
  async run({ flags }) {
    if (flags.socket !== undefined && flags.pid !== undefined)
      throw new UsageError('--socket and --pid are alternatives; give one');
    const { path, note } = await resolveSocket(flags.socket as string | undefined, flags.pid as number | undefined);
    const conn = await connectStatsResilient(path);
    const intervalMs = (flags.interval as number) * MSEC_PER_SEC;
    const iterations = (flags.iterations as number | undefined) ?? Infinity;
    const interactive = !flags.plain && process.stdout.isTTY === true && process.stdin.isTTY === true;
    const model = new TopModel();
    const title = `tsland top (${path})`;
    let stopping = false;
    let wake: (() => void) | undefined;
    const stop = () => {
      stopping = true;
      wake?.();
    };
    const session = interactive ? new TerminalSession(process.stdin as ReadStream, process.stdout as WriteStream) : undefined;
    const onKey = (data: Buffer) => {
      const key = data.toString('utf8');
      if (key === 'q' || key === 'Q' || key === KEY_CTRL_C) stop();
    };
    const draw = () => {
      if (session) session.draw(renderTop(model, session.size(), title));
    };
    const signals: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];
    for (const s of signals) process.on(s, stop);
    if (note && !session) process.stderr.write(`tsland: ${note}\n`);
    let lost: string | undefined;
    try {
      await prefill(model, (req) => conn.request(req)).catch(() => {});
      if (session) {
        session.enter();
        process.stdin.on('data', onKey);
        process.stdout.on('resize', draw);
      }
      for (let i = 0; i < iterations && !stopping; i++) {
        try {
          const reply = await conn.request<StatsReply>('stats');
          // Only as many rows as fit: a run with thousands of tasks stays cheap to watch.
          const rows = session ? session.size().rows : PLAIN_SIZE.rows;
          const { tasks, total } = await conn.request<{ tasks: TaskRow[]; total?: number }>('tasks', { limit: String(rows) });
          model.push(reply, tasks, total);
        } catch (err) {
          lost = (err as Error).message;
          break;
        }
        if (session) draw();
        else process.stdout.write(renderTop(model, PLAIN_SIZE, title).join('\n') + '\n\n');
        if (i + 1 >= iterations) break;
        await new Promise<void>((resolve) => {
          const t = setTimeout(resolve, intervalMs);
          wake = () => {
            clearTimeout(t);
            resolve();
          };
        });
        wake = undefined;
      }
    } finally {
      for (const s of signals) process.off(s, stop);
      process.stdin.off('data', onKey);
      process.stdout.off('resize', draw);
      session?.restore();
      conn.close();
    }
    if (lost) {
      process.stderr.write(`tsland: the instance stopped serving stats (${lost})\n`);
      return 1;
    }
    return 0;
  },
};
