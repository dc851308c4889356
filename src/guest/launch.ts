// Booting the guest for one command: three virtiofsd daemons (the host's root, an exchange directory, the
// working directory), qemu with the cached kernel, and three serial sockets (console, stdout, stderr).
// Everything started here is killed by pid and the temporary directory removed on every way out: the command
// ending, a timeout, an abort (Ctrl-C), or a failure to start. Each child also carries a parent-death signal
// (setpriv --pdeathsig KILL) so that even a tsland killed with SIGKILL leaves no guest behind.

import { spawn, type ChildProcess } from 'node:child_process';
import {
  chmodSync,
  closeSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { cpus as hostCpus, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { accelArgs, accelKernelArgs, chooseAccel, hostAccelFacts, type Accel } from './accel.js';
import { guestAvailability } from './availability.js';
import { GuestError } from './errors.js';
import { findQemu, findVirtiofsd, which, type Virtiofsd } from './host.js';
import { DONE_MARKER, guestFstab, initScript, START_MARKER, STATUS_FILE } from './init-script.js';
import { DEFAULT_GUEST_MEM_MIB } from './mem-size.js';
import { guestPaths } from './paths.js';

export const DEFAULT_GUEST_CPUS = 2;
/** Exit code of a run that hit its timeout, as timeout(1) uses. */
export const TIMEOUT_EXIT_CODE = 124;
/** Exit code of a run interrupted by its abort signal (Ctrl-C). */
export const ABORT_EXIT_CODE = 130;
const SOCKET_WAIT_MS = 10_000;
const OUTPUT_DRAIN_MS = 3_000;
const CONSOLE_TAIL_LINES = 40;

export interface GuestRunOptions {
  /** The command and its arguments, run as root in cwd. */
  argv: string[];
  cpus?: number;
  memMiB?: number;
  /** Kill the guest after this long (0 or absent: no limit). */
  timeoutMs?: number;
  /** Added to the guest command's environment (PATH, HOME=/root and the host's TSLAND_* are always there). */
  env?: Record<string, string>;
  /** Working directory, visible and writable at the same path in the guest; default process.cwd(). */
  cwd?: string;
  /** Live output; when given, that stream is not collected into the result. */
  onStdout?: (chunk: Buffer) => void;
  onStderr?: (chunk: Buffer) => void;
  /** Kernel console lines (kernel messages and anything written to /dev/console). */
  onConsoleLine?: (line: string) => void;
  /** Called when the command starts in the guest. */
  onStarted?: () => void;
  signal?: AbortSignal;
  /** Force an accelerator instead of detecting one. */
  accel?: Accel;
}

export interface GuestRunTimings {
  /** qemu started -> the command started in the guest. */
  bootMs: number;
  /** The command started -> it ended. */
  commandMs: number;
  /** The command ended -> qemu exited. */
  poweroffMs: number;
  totalMs: number;
}

export interface GuestRunResult {
  /** The command's exit status (128+signal when killed in the guest); 124 on timeout, 130 on abort. */
  code: number;
  stdout: string;
  stderr: string;
  timedOut: boolean;
  aborted: boolean;
  accel: Accel;
  kernelVersion: string;
  timings: GuestRunTimings;
  /** Pids of every process this run started (all gone when the promise settles). */
  pids: number[];
}

interface Child {
  proc: ChildProcess;
  exited: Promise<void>;
  name: string;
  log: string;
}

function startChild(name: string, cmd: string, args: string[], logPath: string): Child {
  const fd = openSync(logPath, 'a');
  const setpriv = which('setpriv');
  const [file, argv] = setpriv ? [setpriv, ['--pdeathsig', 'KILL', '--', cmd, ...args]] : [cmd, args];
  let proc: ChildProcess;
  try {
    proc = spawn(file, argv, { stdio: ['ignore', fd, fd] });
  } finally {
    closeSync(fd);
  }
  const exited = new Promise<void>((res) => {
    if (proc.exitCode !== null || proc.signalCode !== null) res();
    proc.once('exit', () => res());
    proc.once('error', () => res());
  });
  return { proc, exited, name, log: logPath };
}

function alive(c: Child): boolean {
  return c.proc.exitCode === null && c.proc.signalCode === null && c.proc.pid !== undefined;
}

async function killChild(c: Child): Promise<void> {
  if (alive(c)) {
    try {
      c.proc.kill('SIGKILL');
    } catch {
      /* already gone */
    }
  }
  await c.exited;
}

function lastLine(path: string): string {
  try {
    return readFileSync(path, 'utf8').trim().split('\n').pop() ?? '';
  } catch {
    return '';
  }
}

/**
 * How the guest caches a share's files. The host's root is shared read-only and does not change under a
 * running guest, so its pages are kept: with `auto`, FUSE drops a file's page cache on every open() of it,
 * so each process the guest starts (each opens libc) tore libc's code out of every process that had it
 * mapped, locked or not, and tsland's scheduler thread took a major fault on its next libc call (373 of the
 * 415 faults traced on it in 2 minutes under a fork storm). The working directory and the exchange directory
 * are written from both sides: `auto` revalidates them.
 */
export type ShareCache = 'always' | 'auto';

function virtiofsdArgs(d: Virtiofsd, socket: string, dir: string, sandbox: 'chroot' | 'namespace', cache: ShareCache): string[] {
  if (d.flavor === 'c')
    return [
      `--socket-path=${socket}`,
      '-o',
      `source=${dir}`,
      '-o',
      `cache=${cache}`,
      '-o',
      `sandbox=${sandbox}`,
      '-o',
      'log_level=warn',
    ];
  return ['--socket-path', socket, '--shared-dir', dir, '--cache', cache, '--sandbox', sandbox, '--log-level', 'warn'];
}

async function waitForPath(path: string, child: Child): Promise<void> {
  const deadline = Date.now() + SOCKET_WAIT_MS;
  while (!existsSync(path)) {
    if (!alive(child)) throw new GuestError(`${child.name} exited at start: ${lastLine(child.log) || 'no message'}`);
    if (Date.now() > deadline) throw new GuestError(`${child.name} did not create its socket within ${SOCKET_WAIT_MS / 1000} s`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** A unix-socket server that qemu's serial chardev connects to; hands each chunk to onData. */
function serialServer(path: string, onData: (chunk: Buffer) => void): { server: Server; ended: Promise<void> } {
  let markEnded: () => void = () => {};
  const ended = new Promise<void>((r) => (markEnded = r));
  const server = createServer((sock: Socket) => {
    sock.on('data', onData);
    sock.once('close', () => markEnded());
    sock.on('error', () => markEnded());
  });
  server.listen(path);
  return { server, ended };
}

const RUN_DIR_PREFIX = 'tsland-guest-';
const OWNER_FILE = 'owner.pid';

/**
 * Removes run directories left by a tsland that was killed with SIGKILL (its children died with it through
 * their parent-death signal, but nothing removed its directory). A directory whose owner is alive is kept.
 */
export function sweepStaleRunDirs(dir = tmpdir()): void {
  let names: string[] = [];
  try {
    names = readdirSync(dir).filter((n) => n.startsWith(RUN_DIR_PREFIX));
  } catch {
    return;
  }
  for (const name of names) {
    const path = join(dir, name);
    let owner = NaN;
    try {
      owner = Number(readFileSync(join(path, OWNER_FILE), 'utf8'));
    } catch {
      continue; // not ours, or still being created
    }
    if (!Number.isInteger(owner) || owner <= 0 || pidAlive(owner)) continue;
    rmSync(path, { recursive: true, force: true });
  }
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Environment the command gets besides PATH and HOME: the host's TSLAND_*, CI, TERM and locale. */
export function passthroughEnv(env: NodeJS.ProcessEnv): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(env)) {
    if (v === undefined) continue;
    if (k.startsWith('TSLAND_') || k === 'CI' || k === 'TERM' || k === 'LANG' || k === 'LC_ALL' || k === 'TZ') out[k] = v;
  }
  return out;
}

export function qemuArgs(o: {
  accel: Accel;
  cpus: number;
  memMiB: number;
  vmlinux: string;
  init: string;
  sockets: { root: string; xch: string; work: string | null; console: string; stdout: string; stderr: string };
  /** Appended to the kernel command line ($TSLAND_GUEST_KERNEL_ARGS), e.g. loglevel=7 to see the boot. */
  extraKernelArgs?: string;
}): string[] {
  const mem = `${o.memMiB}M`;
  const fs = (id: string, path: string) => [
    '-chardev',
    `socket,id=${id},path=${path}`,
    '-device',
    `vhost-user-fs-pci,chardev=${id},tag=${id}`,
  ];
  return [
    ...accelArgs(o.accel),
    '-smp',
    String(o.cpus),
    '-m',
    mem,
    '-object',
    `memory-backend-memfd,id=mem,size=${mem},share=on`,
    '-numa',
    'node,memdev=mem',
    '-nodefaults',
    '-no-user-config',
    '-display',
    'none',
    '-monitor',
    'none',
    '-no-reboot',
    ...fs('rootfs', o.sockets.root),
    ...fs('xch', o.sockets.xch),
    ...(o.sockets.work ? fs('work', o.sockets.work) : []),
    '-chardev',
    `socket,id=con,path=${o.sockets.console}`,
    '-chardev',
    `socket,id=out,path=${o.sockets.stdout}`,
    '-chardev',
    `socket,id=err,path=${o.sockets.stderr}`,
    '-serial',
    'chardev:con',
    '-serial',
    'chardev:out',
    '-serial',
    'chardev:err',
    '-kernel',
    o.vmlinux,
    '-append',
    [
      'rootfstype=virtiofs root=rootfs ro console=ttyS0',
      `init=${o.init}`,
      'panic=-1 quiet mitigations=off',
      accelKernelArgs(o.accel),
      o.extraKernelArgs ?? '',
    ]
      .filter((a) => a !== '')
      .join(' '),
  ];
}

/** Boots the guest, runs argv in it, and resolves with its exit status and output once the guest is gone. */
/** Boots that died before the command started are tried again this many times (nothing of the command ran). */
const BOOT_RETRIES = 1;

/**
 * Boots the guest and runs the command (see GuestRunOptions). A guest that dies before the command starts
 * (seen once under software emulation on a host running three guests: a stack trace at 0.000000 s, then
 * nothing) is booted again, once, saying so on stderr: none of the command ran, so nothing is repeated.
 */
export async function runInGuest(opts: GuestRunOptions): Promise<GuestRunResult> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await runInGuestOnce(opts);
    } catch (err) {
      if (!(err instanceof GuestError) || !err.beforeCommand || attempt >= BOOT_RETRIES || opts.signal?.aborted) throw err;
      process.stderr.write(`guest: ${err.message}; booting it again\n`);
    }
  }
}

async function runInGuestOnce(opts: GuestRunOptions): Promise<GuestRunResult> {
  if (opts.argv.length === 0) throw new GuestError('no command to run in the guest');
  const avail = guestAvailability();
  if (!avail.ok) throw new GuestError(avail.reason);
  const paths = guestPaths()!;
  const qemu = findQemu()!;
  const virtiofsd = findVirtiofsd()!;
  const accel = opts.accel ?? chooseAccel(hostAccelFacts()).accel;
  const cpus = opts.cpus ?? Math.min(DEFAULT_GUEST_CPUS, Math.max(1, hostCpus().length));
  const memMiB = opts.memMiB ?? DEFAULT_GUEST_MEM_MIB;
  const cwd = resolve(opts.cwd ?? process.cwd());
  if (opts.signal?.aborted) throw new GuestError('aborted before the guest started');

  sweepStaleRunDirs();
  const tmp = mkdtempSync(join(tmpdir(), RUN_DIR_PREFIX));
  writeFileSync(join(tmp, OWNER_FILE), String(process.pid));
  const xch = join(tmp, 'xch');
  mkdirSync(xch);
  chmodSync(tmp, 0o700);
  const init = join(xch, 'init');
  const fstabPath = join(xch, 'fstab');
  const shareCwd = cwd !== '/';
  writeFileSync(fstabPath, guestFstab({ cwd, shareCwd }));
  writeFileSync(
    init,
    initScript({
      argv: opts.argv,
      cwd,
      shareCwd,
      fstabPath,
      env: { ...passthroughEnv(process.env), ...opts.env },
      trace: process.env.TSLAND_GUEST_TRACE === '1',
    }),
    { mode: 0o755 },
  );

  const children: Child[] = [];
  const servers: Server[] = [];
  let stdout = '';
  let stderr = '';
  const consoleTail: string[] = [];
  const t0 = Date.now();
  let tStart = 0;
  let tDone = 0;
  let tExit = 0;
  let timedOut = false;
  let aborted = false;
  let timer: NodeJS.Timeout | undefined;
  let qemuChild: Child | undefined;
  const stop = () => {
    if (qemuChild) void killChild(qemuChild);
  };
  const onAbort = () => {
    aborted = true;
    stop();
  };
  try {
    const sockets = {
      root: join(tmp, 'root.sock'),
      xch: join(tmp, 'xch.sock'),
      work: shareCwd ? join(tmp, 'work.sock') : null,
      console: join(tmp, 'console.sock'),
      stdout: join(tmp, 'stdout.sock'),
      stderr: join(tmp, 'stderr.sock'),
    };
    const shares: [string, string, 'chroot' | 'namespace', ShareCache][] = [
      ['root', '/', 'chroot', 'always'], // the namespace sandbox cannot pivot_root into /
      ['xch', xch, 'namespace', 'auto'],
    ];
    if (sockets.work) shares.push(['work', cwd, 'namespace', 'auto']);
    for (const [name, dir, sandbox, cache] of shares) {
      const sock = sockets[name as 'root' | 'xch' | 'work']!;
      children.push(
        startChild(
          `virtiofsd (${dir})`,
          virtiofsd.path,
          virtiofsdArgs(virtiofsd, sock, dir, sandbox, cache),
          join(tmp, `virtiofsd-${name}.log`),
        ),
      );
    }
    await Promise.all(children.map((c, i) => waitForPath([sockets.root, sockets.xch, sockets.work ?? ''][i]!, c)));

    let partial = '';
    const con = serialServer(sockets.console, (chunk) => {
      const lines = (partial + chunk.toString('utf8')).split('\n');
      partial = lines.pop() ?? '';
      for (const raw of lines) {
        const line = raw.replace(/\r$/, '');
        if (!tStart && line.includes(START_MARKER)) {
          tStart = Date.now();
          opts.onStarted?.();
          continue;
        }
        if (!tDone && line.includes(DONE_MARKER)) {
          tDone = Date.now();
          continue;
        }
        consoleTail.push(line);
        if (consoleTail.length > CONSOLE_TAIL_LINES) consoleTail.shift();
        opts.onConsoleLine?.(line);
      }
    });
    const out = serialServer(sockets.stdout, (chunk) =>
      opts.onStdout ? opts.onStdout(chunk) : (stdout += chunk.toString('utf8')),
    );
    const err = serialServer(sockets.stderr, (chunk) =>
      opts.onStderr ? opts.onStderr(chunk) : (stderr += chunk.toString('utf8')),
    );
    servers.push(con.server, out.server, err.server);
    await Promise.all(
      servers.map((s) => new Promise<void>((r, j) => (s.listening ? r() : s.once('listening', r).once('error', j)))),
    );

    opts.signal?.addEventListener('abort', onAbort, { once: true });
    const qemuLog = join(tmp, 'qemu.log');
    qemuChild = startChild(
      'qemu',
      qemu,
      qemuArgs({
        accel,
        cpus,
        memMiB,
        vmlinux: paths.vmlinuxPath,
        init,
        sockets,
        extraKernelArgs: process.env.TSLAND_GUEST_KERNEL_ARGS ?? '',
      }),
      qemuLog,
    );
    children.push(qemuChild);
    if (opts.timeoutMs && opts.timeoutMs > 0) {
      timer = setTimeout(() => {
        timedOut = true;
        stop();
      }, opts.timeoutMs);
    }
    if (opts.signal?.aborted) onAbort();
    await qemuChild.exited;
    tExit = Date.now();
    // The guest drains its serial ports before it powers off; the sockets close right after qemu.
    await Promise.race([Promise.all([out.ended, err.ended]), new Promise((r) => setTimeout(r, OUTPUT_DRAIN_MS))]);

    const timings: GuestRunTimings = {
      bootMs: tStart ? tStart - t0 : 0,
      commandMs: tStart && tDone ? tDone - tStart : 0,
      poweroffMs: tDone ? tExit - tDone : 0,
      totalMs: tExit - t0,
    };
    const pids = children.map((c) => c.proc.pid ?? 0);
    const base = { stdout, stderr, accel, kernelVersion: paths.kernelVersion, timings, pids };
    if (timedOut) return { ...base, code: TIMEOUT_EXIT_CODE, timedOut: true, aborted: false };
    if (aborted) return { ...base, code: ABORT_EXIT_CODE, timedOut: false, aborted: true };
    const statusPath = join(xch, STATUS_FILE);
    const status = existsSync(statusPath) ? Number(readFileSync(statusPath, 'utf8').trim()) : NaN;
    if (!Number.isInteger(status)) {
      // What the kernel said of its end (a panic, an oops, a BUG): a stack trace's last line says nothing.
      const kernelSaid = consoleTail
        .filter((l) => /Kernel panic|not syncing|BUG:|Oops|WARNING:|RIP:|general protection|Out of memory/.test(l))
        .slice(0, 4)
        .map((l) => l.trim())
        .join(' | ');
      const why =
        lastLine(qemuLog) ||
        kernelSaid ||
        consoleTail.filter((l) => l.trim()).slice(-1)[0] ||
        `qemu exited with ${qemuChild.proc.exitCode ?? qemuChild.proc.signalCode}`;
      const e = new GuestError(
        `the guest ended without the command's exit status (${tStart ? 'after the command started' : 'before the command started'}): ${why.trim()}`,
      );
      e.beforeCommand = !tStart;
      throw e;
    }
    return { ...base, code: status, timedOut: false, aborted: false };
  } finally {
    if (timer) clearTimeout(timer);
    opts.signal?.removeEventListener('abort', onAbort);
    await Promise.all(children.map(killChild));
    await Promise.all(servers.map((s) => new Promise<void>((r) => s.close(() => r()))));
    rmSync(tmp, { recursive: true, force: true });
  }
}
