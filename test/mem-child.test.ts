// Whole-process behaviour of locking: a locked process survives GC churn, code-space growth and a normal
// exit; an unprivileged process with a small RLIMIT_MEMLOCK gets the clear error (or runs unlocked when it
// asked to); the compact_unevictable setting is put back when the process is killed by a signal.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url)); // dist/test
const distRoot = resolve(here, '..');
const repoRoot = resolve(distRoot, '..');
const fixture = join(here, 'fixtures', 'mem-child.js');
const CHILD_TIMEOUT_MS = 120_000;

interface ChildResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Runs a command in its own process group; the group is killed whatever happens. */
function run(
  cmd: string,
  args: string[],
  opts: { cwd?: string; onStdout?: (s: string, kill: (sig: NodeJS.Signals) => void) => void } = {},
): Promise<ChildResult> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(cmd, args, { cwd: opts.cwd ?? repoRoot, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    const killGroup = (sig: NodeJS.Signals): void => {
      try {
        if (child.pid) process.kill(-child.pid, sig);
      } catch {
        /* already gone */
      }
    };
    const timer = setTimeout(() => killGroup('SIGKILL'), CHILD_TIMEOUT_MS);
    child.stdout.on('data', (d: Buffer) => {
      stdout += d;
      opts.onStdout?.(stdout, killGroup);
    });
    child.stderr.on('data', (d: Buffer) => {
      stderr += d;
    });
    child.on('error', (err) => {
      clearTimeout(timer);
      killGroup('SIGKILL');
      reject(err);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      killGroup('SIGKILL');
      resolvePromise({ code, signal, stdout, stderr });
    });
  });
}

const isRoot = process.getuid?.() === 0;
const hasSetpriv = spawnSync('setpriv', ['--version']).status === 0;
const hasPrlimit = spawnSync('prlimit', ['--version']).status === 0;

/** True when user nobody can reach and read `path` (every parent directory searchable by others). */
function othersCanRead(path: string): boolean {
  let p = resolve(path);
  if ((statSync(p).mode & 0o004) === 0) return false;
  for (p = dirname(p); ; p = dirname(p)) {
    if ((statSync(p).mode & 0o001) === 0) return false;
    if (p === dirname(p)) return true;
  }
}

/**
 * Where an unprivileged child can run the fixture from: the build itself when its path is open to others,
 * else a world-readable copy of what the fixture loads (compiled sources, package.json, koffi).
 */
function fixtureForNobody(): { script: string; cleanup: () => void } {
  const koffiDir = join(repoRoot, 'node_modules', 'koffi');
  if (othersCanRead(fixture) && othersCanRead(join(koffiDir, 'package.json'))) return { script: fixture, cleanup: () => {} };
  const dir = mkdtempSync(join(tmpdir(), 'tsland-mem-'));
  cpSync(join(repoRoot, 'package.json'), join(dir, 'package.json'));
  cpSync(join(distRoot, 'src'), join(dir, 'dist', 'src'), { recursive: true });
  cpSync(join(here, 'fixtures'), join(dir, 'dist', 'test', 'fixtures'), { recursive: true });
  cpSync(koffiDir, join(dir, 'node_modules', 'koffi'), { recursive: true });
  // koffi ships its native module in a per-platform package beside it.
  const scoped = join(repoRoot, 'node_modules', '@koromix');
  if (existsSync(scoped)) cpSync(scoped, join(dir, 'node_modules', '@koromix'), { recursive: true });
  spawnSync('chmod', ['-R', 'a+rX', dir]);
  return {
    script: join(dir, 'dist', 'test', 'fixtures', 'mem-child.js'),
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}

function asNobody(memlock: string, script: string, args: string[]): Promise<ChildResult> {
  return run(
    'prlimit',
    [`--memlock=${memlock}`, 'setpriv', '--reuid=nobody', '--regid=nogroup', '--clear-groups', process.execPath, script, ...args],
    { cwd: '/' },
  );
}

test(
  'a locked process survives GC churn, code-space growth and a normal exit',
  { skip: !isRoot && 'needs root to lock 64 MiB' },
  async () => {
    const r = await run(process.execPath, ['--expose-gc', fixture, 'churn', '64']);
    assert.equal(r.signal, null, `child died of ${r.signal}: ${r.stderr}`);
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout.trim()) as { locked: boolean; sizeBytes: number; lockedKb: number };
    assert.equal(out.locked, true);
    assert.ok(out.lockedKb * 1024 >= out.sizeBytes, `VmLck ${out.lockedKb} kB < arena ${out.sizeBytes} bytes`);
  },
);

test(
  'unprivileged with a small RLIMIT_MEMLOCK: the clear error',
  { skip: !(isRoot && hasSetpriv && hasPrlimit) && 'needs root, setpriv and prlimit' },
  async () => {
    const { script, cleanup } = fixtureForNobody();
    try {
      const r = await asNobody('65536:65536', script, ['lock', '8']);
      assert.equal(r.code, 3, `expected the MemLockError exit, got ${r.code}: ${r.stdout} ${r.stderr}`);
      const msg = r.stderr;
      assert.match(msg, /^MemLockError: cannot lock 8 MiB \(8388608 bytes\)/);
      assert.match(msg, /RLIMIT_MEMLOCK is 64 KiB \(65536 bytes\)/);
      assert.match(msg, /run as root/);
      assert.match(msg, /ulimit -l/);
      assert.match(msg, /--no-lock/);
      assert.equal(msg.trim().split('\n').length, 1, 'one line, no stack trace');
    } finally {
      cleanup();
    }
  },
);

test(
  'unprivileged, allowUnlocked: runs unlocked and says why',
  { skip: !(isRoot && hasSetpriv && hasPrlimit) && 'needs root, setpriv and prlimit' },
  async () => {
    const { script, cleanup } = fixtureForNobody();
    try {
      const r = await asNobody('65536:65536', script, ['lock', '8', 'allow-unlocked']);
      assert.equal(r.code, 0, r.stderr);
      const out = JSON.parse(r.stdout.trim()) as {
        locked: boolean;
        reason: string;
        vmLckKb: number;
        prefault: string;
        touchFaults: number;
      };
      assert.equal(out.locked, false);
      assert.match(out.reason, /RLIMIT_MEMLOCK is 64 KiB/);
      assert.equal(out.vmLckKb, 0);
      assert.ok(out.prefault === 'madvise' || out.prefault === 'touch', `prefault ${out.prefault}`);
      // 2048 pages: a few faults from the touch loop's own first run are tolerated, not one per page.
      assert.ok(out.touchFaults < 64, `${out.touchFaults} faults touching a prefaulted arena`);
    } finally {
      cleanup();
    }
  },
);

test(
  'unprivileged with room under the hard limit: the soft limit is raised and the lock succeeds',
  { skip: !(isRoot && hasSetpriv && hasPrlimit) && 'needs root, setpriv and prlimit' },
  async () => {
    const { script, cleanup } = fixtureForNobody();
    try {
      // Hard limit 8 MiB: within what root here may set even without CAP_SYS_RESOURCE to raise it.
      const r = await asNobody('65536:8388608', script, ['lock', '4']);
      assert.equal(r.code, 0, r.stderr);
      const out = JSON.parse(r.stdout.trim()) as { locked: boolean; vmLckKb: number; touchFaults: number };
      assert.equal(out.locked, true);
      assert.ok(out.vmLckKb >= 4096, `VmLck ${out.vmLckKb} kB`);
      assert.ok(out.touchFaults < 64, `${out.touchFaults} faults touching a locked arena`);
    } finally {
      cleanup();
    }
  },
);

test('the compact_unevictable setting is restored when the process is killed by SIGTERM', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tsland-sysctl-'));
  const path = join(dir, 'compact_unevictable_allowed');
  writeFileSync(path, '1\n');
  try {
    let seen = '';
    const r = await run(process.execPath, [fixture, 'sysctl', path], {
      onStdout: (s, kill) => {
        if (!seen && s.includes('\n')) {
          seen = s;
          kill('SIGTERM');
        }
      },
    });
    const held = JSON.parse(seen.trim()) as { applied: boolean; value: string };
    assert.equal(held.applied, true);
    assert.equal(held.value, '0', 'set to 0 while held');
    assert.equal(r.signal, 'SIGTERM', 'still dies of the signal');
    assert.equal(readFileSync(path, 'utf8').trim(), '1', 'restored');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('off Linux: importing and using tsland/mem does not crash, and locking says it is unavailable', async () => {
  const r = await run(process.execPath, [join(here, 'fixtures', 'mem-nonlinux.js'), 'run']);
  assert.equal(r.code, 0, r.stderr);
  const out = JSON.parse(r.stdout.trim()) as Record<string, unknown>;
  assert.equal(out.locked, false);
  assert.match(String(out.reason), /not Linux/);
  assert.equal(out.arenaLocked, 0);
  assert.match(String(out.status), /arena unlocked/);
  assert.equal(out.counterError, 'FaultCounterError');
  assert.equal(out.pageFaults, 'NaN');
  assert.equal(out.gcEvents, 0);
});
