// The sched_ext soak's faults, aimed at `tsland start` scheduling the whole machine:
// - stop-scheduler: SIGSTOP past the kernel watchdog's timeout. The kernel must take tsland out (sched_ext no
//   longer enabled); every workload task runnable at the injection must have run again while tsland was
//   still stopped; resumed, tsland must exit non-zero quoting the kernel's exit reason; then it is started
//   again.
// - kill-scheduler: SIGKILL. The machine must be back on the fair class at once; every runnable task runs
//   again; tsland is started again.
// - stats-flood: many clients hammer the stats socket (served by tsland's main thread) while the scheduler
//   thread must keep dispatching: no ejection, dispatches move on, the clients get answers.

import { checkTree, schedulerForFault } from './faults.js';
import { sleep, type Soak } from './harness.js';
import type { FaultRecord } from './record.js';
import { cpuSnapshot, progressBetween, scxOps, scxState, waitScxState, workloadTree, type CpuSnapshot } from './scx.js';
import { floodStats } from './stats-flood.js';
import { fetchStats } from './stats-client.js';

type Fail = (check: string, detail: string) => void;

/** After the kernel reverts, the tasks get this long on the fair class before their progress is judged. */
const PROGRESS_WINDOW_MS = 3000;
/** A killed scheduler's BPF half goes with its last file descriptor: the fair class is back at once. */
const KILL_REVERT_LIMIT_MS = 5000;
/** How long a resumed tsland may take to notice the ejection and exit (the guest is slow). */
const RESUMED_EXIT_MS = 60_000;

export async function scxFault(soak: Soak, rec: FaultRecord, fail: Fail): Promise<void> {
  const inst = await schedulerForFault(soak);
  if (!inst || inst.mode !== 'start' || !inst.alive) {
    fail('fault-skipped', 'no tsland was scheduling the machine to inject it into');
    return;
  }
  if (rec.kind === 'stats-flood') return statsFlood(soak, rec, fail);
  const timeoutMs = soak.opts.watchdogMs;
  rec.instance = inst.index;
  soak.inFault++;
  inst.exitExpected = true;
  try {
    const before = cpuSnapshot(workloadTree(soak.rootPid, soak.rootStartTicks));
    const t0 = Date.now();
    const stop = rec.kind === 'stop-scheduler';
    inst.signal(stop ? 'SIGSTOP' : 'SIGKILL');
    // Stopped, tsland is ejected after the watchdog's timeout; killed, at once.
    const limitMs = stop ? timeoutMs * 3 + 30_000 : KILL_REVERT_LIMIT_MS;
    const outMs = await waitScxState((s) => s !== 'enabled', limitMs);
    if (outMs === undefined) {
      fail(
        stop ? 'not-ejected' : 'not-reverted',
        `sched_ext still ${scxState()} with ops '${scxOps()}' ${limitMs} ms after tsland was ${stop ? 'stopped' : 'killed'}`,
      );
    } else {
      rec.releaseMs = outMs;
      rec.notes.push(`${stop ? 'ejected' : 'fair class back'} ${outMs} ms after the ${stop ? 'SIGSTOP' : 'SIGKILL'}`);
      soak.noteEjection(inst, true, `${rec.kind} at ${rec.atS} s`);
    }
    // The tasks run again on the fair class while tsland is still stopped (or dead): judged before SIGCONT.
    await sleep(PROGRESS_WINDOW_MS);
    checkProgress(soak, rec, before, fail);
    if (stop) {
      inst.signal('SIGCONT');
      const exit = await inst.waitExit(RESUMED_EXIT_MS);
      const said = inst.lastWords();
      if (!exit) {
        fail(
          'exit-status',
          `resumed after its ejection, tsland #${inst.index} still ran ${RESUMED_EXIT_MS / 1000} s later; killed`,
        );
        inst.signal('SIGKILL');
        await inst.waitExit(5000);
      } else {
        rec.exitReason = said;
        const ejection = soak.ejections.find((e) => e.instance === inst.index);
        if (ejection) ejection.reason = said;
        rec.notes.push(`tsland #${inst.index} resumed, exited with ${exit.code ?? exit.signal}: ${said || '(nothing said)'}`);
        if (exit.code === 0) fail('exit-status', `tsland #${inst.index} exited 0 after the kernel ejected it; 1 was expected`);
        if (!/unloaded the sched_ext scheduler/.test(said))
          fail('exit-reason', `tsland #${inst.index} did not report the kernel's exit reason (last words: '${said}')`);
      }
    } else {
      const exit = await inst.waitExit(5000);
      if (!exit) fail('kill', `tsland #${inst.index} still ran 5 s after SIGKILL`);
    }
    checkTree(soak, fail, false);
    if (soak.abort.signal.aborted) return;
    const next = await soak.attach();
    if (!next) {
      const failed = soak.instances[soak.instances.length - 1];
      // Ejected as it came up, it is on its way out: its last line (the kernel's reason) says why.
      if (failed && scxState() !== 'enabled') await failed.waitExit(10_000);
      fail(
        'recovery',
        `tsland start #${failed?.index} did not schedule the machine again (sched_ext ${scxState()}, tsland ${failed?.exit ? `exited with ${failed.exit.code ?? failed.exit.signal}` : 'running'}): ${failed?.lastWords() || 'no last words'}`,
      );
      return;
    }
    rec.recoveredMs = Date.now() - t0;
    rec.notes.push(
      `tsland start #${next.index} (pid ${next.pid}) scheduling again after ${(rec.recoveredMs / 1000).toFixed(1)} s`,
    );
  } finally {
    soak.inFault--;
  }
}

/** Every workload process runnable at the injection and still alive must have had CPU since. */
function checkProgress(soak: Soak, rec: FaultRecord, before: CpuSnapshot, fail: Fail): void {
  const p = progressBetween(before, cpuSnapshot(workloadTree(soak.rootPid, soak.rootStartTicks)));
  rec.runnable = p.runnable;
  rec.stalled = p.stalled.length;
  rec.notes.push(
    `${p.runnable} workload process(es) runnable at the injection, ${p.stalled.length} of them never ran again; ${p.ticks} CPU ticks for the workload meanwhile`,
  );
  if (p.stalled.length > 0)
    fail(
      'stalled',
      `${p.stalled.length} runnable workload process(es) had no CPU in the ${((Date.now() - before.atMs) / 1000).toFixed(1)} s after the fault: ${p.stalled
        .slice(0, 8)
        .map((s) => `${s.pid}(${s.comm})`)
        .join(' ')}`,
    );
  if (p.ticks === 0) fail('stalled', 'the workload had no CPU at all after the fault');
}

async function statsFlood(soak: Soak, rec: FaultRecord, fail: Fail): Promise<void> {
  const inst = soak.current!;
  const { floodClients, floodS } = soak.opts;
  const before = await fetchStats(inst.socketPath, 5000);
  const dispatches = (c: Record<string, number> | undefined) =>
    c ? (c.nr_user_dispatches ?? 0) + (c.nr_kernel_dispatches ?? 0) : undefined;
  let notEnabled: string | null = null;
  let flooding = true;
  const watch = (async () => {
    while (flooding) {
      const state = scxState();
      if (state !== 'enabled' && notEnabled === null) notEnabled = state;
      await sleep(100);
    }
  })();
  const res = await floodStats(inst.socketPath, floodClients, floodS);
  flooding = false;
  await watch;
  const after = await fetchStats(inst.socketPath, 5000);
  if (notEnabled !== null) {
    rec.ok = false;
    rec.notes.push(`sched_ext went ${notEnabled} during the flood`);
    soak.noteEjection(inst, false, `sched_ext ${notEnabled} during the stats flood`);
  }
  if (!inst.alive) fail('scheduler-exit', `tsland #${inst.index} ended during the flood: ${inst.lastWords()}`);
  rec.durationMs = res.seconds * 1000;
  const perS = res.replies / res.seconds;
  rec.notes.push(
    `${res.clients} clients, ${res.replies} replies (${perS.toFixed(0)}/s), ${res.errors} errors${res.firstError ? ` (first: ${res.firstError})` : ''}, slowest reply ${res.maxReplyMs} ms`,
  );
  if (res.replies === 0) fail('stats-flood', `no client got an answer: ${res.firstError || 'no error either'}`);
  const during = res.first && res.last ? res.last.dispatches - res.first.dispatches : 0;
  const whole = (dispatches(after?.counters) ?? 0) - (dispatches(before?.counters) ?? 0);
  rec.notes.push(`dispatches: ${during} while the clients got answers, ${whole} over the whole fault`);
  if (!before || !after) fail('stats-flood', `tsland's stats did not answer ${before ? 'after' : 'before'} the flood`);
  else if (whole <= 0) fail('stats-flood', 'no dispatch over the flood: the scheduler thread stood still');
}
