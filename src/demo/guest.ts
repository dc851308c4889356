// The demo in the sched_ext guest, for machines whose kernel lacks sched_ext: one boot runs the whole demo
// (`tsland demo --backend scx`) inside, where the kernel's scheduler is EEVDF and tsland runs on the real
// sched_ext. The inside run writes its figures after every scheduler to a file in a host temporary directory
// that the guest sees, writable, as its working directory ($TSLAND_DEMO_RESULT names it); the host reads them
// back, prints the table and writes the report into the user's output directory. A run cut short (a peer
// that took the guest down) still shows the schedulers that finished.

import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { GuestError } from '../guest/errors.js';
import { runInGuest } from '../guest/launch.js';
import { cacheRoot, guestPaths } from '../guest/paths.js';
import { guestWorkDir, PACKAGE_ROOT } from '../guest/share.js';
import type { DemoData } from './report.js';
import { DemoInterrupted, demoTable, writeDemoReport, type DemoOutcome } from './run.js';

/** Set inside the guest: the file the inside run writes its figures to (and then no report, no table). */
export const DEMO_RESULT_ENV = 'TSLAND_DEMO_RESULT';
/** The demo's window per scheduler in the guest when none is given: emulation makes every run slow. */
export const GUEST_DEFAULT_SECONDS = 5;
const GUEST_CPUS = 2;
const GUEST_MEM_MIB = 2048;
const RESULT_FILE = 'demo.json';
const MS_PER_S = 1000;

export interface GuestDemoOptions {
  /** The tsland CLI's entry script (dist/src/cli/main.js), run in the guest as `demo --backend scx`. */
  cli: string;
  seconds: number;
  policy: string;
  outDir: string;
  peers: boolean;
  /** One line of progress on stderr (boot ticker, the inside run's own lines are passed through). */
  out?: NodeJS.WriteStream;
}

/**
 * About how long the demo takes in a software-emulated guest, s: boot, starting Node and loading tsland
 * (Node starts in ~5 s there), then per scheduler the workload's own start-up (~25-40 s) and its window.
 * With the defaults (5 s, four schedulers) a run on a 2-core host took 206 s idle and 282 s beside other guests.
 */
export function guestDemoEstimateS(seconds: number, schedulers: number): number {
  const BOOT_AND_LOAD_S = 60;
  const PER_RUN_S = 40;
  return BOOT_AND_LOAD_S + schedulers * (PER_RUN_S + seconds);
}

export async function runDemoInGuest(opts: GuestDemoOptions): Promise<DemoOutcome> {
  const out = opts.out ?? process.stderr;
  const tty = out.isTTY === true;
  const xdir = mkdtempSync(join(tmpdir(), 'tsland-demo-guest-'));
  const resultFile = join(xdir, RESULT_FILE);
  // The guest's cwd is xdir: a policy given as a relative path must still be found.
  const policy = existsSync(opts.policy) ? resolve(opts.policy) : opts.policy;
  const controller = new AbortController();
  const onSignal = () => controller.abort();
  const signals: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];
  for (const s of signals) process.on(s, onSignal);
  const kernel = guestPaths()?.kernelVersion ?? '?';
  const t0 = Date.now();
  const estimateS = guestDemoEstimateS(opts.seconds, opts.peers ? 4 : 2);
  out.write(
    `guest: booting ${kernel} (sched_ext) in a virtual machine; the demo takes about ${Math.ceil(estimateS / 60)} min there (Ctrl-C stops it)\n`,
  );
  // On a terminal, a status line under the inside run's own lines says how long it has been going.
  let booted = 0;
  const status = () => {
    const s = Math.round((Date.now() - t0) / MS_PER_S);
    return booted ? `guest: ${s} s of about ${estimateS} s` : `guest: booting ${s} s`;
  };
  let atLineStart = true;
  const draw = () => {
    if (tty && atLineStart) out.write(`\r\x1b[K${status()}`);
  };
  const ticker = tty ? setInterval(draw, MS_PER_S) : undefined;
  const clear = () => {
    if (tty && atLineStart) out.write('\r\x1b[K');
  };
  const pass = (b: Buffer) => {
    clear();
    out.write(b);
    atLineStart = b.length > 0 && b[b.length - 1] === 0x0a;
    draw();
  };
  draw();
  try {
    const result = await runInGuest({
      argv: [
        process.execPath,
        opts.cli,
        'demo',
        '--backend',
        'scx',
        '--seconds',
        String(opts.seconds),
        '--policy',
        policy,
        ...(opts.peers ? [] : ['--no-peers']),
      ],
      cpus: GUEST_CPUS,
      memMiB: GUEST_MEM_MIB,
      // Generous: a busy host can make the emulation several times slower still.
      timeoutMs: Math.max(15 * 60, 4 * estimateS) * MS_PER_S,
      // xdir, widened to hold the package and the policy file where the guest would hide them (under /tmp).
      cwd: guestWorkDir(xdir, [PACKAGE_ROOT, opts.cli, ...(existsSync(policy) ? [policy] : [])]),
      // The same cache (libbpf, the peers) inside as here, whatever HOME the guest has.
      env: { [DEMO_RESULT_ENV]: resultFile, TSLAND_CACHE_DIR: cacheRoot() },
      signal: controller.signal,
      onStarted: () => {
        booted = Date.now();
        pass(Buffer.from(`guest: booted in ${((booted - t0) / MS_PER_S).toFixed(0)} s; the demo runs in it now\n`));
      },
      onStdout: pass,
      onStderr: pass,
    });
    if (ticker) clearInterval(ticker);
    clear();
    if (result.aborted) throw new DemoInterrupted('interrupted');
    if (!existsSync(resultFile)) {
      const why = result.timedOut ? 'it timed out' : `status ${result.code}`;
      throw new GuestError(`the demo in the guest ended without a result (${why}); its output above says where it stopped`);
    }
    const data = JSON.parse(readFileSync(resultFile, 'utf8')) as DemoData;
    if (result.code !== 0 || result.timedOut) {
      data.notes.push(
        `The run in the guest ended early (${result.timedOut ? 'timed out' : `status ${result.code}`}): only the schedulers that finished are shown.`,
      );
    }
    out.write(
      `guest: done in ${((Date.now() - t0) / MS_PER_S).toFixed(0)} s (${result.accel.toUpperCase()}, boot ${(result.timings.bootMs / MS_PER_S).toFixed(0)} s)\n`,
    );
    const reportPath = writeDemoReport(data, opts.outDir);
    return { data, table: demoTable(data), reportPath };
  } finally {
    if (ticker) clearInterval(ticker);
    clear();
    for (const s of signals) process.off(s, onSignal);
    rmSync(xdir, { recursive: true, force: true });
  }
}
