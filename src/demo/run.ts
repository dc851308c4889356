// Runs the demo: the embedded workload under the kernel's scheduler, then under tsland, then the table and
// the report. Both halves run the same command and measure the same window (see workload.ts).

import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, loadavg, release, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { Readable } from 'node:stream';
import { runManaged } from '../backends/proc/index.js';
import { C } from '../base/counters.js';
import { CounterSampler } from '../stats/sampler.js';
import { startObservability, type Observability } from '../stats/observe.js';
import { analyse, type RunFigures } from './analysis.js';
import { Progress } from './progress.js';
import { demoReportHtml, type DemoData } from './report.js';
import { comparisonRows, renderTextTable, tableCells, type TslandExtras } from './table.js';
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
}

export interface DemoOutcome {
  data: DemoData;
  table: string;
  reportPath: string;
}

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

async function kernelHalf(
  o: Required<Omit<DemoOptions, 'kernelOnly' | 'statsServer'>> & { nices: number[] },
  dir: string,
  progress: Progress,
  interrupt: Interrupt,
): Promise<MixResult> {
  const out = join(dir, 'kernel.json');
  progress.note("kernel: starting the workload under the kernel's scheduler");
  const child = spawn(process.execPath, mixArgs(out, o.seconds, o.nices, o.probePeriodUs), {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const exit = new Promise<number>((res) => child.once('exit', (code, sig) => res(code ?? (sig ? 128 : 1))));
  // The hogs and the probe end on their own: at the window's end, or when the mix's pipe to them closes.
  interrupt.during(() => child.kill('SIGTERM'));
  try {
    const [startAt, endAt] = await windowOf(child.stdout!);
    progress.phase('kernel scheduler', startAt, endAt);
    const code = await exit;
    progress.end();
    interrupt.check();
    if (code !== 0) throw new Error(`the workload failed under the kernel's scheduler (exit ${code})`);
  } finally {
    if (child.exitCode === null) child.kill('SIGKILL');
  }
  return JSON.parse(readFileSync(out, 'utf8')) as MixResult;
}

interface TslandRun {
  mix: MixResult;
  extras: TslandExtras;
  dispatchRate: { atS: number[]; perS: number[] };
}

async function tslandHalf(
  o: Required<Omit<DemoOptions, 'kernelOnly' | 'statsServer'>> & { nices: number[] },
  dir: string,
  progress: Progress,
  lock: boolean,
  serveStats: boolean,
  notes: string[],
  interrupt: Interrupt,
): Promise<TslandRun> {
  const out = join(dir, 'tsland.json');
  progress.note(`tsland: starting the same workload under tsland (${o.policy})${lock ? '' : ', arena unlocked'}`);
  const start = (locked: boolean) =>
    runManaged({
      command: process.execPath,
      args: mixArgs(out, o.seconds, o.nices, o.probePeriodUs),
      stdio: ['ignore', 'pipe', 'inherit'],
      policy: o.policy,
      lock: locked,
    });
  let handle: Awaited<ReturnType<typeof runManaged>>;
  try {
    handle = await start(lock);
  } catch (err) {
    if (!lock) throw err;
    // Root without enough lockable memory (a container's limit): the demo still shows the rest, and says so.
    notes.push(`Locking the scheduler's memory failed (${(err as Error).message}); tsland ran unlocked.`);
    progress.note('tsland: locking failed, starting again unlocked');
    handle = await start(false);
  }
  interrupt.during(() => void handle.stop('SIGTERM'));
  let obs: Observability | undefined;
  const sampler = new CounterSampler(handle.counters, 100_000);
  try {
    if (serveStats) {
      obs = await startObservability(
        { statsServer: true },
        {
          counters: handle.counters,
          tasks: () => handle.tasks(),
          info: () => ({ policy: handle.policy, backend: 'proc', command: 'tsland demo' }),
        },
      ).catch(() => undefined);
      if (obs?.stats) progress.note(`tsland: watch it live with 'tsland top --socket ${obs.stats.socketPath}'`);
    }
    const [startAt, endAt] = await windowOf(handle.child!.stdout!);
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
    const exit = await handle.exited;
    interrupt.check();
    if (exit.code !== 0) throw new Error(`the workload failed under tsland: ${exit.message ?? `exit ${exit.code}`}`);
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
    await handle.stop('SIGKILL').catch(() => {});
    interrupt.check();
    throw err;
  } finally {
    await obs?.close();
  }
}

function stamp(d: Date): string {
  return d.toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15);
}

export async function runDemo(opts: DemoOptions): Promise<DemoOutcome> {
  const nrCpus = availableParallelism();
  const o = {
    seconds: opts.seconds,
    outDir: opts.outDir,
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
      `The machine was busy (load average ${loadAvgAtStart.toFixed(1)} on ${nrCpus} CPUs): other processes compete with both halves, so figures vary from run to run.`,
    );
  const lock = isRoot();
  if (!lock)
    notes.push(
      'Not running as root: tsland ran with its arena unlocked (not pinned in RAM), so the scheduler thread could take page faults. Run as root to lock it.',
    );
  const dir = mkdtempSync(join(tmpdir(), 'tsland-demo-'));
  let kernel: RunFigures;
  let tsland: TslandRun | null = null;
  const interrupt = new Interrupt();
  process.on('SIGINT', interrupt.onSignal);
  process.on('SIGTERM', interrupt.onSignal);
  try {
    kernel = analyse(await kernelHalf(o, dir, progress, interrupt));
    if (!opts.kernelOnly) {
      try {
        tsland = await tslandHalf(o, dir, progress, lock, opts.statsServer ?? true, notes, interrupt);
      } catch (err) {
        progress.end();
        if (err instanceof DemoInterrupted) throw err;
        notes.push(`The tsland half could not run: ${(err as Error).message}`);
      }
    }
  } finally {
    process.off('SIGINT', interrupt.onSignal);
    process.off('SIGTERM', interrupt.onSignal);
    progress.end();
    rmSync(dir, { recursive: true, force: true });
  }
  const tslandFigures = tsland ? analyse(tsland.mix) : null;
  const rows = comparisonRows(kernel, tslandFigures, tsland?.extras ?? null);
  const data: DemoData = {
    setup: {
      seconds: o.seconds,
      nrCpus,
      nices: o.nices,
      probePeriodUs: o.probePeriodUs,
      policy: tsland?.extras.policy ?? o.policy,
      node: process.version,
      kernel: release(),
      startedAt: started.toISOString(),
      loadAverage: Number(loadAvgAtStart.toFixed(2)),
    },
    rows,
    cells: tableCells(rows),
    kernel,
    tsland: tslandFigures,
    extras: tsland?.extras ?? null,
    dispatchRate: tsland?.dispatchRate ?? { atS: [], perS: [] },
    notes,
  };
  const outDir = resolve(o.outDir);
  mkdirSync(outDir, { recursive: true });
  const reportPath = join(outDir, `demo-${stamp(started)}.html`);
  writeFileSync(reportPath, demoReportHtml(data));
  return { data, table: renderTextTable(rows), reportPath };
}
