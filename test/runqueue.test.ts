import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { PENDING_KEY, PENDING_TS_NS, RunQueue, RunQueueError } from '../src/sched/runqueue.js';

interface Entry {
  slot: number;
  key: number;
  ts: number;
  pid: number;
}

const order = (a: Entry, b: Entry): number => a.key - b.key || a.ts - b.ts || a.pid - b.pid;

function push(rq: RunQueue, e: Entry): void {
  rq.pending[PENDING_KEY] = e.key;
  rq.pending[PENDING_TS_NS] = e.ts;
  rq.push(e.slot, e.pid);
}

test('run queue pops by (key, ts, pid) and removes any slot, like a sorted-array model', () => {
  const slots = 64;
  fc.assert(
    fc.property(
      fc.array(
        fc.oneof(
          fc.record({
            op: fc.constant('push' as const),
            slot: fc.nat(slots - 1),
            key: fc.integer({ min: 0, max: 20 }),
            ts: fc.integer({ min: 0, max: 5 }),
          }),
          fc.record({ op: fc.constant('pop' as const) }),
          fc.record({ op: fc.constant('remove' as const), slot: fc.nat(slots - 1) }),
        ),
        { maxLength: 400 },
      ),
      (ops) => {
        const rq = new RunQueue(slots);
        const model: Entry[] = [];
        for (const o of ops) {
          if (o.op === 'push') {
            if (model.some((e) => e.slot === o.slot)) {
              assert.throws(() => push(rq, { slot: o.slot, key: o.key, ts: o.ts, pid: 1000 - o.slot }), RunQueueError);
              continue;
            }
            const e = { slot: o.slot, key: o.key, ts: o.ts, pid: 1000 - o.slot };
            push(rq, e);
            model.push(e);
          } else if (o.op === 'pop') {
            model.sort(order);
            const want = model.shift();
            assert.equal(rq.pop(), want ? want.slot : -1);
          } else {
            const i = model.findIndex((e) => e.slot === o.slot);
            assert.equal(rq.remove(o.slot), i >= 0);
            if (i >= 0) model.splice(i, 1);
          }
          assert.equal(rq.size, model.length);
          rq.check();
        }
      },
    ),
  );
});

test('ensureSlots keeps queued entries and their order', () => {
  const rq = new RunQueue(4);
  push(rq, { slot: 3, key: 30, ts: 0, pid: 3 });
  push(rq, { slot: 1, key: 10, ts: 0, pid: 1 });
  rq.ensureSlots(1000);
  push(rq, { slot: 999, key: 20, ts: 0, pid: 999 });
  assert.deepEqual([rq.pop(), rq.pop(), rq.pop(), rq.pop()], [1, 999, 3, -1]);
});
