// The injected faults and the check that follows each one. Two kinds:
// - load faults (a burst of short-lived processes, a jump of memory pressure to the bound) are sent to the
//   workload root, which starts them inside the managed tree; the scheduler must carry on through them;
// - scheduler faults (stopped past the watchdog, guardian killed, scheduler killed) take tsland down: every
//   stopped task must be released within watchdog + 100 ms of the injection, nothing may be lost, and
//   `tsland attach` over the same workload must bring scheduling back.
// With the sched_ext backend the scheduler faults (and the stats flood) are scx-faults.ts's.

import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import type { CensusEntry } from './census.js';
import { sleep, type Soak } from './harness.js';
import type { Instance } from './instance.js';
import { components, readChurnCounts, readLedger, type ComponentKind, type ComponentRecord } from './ledger.js';
import { oomKills } from './meminfo.js';
import { isStopped, readStat, sameProcess, signalIfSame } from './procfs.js';
import type { FaultRecord } from './record.js';
import type { PlannedFault } from './schedule.js';
import { BURST_SIGNAL, MEMORY_JUMP_SIGNAL } from './spec.js';
import { fetchTasks } from './stats-client.js';
import { monotonicNowMs } from './heartbeat.js';
import { scxFault } from './scx-faults.js';

/** Extra time a release may take beyond the watchdog timeout. */
export const RELEASE_SLACK_MS = 100;
const RELEASE_POLL_MS = 5;
/** A process at least this old must be in the new scheduler's task list after a restart. */
const MANAGED_AGE_S = 5;
const CLK_TCK = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim()) || 100;

function uptimeS(): number {
  return Number(readFileSync('/proc/uptime', 'latin1').split(' ')[0]);
}

export async function injectFault(soak: Soak, planned: PlannedFault): Promise<FaultRecord> {
  const rec: FaultRecord = { kind: planned.kind, plannedS: planned.atS, atS: soak.tS(), ok: true, notes: [] };
  const fail = (check: string, detail: string) => {
    rec.ok = false;
    rec.notes.push(detail);
    soak.violate(check, `${planned.kind} at ${rec.atS} s: ${detail}`);
  };
  // An unplanned restart in flight finishes first: a fault aimed at a half-started scheduler tests nothing.
  for (const deadline = Date.now() + 60_000; soak.recovering && Date.now() < deadline;) await sleep(100);
  rec.atS = soak.tS();
  soak.log(`fault: ${planned.kind} at ${rec.atS} s`);
  switch (soak.scx && planned.kind !== 'burst' && planned.kind !== 'memory-jump' ? 'scx' : planned.kind) {
    case 'scx':
      await scxFault(soak, rec, fail);
      break;
    case 'burst':
      await burst(soak, rec, fail);
      break;
    case 'memory-jump':
      await memoryJump(soak, rec, fail);
      break;
    default:
      await schedulerFault(soak, rec, fail);
  }
  soak.log(
    `fault: ${planned.kind} ${rec.ok ? 'recovered' : 'FAILED'}${rec.releaseMs !== undefined ? `, released in ${rec.releaseMs.toFixed(0)} ms` : ''}${rec.recoveredMs !== undefined ? `, scheduling again after ${rec.recoveredMs.toFixed(0)} ms` : ''}`,
  );
  return rec;
}

type Fail = (check: string, detail: string) => void;

/** Sends a control signal to the root and waits for the component it starts, then for its end. */
async function runComponent(
  soak: Soak,
  kind: ComponentKind,
  signal: NodeJS.Signals,
  timeoutMs: number,
  fail: Fail,
): Promise<ComponentRecord | undefined> {
  const before = components(readLedger(soak.ledgerPath)).filter((c) => c.kind === kind).length;
  if (!signalIfSame(soak.rootPid, soak.rootStartTicks, signal)) {
    fail('fault-setup', 'the workload root is gone');
    return undefined;
  }
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const mine = components(readLedger(soak.ledgerPath)).filter((c) => c.kind === kind)[before];
    if (mine?.exit) return mine;
    if (Date.now() > deadline || soak.abort.signal.aborted) {
      fail(
        'fault-timeout',
        mine ? `${mine.id} still running after ${timeoutMs / 1000} s` : `the root did not start it within ${timeoutMs / 1000} s`,
      );
      return undefined;
    }
    await sleep(100);
  }
}

async function burst(soak: Soak, rec: FaultRecord, fail: Fail): Promise<void> {
  const t0 = Date.now();
  const c = await runComponent(soak, 'burst', BURST_SIGNAL, 180_000, fail);
  if (!c?.exit) return;
  rec.durationMs = c.exit.atMs - c.startMs;
  const counts = c.countsFile ? readChurnCounts(c.countsFile) : undefined;
  const n = soak.opts.burstCount;
  if (!counts) fail('accounting', `${c.id} wrote no counts`);
  else {
    rec.notes.push(`${counts.started} started, ${counts.reaped} reaped, ${counts.ok} exited 0`);
    if (counts.started !== n || counts.reaped !== n || counts.ok !== n)
      fail('accounting', `burst of ${n}: ${counts.started} started, ${counts.reaped} reaped, ${counts.failed} failed`);
  }
  if (c.exit.code !== 0) fail('burst', `${c.id} exited with ${c.exit.code ?? c.exit.signal}`);
  checkTree(soak, fail, false);
  rec.notes.push(`took ${((Date.now() - t0) / 1000).toFixed(1)} s`);
}

async function memoryJump(soak: Soak, rec: FaultRecord, fail: Fail): Promise<void> {
  const oomBefore = oomKills();
  const fromS = soak.tS();
  const c = await runComponent(soak, 'memory-jump', MEMORY_JUMP_SIGNAL, 120_000 + soak.opts.durationS * 10, fail);
  if (!c?.exit) return;
  rec.durationMs = c.exit.atMs - c.startMs;
  const during = soak.samples.filter((s) => s.tS >= fromS);
  const minAvail = Math.min(...during.map((s) => s.memAvailableMiB));
  rec.notes.push(`+${soak.memory.jumpMiB} MiB for ${(rec.durationMs / 1000).toFixed(1)} s; MemAvailable fell to ${minAvail} MiB`);
  if (c.exit.code !== 0) fail('memory-jump', `${c.id} exited with ${c.exit.code ?? c.exit.signal}`);
  const oom = oomKills() - oomBefore;
  if (oomBefore >= 0 && oom > 0) fail('oom', `the OOM killer ran ${oom} time(s)`);
  checkTree(soak, fail, false);
}

/** Orphans always count; stopped processes only when no scheduler runs (a live one stops them by design). */
export function checkTree(soak: Soak, fail: Fail, strictStopped: boolean): void {
  const census = soak.census.take();
  soak.lastCensus = census;
  if (census.orphans.length > 0)
    fail('orphaned', `${census.orphans.length} process(es) outside the tree: ${list(census.orphans)}`);
  if (strictStopped && census.stopped.length > 0)
    fail('left-stopped', `${census.stopped.length} process(es) still stopped with no scheduler: ${list(census.stopped)}`);
  if (!census.rootAlive) fail('lost', 'the workload root is gone');
}

function list(entries: readonly CensusEntry[]): string {
  return (
    entries
      .slice(0, 8)
      .map((e) => `${e.pid}(${e.comm})`)
      .join(' ') + (entries.length > 8 ? ' ...' : '')
  );
}

/**
 * Polls the known workload processes every 5 ms until none is stopped, then confirms with a full scan
 * (which also catches processes forked meanwhile). Returns ms from `t0`, or undefined after `limitMs`.
 */
async function measureRelease(soak: Soak, t0: number, limitMs: number): Promise<{ releaseMs?: number; stuck: CensusEntry[] }> {
  let known = soak.lastCensus?.marked ?? [];
  for (;;) {
    let anyStopped = false;
    for (const e of known) {
      const st = readStat(e.pid);
      if (st && st.startTicks === e.startTicks && isStopped(st.state)) {
        anyStopped = true;
        break;
      }
    }
    const at = Date.now();
    if (!anyStopped) {
      const census = soak.census.take();
      soak.lastCensus = census;
      if (census.stopped.length === 0) return { releaseMs: at - t0, stuck: [] };
      known = census.marked;
    }
    if (at - t0 > limitMs) return { stuck: soak.census.take().stopped };
    await sleep(RELEASE_POLL_MS);
  }
}

/**
 * The scheduler to inject a fault into: the current one, or, when it ended without a fault of ours (a
 * violation of its own), a new one started for it, keeping the sampler from starting another meanwhile.
 */
export async function schedulerForFault(soak: Soak): Promise<Instance | undefined> {
  const inst = soak.current;
  if (!inst || inst.mode === 'baseline' || inst.alive || !soak.rootAlive) return inst;
  inst.exitExpected = true;
  soak.recovering = true;
  try {
    return await soak.attach();
  } finally {
    soak.recovering = false;
  }
}

async function schedulerFault(soak: Soak, rec: FaultRecord, fail: Fail): Promise<void> {
  const inst = await schedulerForFault(soak);
  if (!inst || inst.mode === 'baseline' || !inst.alive) {
    fail('fault-skipped', 'no scheduler was running to inject it into');
    return;
  }
  const watchdogMs = soak.opts.watchdogMs;
  const guardian = inst.guardian(soak.rootPid);
  rec.instance = inst.index;
  soak.inFault++;
  inst.exitExpected = true;
  try {
    soak.lastCensus = soak.census.take();
    rec.notes.push(
      `${soak.lastCensus.stopped.length} of ${soak.lastCensus.marked.length} workload processes stopped at the injection`,
    );
    const t0 = Date.now();
    const t0MonoMs = monotonicNowMs();
    if (rec.kind === 'stop-scheduler') inst.signal('SIGSTOP');
    else if (rec.kind === 'kill-scheduler') inst.signal('SIGKILL');
    else if (!guardian || !signalIfSame(guardian.pid, guardian.startTicks, 'SIGKILL')) {
      fail('fault-setup', 'could not find the guardian to kill');
      inst.exitExpected = false;
      return;
    }
    const limitMs = watchdogMs * 4 + 3000;
    const { releaseMs, stuck } = await measureRelease(soak, t0, limitMs);
    if (releaseMs === undefined)
      fail('release', `${stuck.length} process(es) still stopped ${limitMs} ms after the fault: ${list(stuck)}`);
    if (rec.kind === 'stop-scheduler') {
      await sleep(Math.max(0, t0 + Math.max(2000, 2 * watchdogMs) - Date.now()));
      inst.signal('SIGCONT');
    }
    await expectGone(soak, inst, guardian, rec, fail);
    // A task that was stopped at the injection stays stopped until the release ends: the later of what we
    // saw and what the releasing side logged (same monotonic clock) bounds how long any task waited.
    const logged = soak
      .releaseRecords()
      .filter((r) => r.schedulerPid === inst.pid && r.releasedMs !== undefined && !/finished/i.test(r.reason))
      .map((r) => r.releasedMs! - t0MonoMs);
    if (releaseMs !== undefined) {
      rec.releaseMs = Math.round(Math.max(releaseMs, ...logged));
      if (rec.releaseMs > watchdogMs + RELEASE_SLACK_MS)
        fail(
          'release',
          `tasks released ${rec.releaseMs} ms after the fault, over watchdog ${watchdogMs} + ${RELEASE_SLACK_MS} ms`,
        );
    }
    checkTree(soak, fail, true);
    await recover(soak, t0, rec, fail);
  } finally {
    soak.inFault--;
  }
  if (soak.current && soak.current !== inst && soak.current.alive) await checkManaged(soak, soak.current, fail);
}

/** After a scheduler fault both halves of the old instance must be gone, each for the documented reason. */
async function expectGone(
  soak: Soak,
  inst: Instance,
  guardian: { pid: number; startTicks: number } | undefined,
  rec: FaultRecord,
  fail: Fail,
): Promise<void> {
  const exit = await inst.waitExit(10_000);
  if (!exit) {
    fail('unguarded', `tsland #${inst.index} was still running 10 s after its guardian was gone; killed`);
    inst.signal('SIGKILL');
    await inst.waitExit(5000);
  } else if (rec.kind !== 'kill-scheduler') {
    rec.notes.push(`tsland #${inst.index} exited with ${exit.code ?? exit.signal}`);
    if (exit.code === 0)
      fail('exit-status', `tsland #${inst.index} exited 0 after losing its guardian; a non-zero status was expected`);
  }
  if (guardian) {
    const deadline = Date.now() + 5000;
    while (sameProcess(guardian.pid, guardian.startTicks) && Date.now() < deadline) await sleep(50);
    if (sameProcess(guardian.pid, guardian.startTicks)) {
      fail('guardian', `the guardian (pid ${guardian.pid}) outlived its scheduler by 5 s; killed`);
      signalIfSame(guardian.pid, guardian.startTicks, 'SIGKILL');
    }
  }
  const trips = soak.releaseRecords().filter((r) => r.schedulerPid === inst.pid);
  for (const r of trips) {
    const timing =
      r.lastBeatMs !== undefined && r.releasedMs !== undefined
        ? ` (released ${(r.releasedMs - r.lastBeatMs).toFixed(0)} ms after the last beat)`
        : '';
    rec.notes.push(`release by ${r.releasedBy}: ${r.reason}${timing}`);
  }
}

async function recover(soak: Soak, t0: number, rec: FaultRecord, fail: Fail): Promise<void> {
  if (soak.abort.signal.aborted) return;
  const inst = await soak.attach();
  if (!inst) {
    fail('recovery', 'tsland attach over the same workload did not start scheduling');
    return;
  }
  rec.recoveredMs = Date.now() - t0;
  rec.notes.push(`tsland attach #${inst.index} (pid ${inst.pid}) serving after ${rec.recoveredMs} ms`);
}

/** Every workload process old enough must be in the new scheduler's task list: found, not just running. */
async function checkManaged(soak: Soak, inst: Instance, fail: Fail): Promise<void> {
  await sleep(3000);
  const tasks = await fetchTasks(inst.socketPath);
  if (!tasks) return;
  const managed = new Set(tasks.map((t) => t.pid));
  const nowS = uptimeS();
  const census = soak.census.take();
  const missing = census.marked.filter(
    (e) => e.state !== 'Z' && nowS - e.startTicks / CLK_TCK >= MANAGED_AGE_S && !managed.has(e.pid),
  );
  if (missing.length > 0)
    fail('unmanaged', `${missing.length} workload process(es) not managed by tsland #${inst.index}: ${list(missing)}`);
}

export { checkManaged };
