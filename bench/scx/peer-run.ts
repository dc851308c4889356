// One of the kernel tree's sched_ext schedulers (bench/scx/peers.ts builds them), or tsland itself with
// another setting, loaded in the guest while bench:scx runs the same workloads under it as under EEVDF
// and tsland. scx_userland decides in user space as tsland does: its CPU time per user-space dispatch is
// read from the counters it prints every second (tsland's from its stats socket).

import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { cpuMsOf } from './cpu-time.js';
import { runField, type FieldOptions, type FieldRun } from './field.js';
import { runHogs, type HogRun } from './hogs.js';

export interface PeerRun {
  name: string;
  /** What /sys/kernel/sched_ext/root/ops said while it ran. */
  ops: string;
  fair: HogRun;
  nice: HogRun;
  field: FieldRun;
  /** The peer process's CPU time over the fairness runs, ms, and its user-space dispatches meanwhile (null when it prints none). */
  fairnessCpuMs: number;
  fairnessUserDispatches: number | null;
  loadMs: number;
  exitCode: number | null;
}

/** tsland's default run (its scheduler thread waiting in epoll), as bench:scx names its visits. */
export const TSLAND_NAME = 'tsland';

/** Where the kernel shows sched_ext's state and the loaded scheduler's name. */
export const SCX_SYSFS = '/sys/kernel/sched_ext';
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms).unref());

/** A file under /sys/kernel/sched_ext, trimmed; '' when the kernel has no such file. */
export function readSys(name: string): string {
  try {
    return readFileSync(`${SCX_SYSFS}/${name}`, 'utf8').trim();
  } catch {
    return '';
  }
}

/** The latest "disp: N" scx_userland printed (its cumulative user-space dispatches), or null. */
export function lastUserlandDispatches(out: string): number | null {
  const all = [...out.matchAll(/\|\s*disp:\s*(\d+)/g)];
  return all.length ? Number(all[all.length - 1]![1]) : null;
}

/** How to run a peer and read its user-space dispatches. */
export interface PeerCommand {
  argv: string[];
  /** How long it runs idle after loading, before the measured window (its start-up is not a decision's cost). */
  settleMs: number;
  /** Its cumulative user-space dispatches so far (from what it printed, or its stats), or null. */
  dispatches(out: string): Promise<number | null>;
}

/** One of the kernel tree's C schedulers: line-buffered, so that the counters it prints each second arrive when printed. */
export function cPeer(bin: string): PeerCommand {
  return {
    argv: ['stdbuf', '-oL', bin],
    // Its per-second print: wait for one after the start, so the window's first reading is fresh.
    settleMs: 1500,
    dispatches: async (out) => lastUserlandDispatches(out),
  };
}

/** What a body run under a loaded scheduler gets: a check that it is still alive, and its output so far. */
interface Loaded {
  checkAlive(phase: string): void;
  pid: number;
  out(): string;
  loadMs: number;
  ops: string;
}

/**
 * Loads `cmd`, runs `body` while it is loaded, then unloads it (SIGINT, SIGKILL after 60 s) and waits for
 * sched_ext to be disabled again. Throws, with what the scheduler said last, when it fails to load, exits
 * or is unloaded by the kernel during the body.
 */
async function whileLoaded<T>(
  name: string,
  cmd: PeerCommand,
  body: (s: Loaded) => Promise<T>,
): Promise<T & { exitCode: number | null }> {
  const t0 = performance.now();
  const child = spawn(cmd.argv[0]!, cmd.argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (b: Buffer) => (out += b.toString()));
  child.stderr.on('data', (b: Buffer) => (err = (err + b.toString()).slice(-4000)));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  // Every timer here is unref'd: if the peer died mid-run and nothing else held this process, it would end
  // quietly with status 0 in the middle of an await. This one holds it until the peer's run is over.
  const hold = setInterval(() => {}, 60_000);
  /** Throws with what the peer said last if it has exited (the kernel ejected it, it crashed). */
  const checkAlive = (phase: string): void => {
    if (child.exitCode === null && child.signalCode === null) return;
    const last = err.trim().split('\n').slice(-3).join(' | ') || out.trim().split('\n').slice(-3).join(' | ');
    throw new Error(`${name} exited (${child.exitCode ?? child.signalCode}) during ${phase}: ${last}`);
  };
  try {
    for (;;) {
      checkAlive('its loading');
      if (readSys('state') === 'enabled') break;
      if (performance.now() - t0 > 300_000) throw new Error(`${name} did not load in 300 s`);
      await sleep(100);
    }
    const loadMs = performance.now() - t0;
    const ops = readSys('root/ops');
    const result = await body({ checkAlive, pid: child.pid!, out: () => out, loadMs, ops });
    if (readSys('state') !== 'enabled') throw new Error(`${name} was unloaded during the run: ${err.trim().split('\n').pop()}`);
    child.kill('SIGINT');
    const exitCode = await Promise.race([exited, sleep(60_000).then(() => -1)]);
    return { ...result, exitCode };
  } finally {
    clearInterval(hold);
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await exited;
    }
    for (let i = 0; i < 100 && readSys('state') !== 'disabled'; i++) await sleep(100);
  }
}

/** A peer's first visit: the fairness runs (its CPU time and dispatches over them), then the field's workloads. */
export async function underPeer(
  name: string,
  cmd: PeerCommand,
  seconds: number,
  field: FieldOptions,
  say: (line: string) => void,
): Promise<PeerRun> {
  return whileLoaded(name, cmd, async ({ checkAlive, pid, out, loadMs, ops }) => {
    say(`${name}: loaded in ${(loadMs / 1000).toFixed(1)} s (ops ${ops}); 8 equal hogs, then nice 0/5/10, for ${seconds} s each`);
    await sleep(cmd.settleMs);
    const cpu0 = cpuMsOf(pid);
    const disp0 = await cmd.dispatches(out());
    checkAlive('its settling');
    const fair = await runHogs([0, 0, 0, 0, 0, 0, 0, 0], seconds);
    checkAlive('the 8 equal hogs');
    const nice = await runHogs([0, 0, 5, 5, 10, 10], seconds);
    checkAlive('the nice hogs');
    await sleep(1500);
    const cpu1 = cpuMsOf(pid);
    const disp1 = await cmd.dispatches(out());
    say(`${name}: hackbench, cyclictest, build`);
    const fieldRun = await runField(field);
    checkAlive("the field's workloads");
    return {
      name,
      ops,
      fair,
      nice,
      field: fieldRun,
      fairnessCpuMs: cpu1 - cpu0,
      fairnessUserDispatches: disp0 !== null && disp1 !== null ? disp1 - disp0 : null,
      loadMs,
    };
  });
}

/** A scheduler's visit on the way back (the order reversed): the field's workloads only. */
export async function fieldUnder(
  name: string,
  cmd: PeerCommand,
  field: FieldOptions,
  say: (line: string) => void,
): Promise<FieldRun> {
  const r = await whileLoaded(name, cmd, async ({ checkAlive, loadMs, ops }) => {
    say(`${name} (return leg): loaded in ${(loadMs / 1000).toFixed(1)} s (ops ${ops}); hackbench, cyclictest, build`);
    await sleep(cmd.settleMs);
    checkAlive('its settling');
    const run = await runField(field);
    checkAlive("the field's workloads");
    return { run };
  });
  return r.run;
}
