// The CI soak: one minute of light load under `tsland run`, every fault injected once. It passes only when
// the harness found no violation (page faults after warm-up, lost or stopped tasks, failed recoveries...)
// and wrote its JSON record and HTML report. Whatever happens, every process of the run is gone afterwards.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { readEmbeddedData } from '../src/stats/html.js';
import { CensusTaker } from '../soak/census.js';
import { signalIfSame } from '../soak/procfs.js';
import type { SoakRecord } from '../soak/record.js';

const MAIN = fileURLToPath(new URL('../soak/main.js', import.meta.url));
/** The run is 60 s; recoveries on a busy 2-CPU machine can stretch it, never this far. */
const HARD_LIMIT_MS = 300_000;
// The target is 0 page faults after warm-up, and the record keeps the real figure. What is left, measured
// with perf, is V8 compiling code on its own schedule in the first minute or two of a scheduler (installing
// optimized code faults in fresh code pages); CI's light run waits only 8 s and saw 15 over its instances.
// The budget is far above that and far below a real regression: an allocating task-creation path took
// 164 in 24 s, and before that 5,818.
const CI_PAGE_FAULT_BUDGET = 100;

/** Kills whatever the run left: marked workload processes and any scheduler or guardian it recorded. */
function sweep(runId: string): void {
  for (const e of new CensusTaker(`TSLAND_SOAK_RUN=${runId}`, -1).take().marked) {
    signalIfSame(e.pid, e.startTicks, 'SIGCONT');
    signalIfSame(e.pid, e.startTicks, 'SIGKILL');
  }
  const stateDir = `/dev/shm/tsland-soak-${runId}`;
  if (!existsSync(stateDir)) return;
  for (const name of readdirSync(stateDir).filter((n) => n.endsWith('.run.json'))) {
    try {
      const run = JSON.parse(readFileSync(join(stateDir, name), 'utf8')) as Record<string, number>;
      signalIfSame(run.schedulerPid!, run.schedulerStartTicks!, 'SIGKILL');
      signalIfSame(run.guardianPid!, run.guardianStartTicks!, 'SIGKILL');
    } catch {
      // A half-written record: nothing to act on.
    }
  }
  rmSync(stateDir, { recursive: true, force: true });
}

test('a one-minute soak with every fault passes and writes its record', { timeout: HARD_LIMIT_MS + 60_000 }, async () => {
  const out = mkdtempSync(join(tmpdir(), 'soak-ci-'));
  const runId = `ci-${process.pid}`;
  const child = spawn(
    process.execPath,
    [
      MAIN,
      '--minutes',
      '1',
      '--load',
      'light',
      '--out',
      out,
      '--run-id',
      runId,
      '--progress-s',
      '15',
      '--page-fault-budget',
      String(CI_PAGE_FAULT_BUDGET),
    ],
    {
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let output = '';
  child.stdout.on('data', (b: Buffer) => (output += b.toString()));
  child.stderr.on('data', (b: Buffer) => (output += b.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  try {
    const timer = setTimeout(() => child.kill('SIGTERM'), HARD_LIMIT_MS);
    const code = await exited;
    clearTimeout(timer);
    const jsonPath = join(out, `soak-${runId}.json`);
    assert.ok(existsSync(jsonPath), `no record written; output:\n${output}`);
    const record = JSON.parse(readFileSync(jsonPath, 'utf8')) as SoakRecord;
    const violations = record.violations.map((v) => `  [${v.tS}s] ${v.check}: ${v.detail}`).join('\n');
    assert.equal(code, 0, `soak exited ${code} with violations:\n${violations}`);
    assert.equal(record.summary.passed, true);
    assert.ok(record.samples.length >= 45, `only ${record.samples.length} samples in a 60 s run`);
    assert.equal(record.faults.length, 5);
    assert.ok(record.faults.every((f) => f.ok));
    assert.equal(record.accounting.lost, 0);
    // The hot-path rule, on the real thing: not one GC on any scheduler thread after its warm-up, fork storm
    // and 1,000-process burst included.
    assert.equal(
      record.summary.gcEventsAfterWarmup,
      0,
      `GCs on the scheduler thread after warm-up: ${record.summary.gcEventsAfterWarmup}`,
    );
    assert.ok(record.accounting.burstStarted >= 1000 && record.accounting.builds >= 1);
    const html = readFileSync(join(out, `soak-${runId}.html`), 'utf8');
    assert.deepEqual((readEmbeddedData(html) as SoakRecord).summary, record.summary);
  } finally {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 30_000))]);
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        // Already gone.
      }
    }
    sweep(runId);
    rmSync(out, { recursive: true, force: true });
  }
});
