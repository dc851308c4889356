// The soak harness's parts that need no scheduler: flag validation, the fault plan, the memory bound,
// /proc parsing, the workload census (marked processes, orphans, stops) and the ledger accounting.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs, UsageError } from '../src/cli/command.js';
import { resolveOptions, soakCommand, FAULT_KINDS, MIN_HEADROOM_MIB, SCX_DEFAULTS, SCX_FAULT_KINDS } from '../soak/options.js';
import { cpuSnapshot, progressBetween, workloadTree, type CpuSnapshot } from '../soak/scx.js';
import { rssDriftLimitKiB, warmSamples } from '../soak/checks.js';
import type { SoakSample } from '../soak/record.js';
import { planFaults } from '../soak/schedule.js';
import { LOAD_RESERVE_MIB, planMemory } from '../soak/meminfo.js';
import { parseStat, readStat } from '../soak/procfs.js';
import { CensusTaker, StopStreaks } from '../soak/census.js';
import { components, readChurnCounts, readLedger, appendLedger } from '../soak/ledger.js';

const MAIN = fileURLToPath(new URL('../soak/main.js', import.meta.url));

function resolve(argv: string[]) {
  return resolveOptions(parseArgs(soakCommand, argv).flags, 2);
}

test('bad flags: one line on stderr, exit 2, no stack trace', () => {
  for (const argv of [
    ['--minutes', '0'],
    ['--minutes', 'x'],
    ['--load', 'heavy'],
    ['--faults', 'burst,nope'],
    ['--mem-headroom-mib', '100'],
    ['--bogus'],
    ['--run-id', 'a/b'],
  ]) {
    const flag = argv[0]!;
    const r = spawnSync(process.execPath, [MAIN, ...argv], { encoding: 'utf8', timeout: 20_000 });
    assert.equal(r.status, 2, `${argv.join(' ')}: ${r.stderr}`);
    const lines = r.stderr.trim().split('\n');
    assert.equal(lines.length, 1, r.stderr);
    assert.ok(lines[0]!.startsWith('soak: ') && lines[0]!.includes(flag), lines[0]);
    assert.doesNotMatch(lines[0]!, /tsland soak/);
    assert.doesNotMatch(r.stderr, /\n\s+at /);
  }
});

test('--help names every flag and exits 0', () => {
  const r = spawnSync(process.execPath, [MAIN, '--help'], { encoding: 'utf8', timeout: 20_000 });
  assert.equal(r.status, 0);
  assert.match(r.stdout, /^Usage: npm run soak --/);
  for (const f of soakCommand.flags) assert.match(r.stdout, new RegExp(`--${f.name}\\b`));
});

test('options: light load scales down, baseline keeps only load faults, warm-up must leave time', () => {
  const light = resolve(['--minutes', '1', '--load', 'light']);
  assert.equal(light.durationS, 60);
  assert.equal(light.cpuWorkers, 3);
  assert.equal(light.vmMiB, 256);
  assert.deepEqual(light.faults, [...FAULT_KINDS]);
  assert.deepEqual(resolve(['--baseline']).faults, ['burst', 'memory-jump']);
  assert.deepEqual(resolve(['--faults', 'none']).faults, []);
  assert.deepEqual(resolve(['--faults', 'kill-scheduler,burst']).faults, ['kill-scheduler', 'burst']);
  assert.throws(() => resolve(['--minutes', '1', '--warmup-s', '30']), UsageError);
});

test('options: --backend scx scales the load for the guest, takes its own faults, refuses what does not apply', () => {
  const scx = resolve(['--backend', 'scx']);
  assert.equal(scx.backend, 'scx');
  assert.equal(scx.load, 'light');
  assert.deepEqual(scx.faults, [...SCX_FAULT_KINDS]);
  assert.equal(scx.watchdogMs, SCX_DEFAULTS.watchdogMs);
  assert.equal(scx.memHeadroomMiB, SCX_DEFAULTS.headroomMiB);
  assert.equal(scx.vmMiB, SCX_DEFAULTS.vmMiB);
  assert.equal(scx.cpuWorkers, 3);
  assert.equal(scx.warmupS, SCX_DEFAULTS.warmupS);
  assert.equal(resolve(['--backend', 'scx', '--watchdog-ms', '3000']).watchdogMs, 3000);
  assert.deepEqual(resolve(['--backend', 'scx', '--faults', 'burst,stop-scheduler']).faults, ['burst', 'stop-scheduler']);
  // The proc backend keeps its own defaults and faults.
  const proc = resolve([]);
  assert.equal(proc.backend, 'proc');
  assert.equal(proc.watchdogMs, 500);
  assert.equal(proc.memHeadroomMiB, MIN_HEADROOM_MIB);
  assert.throws(() => resolve(['--faults', 'stats-flood']), /stats-flood' for --backend proc/);
  assert.throws(() => resolve(['--backend', 'scx', '--faults', 'kill-guardian']), /kill-guardian' for --backend scx/);
  assert.throws(() => resolve(['--backend', 'scx', '--baseline']), UsageError);
  assert.throws(() => resolve(['--mem-headroom-mib', '512']), /at least 2048 with --backend proc/);
  assert.equal(resolve(['--backend', 'scx', '--mem-headroom-mib', '512']).memHeadroomMiB, 512);
});

test('scx progress: a runnable process that got no CPU between two snapshots is stalled; one that ran, or exited, is not', async () => {
  // A busy child and a sleeping one under a shell root.
  const root = spawn('sh', ['-c', 'sleep 30 & while :; do :; done'], { detached: true, stdio: 'ignore' });
  try {
    const startTicks = () => readStat(root.pid!)!.startTicks;
    let tree = workloadTree(root.pid!, startTicks());
    for (let i = 0; i < 50 && tree.length < 2; i++) {
      await new Promise((r) => setTimeout(r, 20));
      tree = workloadTree(root.pid!, startTicks());
    }
    assert.equal(tree.length, 2, JSON.stringify(tree));
    assert.deepEqual(workloadTree(root.pid!, startTicks() + 1), [], 'a reused pid is not the root');
    const before = cpuSnapshot(tree);
    await new Promise((r) => setTimeout(r, 300));
    const ran = progressBetween(before, cpuSnapshot(workloadTree(root.pid!, startTicks())));
    // (The sleeping child may still read R in the first snapshot, on its way to sleep: only the loop is judged.)
    assert.ok(!ran.stalled.some((p) => p.pid === root.pid), JSON.stringify(ran));
    assert.ok(ran.ticks > 0);
    // The same shell, stopped: runnable before, no CPU since.
    const running = { ...before, procs: new Map([...before.procs].map(([k, v]) => [k, { ...v, state: 'R' }])) };
    process.kill(root.pid!, 'SIGSTOP');
    await new Promise((r) => setTimeout(r, 50));
    const frozen = cpuSnapshot(workloadTree(root.pid!, startTicks()));
    await new Promise((r) => setTimeout(r, 300));
    const stalled = progressBetween(
      { ...frozen, procs: new Map([...frozen.procs].map(([k, v]) => [k, { ...v, state: 'R' }])) },
      cpuSnapshot(workloadTree(root.pid!, startTicks())),
    );
    assert.equal(stalled.runnable, 2);
    assert.deepEqual(stalled.stalled.map((p) => p.pid).sort(), [...frozen.procs.values()].map((p) => p.pid).sort());
    // Gone in between: ran to its end, not stalled.
    assert.equal(progressBetween(running, { atMs: Date.now(), procs: new Map() }).stalled.length, 0);
  } finally {
    try {
      process.kill(-root.pid!, 'SIGKILL');
    } catch {
      // Already gone.
    }
  }
});

test('fault plan: after the quiet stretch, before the tail, in the order given', () => {
  for (const [durationS, warmupS] of [
    [60, 8],
    [600, 20],
    [36000, 20],
  ] as const) {
    const plan = planFaults(durationS, warmupS, FAULT_KINDS);
    assert.equal(plan.faults.length, FAULT_KINDS.length);
    assert.deepEqual(
      plan.faults.map((f) => f.kind),
      [...FAULT_KINDS],
    );
    assert.ok(plan.quietUntilS >= 2 * warmupS);
    for (const f of plan.faults) assert.ok(f.atS >= plan.quietUntilS && f.atS < plan.tailFromS, JSON.stringify(f));
    for (let i = 1; i < plan.faults.length; i++) assert.ok(plan.faults[i]!.atS > plan.faults[i - 1]!.atS);
  }
  const every = planFaults(600, 20, ['burst', 'kill-scheduler'], 30);
  assert.ok(every.faults.length > 10);
  assert.equal(every.faults[1]!.atS - every.faults[0]!.atS, 30);
  assert.deepEqual(planFaults(60, 8, []).faults, []);
});

test('memory plan never takes the headroom, whatever is asked', () => {
  for (const avail of [1000, 2048, 3000, 24000]) {
    for (const vm of [undefined, 16, 256, 100_000]) {
      const p = planMemory(avail, MIN_HEADROOM_MIB, vm);
      assert.ok(p.steadyMiB >= 0 && p.jumpMiB >= 0);
      assert.ok(p.steadyMiB + p.jumpMiB <= Math.max(0, avail - MIN_HEADROOM_MIB - LOAD_RESERVE_MIB), JSON.stringify(p));
    }
  }
  const full = planMemory(24000, 2048);
  assert.equal(full.steadyMiB + full.jumpMiB, full.boundMiB);
  // The rest of the load keeps its reserve on top of the headroom.
  assert.equal(full.boundMiB, 24000 - 2048 - LOAD_RESERVE_MIB);
});

test('stat parsing survives spaces and parentheses in the command name', () => {
  const st = parseStat('4242 (a) b (c)) T 17 4242 4242 0 -1 4194560 1 0 0 0 5 6 0 0 20 0 1 0 987654 1 2 3');
  assert.ok(st);
  assert.equal(st.comm, 'a) b (c)');
  assert.equal(st.state, 'T');
  assert.equal(st.ppid, 17);
  assert.equal(st.startTicks, 987654);
  assert.equal(parseStat('garbage'), undefined);
  assert.equal(readStat(process.pid)?.ppid, process.ppid);
});

test('census: marked processes are found, stops seen, escapees reported as orphans', async () => {
  const mark = `TSLAND_SOAK_RUN=unit-${process.pid}`;
  const env = { ...process.env, TSLAND_SOAK_RUN: `unit-${process.pid}` };
  // A marked root with a marked child, and a marked process outside the root's tree.
  const root = spawn('sh', ['-c', 'sleep 30 & wait'], { env, detached: true, stdio: 'ignore' });
  const stray = spawn('sleep', ['30'], { env, detached: true, stdio: 'ignore' });
  try {
    const taker = new CensusTaker(mark, root.pid!);
    let census = taker.take();
    for (let i = 0; i < 50 && census.marked.length < 3; i++) {
      await new Promise((r) => setTimeout(r, 20));
      census = taker.take();
    }
    const pids = census.marked.map((e) => e.pid);
    assert.ok(pids.includes(root.pid!) && pids.includes(stray.pid!), JSON.stringify(census.marked));
    assert.equal(census.marked.length, 3);
    assert.deepEqual(
      census.orphans.map((e) => e.pid),
      [stray.pid],
    );
    assert.ok(!pids.includes(process.pid), 'the unmarked test process is not counted');
    // A child of the scheduler (a subreaper's adopted orphan) is still in the tree.
    taker.schedulerPid = process.pid;
    assert.deepEqual(taker.take().orphans, []);
    taker.schedulerPid = -1;
    process.kill(stray.pid!, 'SIGSTOP');
    await new Promise((r) => setTimeout(r, 50));
    census = taker.take();
    assert.deepEqual(
      census.stopped.map((e) => e.pid),
      [stray.pid],
    );
    const streaks = new StopStreaks();
    streaks.update({ ...census, atMs: 1000 });
    streaks.update({ ...census, atMs: 3500 });
    assert.deepEqual(
      streaks.stuck(2000).map((s) => s.pid),
      [stray.pid],
    );
    streaks.update({ ...census, stopped: [], atMs: 4000 });
    assert.equal(streaks.maxStreakMs, 2500);
    assert.deepEqual(streaks.stuck(0), []);
  } finally {
    for (const p of [root, stray]) {
      try {
        process.kill(-p.pid!, 'SIGCONT');
        process.kill(-p.pid!, 'SIGKILL');
      } catch {
        // Already gone.
      }
    }
  }
});

test('ledger: components fold start and exit; churn counts parse; torn lines are skipped', () => {
  const dir = mkdtempSync(join(tmpdir(), 'soak-ledger-'));
  try {
    const path = join(dir, 'ledger.jsonl');
    appendLedger(path, {
      ev: 'start',
      atMs: 1,
      id: 'burst#1',
      kind: 'burst',
      pid: 10,
      argv: ['churn'],
      countsFile: join(dir, 'c.txt'),
    });
    appendLedger(path, { ev: 'start', atMs: 2, id: 'build#1', kind: 'build', pid: 11, argv: ['make'] });
    appendLedger(path, { ev: 'exit', atMs: 3, id: 'burst#1', kind: 'burst', pid: 10, code: 0, signal: null, stoppedByUs: false });
    writeFileSync(path, '{"ev":"exit","id":"bui', { flag: 'a' });
    const comps = components(readLedger(path));
    assert.equal(comps.length, 2);
    assert.equal(comps.find((c) => c.id === 'burst#1')?.exit?.code, 0);
    assert.equal(comps.find((c) => c.id === 'build#1')?.exit, undefined);
    writeFileSync(join(dir, 'c.txt'), '1000 999 998 1\n');
    assert.deepEqual(readChurnCounts(join(dir, 'c.txt')), { started: 1000, reaped: 999, ok: 998, failed: 1 });
    writeFileSync(join(dir, 'bad.txt'), 'x\n');
    assert.equal(readChurnCounts(join(dir, 'bad.txt')), undefined);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('report: every fault marked on the charts, targets judged, the record embedded whole', async () => {
  const { htmlReport, targetRows } = await import('../soak/report.js');
  const { readEmbeddedData } = await import('../src/stats/html.js');
  const opts = resolve(['--minutes', '1', '--load', 'light']);
  const sample = (tS: number, instance: number) => ({
    tS,
    instance,
    rssKiB: 70_000 + tS,
    memAvailableMiB: 20_000,
    pageFaults: 0,
    gcEvents: 0,
    failedDispatches: 0,
    congested: 0,
    dispatchPerS: 90,
    nrTasks: 10,
    healthy: true,
    healthReason: 'ok',
    heartbeatAgeMaxMs: 40,
    workloadProcs: 9,
    stoppedProcs: 1,
    orphanProcs: 0,
    inFault: false,
  });
  const record = {
    kind: 'tsland-soak',
    version: 1,
    startedAt: 'a',
    finishedAt: 'b',
    machine: { cpus: 2, memTotalMiB: 24_000, kernel: '6.18', node: '20' },
    options: opts,
    memory: planMemory(20_000, 2048, 256),
    plan: { quietUntilS: 16, tailFromS: 51, faults: [] },
    samples: [sample(1, 0), sample(2, 0), sample(40, 1), sample(41, 1)],
    faults: [
      { kind: 'burst', plannedS: 16, atS: 16, ok: true, notes: ['1000 started'] },
      { kind: 'kill-scheduler', plannedS: 30, atS: 30.5, ok: false, instance: 0, notes: ['left one stopped'] },
    ],
    instances: [],
    accounting: {
      componentsStarted: 1,
      componentsExited: 1,
      stormStarted: 0,
      stormReaped: 0,
      stormFailed: 0,
      burstStarted: 1000,
      burstReaped: 1000,
      burstFailed: 0,
      builds: 1,
      buildsFailed: 0,
      leftAtEnd: 0,
      orphansSeen: 0,
      lost: 0,
    },
    summary: {
      passed: false,
      violations: 1,
      pageFaultsAfterWarmup: 0,
      gcEventsAfterWarmup: 0,
      maxRssDriftKiB: 300,
      longestMeasuredS: 30,
      watchdogTripsWithoutFault: 0,
      faultsInjected: 2,
      faultsRecovered: 1,
      maxReleaseMs: 120,
      releasesMissed: 1,
      maxSteadyStopMs: 200,
      maxSteadyHeartbeatAgeMs: 40,
      tasksLost: 0,
      oomKills: 0,
    },
    violations: [{ tS: 31, check: 'release', detail: 'left one stopped' }],
    files: { json: 'x.json', html: 'x.html', logs: 'x' },
  } as const;
  const r = record as unknown as Parameters<typeof htmlReport>[0];
  const rows = targetRows(r);
  const row = (name: RegExp) => rows.find((x) => name.test(String(x[0])))!;
  assert.equal(row(/page faults/)[3], 'yes');
  assert.equal(row(/faults recovered/)[3], 'NO');
  assert.equal(row(/slowest release/)[3], 'NO', 'a fault that left a task stopped fails the release row');
  assert.match(String(row(/slowest release/)[2]), /1 fault\(s\) left a task stopped/);
  const html = htmlReport(r);
  assert.match(html, /tsland soak: FAILED/);
  for (const label of ['burst', 'kill-scheduler']) assert.ok(html.includes(`class="marker-label">${label}<`), label);
  assert.ok(html.includes('id="violations"') && html.includes('left one stopped'));
  assert.doesNotMatch(html, /<script(?![^>]*application\/json)/, 'no script that runs');
  assert.deepEqual(readEmbeddedData(html), JSON.parse(JSON.stringify(record)));
});

test('RSS trend: the least-squares slope per minute, not the endpoints', async () => {
  const { trendPerMin } = await import('../soak/checks.js');
  const x = Array.from({ length: 60 }, (_, i) => i);
  assert.equal(trendPerMin(x.slice(0, 5), x.slice(0, 5)), null);
  assert.ok(
    Math.abs(
      trendPerMin(
        x,
        x.map((t) => 1000 + 2 * t),
      )! - 120,
    ) < 1e-9,
  );
  // Noisy endpoints around a flat line: last - first says ~1000 KiB/min, the trend a tenth of it.
  const y = x.map((t) => 1000 + (t === 0 ? -500 : t === 59 ? 500 : 0));
  assert.ok(Math.abs(trendPerMin(x, y)!) < 120);
});

test('page faults after warm-up: counted while the scheduler runs, not while a scheduler fault ends it', async () => {
  const { summarizeInstances } = await import('../soak/checks.js');
  const violations: string[] = [];
  const sample = (tS: number, pageFaults: number, inFault: boolean) => ({
    tS,
    instance: 0,
    rssKiB: 70_000,
    memAvailableMiB: 20_000,
    pageFaults,
    gcEvents: 1,
    failedDispatches: 0,
    congested: 0,
    dispatchPerS: 90,
    nrTasks: 10,
    healthy: true,
    healthReason: 'ok',
    heartbeatAgeMaxMs: 40,
    workloadProcs: 9,
    stoppedProcs: 0,
    orphanProcs: 0,
    inFault,
  });
  const soakOf = (samples: ReturnType<typeof sample>[]) => ({
    instances: [
      { index: 0, mode: 'run', pid: 42, startedMs: 0, warmFromMs: 0, exit: null, exitExpected: true, lastWords: () => '' },
    ],
    samples,
    opts: { warmupS: 20, pageFaultBudget: 0 },
    faults: [{ kind: 'stop-scheduler', instance: 0 }],
    tS: (ms: number) => ms / 1000,
    releaseRecords: () => [],
    violate: (check: string, detail: string) => violations.push(`${check}: ${detail}`),
  });
  // Warm-up ends at 20 s; the scheduler is stopped at 60 s and takes 26 faults while it ends.
  const quiet = [
    sample(10, 400, false),
    sample(21, 500, false),
    sample(40, 500, false),
    sample(59, 500, false),
    sample(61, 526, true),
  ];
  const [s] = summarizeInstances(soakOf(quiet) as never);
  assert.equal(s!.pageFaultsAfterWarmup, 0);
  assert.deepEqual(violations, []);
  // A fault while it schedules still counts.
  const faulty = [sample(21, 500, false), sample(40, 501, false), sample(59, 501, false), sample(61, 527, true)];
  const [f] = summarizeInstances(soakOf(faulty) as never);
  assert.equal(f!.pageFaultsAfterWarmup, 1);
  assert.equal(violations.length, 1);
  assert.match(violations[0]!, /^page-faults: tsland #0 took 1 page fault/);
});

test("faults count after the soak's warm-up and after tsland's own, where tsland says when that is", () => {
  const at = (tS: number, warmedUp?: boolean | null): SoakSample => ({ tS, warmedUp }) as SoakSample;
  // No marker (a record from before it, or a backend without it): the soak's warm-up alone.
  assert.deepEqual(
    warmSamples([at(10), at(70), at(80)], 60).map((s) => s.tS),
    [70, 80],
  );
  // tsland still compiling at 70 s: counting starts at its first "warm" sample.
  assert.deepEqual(
    warmSamples([at(10, false), at(70, false), at(80, null), at(90, true), at(100, null), at(110, true)], 60).map((s) => s.tS),
    [90, 100, 110],
  );
  // Never warm within the run: nothing is measured (the report then says so), rather than the compiling part.
  assert.deepEqual(warmSamples([at(70, false), at(80, false)], 60), []);
  // Warm before the soak's own warm-up ended: the soak's warm-up decides.
  assert.deepEqual(
    warmSamples([at(30, true), at(70, true)], 60).map((s) => s.tS),
    [70],
  );
});

test('a runnable process that ran less than a tick is not stalled: the exact run time decides where known', () => {
  const snap = (ticks: number, runNs?: number, state = 'R'): CpuSnapshot => ({
    atMs: 0,
    procs: new Map([['7:1', { pid: 7, comm: 'cc', state, ticks, runNs }]]),
  });
  // 2 ms on a CPU, no tick: it ran.
  assert.equal(progressBetween(snap(5, 1_000_000), snap(5, 3_000_000)).stalled.length, 0);
  // Not a nanosecond: stalled.
  assert.deepEqual(progressBetween(snap(5, 1_000_000), snap(5, 1_000_000)).stalled, [{ pid: 7, comm: 'cc' }]);
  // A tick for the process while its main thread slept (another thread ran): it ran.
  assert.equal(progressBetween(snap(5, 1_000_000), snap(6, 1_000_000)).stalled.length, 0);
  // No schedstat: ticks, as before.
  assert.equal(progressBetween(snap(5), snap(5)).stalled.length, 1);
  assert.equal(progressBetween(snap(5), snap(6)).stalled.length, 0);
});

test('RSS drift is allowed 1 MiB per 10 minutes, and never less than 1 MiB', () => {
  assert.equal(rssDriftLimitKiB(120), 1024, 'a short span: 1 MiB');
  assert.equal(rssDriftLimitKiB(600), 1024);
  assert.equal(rssDriftLimitKiB(921), 1024 * 1.535, "the 1-hour soak's longest instance: 921 s");
  assert.equal(rssDriftLimitKiB(3600), 6 * 1024, 'an hour: 6 MiB');
});
