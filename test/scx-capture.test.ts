// The capture of the scheduler thread's queued records (src/backends/scx/thread/capture.ts) and its replay
// (bench/scx/replay.ts): what was recorded round by round comes back intact, and replaying it through a
// fresh scheduler makes as many decisions as the recorded run made.

import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { replayCapture } from '../bench/scx/replay.js';
import * as K from '../src/backends/scx/layout.js';
import { parseCapture, RecordCapture } from '../src/backends/scx/thread/capture.js';
import { standInLoop } from '../src/backends/scx/thread/drill.js';
import { rustland } from '../src/sched/policies/index.js';

const PID = 5_000_100;
const CPUS = 4;

/** A recorded run: wake-ups, preemptions, sleeps, idle CPUs and exits over 300 rounds, 1 ms apart. */
function recordRun(path: string, maxRecords?: number): { decisions: number; records: number } {
  const now = new Float64Array(1);
  const { kernel, loop, close } = standInLoop(
    rustland(),
    (out, i) => void (out[i] = now[0]!),
    () => 0,
    { nrCpus: CPUS, maxTasks: 64 },
  );
  loop.capture = new RecordCapture(path, CPUS, maxRecords);
  let records = 0;
  for (let r = 0; r < 300; r++) {
    now[0] = 1e9 + r * 1e6;
    const cpu = r % CPUS;
    const emit = (kind: number, pid: number, flags: number) => {
      assert.ok(kernel.emit(kind, pid, cpu, flags, 100 + (pid % 3) * 200));
      records++;
    };
    emit(r < 12 ? K.EV_RUNNABLE : K.EV_STOPPED, PID + (r % 12), r < 12 ? K.QF_NEW : K.QF_RUNNABLE);
    if (r % 5 === 0) emit(K.EV_CPU_IDLE, 0, 0);
    if (r % 9 === 0) emit(K.EV_STOPPED, PID + ((r + 4) % 12), 0);
    if (r % 9 === 3) emit(K.EV_RUNNABLE, PID + ((r + 1) % 12), 0);
    loop.round();
    kernel.drainDispatches();
  }
  const decisions = loop.totals[1]!;
  loop.capture.write();
  close();
  return { decisions, records };
}

test('a capture holds every record of every round that read one, and replays to the same decisions', async () => {
  const dir = mkdtempSync(join(os.tmpdir(), 'tsland-capture-'));
  try {
    const file = join(dir, 'capture.bin');
    const run = recordRun(file);
    const cap = parseCapture(readFileSync(file));
    assert.equal(cap.nrCpus, CPUS);
    assert.equal(cap.dropped, 0);
    assert.equal(cap.records.length * 4, run.records * K.QUEUED_BYTES, 'every record kept');
    assert.equal(cap.roundClockNs.length, 300, 'every round read a record');
    assert.equal(cap.roundClockNs[7], 1e9 + 7e6, 'the round clock as the core saw it');
    assert.ok(run.decisions > 100, `the recorded run decided (${run.decisions})`);
    const replay = await replayCapture(cap, 'rustland', 1);
    assert.equal(replay.decisions, run.decisions, 'the replay makes the same number of decisions');
    // One pass over 300 rounds is a few ms of CPU, and V8's compiler threads land in either pass: the user
    // side's figure (the difference of two passes) came out below zero in 1 of 15 runs, so only its being a
    // number is asserted here; the stand-in's own cost is a plain measurement.
    assert.ok(Number.isFinite(replay.cpuNsPerDecision), `user side per decision: ${replay.cpuNsPerDecision}`);
    assert.ok(replay.standInNsPerDecision >= 0, `stand-in per decision: ${replay.standInNsPerDecision}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a full capture drops whole rounds and says how many', () => {
  const dir = mkdtempSync(join(os.tmpdir(), 'tsland-capture-'));
  try {
    const file = join(dir, 'capture.bin');
    recordRun(file, 100);
    const cap = parseCapture(readFileSync(file));
    assert.ok(cap.records.length * 4 <= 100 * K.QUEUED_BYTES);
    assert.ok(cap.dropped > 0, 'rounds past the buffer counted as dropped');
    let sum = 0;
    for (const n of cap.roundRecords) sum += n;
    assert.equal(sum * K.QUEUED_BYTES, cap.records.length * 4, 'no round kept in part');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a file that is not a capture, or is cut short, is refused with the reason', () => {
  const dir = mkdtempSync(join(os.tmpdir(), 'tsland-capture-'));
  try {
    const file = join(dir, 'capture.bin');
    recordRun(file);
    const whole = readFileSync(file);
    assert.throws(() => parseCapture(Buffer.from('hello world, not a capture at all!')), /bad magic/);
    writeFileSync(file, whole.subarray(0, whole.length - 8));
    assert.throws(() => parseCapture(readFileSync(file)), /header says/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
