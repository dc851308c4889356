// The root of the soak's workload: the command `tsland run` starts. It runs the steady load (stress-ng CPU
// and vm workers, the fork storm, the build loop), starts a burst or a memory jump when the harness signals
// it, records every component it starts and reaps in the ledger, and on SIGTERM (or its own deadline)
// stops everything, reaps it all and exits 0 when nothing went wrong.
//
// vm workers populate their mapping inside mmap: the pressure arrives at once, in the kernel, however
// little CPU the scheduler gives the worker afterwards.
//
// Each component runs in its own process group so it can be stopped whole, and it is sent SIGCONT after
// SIGTERM: a task the scheduler holds stopped must still be able to act on the signal.

import { spawn, type ChildProcess } from 'node:child_process';
import { openSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { appendLedger, type ComponentKind } from './ledger.js';
import { BURST_SIGNAL, MEMORY_JUMP_SIGNAL, type WorkloadSpec } from './spec.js';

const STOP_GRACE_MS = 10_000;

interface Live {
  id: string;
  kind: ComponentKind;
  child: ChildProcess;
  stoppedByUs: boolean;
}

const spec = JSON.parse(readFileSync(process.argv[2]!, 'utf8')) as WorkloadSpec;
const live = new Map<string, Live>();
const seq: Record<string, number> = {};
let stopping = false;
let failures = 0;
const log = openSync(join(spec.runDir, 'workload.log'), 'a');
// Safety net: nothing the root starts outlives the run by much, even if the root itself is killed.
const safetyS = String(Math.max(60, Math.ceil((spec.deadlineMs - Date.now()) / 1000) + 120));

function nextId(kind: ComponentKind): string {
  seq[kind] = (seq[kind] ?? 0) + 1;
  return `${kind}#${seq[kind]}`;
}

function start(kind: ComponentKind, argv: string[], onExit?: (code: number | null) => void, countsFile?: string): void {
  const id = nextId(kind);
  const child = spawn(argv[0]!, argv.slice(1), { detached: true, stdio: ['ignore', log, log] });
  if (child.pid === undefined) {
    failures++;
    appendLedger(spec.ledgerPath, {
      ev: 'exit',
      atMs: Date.now(),
      id,
      kind,
      pid: -1,
      code: null,
      signal: 'spawn-failed',
      stoppedByUs: false,
    });
    child.on('error', () => {});
    return;
  }
  const entry: Live = { id, kind, child, stoppedByUs: false };
  live.set(id, entry);
  appendLedger(spec.ledgerPath, {
    ev: 'start',
    atMs: Date.now(),
    id,
    kind,
    pid: child.pid,
    argv,
    ...(countsFile ? { countsFile } : {}),
  });
  child.on('exit', (code, signal) => {
    live.delete(id);
    appendLedger(spec.ledgerPath, {
      ev: 'exit',
      atMs: Date.now(),
      id,
      kind,
      pid: child.pid!,
      code,
      signal,
      stoppedByUs: entry.stoppedByUs,
    });
    if (!entry.stoppedByUs && code !== 0) failures++;
    onExit?.(code);
    if (stopping && live.size === 0) finish();
  });
}

function startCpu(): void {
  if (spec.cpuWorkers > 0) start('cpu', ['stress-ng', '--cpu', String(spec.cpuWorkers), '--timeout', safetyS, '-q']);
}

function startVm(): void {
  if (spec.vmWorkers > 0 && spec.vmMiBTotal > 0) {
    start('vm', [
      'stress-ng',
      '--vm',
      String(spec.vmWorkers),
      '--vm-bytes',
      `${spec.vmMiBTotal}m`,
      '--vm-keep',
      '--vm-populate',
      '--timeout',
      safetyS,
      '-q',
    ]);
  }
}

function startStorm(): void {
  if (spec.forkRatePerS <= 0) return;
  const counts = join(spec.runDir, `counts-storm-${(seq.storm ?? 0) + 1}.txt`);
  start('storm', [spec.churnPath, 'storm', String(spec.forkRatePerS), String(spec.forkMaxLive), counts], undefined, counts);
}

function startBuild(): void {
  if (stopping) return;
  // Back to back, one round after another, for as long as the run lasts.
  start('build', ['make', '-s', '-C', spec.buildDir, `-j${spec.buildJobs}`, 'rebuild'], () => {
    if (!stopping) setTimeout(startBuild, 100);
  });
}

function startBurst(): void {
  if (stopping) return;
  const counts = join(spec.runDir, `counts-burst-${(seq.burst ?? 0) + 1}.txt`);
  start('burst', [spec.churnPath, 'burst', String(spec.burstCount), counts], undefined, counts);
}

function startMemoryJump(): void {
  if (stopping || spec.jumpMiB <= 0) return;
  start('memory-jump', [
    'stress-ng',
    '--vm',
    '1',
    '--vm-bytes',
    `${spec.jumpMiB}m`,
    '--vm-keep',
    '--vm-populate',
    '--timeout',
    `${spec.jumpS}s`,
    '-q',
  ]);
}

function signalGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // The group is already gone.
  }
}

function stopAll(): void {
  if (stopping) return;
  stopping = true;
  if (live.size === 0) return finish();
  for (const entry of live.values()) {
    entry.stoppedByUs = true;
    signalGroup(entry.child.pid!, 'SIGTERM');
    signalGroup(entry.child.pid!, 'SIGCONT');
  }
  setTimeout(() => {
    for (const entry of live.values()) {
      signalGroup(entry.child.pid!, 'SIGCONT');
      signalGroup(entry.child.pid!, 'SIGKILL');
    }
  }, STOP_GRACE_MS).unref();
}

let finished = false;
function finish(): void {
  if (finished) return;
  finished = true;
  appendLedger(spec.ledgerPath, { ev: 'done', atMs: Date.now(), ok: failures === 0 });
  process.exit(failures === 0 ? 0 : 1);
}

appendLedger(spec.ledgerPath, { ev: 'root', atMs: Date.now(), pid: process.pid, ppid: process.ppid });
process.on('SIGTERM', stopAll);
process.on('SIGINT', stopAll);
process.on('SIGHUP', stopAll);
process.on(BURST_SIGNAL, startBurst);
process.on(MEMORY_JUMP_SIGNAL, startMemoryJump);
setTimeout(stopAll, Math.max(0, spec.deadlineMs - Date.now())).unref();
// Keeps the event loop alive until stopAll decides otherwise.
const keepAlive = setInterval(() => {}, 1 << 30);
process.on('exit', () => clearInterval(keepAlive));

startCpu();
startVm();
startStorm();
startBuild();
