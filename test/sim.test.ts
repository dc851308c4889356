import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { simulate, type SimOptions } from '../src/backends/sim/simulator.js';
import { Prng } from '../src/backends/sim/prng.js';
import { fifo, rustland } from '../src/sched/index.js';
import type { PolicyContext, TaskView } from '../src/sched/api.js';
import { F64_DEADLINE, F64_SLICE_NS, F64_SUM_EXEC_NS } from '../src/sched/task-layout.js';

const SEC = 1e9;
const MS = 1e6;
const cli = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));

function sim(args: string[]): { status: number | null; stdout: string; stderr: string } {
  // spawnSync waits for the child and kills it on timeout, so nothing outlives the test.
  const r = spawnSync(process.execPath, [cli, 'sim', ...args], { encoding: 'utf8', timeout: 120_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

test('the PRNG is seeded and reproducible', () => {
  const a = new Prng(42);
  const b = new Prng(42);
  const c = new Prng(43);
  const xs = Array.from({ length: 5 }, () => a.nextU32());
  assert.deepEqual(
    xs,
    Array.from({ length: 5 }, () => b.nextU32()),
  );
  assert.notDeepEqual(
    xs,
    Array.from({ length: 5 }, () => c.nextU32()),
  );
  for (let i = 0; i < 1000; i++) {
    const x = a.next();
    assert.ok(x >= 0 && x < 1);
  }
});

test('same seed, same results, bit for bit; another seed differs', async () => {
  const base: Omit<SimOptions, 'policy'> = { cpus: 4, tasks: 400, workload: 'mix', durationNs: 3 * SEC, seed: 11 };
  const a = (await simulate({ ...base, policy: rustland() })).results;
  const b = (await simulate({ ...base, policy: rustland() })).results;
  assert.equal(JSON.stringify(a), JSON.stringify(b));
  const c = (await simulate({ ...base, seed: 12, policy: rustland() })).results;
  assert.notEqual(JSON.stringify(a), JSON.stringify(c));
  assert.ok(a.exits > 0 && a.exitsWhileQueued > 0, 'the fork storm kills tasks while they wait');
});

test('more tasks than the queued ring holds: no event is lost, every class runs', async () => {
  const r = (await simulate({ policy: rustland(), cpus: 8, tasks: 12_000, workload: 'mix', durationNs: 30 * SEC, seed: 4 }))
    .results;
  for (const c of r.classes) assert.ok(c.share > 0, `${c.name} got no CPU`);
  assert.ok(r.classes.find((c) => c.name === 'interactive')!.wakeups > 0);
});

test('rustland: nice classes hold their weight share from the first second, without warm-up', async () => {
  // Hogs of weight 1:2:4; the exec-runtime term of the deadline is weighted like the vruntime, so no class
  // runs ahead of its weight while the term grows (unweighted, the lightest class took 25% for an ideal 14%).
  const r = (await simulate({ policy: rustland(), cpus: 8, tasks: 24, workload: 'weighted', durationNs: 3 * SEC, seed: 1 }))
    .results;
  assert.ok(r.weightedShareError < 0.05, `weighted share error ${r.weightedShareError} over the first 3 s`);
});

test('tsland sim --json prints {results, perf} and is deterministic across processes', () => {
  const args = ['--workload', 'forkstorm', '--tasks', '300', '--cpus', '4', '--duration', '2s', '--seed', '9', '--json'];
  const one = sim(args);
  assert.equal(one.status, 0, one.stderr);
  const out = JSON.parse(one.stdout) as { results: Record<string, unknown>; perf: Record<string, number> };
  for (const k of ['shares', 'jainIndex', 'weightedShareError', 'wakeLatencyNs', 'decisions', 'bytesPerTask'])
    assert.ok(k in out.results, k);
  for (const k of ['decisionsPerSec', 'schedulerNsPerDecision', 'gcEvents', 'pageFaults', 'wallMs'])
    assert.equal(typeof out.perf[k], 'number', k);
  assert.equal(JSON.stringify(JSON.parse(sim(args).stdout).results), JSON.stringify(out.results));
  assert.equal(one.stderr, '', 'no progress bar when stderr is not a terminal');
});

test('the table names every class and the headline figures', () => {
  const r = sim(['--workload', 'mix', '--tasks', '200', '--cpus', '4', '--duration', '1s']);
  assert.equal(r.status, 0, r.stderr);
  for (const word of ['hog', 'interactive', 'bursty', 'forked', "Jain's fairness index", 'p99', 'memory per task', 'GC events']) {
    assert.ok(r.stdout.includes(word), word);
  }
});

test('bad flags: one line, exit 2, no stack trace', () => {
  for (const args of [
    ['--cpus', '0'],
    ['--duration', 'soon'],
    ['--workload', 'x'],
    ['--policy', './missing.js'],
    ['--tasks', '2000000'],
    ['--warmup', '20s'],
  ]) {
    const r = sim(args);
    assert.equal(r.status, 2, args.join(' '));
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    assert.doesNotMatch(r.stderr, /\n\s+at /);
  }
});

test('a policy giving fractional slices costs no more dispatches than whole ones (no slivers of a burst)', async () => {
  // 40/7 ms per slice: float rounding of start + slice - start once left a sliver of each burst
  // that took another dispatch, ~500,000 decisions per virtual second.
  const sevenths = {
    name: 'sevenths',
    tasks: null as unknown as TaskView,
    init(ctx: PolicyContext) {
      this.tasks = ctx.tasks;
    },
    enqueue(t: number) {
      this.tasks.f64Of(t)[this.tasks.f64Index(t) + F64_DEADLINE] = this.tasks.f64Of(t)[this.tasks.f64Index(t) + F64_SUM_EXEC_NS]!;
    },
    slice(t: number) {
      this.tasks.f64Of(t)[this.tasks.f64Index(t) + F64_SLICE_NS] = 40e6 / 7;
    },
  };
  const durationNs = 5 * SEC;
  const r = (await simulate({ policy: sevenths, cpus: 2, tasks: 9, workload: 'interactive', durationNs, seed: 1 })).results;
  // Each CPU runs one slice at a time, plus a dispatch per wake-up of the sleepers.
  const bound = (2 * durationNs) / Math.floor(40e6 / 7) + r.classes.reduce((n, c) => n + c.wakeups, 0);
  assert.ok(r.decisions <= bound * 1.05, `${r.decisions} decisions, at most ~${Math.round(bound)} expected`);
});

test('rustland: the slice shrinks with the tasks waiting, so a waking task waits less among hogs', async () => {
  // 2 CPUs, 7 hogs and 2 tasks that sleep 10 ms: a woken task waits for the first slice to end. With the
  // full 20 ms slice that took 13 ms at p50 and 20 ms at p99 (measured before the slice scaled).
  const r = (await simulate({ policy: rustland(), cpus: 2, tasks: 9, workload: 'interactive', durationNs: 5 * SEC, seed: 1 }))
    .results;
  assert.ok(r.wakeLatencyNs, 'the interactive tasks woke up');
  const p99 = r.wakeLatencyNs.p99;
  assert.ok(p99 < 10 * MS, `wake-up p99 ${p99 / MS} ms among hogs`);
  // The floor (a tenth of the base slice) bounds the decisions: 2 CPUs, 5 s, >= 2 ms slices.
  assert.ok(r.decisions <= (2 * 5 * SEC) / (2 * MS) + r.wakeups, `${r.decisions} decisions`);
});

test("rustland: a stream of short-lived tasks does not starve a CPU hog (the longest wait stays the queue's)", async () => {
  // 2 CPUs, 2 hogs, 7,998 tasks of ~2 ms arriving over 5 s: three times the CPUs' capacity, so the queue
  // itself grows to about 2 s (FIFO's longest wait). When new tasks were credited a slice below the
  // policy's clock, which their short runs never moved, a hog waited 7.6 s: past sched_ext's 5 s watchdog.
  const base = { cpus: 2, tasks: 8000, workload: 'forkstorm', durationNs: 10 * SEC, seed: 1 } as const;
  const r = (await simulate({ ...base, policy: rustland() })).results;
  const f = (await simulate({ ...base, policy: fifo() })).results;
  const hog = r.classes.find((c) => c.name === 'hog')!;
  assert.ok(f.maxWaitNs > 1 * SEC, `the storm overloads the CPUs (FIFO's longest wait ${f.maxWaitNs / MS} ms)`);
  assert.ok(hog.maxWaitNs <= f.maxWaitNs * 1.1, `a hog waited ${hog.maxWaitNs / MS} ms, FIFO's longest ${f.maxWaitNs / MS} ms`);
  assert.ok(hog.share > 0.2, `hogs' CPU share ${hog.share}`);
});

test('preemption on wake-up (as on sched_ext): a woken task among hogs runs at once, and nothing is lost', async () => {
  // The same 2 CPUs, 7 hogs and 2 sleepers as above: without preemption a woken task waits for the end
  // of a slice (p99 5.2 ms); with it, for the dispatch itself.
  const base = { policy: rustland(), cpus: 2, tasks: 9, workload: 'interactive', durationNs: 5 * SEC, seed: 1 } as const;
  const off = (await simulate(base)).results;
  const on = (await simulate({ ...base, policy: rustland(), preemptWakeups: true })).results;
  assert.ok(on.wakeLatencyNs && off.wakeLatencyNs);
  assert.ok(on.preemptions > 0 && off.preemptions === 0, `${on.preemptions} preemptions`);
  assert.ok(on.wakeLatencyNs.p99 < 1 * MS, `wake-up p99 ${on.wakeLatencyNs.p99 / MS} ms with preemption`);
  assert.ok(off.wakeLatencyNs.p99 > 4 * MS, `wake-up p99 ${off.wakeLatencyNs.p99 / MS} ms without`);
  // The hogs still share fairly and the CPUs stay busy.
  assert.ok(on.jainIndex > 0.99, `Jain ${on.jainIndex}`);
  assert.ok(on.cpuUtilization > 0.99, `utilization ${on.cpuUtilization}`);
});
