// One tsland process driven by the soak: `tsland run` over the workload root at the start, `tsland attach`
// over the same root after a fault took the previous one down, or no scheduler at all in a baseline run;
// with the sched_ext backend, `tsland start` scheduling the whole machine (started again after each fault).
// It knows the scheduler's pid, finds the guardian among its children and the stats socket by its pid.

import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { runPaths, STATE_DIR_ENV, type RunRecord } from '../src/backends/proc/guardian/state.js';
import { defaultSocketPath, STATS_DIR_ENV } from '../src/stats/paths.js';
import { childrenOf, cmdline, readStat, sameProcess } from './procfs.js';

export type InstanceMode = 'run' | 'attach' | 'baseline' | 'start';

export const CLI_MAIN = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));

export interface InstanceExit {
  atMs: number;
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface InstanceConfig {
  policy: string;
  watchdogMs: number;
  logPath: string;
  /** Private state directory (heartbeat, task list, guardian log) on a tmpfs, apart from other runs. */
  stateDir: string;
}

export class Instance {
  readonly startedMs = Date.now();
  readonly pid: number;
  readonly startTicks: number;
  exit: InstanceExit | undefined;
  /** When it was seen scheduling and serving stats (set for `tsland start`, whose start-up takes long). */
  upMs: number | undefined;
  /** Set while a fault meant to end this instance is in flight: its exit is then no surprise. */
  exitExpected = false;
  private readonly exited: Promise<InstanceExit>;

  private constructor(
    readonly mode: InstanceMode,
    readonly index: number,
    private readonly child: ChildProcess,
    readonly stateDir: string,
    readonly logPath: string,
  ) {
    if (child.pid === undefined) throw new Error(`could not start ${mode}: ${child.spawnfile}`);
    this.pid = child.pid;
    this.startTicks = readStat(child.pid)?.startTicks ?? -1;
    this.exited = new Promise((resolve) => {
      child.on('exit', (code, signal) => {
        this.exit = { atMs: Date.now(), code, signal };
        resolve(this.exit);
      });
    });
    child.on('error', () => {});
  }

  static start(mode: InstanceMode, index: number, argv: string[], cfg: InstanceConfig): Instance {
    const log = openSync(cfg.logPath, 'a');
    // Own process group: a Ctrl-C on the harness's terminal reaches the harness, which then stops things
    // in order, instead of hitting every process at once.
    // The stats socket goes in the run's own state directory too: a scheduler the soak SIGKILLs cannot remove
    // its socket, and the soak's cleanup removes that directory.
    const env = { ...process.env, [STATE_DIR_ENV]: cfg.stateDir, [STATS_DIR_ENV]: cfg.stateDir };
    const child = spawn(argv[0]!, argv.slice(1), { detached: true, stdio: ['ignore', log, log], env });
    closeSync(log);
    return new Instance(mode, index, child, cfg.stateDir, cfg.logPath);
  }

  /** tsland's last "tsland: ..." line on stderr: why it ended, when it ended on its own. */
  lastWords(): string {
    let text = '';
    try {
      text = readFileSync(this.logPath, 'utf8');
    } catch {
      return '';
    }
    const said = text.split('\n').filter((line) => line.startsWith('tsland: '));
    return said.length ? said[said.length - 1]!.slice('tsland: '.length) : '';
  }

  static run(index: number, cfg: InstanceConfig, rootArgv: string[]): Instance {
    const argv = [
      process.execPath,
      CLI_MAIN,
      'run',
      '--policy',
      cfg.policy,
      '--watchdog-ms',
      String(cfg.watchdogMs),
      '--',
      ...rootArgv,
    ];
    return Instance.start('run', index, argv, cfg);
  }

  static attach(index: number, cfg: InstanceConfig, rootPid: number): Instance {
    const argv = [
      process.execPath,
      CLI_MAIN,
      'attach',
      '--pid',
      String(rootPid),
      '--policy',
      cfg.policy,
      '--watchdog-ms',
      String(cfg.watchdogMs),
    ];
    return Instance.start('attach', index, argv, cfg);
  }

  /**
   * `tsland start`: the whole machine on sched_ext; watchdogMs is the kernel watchdog's timeout. Started at
   * nice -10, as a service that restarts it would run it (its scheduler thread sets -10 for itself, but only
   * after its drills): at nice 0, beside the soak's load on the guest's two emulated CPUs, a restart took
   * over five minutes to load and drill, where the first start, before the load, took half a minute.
   */
  static scx(index: number, cfg: InstanceConfig): Instance {
    const argv = [
      'nice',
      '-n',
      '-10',
      process.execPath,
      CLI_MAIN,
      'start',
      '--policy',
      cfg.policy,
      '--timeout-ms',
      String(cfg.watchdogMs),
    ];
    return Instance.start('start', index, argv, cfg);
  }

  static baseline(cfg: InstanceConfig, rootArgv: string[]): Instance {
    return Instance.start('baseline', 0, rootArgv, cfg);
  }

  /** Warm-up counts from here: for `tsland start`, once it is up, not from its minute of loading. */
  get warmFromMs(): number {
    return this.mode === 'start' && this.upMs !== undefined ? this.upMs : this.startedMs;
  }

  get alive(): boolean {
    return this.exit === undefined && sameProcess(this.pid, this.startTicks);
  }

  get socketPath(): string {
    return defaultSocketPath(this.pid, this.stateDir);
  }

  /** Who runs, as the scheduler wrote it at start: its guardian's pid and start time. */
  runRecord(): RunRecord | undefined {
    try {
      return JSON.parse(readFileSync(runPaths(this.stateDir, this.pid).run, 'utf8')) as RunRecord;
    } catch {
      return undefined;
    }
  }

  private guardianId: { pid: number; startTicks: number } | undefined;

  /**
   * The guardian, as (pid, start time): from the run record (removed when tsland exits, so the answer is
   * kept), else the child of the live scheduler that is not the workload root.
   */
  guardian(rootPid: number): { pid: number; startTicks: number } | undefined {
    // sched_ext has no guardian: the kernel is the one that takes tasks back.
    if (this.mode === 'baseline' || this.mode === 'start') return undefined;
    if (this.guardianId) return this.guardianId;
    const rec = this.runRecord();
    if (rec && rec.guardianPid > 0) return (this.guardianId = { pid: rec.guardianPid, startTicks: rec.guardianStartTicks });
    if (!this.alive) return undefined;
    for (const pid of childrenOf(this.pid)) {
      if (pid === rootPid) continue;
      const st = readStat(pid);
      if (st && (cmdline(pid) ?? '').includes(process.execPath)) return (this.guardianId = { pid, startTicks: st.startTicks });
    }
    return undefined;
  }

  waitExit(timeoutMs: number): Promise<InstanceExit | undefined> {
    return Promise.race([this.exited, new Promise<undefined>((r) => setTimeout(() => r(undefined), timeoutMs).unref())]);
  }

  signal(sig: NodeJS.Signals): boolean {
    if (this.exit) return false;
    try {
      process.kill(this.pid, sig);
      return true;
    } catch {
      return false;
    }
  }
}
