// The clients of the stats benchmark, in their own process as `tsland top` and `tsland stats` would be:
// N connections each asking for stats and the first 50 tasks every POLL_MS until SIGTERM, then printing how
// many requests were answered.
import { connectStats } from '../../src/stats/client.js';

const [socketPath, clientsArg, pollArg] = process.argv.slice(2);
const clients = Number(clientsArg);
const pollMs = Number(pollArg);
let requests = 0;
let stop = false;
process.once('SIGTERM', () => (stop = true));
const all = Array.from({ length: clients }, async () => {
  const conn = await connectStats(socketPath!, 30_000);
  try {
    while (!stop) {
      await conn.request('stats');
      await conn.request('tasks', { limit: '50' });
      requests += 2;
      await new Promise((r) => setTimeout(r, pollMs));
    }
  } finally {
    conn.close();
  }
});
await Promise.allSettled(all);
process.stdout.write(`${requests}\n`);
