// `npm run soak -- --backend scx` on a kernel without sched_ext: the same soak, run in the guest (src/guest:
// a sched_ext kernel under QEMU, 2 CPUs). The guest sees this machine's files read-only and the working
// directory writable at the same path, so the soak inside writes its record straight into --out, which is
// made the guest's working directory; the record is then read back here for the summary and the status.

import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { guestAvailability } from '../src/guest/availability.js';
import { runInGuest } from '../src/guest/launch.js';
import { guestWorkDir, hiddenFromGuest, PACKAGE_ROOT } from '../src/guest/share.js';
import type { SoakOptions } from './options.js';
import type { SoakRecord } from './record.js';
import { printSummary } from './run.js';

const MAIN_JS = fileURLToPath(new URL('./main.js', import.meta.url));

export const GUEST_CPUS = 2;
/** Node, tsland (about 150 MiB resident with its locked mappings), the load and the headroom fit in 2 GiB. */
export const GUEST_MEM_MIB = 2048;
/**
 * Beyond the run itself: the boot, tsland's first start (half a minute under emulation), a restart after each
 * scheduler fault (minutes beside the load: up to 10 are allowed for each), the end.
 */
const GUEST_SLACK_S = 15 * 60;

function stamp(d = new Date()): string {
  return d
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z');
}

export async function soakInGuest(opts: SoakOptions, argv: readonly string[], log: (line: string) => void): Promise<number> {
  const avail = guestAvailability();
  if (!avail.ok) {
    process.stderr.write(`soak: --backend scx needs sched_ext; this kernel has none and no guest can boot: ${avail.reason}\n`);
    return 1;
  }
  const outDir = resolve(opts.outDir);
  mkdirSync(outDir, { recursive: true });
  const runId = opts.runId ?? `${stamp()}-${process.pid}`;
  const scxFaults = opts.faults.filter((f) => f === 'stop-scheduler' || f === 'kill-scheduler').length;
  const timeoutS = opts.durationS + GUEST_SLACK_S + scxFaults * 600;
  log(
    `no sched_ext in this kernel: running the soak in the guest (${GUEST_CPUS} CPUs, ${GUEST_MEM_MIB} MiB, at most ${timeoutS} s)`,
  );
  // The record's directory, widened to hold the package when the guest would hide it (a clone in /tmp).
  const cwd = guestWorkDir(outDir, [PACKAGE_ROOT]);
  const hidden = hiddenFromGuest(cwd, [PACKAGE_ROOT]);
  if (hidden.length > 0)
    throw new Error(
      `tsland's package at ${hidden[0]} is under a directory the guest hides (${hidden[0]!.split('/')[1]}), and --out ${outDir} ` +
        `shares no directory with it: put --out inside ${hidden[0]}, or run from a checkout outside /tmp`,
    );
  const abort = new AbortController();
  const onSignal = () => abort.abort();
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  let r;
  try {
    r = await runInGuest({
      // The same flags; the later --out and --run-id win, so the record lands where this side looks.
      argv: [process.execPath, MAIN_JS, ...argv, '--out', outDir, '--run-id', runId, '--no-install'],
      cpus: GUEST_CPUS,
      memMiB: GUEST_MEM_MIB,
      timeoutMs: timeoutS * 1000,
      cwd,
      signal: abort.signal,
      onStdout: (b) => process.stdout.write(b),
      onStderr: (b) => process.stderr.write(b),
    });
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
  const json = join(outDir, `soak-${runId}.json`);
  if (!existsSync(json)) {
    process.stderr.write(
      `soak: the guest's soak ended with status ${r.code}${r.timedOut ? ` (timed out after ${timeoutS} s)` : r.aborted ? ' (interrupted)' : ''} without writing ${json}\n`,
    );
    return 1;
  }
  const record = JSON.parse(readFileSync(json, 'utf8')) as SoakRecord;
  log(`guest: ${r.accel}, Linux ${r.kernelVersion}, booted in ${(r.timings.bootMs / 1000).toFixed(1)} s, soak exit ${r.code}`);
  printSummary(record, log);
  return record.summary.passed && r.code === 0 ? 0 : 1;
}
