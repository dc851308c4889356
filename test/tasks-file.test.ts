// The scheduler's tasks file: appended one record per adopted task, compacted to the live ones, and read
// back by the guardian's reader (state.ts) exactly as written.

import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { readTaskRecords, TASK_RECORD_BYTES } from '../src/backends/proc/guardian/state.js';
import { sys } from '../src/backends/os/sys.js';
import { TasksFileWriter, type TaskRecordSource } from '../src/backends/proc/thread/tasks-file.js';

function source(n: number): TaskRecordSource & { nLive: number } {
  const pid = new Int32Array(n);
  const startTicks = new Float64Array(n);
  for (let slot = 0; slot < n; slot++) {
    pid[slot] = 1000 + slot;
    // Start times past 2^31 ticks too: the record keeps a double.
    startTicks[slot] = slot % 2 === 0 ? 123_456 + slot : 2 ** 33 + slot;
  }
  return { pid, startTicks, live: new Int32Array(n), nLive: 0 };
}

test('tasks file: appends, compacts to the live tasks in dense order, reads back exactly', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tsland-tasks-'));
  const path = join(dir, 'tasks');
  const writer = new TasksFileWriter(sys(), path);
  try {
    const src = source(3000);
    for (let slot = 0; slot < 40; slot++) {
      src.live[src.nLive++] = slot;
      assert.ok(writer.append(src, slot));
    }
    assert.equal(statSync(path).size, 40 * TASK_RECORD_BYTES);
    assert.deepEqual(
      readTaskRecords(path).map((r) => r.pid),
      Array.from({ length: 40 }, (_, i) => 1000 + i),
    );
    // Keep every third, in a shuffled dense order, then compact.
    const kept = [39, 0, 21, 3, 33, 9];
    src.live.set(kept);
    src.nLive = kept.length;
    writer.compact(src);
    assert.deepEqual(
      readTaskRecords(path),
      kept.map((slot) => ({ pid: 1000 + slot, startTicks: src.startTicks[slot] })),
    );
    // Appends go on after a compaction, into the new file.
    src.live[src.nLive++] = 2500;
    assert.ok(writer.append(src, 2500), 'a slot past the first 1,024 grows the per-slot records');
    const after = readTaskRecords(path);
    assert.equal(after.length, kept.length + 1);
    assert.deepEqual(after.at(-1), { pid: 3500, startTicks: src.startTicks[2500] });
    // Far more records than live tasks compact by themselves.
    for (let i = 0; i < 1100; i++) assert.ok(writer.append(src, 2500));
    assert.ok(readTaskRecords(path).length < 1100, 'compacted on its own');
  } finally {
    writer.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
