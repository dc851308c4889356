// touchYoungGeneration: after it, a worker's event loop turning (which allocates a little each turn) takes
// next to no page faults; without it, every fresh page of the young generation is one. Counted with the
// thread's own fault counter, in a worker of its own (a fresh isolate: nothing touched yet).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Worker } from 'node:worker_threads';

const TURNS = 20_000;

function turnsFaults(touch: boolean): Promise<{ faults: number; touchedBytes: number }> {
  const src = `
    const { workerData, parentPort } = require('node:worker_threads');
    (async () => {
      const { threadFaultCounter } = await import(workerData.faults);
      const { touchYoungGeneration } = await import(workerData.gc);
      const fc = threadFaultCounter('rusage');
      const turn = (n) => new Promise((done) => { let i = 0; const step = () => (++i < n ? setImmediate(step) : done()); step(); });
      await turn(2000);
      const touchedBytes = workerData.touch ? touchYoungGeneration() : 0;
      await turn(10);
      const f0 = fc.sample();
      await turn(workerData.turns);
      parentPort.postMessage({ faults: fc.sample() - f0, touchedBytes });
    })();
  `;
  const worker = new Worker(src, {
    eval: true,
    workerData: {
      touch,
      turns: TURNS,
      faults: new URL('../src/mem/faults.js', import.meta.url).href,
      gc: new URL('../src/mem/gc.js', import.meta.url).href,
    },
  });
  return new Promise((resolve, reject) => {
    worker.once('message', (m) => {
      void worker.terminate();
      resolve(m as { faults: number; touchedBytes: number });
    });
    worker.once('error', reject);
  });
}

test('a touched young generation: the event loop turning takes next to no page faults', async () => {
  const plain = await turnsFaults(false);
  const touched = await turnsFaults(true);
  assert.ok(touched.touchedBytes > 1 << 20, `allocated ${touched.touchedBytes} bytes to touch it`);
  // Measured: ~340 without, ~7 with. The bound leaves room for a busy machine's stray faults.
  assert.ok(plain.faults >= 50, `${TURNS} turns without the touch took ${plain.faults} faults (expected many)`);
  assert.ok(touched.faults * 5 <= plain.faults, `with the touch ${touched.faults} faults, without ${plain.faults}`);
});
