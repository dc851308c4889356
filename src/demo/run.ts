// Runs the demo: the embedded workload under the kernel's scheduler, then under tsland (on sched_ext or through
// signals), then, on sched_ext where they are built, under the kernel tree's scx_simple and scx_userland; then
// the table and the report. Every run starts the same command and measures the same window (see workload.ts).

import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, loadavg, release, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { Readable } from 'node:stream';
import { runManaged } from '../backends/proc/index.js';
import { runScx, startScx } from '../backends/scx/main/managed.js';
import { scxState, SCX_SYSFS } from '../backends/scx/loader.js';
import type { SessionHandle } from '../backends/session/seam.js';
import { cachedPeers } from '../guest/peers-cache.js';
import { C } from '../base/counters.js';
import { CounterSampler } from '../stats/sampler.js';
import { startObservability, type Observability } from '../stats/observe.js';
import { analyse, type RunFigures } from './analysis.js';
import { Progress } from './progress.js';
import { demoReportHtml, type DemoData, type PeerFigures } from './report.js';
import { comparisonRows, renderTextTable, tableCells, tableColumns, type SchedulerColumn, type TslandExtras } from './table.js';
import { WORKLOAD_SCRIPT, type MixResult } from './workload.js';
import { MSEC_PER_SEC, USEC_PER_MSEC } from '../base/units.js';

export interface DemoOptions {
  seconds: number;
  outDir: string;
  policy: string;
  /** Nice value of each hog; default two hogs per CPU class at nice 0, 5 and 10 (CPUs hogs per class). */
  nices?: number[];
  probePeriodUs?: number;
  /** Skip the tsland half (for machines where it cannot run). */
  kernelOnly?: boolean;
  /** Serve stats during the tsland half so `tsland top` can watch it. */
  statsServer?: boolean;
  /** The tsland half's backend: 'proc' (signals, any kernel; the default) or 'scx' (the kernel's sched_ext). */
  backend?: DemoBackend;
  /** On sched_ext: also run the cached peers (scx_simple, scx_userland) where they are built. Default true. */
  peers?: boolean;
  /** The demo runs inside the sched_ext guest (said in the report). */
  inGuest?: boolean;
  /** Write the figures so far (DemoData) to this file after every scheduler, so a run cut short keeps them. */
  progressFile?: string;
  /** Write the HTML report (default true). */
  writeReport?: boolean;
}

export type DemoBackend = 'proc' | 'scx';

export interface DemoOutcome {
  data: DemoData;
  table: string;
  /** '' when no report was written (writeReport false). */
  reportPath: string;
}

/** The kernel tree's schedulers the demo runs on sched_ext, in this order, where their binaries are cached. */
export const DEMO_PEERS = ['scx_simple', 'scx_userland'] as const;

/** Ctrl-C or SIGTERM during the demo: the running half is stopped (and its tree released), then this is thrown. */
export class DemoInterrupted extends Error {
  override name = 'DemoInterrupted';
}

/** What to do when the user interrupts: set by whichever half is running. */
class Interrupt {
  interrupted = false;
  private cancel: (() => void) | null = null;
  private wake: (() => void) | null = null;
  readonly onSignal = (): void => {
    this.interrupted = true;
    this.cancel?.();
    this.wake?.();
  };
  /** Sleeps until epoch ms `atMs`, or less when interrupted. */
  until(atMs: number): Promise<void> {
    if (this.interrupted) return Promise.resolve();
    return new Promise((resolve) => {
      const t = setTimeout(resolve, Math.max(0, atMs - Date.now()));
      this.wake = () => {
        clearTimeout(t);
        resolve();
      };
    });
  }
  during(cancel: () => void): void {
    this.cancel = cancel;
    if (this.interrupted) cancel();
  }
  check(): void {
    if (this.interrupted) throw new DemoInterrupted('interrupted');
  }
}

const DEFAULT_NICE_CLASSES = [0, 5, 10];
const DISPATCH_SAMPLE_MS = 250;

export function defaultNices(nrCpus = availableParallelism()): number[] {
  const perClass = Math.max(1, Math.min(8, nrCpus));
  return DEFAULT_NICE_CLASSES.flatMap((n) => Array<number>(perClass).fill(n));
}

function isRoot(): boolean {
  return typeof process.getuid === 'function' && process.getuid() === 0;
}

/** Resolves with the window the mix announced on its stdout ("window <start> <end>"). */
function windowOf(stdout: Readable): Promise<[number, number]> {
  return new Promise((resolveWindow, reject) => {
    let text = '';
    stdout.setEncoding('utf8');
    stdout.on('data', (d: string) => {
      text += d;
      const m = /window (\d+) (\d+)/.exec(text);
      if (m) resolveWindow([Number(m[1]), Number(m[2])]);
    });
    stdout.once('end', () => reject(new Error('the workload ended before its window opened')));
  });
}

function mixArgs(outFile: string, seconds: number, nices: number[], periodUs: number): string[] {
  return [
    WORKLOAD_SCRIPT,
    'mix',
    '--seconds',
    String(seconds),
    '--nices',
    nices.join(','),
    '--period-us',
    String(periodUs),
    '--out',
    outFile,
  ];
}

interface MixOptions {
  seconds: number;
  policy: string;
  nices: number[];
  probePeriodUs: number;
}

/**
 * The workload started as a plain child: under the kernel's scheduler, or under a peer that schedules the
 * whole machine. `alsoOnInterrupt` is stopped with it on Ctrl-C.
 */
async function plainHalf(
  o: MixOptions,
  out: string,
  label: string,
  underWhat: string,
  progress: Progress,
  interrupt: Interrupt,
  alsoOnInterrupt?: () => void,
): Promise<MixResult> {
  const child = spawn(process.execPath, mixArgs(out, o.seconds, o.nices, o.probePeriodUs), {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const exit = new Promise<number>((res) => child.once('exit', (code, sig) => res(code ?? (sig ? 128 : 1))));
  // The hogs and the probe end on their own: at the window's end, or when the mix's pipe to them closes.
  interrupt.during(() => {
    child.kill('SIGTERM');
    alsoOnInterrupt?.();
  });
  try {
    const [startAt, endAt] = await windowOf(child.stdout!);
    progress.phase(label, startAt, endAt);
    const code = await exit;
    progress.end();
    interrupt.check();
    if (code !== 0) throw new Error(`the workload failed under ${underWhat} (exit ${code})`);
  } finally {
    if (child.exitCode === null) child.kill('SIGKILL');
  }
  return JSON.parse(readFileSync(out, 'utf8')) as MixResult;
}

function kernelHalf(o: MixOptions, dir: string, progress: Progress, interrupt: Interrupt): Promise<MixResult> {
  progress.note("kernel: starting the workload under the kernel's scheduler");
  return plainHalf(o, join(dir, 'kernel.json'), 'kernel scheduler', "the kernel's scheduler", progress, interrupt);
}

const PEER_LOAD_MS = 60_000;
const PEER_UNLOAD_MS = 15_000;
const POLL_MS = 100;

function readOps(): string {
  try {
    return readFileSync(`${SCX_SYSFS}/root/ops`, 'utf8').trim();
  } catch {
    return '';
  }
}

/**
 * A peer of the kernel tree (scx_simple, scx_userland) loaded for the whole machine while the workload runs
 * once more. The kernel may eject it (its watchdog, an RCU stall under emulation): then this throws with the
 * peer's last line, and the demo goes on without its column.
 */
async function peerHalf(
  name: string,
  bin: string,
  o: MixOptions,
  dir: string,
  progress: Progress,
  interrupt: Interrupt,
): Promise<PeerFigures> {
  progress.note(`${name}: loading the kernel tree's ${name}, then the same workload under it`);
  const peer = spawn(bin, [], { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  peer.stderr.setEncoding('utf8').on('data', (d: string) => (err = (err + d).slice(-4000)));
  const exited = new Promise<void>((res) => {
    peer.once('exit', () => res());
    peer.once('error', (e) => {
      err += e.message;
      res();
    });
  });
  const gone = () => peer.exitCode !== null || peer.signalCode !== null;
  const lastLine = () => err.trim().split('\n').pop() ?? '';
  interrupt.during(() => peer.kill('SIGINT'));
  try {
    const t0 = Date.now();
    while (scxState() !== 'enabled') {
      interrupt.check();
      if (gone()) throw new Error(`${name} exited at start: ${lastLine() || `status ${peer.exitCode ?? peer.signalCode}`}`);
      if (Date.now() - t0 > PEER_LOAD_MS) throw new Error(`${name} did not load within ${PEER_LOAD_MS / 1000} s`);
      await interrupt.until(Date.now() + POLL_MS);
    }
    const ops = readOps();
    const mix = await plainHalf(o, join(dir, `${name}.json`), name, name, progress, interrupt, () => peer.kill('SIGINT'));
    if (gone() || scxState() !== 'enabled')
      throw new Error(`the kernel unloaded ${name} during its run${lastLine() ? `: ${lastLine()}` : ''}`);
    return { name, ops, figures: analyse(mix) };
  } finally {
    if (!gone()) peer.kill('SIGINT');
    const t1 = Date.now();
    while (!gone() && Date.now() - t1 < PEER_UNLOAD_MS) await new Promise((r) => setTimeout(r, POLL_MS));
    if (!gone()) peer.kill('SIGKILL');
    await exited;
    // The next scheduler can load only once the kernel has finished unloading this one.
    while (scxState() !== 'disabled' && Date.now() - t1 < PEER_UNLOAD_MS) await new Promise((r) => setTimeout(r, POLL_MS));
  }
}

interface TslandRun {
  mix: MixResult;
  extras: TslandExtras;
  dispatchRate: { atS: number[]; perS: number[] };
}

/**
 * On sched_ext in the emulated guest, how long the BPF half bridges a scheduler thread that placed nothing
 * before it gives the machine back (the kernel's maximum): emulation stretches V8's pauses there, and a
 * 5 s stall ejected tsland in a guest run of the demo. bench:scx runs with the same.
 */
const GUEST_SCX_TIMEOUT_MS = 30_000;

async function tslandHalf(
  o: MixOptions,
  backend: DemoBackend,
  inGuest: boolean,
  dir: string,
  progress: Progress,
  lock: boolean,
  serveStats: boolean,
  notes: string[],
  interrupt: Interrupt,
): Promise<TslandRun> {
  const out = join(dir, 'tsland.json');
  // In the guest nothing else runs: tsland schedules every task there, as the peers do (`tsland start`); on a
  // machine of its own the demo puts only its workload's tree on sched_ext (`tsland run --backend scx`).
  const whole = backend === 'scx' && inGuest;
  const on = backend === 'scx' ? `on the kernel's sched_ext${whole ? ', every task of the guest' : ''}` : 'through signals';
  progress.note(`tsland: starting the same workload under tsland (${o.policy}) ${on}${lock ? '' : ', arena unlocked'}`);
  const start = (locked: boolean): Promise<SessionHandle> => {
    const spec = {
      command: process.execPath,
      args: mixArgs(out, o.seconds, o.nices, o.probePeriodUs),
      stdio: ['ignore', 'pipe', 'inherit'] as ('ignore' | 'pipe' | 'inherit')[],
      policy: o.policy,
      lock: locked,
    };
    if (whole) return startScx({ policy: o.policy, lock: locked, timeoutMs: GUEST_SCX_TIMEOUT_MS });
    return backend === 'scx' ? runScx(spec) : runManaged(spec);
  };
  let handle: SessionHandle;
  try {
    handle = await start(lock);
  } catch (err) {
    if (!lock) throw err;
    // Root without enough lockable memory (a container's limit): the demo still shows the rest, and says so.
    notes.push(`Locking the scheduler's memory failed (${(err as Error).message}); tsland ran unlocked.`);
    progress.note('tsland: locking failed, starting again unlocked');
    handle = await start(false);
  }
  // Scheduling the whole machine, tsland runs no command: the workload is started as a plain child.
  const mix = whole
    ? spawn(process.execPath, mixArgs(out, o.seconds, o.nices, o.probePeriodUs), { stdio: ['ignore', 'pipe', 'inherit'] })
    : null;
  const mixExit = mix ? new Promise<number>((res) => mix.once('exit', (code, sig) => res(code ?? (sig ? 128 : 1)))) : null;
  const child = mix ?? handle.child!;
  // A stop with a signal sends it to every task tsland schedules: the tree of `run`, but every task of the
  // machine after `start`. There only the workload is told, and tsland stops without a signal.
  const stopSignal = (sig: NodeJS.Signals): NodeJS.Signals | undefined => (whole ? undefined : sig);
  interrupt.during(() => {
    mix?.kill('SIGTERM');
    void handle.stop(stopSignal('SIGTERM'));
  });
  let obs: Observability | undefined;
  const sampler = new CounterSampler(handle.counters, 100_000);
  try {
    if (serveStats) {
      obs = await startObservability(
        { statsServer: true },
        {
          counters: handle.counters,
          tasks: () => handle.tasks(),
          info: () => ({ policy: handle.policy, backend: handle.backend, command: 'tsland demo' }),
        },
      ).catch(() => undefined);
      if (obs?.stats) progress.note(`tsland: watch it live with 'tsland top --socket ${obs.stats.socketPath}'`);
    }
    const [startAt, endAt] = await windowOf(child.stdout!);
    await interrupt.until(startAt);
    const c0 = Float64Array.from(handle.counters.f64);
    const cpu0 = process.cpuUsage();
    sampler.sample();
    const timer = setInterval(() => sampler.sample(), DISPATCH_SAMPLE_MS);
    progress.phase(`tsland (${handle.policy})`, startAt, endAt);
    await interrupt.until(endAt);
    clearInterval(timer);
    sampler.sample();
    const cpu = process.cpuUsage(cpu0);
    const c1 = Float64Array.from(handle.counters.f64);
    progress.end();
    const failed = (e: { code: number; message?: string }) =>
      new Error(`the workload failed under tsland: ${e.message ?? `exit ${e.code}`}`);
    if (mixExit) {
      // The workload ends on its own; the scheduler must still be loaded then (else the kernel ejected it).
      const first = await Promise.race([
        mixExit.then((code) => ({ code, ended: null })),
        handle.exited.then((ended) => ({ code: -1, ended })),
      ]);
      if (first.ended) throw failed(first.ended);
      const code = first.code;
      interrupt.check();
      if (code !== 0) throw new Error(`the workload failed under tsland (exit ${code})`);
      await handle.stop();
    } else {
      const exit = await handle.exited;
      interrupt.check();
      if (exit.code !== 0) throw failed(exit);
    }
    const windowMs = endAt - startAt;
    const dispatches = sampler.rates('nr_user_dispatches');
    const t0 = sampler.history[0]!.atMs;
    return {
      mix: JSON.parse(readFileSync(out, 'utf8')) as MixResult,
      extras: {
        policy: handle.policy,
        locked: handle.locked,
        pageFaults: c1[C.nr_page_faults]! - c0[C.nr_page_faults]!,
        gcEvents: c1[C.nr_gc_events]! - c0[C.nr_gc_events]!,
        cpuPercent: ((cpu.user + cpu.system) / USEC_PER_MSEC / windowMs) * 100,
      },
      dispatchRate: { atS: sampler.history.slice(1).map((s) => (s.atMs - t0) / MSEC_PER_SEC), perS: dispatches },
    };
  } catch (err) {
    // After the kernel ejected the scheduler the session knows no task of the tree: the workload itself,
    // back on the fair class, takes its hogs and probe along when told (they would end at the window's end).
    if (child.exitCode === null) child.kill('SIGTERM');
    await handle.stop(stopSignal('SIGKILL')).catch(() => {});
    interrupt.check();
    throw err;
  } finally {
    await obs?.close();
  }
}

function stamp(d: Date): string {
  return d.toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15);
}

interface DemoState {
  kernel: RunFigures;
  tsland: TslandRun | null;
  peers: PeerFigures[];
}

function demoData(
  state: DemoState,
  o: MixOptions,
  backend: DemoBackend,
  inGuest: boolean,
  nrCpus: number,
  started: Date,
  loadAvgAtStart: number,
  notes: readonly string[],
): DemoData {
  const tslandFigures = state.tsland ? analyse(state.tsland.mix) : null;
  const columns: SchedulerColumn[] = [
    { name: 'kernel', figures: state.kernel },
    { name: 'tsland', figures: tslandFigures },
    ...state.peers.map((p) => ({ name: p.name, figures: p.figures })),
  ];
  const rows = comparisonRows(columns, 1, state.tsland?.extras ?? null);
  return {
    setup: {
      seconds: o.seconds,
      nrCpus,
      nices: o.nices,
      probePeriodUs: o.probePeriodUs,
      policy: state.tsland?.extras.policy ?? o.policy,
      backend,
      inGuest,
      node: process.version,
      kernel: release(),
      startedAt: started.toISOString(),
      loadAverage: Number(loadAvgAtStart.toFixed(2)),
    },
    columns: tableColumns(columns),
    rows,
    cells: tableCells(rows),
    kernel: state.kernel,
    tsland: tslandFigures,
    extras: state.tsland?.extras ?? null,
    peers: state.peers,
    dispatchRate: state.tsland?.dispatchRate ?? { atS: [], perS: [] },
    notes: [...notes],
  };
}

/** The cached peers' binaries by name, where they were built against this kernel; none elsewhere. */
function peerBinaries(): [string, string][] {
  const hit = cachedPeers(process.env, release());
  if (!hit) return [];
  const bins: Record<(typeof DEMO_PEERS)[number], string> = { scx_simple: hit.peers.simple, scx_userland: hit.peers.userland };
  return DEMO_PEERS.map((name) => [name, bins[name]]);
}

/** Writes the data to the report file in the output directory; returns its path. */
export function writeDemoReport(data: DemoData, outDir: string): string {
  const dir = resolve(outDir);
  mkdirSync(dir, { recursive: true });
  const reportPath = join(dir, `demo-${stamp(new Date(data.setup.startedAt))}.html`);
  writeFileSync(reportPath, demoReportHtml(data));
  return reportPath;
}

export function demoTable(data: DemoData): string {
  return renderTextTable(data.columns, data.rows);
}

export async function runDemo(opts: DemoOptions): Promise<DemoOutcome> {
  const nrCpus = availableParallelism();
  const backend = opts.backend ?? 'proc';
  const inGuest = opts.inGuest ?? false;
  const o: MixOptions = {
    seconds: opts.seconds,
    policy: opts.policy,
    nices: opts.nices ?? defaultNices(nrCpus),
    probePeriodUs: opts.probePeriodUs ?? 2000,
  };
  const progress = new Progress();
  const notes: string[] = [];
  const started = new Date();
  const loadAvgAtStart = loadavg()[0] ?? 0;
  if (loadAvgAtStart > nrCpus)
    notes.push(
      `The machine was busy (load average ${loadAvgAtStart.toFixed(1)} on ${nrCpus} CPUs): other processes compete with every run, so figures vary from run to run.`,
    );
  const lock = isRoot();
  if (!lock)
    notes.push(
      'Not running as root: tsland ran with its arena unlocked (not pinned in RAM), so the scheduler thread could take page faults. Run as root to lock it.',
    );
  const peers = backend === 'scx' && opts.peers !== false && !opts.kernelOnly ? peerBinaries() : [];
  if (backend === 'scx' && opts.peers !== false && !opts.kernelOnly && peers.length === 0)
    notes.push(
      "The kernel tree's schedulers scx_simple and scx_userland did not run: they are not built for this kernel (npm run bench:peers builds them).",
    );
  const dir = mkdtempSync(join(tmpdir(), 'tsland-demo-'));
  const state: DemoState = { kernel: null as unknown as RunFigures, tsland: null, peers: [] };
  const snapshot = () => demoData(state, o, backend, inGuest, nrCpus, started, loadAvgAtStart, notes);
  const saveProgress = () => {
    if (opts.progressFile) writeFileSync(opts.progressFile, JSON.stringify(snapshot()));
  };
  const interrupt = new Interrupt();
  process.on('SIGINT', interrupt.onSignal);
  process.on('SIGTERM', interrupt.onSignal);
  try {
    state.kernel = analyse(await kernelHalf(o, dir, progress, interrupt));
    saveProgress();
    if (!opts.kernelOnly) {
      try {
        state.tsland = await tslandHalf(o, backend, inGuest, dir, progress, lock, opts.statsServer ?? true, notes, interrupt);
      } catch (err) {
        progress.end();
        if (err instanceof DemoInterrupted) throw err;
        notes.push(`The tsland half could not run: ${(err as Error).message}`);
      }
      saveProgress();
    }
    for (const [name, bin] of peers) {
      // A note first: if the peer takes the machine down with it (seen under emulation), the file says where.
      notes.push(`${name} was running when this was written.`);
      saveProgress();
      notes.pop();
      try {
        state.peers.push(await peerHalf(name, bin, o, dir, progress, interrupt));
      } catch (err) {
        progress.end();
        if (err instanceof DemoInterrupted) throw err;
        notes.push(`${name} did not finish its run: ${(err as Error).message}`);
      }
      saveProgress();
    }
  } finally {
    process.off('SIGINT', interrupt.onSignal);
    process.off('SIGTERM', interrupt.onSignal);
    progress.end();
    rmSync(dir, { recursive: true, force: true });
  }
  const data = snapshot();
  const reportPath = opts.writeReport === false ? '' : writeDemoReport(data, opts.outDir);
  return { data, table: demoTable(data), reportPath };
}
