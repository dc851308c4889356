// The command of `tsland run`, forked before the scheduler thread exists and let go once the thread has it.

import { spawn, type ChildProcess, type StdioOptions } from 'node:child_process';
import { existsSync } from 'node:fs';
import { constants as osConstants } from 'node:os';
import type { Writable } from 'node:stream';

export interface CommandSpec {
  command: string;
  args?: string[];
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** Default 'inherit'. */
  stdio?: StdioOptions;
}

export interface StartedCommand {
  child: ChildProcess;
  /** Writing a line here lets a gated command exec; null when it was started directly. */
  gate: Writable | null;
  /** Its exit code (128 + signal when killed; 127 when it could not be started). */
  exit: Promise<number>;
}

const PDEATHSIG_TOOL = '/usr/bin/setpriv';
const GATE_SHELL = '/bin/sh';
/** Highest descriptor a POSIX shell redirection names with one digit. */
const GATE_MAX_FD = 9;

function started(child: ChildProcess, gate: Writable | null): StartedCommand {
  // Listened to from the start: a gated command may end (killed) before tsland is ready.
  const exit = new Promise<number>((res) => {
    child.once('exit', (code, signal) => res(exitCode(code, signal)));
    child.once('error', () => res(127));
  });
  return { child, gate, exit };
}

/**
 * Starts the command of `run`. Gated (the default): forked now, before the scheduler thread exists, as a
 * shell that waits on a pipe and then execs the command in place (same pid); the session writes the line
 * that lets it go once the thread has it. A fork leaves every private page of this process copy-on-write,
 * and the scheduler thread would fault at its first write to each page of its own not written since: the
 * soak saw one at a burst of new processes, 80 s into a run, when the command was spawned after the thread.
 */
export function startCommand(run: CommandSpec, gated: boolean): StartedCommand {
  const args = run.args ?? [];
  // The parent-death signal reaches the command even if tsland and the guardian both die at once.
  const usePdeathsig = existsSync(PDEATHSIG_TOOL);
  const file = usePdeathsig ? PDEATHSIG_TOOL : run.command;
  const argv = usePdeathsig ? ['--pdeathsig', 'CONT', '--', run.command, ...args] : args;
  const base = run.stdio ?? 'inherit';
  const stdio = typeof base === 'string' ? [base, base, base] : [...base];
  while (stdio.length < 3) stdio.push('inherit');
  const fd = stdio.length;
  if (gated && fd <= GATE_MAX_FD && existsSync(GATE_SHELL)) {
    // No line (tsland died first): the shell exits without running the command.
    const script = `IFS= read -r _ <&${fd} || exit 125; exec ${fd}<&-; exec "$@"`;
    const child = spawn(GATE_SHELL, ['-c', script, 'tsland', file, ...argv], {
      stdio: [...stdio, 'pipe'],
      cwd: run.cwd,
      env: run.env,
    });
    const gate = child.stdio[fd] as Writable | null;
    // A command that has already gone (killed) closed the pipe: writing then is not an error of ours.
    gate?.on('error', () => {});
    return started(child, gate);
  }
  return started(spawn(file, argv, { stdio, cwd: run.cwd, env: run.env }), null);
}

export function signalNumber(signal: NodeJS.Signals): number {
  return osConstants.signals[signal] ?? 0;
}

function exitCode(code: number | null, signal: NodeJS.Signals | null): number {
  if (code !== null) return code;
  return 128 + (signal ? signalNumber(signal) : 0);
}
