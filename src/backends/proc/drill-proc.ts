// A stand-in /proc for ProcBackend.drill: a directory tree in the temp dir with the files the backend reads
// (<pid>/stat, schedstat, status, task/<tid>/children), whose contents the drill rewrites between rounds to
// walk its fake tasks through every case of the loop: running, asleep, preempted, a new thread, a child,
// a zombie, a read that fails, a line that does not parse. A ProcDir opened on `root` reads them exactly as
// it reads the kernel's files (rewriting a file keeps its inode, so descriptors already open see the change).
//
// Two real processes stand behind it, children of this process: `alive` (a sleep) whose pidfd takes the
// drill's real SIGSTOP, SIGCONT and affinity calls, and `dead`, killed at once, whose pidfd polls as exited.
// Both are killed in dispose(); nothing else is ever signalled. Should this process die mid-drill, `alive`
// is in the tasks file from its adoption (the drill's first act) until it is killed, so the guardian
// continues it if it was stopped, and its sleep ends within a minute.

import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { POLLIN, type Sys } from './sys.js';

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

export class DrillProc {
  readonly root: string;
  readonly alive: ChildProcess;
  readonly dead: ChildProcess;
  readonly alivePid: number;
  readonly deadPid: number;
  /** Start time of `alive` in ticks, as the kernel has it: the guardian checks it before releasing. */
  readonly aliveStartTicks: number;
  /** What each file and directory of the tree holds: unchanged files are not written again (the drill's cost). */
  private readonly held = new Map<string, string>();

  constructor(s: Sys) {
    this.root = mkdtempSync(join(tmpdir(), 'tsland-drill-'));
    this.alive = spawn('sleep', ['60'], { stdio: 'ignore' });
    this.dead = spawn('sleep', ['60'], { stdio: 'ignore' });
    this.alive.on('error', () => {});
    this.dead.on('error', () => {});
    if (this.alive.pid === undefined || this.dead.pid === undefined) {
      this.dispose();
      throw new Error('drill: could not start its sleep processes');
    }
    this.alivePid = this.alive.pid;
    this.deadPid = this.dead.pid;
    const stat = readFileSync(`/proc/${this.alivePid}/stat`, 'utf8');
    this.aliveStartTicks = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]);
    // Killed now, reaped only once this thread's event loop runs again (after the drill): a zombie whose
    // pidfd polls readable, as an exited task's does.
    const pidfd = s.pidfdOpen(this.deadPid);
    this.dead.kill('SIGKILL');
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
      pid, '(drill)', task.state ?? 'R', 1, pid, pid, 0, -1, 4194304, 0, 0, 0, 0, utime, stime, 0, 0, 20, task.nice ?? 0, tids.length,
      0, task.startTicks ?? 1, 0, 0,
    ];
    this.writeFile(pid, 'stat', `${fields.join(' ')}\n`);
    this.writeFile(pid, 'schedstat', `${task.runtimeNs ?? 0} 0 0\n`);
    const v = task.voluntarySwitches ?? 0;
    this.writeFile(pid, 'status', `Name:\tdrill\nState:\t${task.state ?? 'R'}\nvoluntary_ctxt_switches:\t${v}\nnonvoluntary_ctxt_switches:\t0\n`);
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

  dispose(): void {
    if (this.alive.pid !== undefined && this.alive.exitCode === null) this.alive.kill('SIGKILL');
    if (this.dead.pid !== undefined && this.dead.exitCode === null) this.dead.kill('SIGKILL');
    rmSync(this.root, { recursive: true, force: true });
  }
}
