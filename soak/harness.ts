// The soak run itself: sets up the load, starts tsland over it, samples every second, injects the planned
// faults, ends the workload, checks that nothing was lost and cleans up every process it started, whatever
// happened. The faults live in faults.ts, the final accounting in checks.ts, the report in report.ts.

import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { closeSync, copyFileSync, existsSync, mkdirSync, openSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { GUARDIAN_LOG, readReleaseRecords, type ReleaseRecord } from '../src/backends/proc/guardian/state.js';
import { CensusTaker, StopStreaks, type Census, type CensusEntry } from './census.js';
import { HeartbeatWatch } from './heartbeat.js';
import { Instance, type InstanceConfig } from './instance.js';
import { readLedger } from './ledger.js';
import { memAvailableMiB, oomKills, planMemory, type MemoryPlan } from './meminfo.js';
import type { SoakOptions } from './options.js';
import { isStopped, readStat, sameProcess, signalIfSame, statusKiB } from './procfs.js';
import { generateProject } from './project.js';
import type { Ejection, FaultRecord, SoakSample, Violation } from './record.js';
import { SCX_OPS_NAME, scxOps, scxState, waitScxState } from './scx.js';
import { planFaults, type SchedulePlan } from './schedule.js';
import { markEntry, type WorkloadSpec } from './spec.js';
import { fetchStats } from './stats-client.js';

export const SAMPLE_MS = 1000;
/** How often known workload processes are checked for being stopped, between full scans. */
export const STOP_POLL_MS = 200;
/** A workload process stopped this long while a scheduler runs counts as left stopped. */
export const STUCK_LIMIT_MS = 10_000;
const MAX_SURPRISE_RESTARTS = 20;
const SURPRISE_SPACING_MS = 5000;
/** An attach that does not come up after an unexpected exit is tried this often, this far apart. */
const RECOVERY_ATTEMPTS = 3;
const RECOVERY_RETRY_MS = 1000;
const ROOT_START_TIMEOUT_MS = 60_000;
const STATS_UP_TIMEOUT_MS = 30_000;
const END_TIMEOUT_MS = 60_000;
/** `tsland start` under software emulation takes from half a minute to minutes to load, drill and serve. */
const SCX_UP_TIMEOUT_MS = 600_000;
/** How long a sched_ext scheduler may take to unload (after a kill, an ejection or Ctrl-C). */
const SCX_DOWN_TIMEOUT_MS = 60_000;

const WORKLOAD_JS = fileURLToPath(new URL('./workload.js', import.meta.url));
const CHURN_C = fileURLToPath(new URL('../../soak/native/churn.c', import.meta.url));

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

function stamp(d = new Date()): string {
  return d
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z');
}

export class Soak {
  /** The run's clock: set again, for sched_ext, once the first scheduler is up and the load starts. */
  t0Ms = Date.now();
  readonly startedAt = new Date().toISOString();
  readonly runId: string;
  readonly outDir: string;
  readonly runDir: string;
  readonly workDir: string;
  readonly stateDir: string;
  readonly ledgerPath: string;
  readonly mark: string;
  readonly memory: MemoryPlan;
  readonly plan: SchedulePlan;
  readonly oomAtStart = oomKills();

  rootPid = -1;
  rootStartTicks = -1;
  /** scx: the workload root, the soak's own child (with proc, `tsland run` starts it). */
  private rootChild: ChildProcess | undefined;
  /** scx: every time the kernel took a tsland out, injected or not. */
  readonly ejections: Ejection[] = [];
  instances: Instance[] = [];
  current: Instance | undefined;
  heartbeat: HeartbeatWatch | undefined;
  readonly census: CensusTaker;
  readonly streaks = new StopStreaks();
  lastCensus: Census | undefined;
  readonly samples: SoakSample[] = [];
  readonly violations: Violation[] = [];
  readonly faults: FaultRecord[] = [];
  /** Non-zero while a fault is in flight: stops and lateness then belong to the fault. */
  inFault = 0;
  readonly orphansSeen = new Set<string>();
  private readonly stuckReported = new Set<string>();
  private readonly reported = new Set<string>();
  private readonly warm = new Map<number, { pageFaults: number | null; gcEvents: number | null }>();
  private prevDispatch: { instance: number; atMs: number; total: number } | undefined;
  private sampleTimer: NodeJS.Timeout | undefined;
  private stopTimer: NodeJS.Timeout | undefined;
  private progressTimer: NodeJS.Timeout | undefined;
  private sampling = false;
  recovering = false;
  private surpriseRestarts = 0;
  private lastSurpriseMs = 0;
  readonly abort = new AbortController();

  constructor(
    readonly opts: SoakOptions,
    readonly log: (line: string) => void,
  ) {
    this.runId = opts.runId ?? `${stamp()}-${process.pid}`;
    this.outDir = resolve(opts.outDir);
    this.runDir = join(this.outDir, `soak-${this.runId}`);
    this.workDir = join(tmpdir(), `tsland-soak-${this.runId}`);
    // tmpfs: the scheduler's heartbeat writes must never wait for a disk.
    this.stateDir = existsSync('/dev/shm') ? `/dev/shm/tsland-soak-${this.runId}` : join(this.workDir, 'state');
    this.ledgerPath = join(this.runDir, 'ledger.jsonl');
    this.mark = markEntry(this.runId);
    this.memory = planMemory(memAvailableMiB(), opts.memHeadroomMiB, opts.vmMiB);
    this.plan = planFaults(opts.durationS, opts.warmupS, opts.faults, opts.faultIntervalS);
    this.census = new CensusTaker(this.mark, -1);
  }

  tS(atMs = Date.now()): number {
    return Math.round((atMs - this.t0Ms) / 100) / 10;
  }

  violate(check: string, detail: string, onceKey?: string): void {
    if (onceKey !== undefined) {
      if (this.reported.has(onceKey)) return;
      this.reported.add(onceKey);
    }
    const v = { tS: this.tS(), check, detail };
    this.violations.push(v);
    this.log(`VIOLATION [${v.tS}s] ${check}: ${detail}`);
  }

  get scx(): boolean {
    return this.opts.backend === 'scx';
  }

  /**
   * How long one stats request may take. Under emulation, on a loaded guest, tsland's main thread answers in
   * seconds (a flood's slowest reply took 4.7 s): a shorter deadline reads as a scheduler that never came up.
   */
  get statsTimeoutMs(): number {
    return this.scx ? 5000 : 800;
  }

  instanceConfig(): InstanceConfig {
    return {
      policy: this.opts.policy,
      watchdogMs: this.opts.watchdogMs,
      logPath: join(this.runDir, `tsland-${this.instances.length}.log`),
      stateDir: this.stateDir,
    };
  }

  // ---- set-up ----

  prepare(): WorkloadSpec {
    mkdirSync(this.runDir, { recursive: true });
    mkdirSync(this.workDir, { recursive: true });
    mkdirSync(this.stateDir, { recursive: true, mode: 0o700 });
    const churnPath = join(this.workDir, 'churn');
    const cc = spawnSync('gcc', ['-O2', '-o', churnPath, CHURN_C], { encoding: 'utf8' });
    if (cc.status !== 0) throw new Error(`could not compile the process churn program: ${cc.stderr.trim()}`);
    const buildDir = generateProject(join(this.workDir, 'project'), this.opts.buildFiles);
    const vmWorkers = this.memory.steadyMiB <= 0 ? 0 : this.opts.load === 'light' ? 1 : 2;
    const spec: WorkloadSpec = {
      runId: this.runId,
      runDir: this.runDir,
      ledgerPath: this.ledgerPath,
      // sched_ext: each scheduler fault waits for a restart of tsland, minutes under emulation, past the plan.
      deadlineMs: this.t0Ms + (this.opts.durationS + 120 + (this.scx ? 600 * this.plan.faults.length : 0)) * 1000,
      cpuWorkers: this.opts.cpuWorkers,
      vmWorkers,
      vmMiBTotal: vmWorkers > 0 ? this.memory.steadyMiB : 0,
      jumpMiB: this.memory.jumpMiB,
      jumpS: this.opts.load === 'light' ? 6 : 20,
      buildDir,
      buildJobs: this.opts.buildJobs,
      forkRatePerS: this.opts.forkRatePerS,
      forkMaxLive: Math.max(4, Math.ceil(this.opts.forkRatePerS / 10)),
      burstCount: this.opts.burstCount,
      churnPath,
    };
    writeFileSync(join(this.runDir, 'workload.json'), JSON.stringify(spec, null, 2));
    return spec;
  }

  async start(): Promise<void> {
    if (this.scx) return this.startScx();
    this.prepare();
    const rootArgv = ['env', this.mark, process.execPath, WORKLOAD_JS, join(this.runDir, 'workload.json')];
    const inst = this.opts.baseline
      ? Instance.baseline(this.instanceConfig(), rootArgv)
      : Instance.run(0, this.instanceConfig(), rootArgv);
    this.adopt(inst);
    const deadline = Date.now() + ROOT_START_TIMEOUT_MS;
    while (this.rootPid < 0) {
      const root = readLedger(this.ledgerPath).find((e) => e.ev === 'root');
      if (root && root.ev === 'root') {
        this.rootPid = root.pid;
        this.rootStartTicks = readStat(root.pid)?.startTicks ?? -1;
      } else if (inst.exit || Date.now() > deadline) {
        throw new Error(
          `the workload did not start (tsland ${inst.exit ? `exited with ${inst.exit.code ?? inst.exit.signal}` : 'timed out'}); see ${join(this.runDir, 'tsland-0.log')}`,
        );
      } else {
        await sleep(100);
      }
    }
    this.census.rootPid = this.rootPid;
    this.census.rootStartTicks = this.rootStartTicks;
    this.lastCensus = this.census.take();
    if (!this.opts.baseline && !(await this.waitStatsUp(inst))) {
      const why = inst.exit
        ? `exited with ${inst.exit.code ?? inst.exit.signal} before serving stats`
        : `did not answer on its stats socket within ${STATS_UP_TIMEOUT_MS / 1000} s`;
      this.violate('scheduler-start', `tsland run ${why}`);
    }
    inst.guardian(this.rootPid);
    this.startTimers();
  }

  private startTimers(): void {
    this.sampleTimer = setInterval(() => void this.sampleOnce(), SAMPLE_MS);
    this.stopTimer = setInterval(() => this.pollStops(), STOP_POLL_MS);
    this.progressTimer = setInterval(() => this.progress(), this.opts.progressEveryS * 1000);
  }

  /**
   * sched_ext: `tsland start` first, until it schedules the machine and serves its stats (over a minute in
   * the guest), then the load, on the run's clock from there.
   */
  private async startScx(): Promise<void> {
    for (const dir of [this.runDir, this.workDir]) mkdirSync(dir, { recursive: true });
    mkdirSync(this.stateDir, { recursive: true, mode: 0o700 });
    const state = scxState();
    if (state !== 'disabled')
      throw new Error(`sched_ext is ${state ?? 'missing'} (ops '${scxOps()}') before the soak: another scheduler is loaded`);
    const t0 = Date.now();
    const inst = await this.restartScx();
    if (!inst) {
      const first = this.instances[0];
      throw new Error(
        `tsland start did not come up within ${SCX_UP_TIMEOUT_MS / 1000} s: ${first?.lastWords() || `sched_ext ${scxState()}`}; see ${first?.logPath ?? this.runDir}`,
      );
    }
    this.log(`tsland start #0 (pid ${inst.pid}) scheduling the machine after ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    this.t0Ms = Date.now();
    this.prepare();
    const log = openSync(join(this.runDir, 'workload-root.log'), 'a');
    const root = spawn('env', [this.mark, process.execPath, WORKLOAD_JS, join(this.runDir, 'workload.json')], {
      detached: true,
      stdio: ['ignore', log, log],
    });
    closeSync(log);
    root.on('error', () => {});
    this.rootChild = root;
    let rootExit: string | undefined;
    root.on('exit', (code, signal) => (rootExit = String(code ?? signal)));
    const deadline = Date.now() + ROOT_START_TIMEOUT_MS * 2;
    while (this.rootPid < 0) {
      const entry = readLedger(this.ledgerPath).find((e) => e.ev === 'root');
      if (entry && entry.ev === 'root') {
        this.rootPid = entry.pid;
        this.rootStartTicks = readStat(entry.pid)?.startTicks ?? -1;
      } else if (rootExit !== undefined || Date.now() > deadline) {
        throw new Error(
          `the workload did not start (${rootExit !== undefined ? `its root exited with ${rootExit}` : 'timed out'}); see ${join(this.runDir, 'workload-root.log')}`,
        );
      } else {
        await sleep(100);
      }
    }
    this.census.rootPid = this.rootPid;
    this.census.rootStartTicks = this.rootStartTicks;
    this.lastCensus = this.census.take();
    this.startTimers();
  }

  /**
   * sched_ext: starts `tsland start` once the kernel has no scheduler loaded; resolves with it once sched_ext
   * is enabled with tsland and it serves stats, undefined when it exits or the time is up.
   */
  async restartScx(): Promise<Instance | undefined> {
    // A scheduler still unloading would have the kernel refuse the new one.
    if ((await waitScxState((s) => s === 'disabled', SCX_DOWN_TIMEOUT_MS)) === undefined) {
      this.log(`sched_ext still ${scxState()} ${SCX_DOWN_TIMEOUT_MS / 1000} s on: starting tsland anyway`);
    }
    const inst = Instance.scx(this.instances.length, this.instanceConfig());
    this.adopt(inst);
    if (!(await this.waitStatsUp(inst, SCX_UP_TIMEOUT_MS))) return undefined;
    if ((await waitScxState((s) => s === 'enabled', 10_000)) === undefined || scxOps() !== SCX_OPS_NAME) {
      this.log(`tsland #${inst.index} serves stats but sched_ext is ${scxState()} with ops '${scxOps()}'`);
      return undefined;
    }
    inst.upMs = Date.now();
    return inst;
  }

  /** scx: the kernel took `inst` out; counted once per instance, a violation when no fault asked for it. */
  noteEjection(inst: Instance, injected: boolean, how: string): void {
    if (this.ejections.some((e) => e.instance === inst.index)) return;
    const e: Ejection = { instance: inst.index, tS: this.tS(), injected, how, reason: injected ? '' : inst.lastWords() };
    this.ejections.push(e);
    if (!injected)
      this.violate(
        'ejected',
        `the kernel took tsland #${inst.index} out with no fault injected: ${how}${e.reason ? `; tsland: ${e.reason}` : ''}`,
      );
  }

  adopt(inst: Instance): void {
    this.instances.push(inst);
    this.current = inst;
    // Only the signals backend's scheduler adopts orphans (a child subreaper) and beats a heartbeat.
    const proc = inst.mode === 'run' || inst.mode === 'attach';
    this.census.schedulerPid = proc ? inst.pid : -1;
    this.heartbeat?.stop();
    this.heartbeat = proc ? new HeartbeatWatch(this.stateDir, inst.pid).start() : undefined;
  }

  /** Resolves true once the instance serves stats, false when it exits or the time is up. */
  async waitStatsUp(inst: Instance, timeoutMs = STATS_UP_TIMEOUT_MS): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline && !inst.exit) {
      if (await fetchStats(inst.socketPath, this.statsTimeoutMs)) return true;
      await sleep(200);
    }
    return false;
  }

  get rootAlive(): boolean {
    return this.rootPid > 0 && sameProcess(this.rootPid, this.rootStartTicks);
  }

  /** Starts `tsland attach` over the workload root; resolves with it once it serves stats. */
  async attach(): Promise<Instance | undefined> {
    if (!this.rootAlive) return undefined;
    if (this.scx) return this.restartScx();
    const inst = Instance.attach(this.instances.length, this.instanceConfig(), this.rootPid);
    this.adopt(inst);
    if (!(await this.waitStatsUp(inst))) return undefined;
    inst.guardian(this.rootPid);
    return inst;
  }

  // ---- sampling ----

  private pollStops(): void {
    const known = this.lastCensus?.marked;
    if (!known) return;
    const stopped: CensusEntry[] = [];
    for (const e of known) {
      const st = readStat(e.pid);
      if (st && st.startTicks === e.startTicks && isStopped(st.state)) stopped.push({ ...e, state: st.state });
    }
    if (this.inFault > 0) {
      this.streaks.reset();
      return;
    }
    this.streaks.update({ atMs: Date.now(), marked: known, stopped, orphans: [], rootAlive: true });
    if (this.current && this.current.mode !== 'baseline' && this.current.alive) {
      for (const s of this.streaks.stuck(STUCK_LIMIT_MS)) {
        const key = `${s.pid}`;
        if (this.stuckReported.has(key)) continue;
        this.stuckReported.add(key);
        this.violate(
          'left-stopped',
          `pid ${s.pid} (${s.comm}) stopped for ${(s.stoppedMs / 1000).toFixed(1)} s while the scheduler ran`,
        );
      }
    }
  }

  async sampleOnce(): Promise<void> {
    if (this.sampling) return;
    this.sampling = true;
    try {
      await this.sampleInner();
    } finally {
      this.sampling = false;
    }
  }

  private async sampleInner(): Promise<void> {
    const census = this.census.take();
    this.lastCensus = census;
    const inst = this.current;
    const live = inst && inst.mode !== 'baseline' && inst.alive ? inst : undefined;
    const stats = live ? await fetchStats(live.socketPath, this.statsTimeoutMs) : undefined;
    const atMs = Date.now();
    const c = stats?.counters;
    let dispatchPerS: number | null = null;
    if (c && live) {
      const total = (c.nr_user_dispatches ?? 0) + (c.nr_kernel_dispatches ?? 0);
      const prev = this.prevDispatch;
      if (prev && prev.instance === live.index && atMs > prev.atMs)
        dispatchPerS = ((total - prev.total) * 1000) / (atMs - prev.atMs);
      this.prevDispatch = { instance: live.index, atMs, total };
    }
    const hbAge = this.heartbeat?.take();
    const inFault = this.inFault > 0;
    const state = this.scx ? scxState() : null;
    const sample: SoakSample = {
      tS: this.tS(atMs),
      instance: live ? live.index : -1,
      rssKiB: live ? (statusKiB(live.pid, 'VmRSS') ?? null) : null,
      memAvailableMiB: memAvailableMiB(),
      // Every fault of the scheduler thread: the scheduling path's and the task-creation path's together.
      pageFaults: c ? c.nr_page_faults! + (c.nr_creation_page_faults ?? 0) : null,
      creationPageFaults: c ? (c.nr_creation_page_faults ?? 0) : null,
      gcEvents: c?.nr_gc_events ?? null,
      warmedUp: c && c.warmed_up !== undefined ? c.warmed_up === 1 : null,
      failedDispatches: c?.nr_failed_dispatches ?? null,
      congested: c?.nr_sched_congested ?? null,
      dispatchPerS,
      nrTasks: c?.nr_tasks ?? null,
      healthy: stats ? stats.health.healthy : null,
      healthReason: stats ? stats.health.reason : null,
      heartbeatAgeMaxMs: hbAge ?? null,
      workloadProcs: census.marked.length,
      stoppedProcs: census.stopped.length,
      orphanProcs: census.orphans.length,
      inFault,
    };
    if (this.scx) sample.scxState = state;
    this.samples.push(sample);
    this.checkSample(sample, census, live);
  }

  private checkSample(sample: SoakSample, census: Census, live: Instance | undefined): void {
    // With sched_ext nothing adopts the workload's orphans (tsland run is a child subreaper; tsland start is
    // not): as the load is torn down at the end, a compiler outliving its driver by a moment is reparented
    // to init. Escapes count while the load runs.
    for (const o of this.scx && this.ending ? [] : census.orphans) {
      const key = `${o.pid}:${o.startTicks}`;
      if (this.orphansSeen.has(key)) continue;
      this.orphansSeen.add(key);
      this.violate('orphaned', `pid ${o.pid} (${o.comm}) left the workload tree (parent ${o.ppid})`);
    }
    if (sample.memAvailableMiB < this.opts.memHeadroomMiB * 0.75) {
      this.violate(
        'memory-headroom',
        `MemAvailable fell to ${sample.memAvailableMiB} MiB (bound keeps ${this.opts.memHeadroomMiB} MiB)`,
        `mem-${Math.floor(sample.tS / 60)}`,
      );
      this.shedMemoryJump();
    }
    // Not while a scheduler fault or the run's end tears the instance down (checks.ts leaves those out).
    if (live && !sample.inFault && sample.warmedUp !== false && sample.tS >= this.tS(live.warmFromMs) + this.opts.warmupS) {
      // The violation itself is counted once per instance at the end (checks.ts); here the first sign of
      // trouble is logged as it happens.
      const base = this.warm.get(live.index);
      if (!base || base.pageFaults === null)
        this.warm.set(live.index, { pageFaults: sample.pageFaults, gcEvents: sample.gcEvents });
      else if (sample.pageFaults !== null && sample.pageFaults > base.pageFaults && !this.reported.has(`pf-${live.index}`)) {
        this.reported.add(`pf-${live.index}`);
        this.log(`scheduler #${live.index} took ${sample.pageFaults - base.pageFaults} page fault(s) after its warm-up`);
      }
    }
    const inst = this.current;
    // The kernel unloaded a running tsland with no fault in flight: its watchdog, or an error in the BPF half.
    if (live && this.scx && !sample.inFault && !live.exitExpected && !this.recovering && sample.scxState !== 'enabled')
      this.noteEjection(live, false, `sched_ext ${sample.scxState} (ops '${scxOps()}') while tsland #${live.index} ran`);
    if (inst && inst.mode !== 'baseline' && inst.exit && !inst.exitExpected && !this.recovering && this.inFault === 0) {
      if (inst.mode === 'start' && /unloaded/.test(inst.lastWords())) this.noteEjection(inst, false, 'tsland exited');
      inst.exitExpected = true;
      this.violate(
        'scheduler-exit',
        `tsland #${inst.index} (${inst.mode}) exited by itself with ${inst.exit.code ?? inst.exit.signal} and no fault injected` +
          (inst.lastWords() ? `: ${inst.lastWords()}` : ''),
      );
      void this.recoverFromSurprise();
    }
  }

  private async recoverFromSurprise(): Promise<void> {
    if (this.abort.signal.aborted || !this.rootAlive) return;
    // A scheduler that cannot start would otherwise be restarted every second for the rest of the run:
    // restarts are spaced out, and capped.
    const now = Date.now();
    if (this.surpriseRestarts >= MAX_SURPRISE_RESTARTS || now - this.lastSurpriseMs < SURPRISE_SPACING_MS) return;
    this.surpriseRestarts++;
    this.lastSurpriseMs = now;
    this.recovering = true;
    try {
      // Whatever ended it, nothing may stay stopped without a scheduler.
      let census = this.census.take();
      for (const deadline = Date.now() + 2000; census.stopped.length > 0 && Date.now() < deadline; census = this.census.take())
        await sleep(20);
      if (census.stopped.length > 0) {
        this.violate(
          'left-stopped',
          `${census.stopped.length} workload process(es) still stopped 2 s after the scheduler ended: ${census.stopped
            .slice(0, 8)
            .map((e) => `${e.pid}(${e.comm})`)
            .join(' ')}`,
        );
      }
      // As a user would: try again when the attach does not come up, and say each time why it did not.
      const failures: string[] = [];
      for (let attempt = 1; attempt <= RECOVERY_ATTEMPTS && !this.abort.signal.aborted && this.rootAlive; attempt++) {
        if (await this.attach()) break;
        const failed = this.instances[this.instances.length - 1];
        if (failed) {
          failed.exitExpected = true; // counted here, once, not again as a surprise exit
          // One that hangs without serving stats is stopped (releasing its tasks) before the next try.
          if (failed.signal('SIGTERM') && !(await failed.waitExit(5000))) failed.signal('SIGKILL');
        }
        const why =
          failed?.lastWords() ||
          (this.scx
            ? `not scheduling the machine within ${SCX_UP_TIMEOUT_MS / 1000} s (sched_ext ${scxState()})`
            : `no answer on its stats socket within ${STATS_UP_TIMEOUT_MS / 1000} s`);
        failures.push(`attempt ${attempt}: ${why}`);
        this.log(`tsland ${this.scx ? 'start' : 'attach'} (recovery attempt ${attempt}) did not come up: ${why}`);
        await sleep(RECOVERY_RETRY_MS);
      }
      const what = this.scx ? 'tsland start' : 'tsland attach over the workload';
      if (failures.length === RECOVERY_ATTEMPTS)
        this.violate('recovery', `${what} did not come up after an unexpected exit: ${failures.join('; ')}`);
      else if (failures.length > 0)
        this.violate('recovery', `${what} came up only after ${failures.length} failed attempt(s): ${failures.join('; ')}`);
    } finally {
      this.recovering = false;
    }
  }

  /** Ends a running memory jump at once: the machine matters more than the fault. */
  private shedMemoryJump(): void {
    for (const e of readLedger(this.ledgerPath)) {
      if (e.ev === 'start' && e.kind === 'memory-jump' && sameProcess(e.pid, readStat(e.pid)?.startTicks ?? -2)) {
        try {
          process.kill(-e.pid, 'SIGKILL');
        } catch {
          // Already gone.
        }
      }
    }
  }

  private progress(): void {
    const s = this.samples[this.samples.length - 1];
    if (!s) return;
    const mmss = (t: number) => `${Math.floor(t / 60)}:${String(Math.floor(t % 60)).padStart(2, '0')}`;
    const parts = [`soak ${mmss(s.tS)}/${mmss(this.opts.durationS)}`];
    if (s.instance >= 0) {
      parts.push(
        `tsland#${s.instance} rss ${s.rssKiB === null ? '-' : (s.rssKiB / 1024).toFixed(1)} MiB`,
        `pf ${s.pageFaults ?? '-'}`,
        `gc ${s.gcEvents ?? '-'}`,
        this.scx
          ? `sched_ext ${s.scxState ?? '-'}`
          : `hb ${s.heartbeatAgeMaxMs === null ? '-' : s.heartbeatAgeMaxMs.toFixed(0)} ms`,
        `disp ${s.dispatchPerS === null ? '-' : s.dispatchPerS.toFixed(0)}/s`,
        s.healthy === null ? 'health -' : s.healthy ? 'healthy' : `unhealthy(${s.healthReason})`,
      );
    } else {
      parts.push(this.opts.baseline ? 'baseline (no tsland)' : 'no scheduler');
    }
    parts.push(`procs ${s.workloadProcs} (${s.stoppedProcs} stopped)`, `mem ${(s.memAvailableMiB / 1024).toFixed(1)} GiB avail`);
    parts.push(`faults ${this.faults.length}/${this.plan.faults.length}`, `violations ${this.violations.length}`);
    this.log(parts.join('  '));
  }

  // ---- the end ----

  /** Stops the workload the normal way and checks that everything ended. */
  async end(): Promise<void> {
    this.log('ending the workload');
    this.ending = true;
    this.inFault++;
    if (this.current) this.current.exitExpected = true;
    if (this.rootAlive) {
      signalIfSame(this.rootPid, this.rootStartTicks, 'SIGTERM');
      const deadline = Date.now() + END_TIMEOUT_MS;
      while (this.rootAlive && Date.now() < deadline) await sleep(200);
      if (this.rootAlive)
        this.violate(
          'end',
          `the workload root (pid ${this.rootPid}) did not finish within ${END_TIMEOUT_MS / 1000} s of SIGTERM`,
        );
    }
    const inst = this.current;
    if (inst && inst.mode === 'start') {
      await this.endScx(inst);
    } else if (inst && inst.mode !== 'baseline') {
      const exit = await inst.waitExit(20_000);
      if (!exit) {
        this.violate('end', `tsland #${inst.index} (${inst.mode}) did not exit within 20 s after its workload ended`);
      } else if (inst.mode === 'run' && exit.code !== 0) {
        this.violate('end', `tsland run exited with ${exit.code ?? exit.signal}, not the workload's status 0`);
      }
      const guardian = inst.guardian(this.rootPid);
      await sleep(1000);
      if (guardian && sameProcess(guardian.pid, guardian.startTicks)) {
        this.violate('end', `the guardian (pid ${guardian.pid}) was still running after tsland exited`);
      }
    } else if (inst) {
      await inst.waitExit(10_000);
    }
    await sleep(1000);
    const left = this.census.take().marked.filter((e) => e.state !== 'Z');
    if (left.length > 0) {
      this.violate(
        'end',
        `${left.length} workload process(es) still running after the end: ${left
          .slice(0, 10)
          .map((e) => `${e.pid}(${e.comm},${e.state})`)
          .join(' ')}`,
      );
    }
    this.leftAtEnd = left.length;
  }

  leftAtEnd = 0;
  /** Set once the workload is being ended on purpose. */
  ending = false;

  /** sched_ext: Ctrl-C, as a user stops it: tsland unloads and exits 0, the machine back on the fair class. */
  private async endScx(inst: Instance): Promise<void> {
    if (!inst.alive) {
      this.violate('end', `tsland #${inst.index} was not running at the end (${inst.lastWords() || 'no last words'})`);
      return;
    }
    if (inst.upMs === undefined) {
      // Started again after an unexpected exit and still loading when the time ran out: nothing to judge.
      this.log(`tsland #${inst.index} was still starting at the end; stopped`);
      if (inst.signal('SIGTERM') && !(await inst.waitExit(10_000))) inst.signal('SIGKILL');
      await inst.waitExit(5000);
      return;
    }
    if (scxState() !== 'enabled') this.noteEjection(inst, false, `sched_ext ${scxState()} at the end`);
    inst.signal('SIGINT');
    const exit = await inst.waitExit(SCX_DOWN_TIMEOUT_MS);
    if (!exit) this.violate('end', `tsland #${inst.index} did not exit within ${SCX_DOWN_TIMEOUT_MS / 1000} s of Ctrl-C`);
    else if (exit.code !== 0)
      this.violate('end', `tsland #${inst.index} exited with ${exit.code ?? exit.signal} on Ctrl-C, not 0: ${inst.lastWords()}`);
    if ((await waitScxState((s) => s === 'disabled', 10_000)) === undefined)
      this.violate('end', `sched_ext still ${scxState()} (ops '${scxOps()}') 10 s after tsland exited`);
  }

  /** The guardian's release log: live in the state directory, copied next to the logs at cleanup. */
  releaseRecords(): ReleaseRecord[] {
    return readReleaseRecords(existsSync(join(this.stateDir, GUARDIAN_LOG)) ? this.stateDir : this.runDir);
  }

  oomKillsDuringRun(): number {
    const now = oomKills();
    return now < 0 || this.oomAtStart < 0 ? 0 : now - this.oomAtStart;
  }

  /** Always runs: no process of ours survives the soak, no temp file either. */
  cleanup(): void {
    for (const t of [this.sampleTimer, this.stopTimer, this.progressTimer]) if (t) clearInterval(t);
    this.heartbeat?.stop();
    // Everything carrying our mark: continue it first so a stopped process can die at once.
    for (const e of this.census.take().marked) {
      signalIfSame(e.pid, e.startTicks, 'SIGCONT');
      signalIfSame(e.pid, e.startTicks, 'SIGKILL');
    }
    if (this.rootChild && this.rootChild.exitCode === null && this.rootChild.signalCode === null) this.rootChild.kill('SIGKILL');
    for (const inst of this.instances) {
      const guardian = inst.guardian(this.rootPid);
      if (inst.alive) inst.signal('SIGKILL');
      if (guardian) signalIfSame(guardian.pid, guardian.startTicks, 'SIGKILL');
    }
    try {
      if (existsSync(join(this.stateDir, GUARDIAN_LOG)))
        copyFileSync(join(this.stateDir, GUARDIAN_LOG), join(this.runDir, GUARDIAN_LOG));
    } catch {
      // The run directory may not exist when set-up failed early.
    }
    rmSync(this.workDir, { recursive: true, force: true });
    rmSync(this.stateDir, { recursive: true, force: true });
  }
}

export const MACHINE_CPUS = availableParallelism();
