import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { simulate } from '../src/backends/sim/simulator.js';
import { measureHotPath } from '../src/mem/index.js';
import { createHogLoop } from '../bench/sched/driver.js';
import {
  CLOCK_NOW_NS,
  createScheduler,
  EV_RUNNABLE,
  EV_STOPPED,
  EVF_RUNNABLE,
  fifo,
  loadPolicy,
  PolicyError,
  pushQueued,
  rustland,
  RustlandPolicy,
  TaskTableReader,
  weightFromNice,
} from '../src/sched/index.js';

const SEC = 1e9;
const MS = 1e6;
const fixture = (name: string): string => fileURLToPath(new URL(`./fixtures/${name}`, import.meta.url));
const example = fileURLToPath(new URL('../../examples/sjf.js', import.meta.url));

test('weights from nice follow the kernel table scaled to 100', () => {
  assert.equal(weightFromNice(0), 100);
  assert.equal(weightFromNice(-20), 8668);
  assert.equal(weightFromNice(19), 1);
  assert.equal(weightFromNice(5), 33);
  assert.equal(weightFromNice(-99), weightFromNice(-20));
});

test('equal hogs share equally at 8x overload (Jain >= 0.99), both policies', async () => {
  for (const policy of [rustland(), fifo()]) {
    const { results } = await simulate({ policy, cpus: 8, tasks: 64, workload: 'hogs', durationNs: 10 * SEC, seed: 3 });
    assert.ok(results.jainIndex >= 0.99, `${policy.name}: Jain ${results.jainIndex}`);
    assert.ok(results.cpuUtilization > 0.99);
  }
});

test('rustland honours weights 1:2:4 within 2% once hogs have run 100 slices; fifo does not', async () => {
  const opts = { cpus: 8, tasks: 24, workload: 'weighted' as const, durationNs: 60 * SEC, warmupNs: 20 * SEC, seed: 5 };
  const r = (await simulate({ ...opts, policy: rustland() })).results;
  assert.ok(r.weightedShareError <= 0.02, `rustland weighted-share error ${r.weightedShareError}`);
  assert.ok(Math.abs(r.shares['hog-w4']! - 4 / 7) < 0.02 * (4 / 7));
  const f = (await simulate({ ...opts, policy: fifo() })).results;
  assert.ok(f.weightedShareError > 0.5, `fifo weighted-share error ${f.weightedShareError}`);
});

test('rustland: interactive tasks among hogs wake within 2 slices at p99; fifo makes them wait', async () => {
  const opts = { cpus: 8, tasks: 64, workload: 'interactive' as const, durationNs: 10 * SEC, seed: 7, sliceNs: 20 * MS };
  const r = (await simulate({ ...opts, policy: rustland() })).results;
  assert.ok(r.wakeups > 1000);
  assert.ok(r.wakeLatencyNs!.p99 <= 2 * 20 * MS, `p99 ${r.wakeLatencyNs!.p99}`);
  const f = (await simulate({ ...opts, policy: fifo() })).results;
  assert.ok(f.wakeLatencyNs!.p99 > 2 * 20 * MS, `fifo p99 ${f.wakeLatencyNs!.p99}`);
});

test('a sleeper gets its credit but no more: vruntime floored at vruntimeNow - slice', () => {
  const sliceNs = 10 * MS;
  const policy = rustland();
  const s = createScheduler({ nrCpus: 1, policy, sliceNs, lockMemory: false });
  const ran = (pid: number, sumExecNs: number, runnable: boolean): void => {
    pushQueued(s.queued, EV_STOPPED, pid, 0, runnable ? EVF_RUNNABLE : 0, 100, sumExecNs, 0, 0);
    s.setCpuIdle(0, true);
    s.schedule();
    s.dispatched.release(s.dispatched.available());
  };
  for (const pid of [1, 2, 3]) s.registerTask(pid, 100, 0);
  for (const pid of [1, 2, 3]) pushQueued(s.queued, EV_RUNNABLE, pid, 0, 0, 100, 0, 0, 0);
  s.setCpuIdle(0, true);
  s.schedule();
  s.dispatched.release(s.dispatched.available()); // pid 1 runs
  ran(1, 5 * MS, false); // 1 sleeps after 5 ms; 2 runs
  ran(2, 1 * sliceNs * 0.1, false); // 2 sleeps after 1 ms; 3 runs
  let sum3 = 0;
  for (let i = 0; i < 20; i++) ran(3, (sum3 += sliceNs), true); // 3 alone: vruntime climbs to 200 ms
  const now = policy.currentVruntime;
  assert.ok(now >= 190 * MS);
  s.clock[CLOCK_NOW_NS] = 1 * SEC;
  pushQueued(s.queued, EV_RUNNABLE, 1, 0, 0, 100, 5 * MS, 0, 0);
  s.schedule();
  const row = new TaskTableReader(s.taskSlabs()).list().find((t) => t.pid === 1)!;
  assert.equal(row.vruntime, now - sliceNs, 'credit capped at one slice');
  assert.equal(row.deadline, now - sliceNs, 'a fresh wake-up has no exec-runtime penalty');
});

test('a user policy file loads (example, factory) and a broken one gives one clear error', async () => {
  const sjf = await loadPolicy(example);
  assert.equal(sjf.name, 'sjf');
  const r = (await simulate({ policy: sjf, cpus: 4, tasks: 32, workload: 'mix', durationNs: 2 * SEC, seed: 1 })).results;
  assert.ok(r.decisions > 100);
  assert.equal((await loadPolicy(fixture('policy-factory.js'))).name, 'fifo-from-factory');
  await assert.rejects(
    loadPolicy(fixture('policy-no-enqueue.js')),
    (e: Error) => e instanceof PolicyError && /no enqueue\(\) function/.test(e.message),
  );
  await assert.rejects(loadPolicy('nonesuch'), PolicyError);
  await assert.rejects(loadPolicy('./does/not/exist.js'), /not found/);
});

test('the example policy keeps the hot path clean too', async () => {
  const loop = createHogLoop({ tasks: 2000, cpus: 4, policy: await loadPolicy(example) });
  const report = await measureHotPath(() => loop.run(1), { iterations: 200_000, warmup: 100_000 });
  assert.equal(report.gcEvents, 0, JSON.stringify(report));
  assert.equal(report.pageFaults, 0, JSON.stringify(report));
  assert.ok(new RustlandPolicy().name === 'rustland');
});
