// The sched_ext round's kernel entries (src/backends/scx/thread/loop.ts), over stand-in rings: a decision
// written with nothing more to read goes straight to sleep in epoll (which lets the CPU run ops.dispatch),
// and sched_yield is called only when the thread would otherwise not block.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { readMonotonicNs } from '../src/backends/os/clock.js';
import * as K from '../src/backends/scx/layout.js';
import { standInLoop } from '../src/backends/scx/thread/drill.js';
import { fifo } from '../src/sched/policies/index.js';

const PID = 5_000_001;

function setup() {
  let yields = 0;
  const s = standInLoop(fifo(), readMonotonicNs, () => {
    yields++;
    return 0;
  });
  return { ...s, yields: () => yields };
}

test('a decision with nothing more to read sleeps at once, without a sched_yield', () => {
  const { kernel, loop, close, yields } = setup();
  try {
    assert.ok(kernel.emit(K.EV_RUNNABLE, PID, 0, K.QF_NEW));
    const r = loop.round();
    assert.equal(loop.totals[1], 1, 'one dispatch record written');
    assert.ok(r > 0, `the round asks to sleep in epoll (got ${r})`);
    assert.equal(yields(), 0);
    assert.equal(loop.totals[3], 0);
    assert.equal(loop.totals[4], 1, 'one sleep counted');
  } finally {
    close();
  }
});

test('a decision written while more records wait yields the CPU, then the next round reads them', () => {
  const { kernel, loop, close, yields } = setup();
  try {
    // A record still being written when the round drains: the ring is not empty after the drain.
    assert.ok(kernel.emit(K.EV_RUNNABLE, PID, 0, K.QF_NEW));
    assert.ok(kernel.emit(K.EV_RUNNABLE, PID + 1, 1, K.QF_NEW, 100, 'busy'));
    assert.equal(loop.round(), 0, 'go on at once');
    assert.equal(yields(), 1, 'one sched_yield so that the CPU places what was written');
    kernel.finishBusy();
    loop.round();
    assert.equal(loop.totals[0], 2, 'both records read');
    assert.equal(loop.totals[1], 2, 'both tasks dispatched');
    assert.equal(yields(), 1, 'no second yield: nothing more waits');
  } finally {
    close();
  }
});

test('a kernel ring too full to take every decision yields until it is drained', () => {
  const { kernel, loop, close, yields } = setup();
  try {
    // The stand-in's dispatch ring holds 85 records; the kernel does not drain it. Each round frees every
    // CPU and makes a task runnable on it, so each round writes a decision per CPU.
    for (let round = 0; round < 40 && yields() === 0; round++) {
      for (let cpu = 0; cpu < 4; cpu++) {
        kernel.emit(K.EV_CPU_IDLE, 0, cpu, 0);
        kernel.emit(K.EV_STOPPED, PID + cpu + 4 * (round % 4), cpu, K.QF_RUNNABLE);
      }
      loop.round();
    }
    assert.ok(yields() > 0, 'a full ring made the thread yield');
    const before = yields();
    kernel.drainDispatches();
    for (let i = 0; i < 5 && loop.round() === 0; i++);
    assert.ok(loop.totals[4]! > 0, 'once drained, the thread sleeps again');
    assert.ok(yields() - before <= 1);
  } finally {
    close();
  }
});
