// A stand-in /proc for ProcBackend.drill: a directory tree in the temp dir with the files the backend reads
// (<pid>/stat, schedstat, status, task/<tid>/children), whose contents the drill rewrites between rounds to
// walk its fake tasks through every case of the loop: running, asleep, preempted, a new thread, a child,
// a zombie, a read that fails, a line that does not parse. A ProcDir opened on `root` reads them exactly as
// it reads the kernel's files (rewriting a file keeps its inode, so descriptors already open see the change).
//
// Two real processes stand behind it, children of this process: `alive` (a sleep) whose pidfd takes the
// drill's real SIGSTOP, SIGCONT and affinity calls, and `dead`, killed at once, whose pidfd polls as exited
// (a zombie until reaped). Both are killed in dispose() and reaped in reap(); nothing else is ever
// signalled. Should this process die mid-drill, `alive` is in the tasks file from its adoption (the drill's
// first act) until it is killed, so the guardian continues it if it was stopped, and its sleep ends within
// a minute.
//
// They are started with posix_spawn, not child_process: glibc's posix_spawn runs the child on this
// process's memory until it execs (CLONE_VM | CLONE_VFORK), where fork() would leave every private page of
// the process copy-on-write, and the scheduler thread would take a fault at its first write to each page
// not written since (the soak saw one at a burst of new processes, 80 s into a run).

import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { libc } from '../../../mem/libc.js';
import { POLLIN, type Sys } from '../../os/sys.js';

export interface FakeTask {
  /** State letter: R, S, Z ... */
  state?: string;
  runtimeNs?: number;
  /** utime + stime, in clock ticks. */
  ticks?: number;
  nice?: number;
  /** Thread ids, the pid first. */
  tids?: readonly number[];
  /** Children listed in the leader's children file. */
  children?: readonly number[];
  startTicks?: number;
  voluntarySwitches?: number;
}

const POLLFD_BYTES = 8;
const DEAD_WAIT_MS = 2000;
const SIGKILL = 9;
const WNOHANG = 1;
const REAP_TRIES = 1000;
const REAP_NAP_MS = 1;

type SpawnFn = (
  pid: Int32Array,
  file: string,
  actions: null,
  attr: null,
  argv: (string | null)[],
  envp: (string | null)[],
) => number;
type WaitFn = (pid: number, status: Int32Array, options: number) => number;
let spawnp: SpawnFn | null | undefined;
let waitpid: WaitFn | null = null;

/** `sleep 60`, started without a fork (see the head of this file); its pid. Throws if it cannot start. */
function spawnSleep(): number {
  if (spawnp === undefined) {
    const lib = libc();
    spawnp = lib
      ? (lib.func('posix_spawnp', 'int', [
          'void *',
          'str',
          'void *',
          'void *',
          'const char **',
          'const char **',
        ]) as unknown as SpawnFn)
      : null;
    waitpid = lib ? (lib.func('waitpid', 'int', ['int', 'void *', 'int']) as unknown as WaitFn) : null;
  }
  if (!spawnp) throw new Error('drill: no libc to start its sleep processes');
  const pid = new Int32Array(1);
  const env: (string | null)[] = Object.entries(process.env).map(([k, v]) => `${k}=${v ?? ''}`);
  env.push(null);
  const err = spawnp(pid, 'sleep', null, null, ['sleep', '60', null], env);
  if (err !== 0) throw new Error(`drill: could not start sleep (error ${err})`);
  return pid[0]!;
}

function kill(pid: number): void {
  if (pid <= 0) return;
  try {
    process.kill(pid, SIGKILL);
  } catch {
    // Already gone (reaped by someone else, or never started).
  }
}

export class DrillProc {
  readonly root: string;
  readonly alivePid: number;
  readonly deadPid: number;
  /** Start time of `alive` in ticks, as the kernel has it: the guardian checks it before releasing. */
  readonly aliveStartTicks: number;
  /** What each file and directory of the tree holds: unchanged files are not written again (the drill's cost). */
  private readonly held = new Map<string, string>();

  constructor(s: Sys) {
    this.root = mkdtempSync(join(tmpdir(), 'tsland-drill-'));
    this.alivePid = -1;
    this.deadPid = -1;
    try {
      this.alivePid = spawnSleep();
      this.deadPid = spawnSleep();
    } catch (err) {
      this.dispose();
      this.reap();
      throw err;
    }
    const stat = readFileSync(`/proc/${this.alivePid}/stat`, 'utf8');
    this.aliveStartTicks = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]);
    // Killed now, reaped after the drill: until then a zombie whose pidfd polls readable, as an exited task's does.
    const pidfd = s.pidfdOpen(this.deadPid);
    process.kill(this.deadPid, SIGKILL);
    if (pidfd >= 0) {
      const pfd = new Uint8Array(POLLFD_BYTES);
      const view = new DataView(pfd.buffer);
      view.setInt32(0, pidfd, true);
      view.setInt16(4, POLLIN, true);
      s.poll(pfd, 1, DEAD_WAIT_MS);
      s.close(pidfd);
    }
  }

  /** Writes (or rewrites) every file of a fake task. */
  write(pid: number, task: FakeTask = {}): void {
    const tids = task.tids ?? [pid];
    const dir = join(this.root, String(pid));
    this.dir(join(dir, 'task'));
    for (const tid of tids) this.dir(join(dir, 'task', String(tid)));
    const utime = Math.floor((task.ticks ?? 0) / 2);
    const stime = (task.ticks ?? 0) - utime;
    // proc(5) fields 1-22 and a tail: pid (comm) state ppid pgrp session tty tpgid flags minflt cminflt
    // majflt cmajflt utime stime cutime cstime priority nice num_threads itrealvalue starttime ...
    const fields = [
      pid,
      '(drill)',
      task.state ?? 'R',
      1,
      pid,
      pid,
      0,
      -1,
      4194304,
      0,
      0,
      0,
      0,
      utime,
      stime,
      0,
      0,
      20,
      task.nice ?? 0,
      tids.length,
      0,
      task.startTicks ?? 1,
      0,
      0,
    ];
    this.writeFile(pid, 'stat', `${fields.join(' ')}\n`);
    this.writeFile(pid, 'schedstat', `${task.runtimeNs ?? 0} 0 0\n`);
    const v = task.voluntarySwitches ?? 0;
    this.writeFile(
      pid,
      'status',
      `Name:\tdrill\nState:\t${task.state ?? 'R'}\nvoluntary_ctxt_switches:\t${v}\nnonvoluntary_ctxt_switches:\t0\n`,
    );
    for (const tid of tids) {
      const children = tid === pid ? (task.children ?? []) : [];
      this.file(join(dir, 'task', String(tid), 'children'), children.map((c) => `${c} `).join(''));
    }
  }

  /** Replaces one file's bytes (`stat`, `schedstat`, `status`): an empty or garbled file is a failed read. */
  writeFile(pid: number, name: string, text: string): void {
    this.dir(join(this.root, String(pid)));
    this.file(join(this.root, String(pid), name), text);
  }

  /** Removes one file, or the whole task: opening it then fails, as for a process that has gone. */
  remove(pid: number, name?: string): void {
    const path = join(this.root, String(pid), name ?? '');
    rmSync(path, { recursive: true, force: true });
    for (const key of [...this.held.keys()]) if (key === path || key.startsWith(`${path}/`)) this.held.delete(key);
  }

  private dir(path: string): void {
    if (this.held.has(path)) return;
    mkdirSync(path, { recursive: true });
    this.held.set(path, '');
  }

  private file(path: string, text: string): void {
    if (this.held.get(path) === text) return;
    writeFileSync(path, text);
    this.held.set(path, text);
  }

  /** Kills both sleeps (they stay zombies, children of this process, until reap()) and removes the tree. */
  dispose(): void {
    kill(this.alivePid);
    kill(this.deadPid);
    rmSync(this.root, { recursive: true, force: true });
  }

  /** Collects both (killed) sleeps' exit status, after dispose(); waits at most ~1 s for a kill to land. */
  reap(): void {
    const status = new Int32Array(1);
    const nap = new Int32Array(new SharedArrayBuffer(4));
    for (const pid of [this.alivePid, this.deadPid]) {
      for (let tries = 0; pid > 0 && tries < REAP_TRIES; tries++) {
        if (waitpid?.(pid, status, WNOHANG) !== 0) break; // reaped, or not ours any more
        Atomics.wait(nap, 0, 0, REAP_NAP_MS);
      }
    }
  }
}
