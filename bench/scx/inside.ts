// The part of `npm run bench:scx` that runs inside a machine with sched_ext (the guest; bench/scx.ts boots
// it). In one boot, in this order:
//   1. the scheduler core alone, in this process: CPU time per decision of the bench:sched hog loop;
//   2. under the kernel's own scheduler (EEVDF): 8 equal CPU hogs, 6 hogs at nice 0/5/10, then the field's
//      workloads (field.ts: hackbench, cyclictest idle and among hogs, a parallel build);
//   3. under `tsland start` (every task of the machine through the TypeScript policy): the same
//      workloads, tsland's CPU time and dispatches over them, then a fork storm over CPU hogs with the
//      scheduler thread's page faults and GCs counted from its start (the fairness runs were its warm-up);
//   4. tsland again with its scheduler thread parked in the BPF half and 8 tasks placed ahead (`--wait park
//      --queue-ahead 8`), then, with --peers DIR (binaries bench:scx built, peers.ts), scx_simple and
//      scx_userland: each loaded in turn for the hogs and the field's workloads, as a peer column;
//   5. the return leg, the same visits in the reverse order (scx_userland, scx_simple, tsland parked,
//      tsland), each loaded afresh for the hogs and the field's workloads, and EEVDF's field last: every
//      scheduler's field figures are the mean of its two visits, placed symmetrically in the run, so a
//      machine that drifts steadily over the run (EEVDF's hackbench moved 1.6x within one boot) shifts
//      every column alike.
// tsland records the queued records it reads (TSLAND_SCX_CAPTURE) into capture.bin beside OUT.json, for the
// host's replay (replay.ts).
// Writes one JSON object to the file named by its first argument; progress goes to stderr.
//
// Usage (in the guest): node dist/bench/scx/inside.js OUT.json [--seconds 20] [--storm-seconds 60]
//                                                     [--settle-seconds 30] [--policy rustland]
//                                                     [--latency-seconds 15] [--peers DIR]

import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { requestStats } from '../../src/stats/client.js';
import { measureCoreCost, type CoreCost } from './core-cost.js';
import { cpuMsOf, readCpuTime } from './cpu-time.js';
import { runHogs, type HogRun } from './hogs.js';
import { FIELD_DEFAULTS, runField, type FieldOptions, type FieldRun } from './field.js';
import { cPeer, readSys, SCX_SYSFS, TSLAND_NAME, underPeer, type PeerCommand, type PeerRun } from './peer-run.js';
import { CAPTURE_ENV } from '../../src/backends/scx/thread/capture.js';
import { CAPTURE_FILE } from './replay.js';

export interface TslandWindow {
  /** Where tsland's CPU went: its busiest threads ("tid comm"; the main thread's tid is tsland's pid). */
  threads: { thread: string; cpuMs: number }[];
  /** CPU time of the whole tsland process (every thread), ms, and the dispatches it made meanwhile. */
  cpuMs: number;
  userDispatches: number;
  kernelDispatches: number;
  /** nr_page_faults + nr_creation_page_faults of the scheduler thread, and its GCs. */
  pageFaults: number;
  gcEvents: number;
  rescues: number;
  congested: number;
  /** Of kernelDispatches: the tsland process's own threads (the rest: kernel threads, and congestion). */
  selfDispatches: number;
  /** The scheduler thread's rounds, sched_yield calls and sleeps in epoll (its kernel entries). */
  rounds: number;
  yields: number;
  sleeps: number;
  /** Woken tasks the core placed on a busy CPU, stopping the task there (nr_preemptions). */
  preemptions: number;
  wallMs: number;
}

export interface InsideResult {
  kernel: string;
  tslandPid: number;
  cpus: number;
  seconds: number;
  settleSeconds: number;
  stormSeconds: number;
  policy: string;
  core: CoreCost;
  /** The kernel tree's sched_ext schedulers that were built (--peers), in the order they ran. */
  peers: PeerRun[];
  /** Peers that failed to load or were ejected by the kernel during their run, with the reason. */
  peerFailures: { name: string; reason: string }[];
  /** The peer that was running when this was written (the guest ended before its result: it failed). */
  peerRunning?: string;
  /** The field workloads under EEVDF first, and again at the very end (null until then). */
  eevdf: { fair: HogRun; nice: HogRun; field: FieldRun; fieldAfter: FieldRun | null };
  /** The return leg's visits, in the order they ran (tsland's under the name TSLAND_NAME). */
  back: PeerRun[];
  /** Every visit, in the order run ("EEVDF", TSLAND_NAME, peers, then the return leg). */
  order: string[];
  tsland: {
    startMs: number;
    fair: HogRun;
    nice: HogRun;
    /** Idle after loading (no workload but the system's own), then over both fairness runs. */
    settle: TslandWindow;
    fairness: TslandWindow;
    field: FieldRun & { window: TslandWindow };
    /**
     * The fork storm, measured once tsland's warm-up is over (`warmedUp`), as the hot-path rule counts; a
     * storm that had to start before it (the wait timed out) says so with warmedUp false.
     */
    storm: TslandWindow & { forks: number; warmedUp: boolean; warmUpWaitMs: number };
    exitCode: number | null;
    lastLines: string[];
  };
}

/** The peers, in the order they run (binaries of these names in the --peers directory). */
const PEER_NAMES = ['scx_simple', 'scx_userland'];
const SOCKET = '/run/tsland-bench-scx.sock';
/**
 * tsland again, its scheduler thread parked in the BPF half and 8 tasks placed ahead on the shared queue, so
 * that a round decides several: measured as a peer column.
 */
const PARK_QUEUE_AHEAD = 8;
const PARK_NAME = `tsland --wait park --queue-ahead ${PARK_QUEUE_AHEAD}`;
const PARK_SOCKET = '/run/tsland-bench-scx-park.sock';
/** The longest the fork storm waits for tsland's warm-up to end (under emulation it takes minutes). */
const WARM_UP_WAIT_MS = 900_000;
const CLI = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 && process.argv[i + 1] ? process.argv[i + 1]! : fallback;
}

const say = (line: string): void => void process.stderr.write(`bench:scx: ${line}\n`);
/** A timer that does not keep the process alive once the work is done. */
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms).unref());

/** The counters of the tsland serving stats on `socket`. */
async function counters(socket = SOCKET): Promise<Record<string, number>> {
  const r = await requestStats<{ counters: Record<string, number> }>(socket, 'stats', 10_000);
  return r.counters;
}

/** `tsland start` as every visit runs it: the policy, the longest watchdog, stats on a socket of its own. */
function tslandArgs(policy: string, wait: string, socket: string, queueAhead = 0): string[] {
  return [
    CLI,
    'start',
    '--wait',
    wait,
    '--queue-ahead',
    String(queueAhead),
    '--policy',
    policy,
    '--timeout-ms',
    '30000',
    '--stats-server',
    '--stats-socket',
    socket,
  ];
}

interface Mark {
  atMs: number;
  cpuMs: number;
  /** CPU ms per thread, keyed "tid comm user|sys". */
  threads: Map<string, number>;
  c: Record<string, number>;
}

/** User and system CPU ms of each thread of a process, keyed "tid comm user|sys" (the main thread's tid is the pid). */
function threadCpuMs(pid: number): Map<string, number> {
  const out = new Map<string, number>();
  let tids: string[] = [];
  try {
    tids = readdirSync(`/proc/${pid}/task`);
  } catch {
    return out;
  }
  for (const tid of tids) {
    try {
      const t = readCpuTime(pid, Number(tid));
      out.set(`${tid} ${t.comm} user`, t.userMs);
      out.set(`${tid} ${t.comm} sys`, t.sysMs);
    } catch {
      // The thread ended.
    }
  }
  return out;
}

async function mark(pid: number): Promise<Mark> {
  return { atMs: performance.now(), cpuMs: cpuMsOf(pid), threads: threadCpuMs(pid), c: await counters() };
}

/** The threads that used the most CPU between two marks, ms, busiest first. */
function busiestThreads(a: Mark, b: Mark): { thread: string; cpuMs: number }[] {
  return [...b.threads]
    .map(([thread, ms]) => ({ thread, cpuMs: ms - (a.threads.get(thread) ?? 0) }))
    .filter((t) => t.cpuMs > 0)
    .sort((x, y) => y.cpuMs - x.cpuMs)
    .slice(0, 8);
}

function window(a: Mark, b: Mark): TslandWindow {
  const d = (k: string): number => (b.c[k] ?? 0) - (a.c[k] ?? 0);
  return {
    threads: busiestThreads(a, b),
    cpuMs: b.cpuMs - a.cpuMs,
    userDispatches: d('nr_user_dispatches'),
    kernelDispatches: d('nr_kernel_dispatches'),
    pageFaults: d('nr_page_faults') + d('nr_creation_page_faults'),
    gcEvents: d('nr_gc_events'),
    rescues: d('nr_rescues'),
    congested: d('nr_sched_congested'),
    selfDispatches: d('nr_self_dispatches'),
    rounds: d('nr_sched_rounds'),
    yields: d('nr_sched_yields'),
    sleeps: d('nr_sched_sleeps'),
    preemptions: d('nr_preemptions'),
    wallMs: b.atMs - a.atMs,
  };
}

function waitExit(child: ChildProcess): Promise<number | null> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve(child.exitCode);
    child.once('exit', (code) => resolve(code));
  });
}

/** A fork storm over CPU hogs for `seconds`; resolves with how many forks stress-ng reported. */
async function storm(seconds: number): Promise<number> {
  const hogs = spawn('stress-ng', ['--cpu', '2', '--timeout', `${seconds}s`, '-q'], { stdio: 'ignore' });
  const forks = spawn('stress-ng', ['--fork', '2', '--timeout', `${seconds}s`, '--metrics-brief'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  forks.stdout!.on('data', (b: Buffer) => (out += b.toString()));
  forks.stderr!.on('data', (b: Buffer) => (out += b.toString()));
  await Promise.all([waitExit(hogs), waitExit(forks)]);
  // "stress-ng: metrc: [pid] fork   12345   60.00 ..." : the bogo-ops column is the forks made.
  const m = /\bfork\s+(\d+)/.exec(out);
  return m ? Number(m[1]) : NaN;
}

async function main(): Promise<void> {
  const outFile = process.argv[2];
  if (!outFile || outFile.startsWith('--')) throw new Error('usage: inside.js OUT.json [--seconds N] [--storm-seconds N]');
  const captureFile = join(dirname(outFile), CAPTURE_FILE);
  const seconds = Number(arg('seconds', '20'));
  const stormSeconds = Number(arg('storm-seconds', '60'));
  const policy = arg('policy', 'rustland');
  const settleSeconds = Number(arg('settle-seconds', '30'));
  const field: FieldOptions = { ...FIELD_DEFAULTS, latencySeconds: Number(arg('latency-seconds', '15')), say };
  if (readSys('state') === '') throw new Error(`this kernel has no sched_ext (${SCX_SYSFS} is missing)`);
  if (readSys('state') !== 'disabled') throw new Error(`a sched_ext scheduler is already loaded: ${readSys('root/ops')}`);

  say('the scheduler core alone (bench:sched hog loop, 1,000 tasks)');
  const core = measureCoreCost();
  say(`core: ${core.cpuNsPerDecision.toFixed(0)} ns CPU per decision`);

  say(`EEVDF: 8 equal hogs for ${seconds} s`);
  const eevdfFair = await runHogs([0, 0, 0, 0, 0, 0, 0, 0], seconds);
  say(`EEVDF: 6 hogs at nice 0/5/10 for ${seconds} s`);
  const eevdfNice = await runHogs([0, 0, 5, 5, 10, 10], seconds);
  say('EEVDF: hackbench, cyclictest, build');
  const eevdfField = await runField(field);

  say(`tsland start --policy ${policy}`);
  const t0 = performance.now();
  const tsland = spawn(
    process.execPath,
    tslandArgs(policy, 'epoll', SOCKET),
    // The queued records it reads, for the host's native replay (bench/scx/replay.ts).
    { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, [CAPTURE_ENV]: captureFile } },
  );
  let log = '';
  tsland.stdout!.on('data', (b: Buffer) => (log += b.toString()));
  tsland.stderr!.on('data', (b: Buffer) => (log += b.toString()));
  const exited = waitExit(tsland);
  // The sleeps here are unref'd: should tsland die mid-run with nothing else holding this process, it would
  // end quietly with status 0 in the middle of an await, its result unwritten. This holds it to the end.
  const hold = setInterval(() => {}, 60_000);
  try {
    for (;;) {
      if (tsland.exitCode !== null) throw new Error(`tsland start exited with ${tsland.exitCode}: ${log.trim()}`);
      if (readSys('state') === 'enabled' && readSys('root/ops').startsWith('tsland')) {
        try {
          await counters();
          break;
        } catch {
          // Loaded, stats not served yet.
        }
      }
      if (performance.now() - t0 > 300_000) throw new Error(`tsland start did not come up in 300 s: ${log.trim()}`);
      await sleep(100);
    }
    const startMs = performance.now() - t0;
    say(`tsland: loaded in ${(startMs / 1000).toFixed(1)} s (ops ${readSys('root/ops')}); idle for ${settleSeconds} s`);
    // Compiling what it has just started to run takes V8 long under emulation: that start-up is not the
    // cost of a decision. The settling is measured too, and reported.
    const settle0 = await mark(tsland.pid!);
    await sleep(settleSeconds * 1000);
    const m0 = await mark(tsland.pid!);
    say(`tsland: settled for ${settleSeconds} s; 8 equal hogs for ${seconds} s`);
    const fair = await runHogs([0, 0, 0, 0, 0, 0, 0, 0], seconds);
    say(`tsland: 6 hogs at nice 0/5/10 for ${seconds} s`);
    const nice = await runHogs([0, 0, 5, 5, 10, 10], seconds);
    const m1 = await mark(tsland.pid!);
    say('tsland: hackbench, cyclictest, build');
    const tslandField = await runField(field);
    // The hot-path rule counts from the end of the warm-up: under emulation it may still be running here
    // (run L's storm caught it and counted its faults and its collection as the storm's).
    say('tsland: waiting for the end of its warm-up before the fork storm');
    const waitStart = performance.now();
    let warmedUp = (await counters()).warmed_up === 1;
    while (!warmedUp && performance.now() - waitStart < WARM_UP_WAIT_MS) {
      await sleep(2000);
      warmedUp = (await counters()).warmed_up === 1;
    }
    const warmUpWaitMs = performance.now() - waitStart;
    say(
      warmedUp
        ? `tsland: warmed up (waited ${(warmUpWaitMs / 1000).toFixed(0)} s)`
        : `tsland: still warming up after ${WARM_UP_WAIT_MS / 1000} s: the storm is measured anyway and marked so`,
    );
    const m1b = await mark(tsland.pid!);
    say(`tsland: fork storm over 2 CPU hogs for ${stormSeconds} s`);
    const forks = await storm(stormSeconds);
    const m2 = await mark(tsland.pid!);
    tsland.kill('SIGINT');
    const exitCode = await Promise.race([exited, sleep(120_000).then(() => -1)]);
    const peers: PeerRun[] = [];
    const back: PeerRun[] = [];
    const peerFailures: { name: string; reason: string }[] = [];
    const result: InsideResult = {
      kernel: os.release(),
      tslandPid: tsland.pid!,
      cpus: os.cpus().length,
      seconds,
      settleSeconds,
      stormSeconds,
      policy,
      core,
      eevdf: { fair: eevdfFair, nice: eevdfNice, field: eevdfField, fieldAfter: null },
      back,
      order: ['EEVDF', TSLAND_NAME],
      peers,
      peerFailures,
      tsland: {
        startMs,
        fair,
        nice,
        settle: window(settle0, m0),
        fairness: window(m0, m1),
        field: { ...tslandField, window: window(m1, m1b) },
        storm: { ...window(m1b, m2), forks, warmedUp, warmUpWaitMs },
        exitCode,
        lastLines: log.trim().split('\n').slice(-6),
      },
    };
    // Written after every visit: a guest that dies under a peer (scx_userland took it down in several runs)
    // still returns everything before, and names the peer it was running.
    const save = (): void => writeFileSync(outFile, JSON.stringify(result, null, 2) + '\n');
    save();
    // The kernel tree's schedulers, where bench:scx built them (peers.ts): the same workloads under each.
    const peerDir = arg('peers', '');
    const tslandAgain = (wait: string, socket: string, queueAhead = 0): PeerCommand => ({
      argv: [process.execPath, ...tslandArgs(policy, wait, socket, queueAhead)],
      settleMs: settleSeconds * 1000,
      dispatches: async () => {
        try {
          return (await counters(socket)).nr_user_dispatches ?? null;
        } catch {
          return null;
        }
      },
    });
    const park = tslandAgain('park', PARK_SOCKET, PARK_QUEUE_AHEAD);
    const runs: [string, PeerCommand | null][] = [
      [PARK_NAME, park],
      ...(peerDir ? PEER_NAMES : []).map((name): [string, PeerCommand | null] => {
        const bin = join(peerDir, name);
        return [name, existsSync(bin) ? cPeer(bin) : null];
      }),
    ];
    /** One visit: its run into `into`, or its failure (the other visits still run). */
    const visit = async (name: string, cmd: PeerCommand, into: PeerRun[], leg: string): Promise<boolean> => {
      say(`${name}${leg}: loading`);
      result.peerRunning = `${name}${leg}`;
      result.order.push(`${name}${leg}`);
      save();
      try {
        into.push(await underPeer(name, cmd, seconds, field, (line) => say(line.replace(name, `${name}${leg}`))));
        return true;
      } catch (err) {
        // A peer the kernel ejected (or that failed to load) is reported as such; the others still run.
        const reason = (err as Error).message;
        say(`${name}${leg}: FAILED: ${reason}`);
        peerFailures.push({ name: `${name}${leg}`, reason });
        return false;
      } finally {
        delete result.peerRunning;
        save();
      }
    };
    const visited: [string, PeerCommand][] = [[TSLAND_NAME, tslandAgain('epoll', SOCKET)]];
    for (const [name, cmd] of runs) {
      if (!cmd) {
        say(`${name}: not built, skipped`);
        continue;
      }
      if (await visit(name, cmd, peers, '')) visited.push([name, cmd]);
    }
    // The return leg: the same visits in the reverse order, then EEVDF.
    for (const [name, cmd] of visited.reverse()) await visit(name, cmd, back, ' (return)');
    say('EEVDF (return): hackbench, cyclictest, build');
    result.order.push('EEVDF (return)');
    result.eevdf.fieldAfter = await runField(field);
    save();
    say(`done; tsland exited with ${exitCode}`);
  } finally {
    clearInterval(hold);
    if (tsland.exitCode === null) tsland.kill('SIGKILL');
  }
}

main().catch((err: Error) => {
  say(`FAILED: ${err.message}`);
  process.exitCode = 1;
});
