// Real boots of the sched_ext guest (three, each 11 s or more under software emulation): what a command
// prints and its exit status come back through `tsland guest run`, the kernel has sched_ext, the working
// directory (under /tmp, as CI checkouts can be) is visible and writable, the host's root is read-only; a
// timeout and an abort each stop the guest and leave none of its processes or files behind.

import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { guestPaths } from '../src/guest/paths.js';
import { ABORT_EXIT_CODE, runInGuest, TIMEOUT_EXIT_CODE, type GuestRunResult } from '../src/guest/launch.js';
import { guestOrSkip } from './fixtures/guest.js';
import { start } from './fixtures/spawn.js';

const MAIN = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));
// A loaded 2-core machine has been seen to take 50 s to boot under TCG; leave room for more.
const BOOT_BUDGET_MS = 300_000;

function pidGone(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return false;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ESRCH';
  }
}

function runDirs(): string[] {
  return readdirSync(tmpdir()).filter((n) => n.startsWith('tsland-guest-'));
}

function assertLeftNothing(r: GuestRunResult, dirsBefore: string[]): void {
  assert.equal(r.pids.length, 4, 'three virtiofsd and qemu');
  for (const pid of r.pids) assert.ok(pidGone(pid), `process ${pid} of the guest is still there`);
  const left = runDirs().filter((d) => !dirsBefore.includes(d));
  assert.deepEqual(left, [], 'run directory removed');
}

test(
  'guest run: output, exit status, sched_ext, a writable cwd under /tmp, a read-only root',
  { timeout: BOOT_BUDGET_MS },
  async (t) => {
    if (!guestOrSkip(t)) return;
    const cwd = mkdtempSync(join(tmpdir(), 'tsland-cwd-test-'));
    try {
      writeFileSync(join(cwd, 'from-host'), 'host wrote this\n');
      const script = [
        'echo out-line',
        'echo err-line >&2',
        'echo "kernel=$(uname -r)"',
        'echo "sched_ext=$(cat /sys/kernel/sched_ext/state)"',
        'echo "pwd=$(pwd) home=$HOME probe=$TSLAND_GUEST_PROBE"',
        'cat from-host',
        'echo guest wrote this > from-guest',
        'touch /tsland-ro-probe 2>/dev/null && echo root=writable || echo root=read-only',
        'grep -q " /sys/fs/bpf bpf " /proc/mounts && echo bpffs=yes',
        'exit 7',
      ].join('; ');
      const p = start(process.execPath, [MAIN, 'guest', 'run', '--', 'sh', '-c', script], {
        cwd,
        env: { ...process.env, TSLAND_GUEST_PROBE: 'passed' },
      });
      const code = await p.exited;
      const out = p.stdout();
      assert.equal(code, 7, `exit status; stderr: ${p.stderr()}`);
      assert.equal(p.stderr(), 'err-line\n', "stderr carries the command's stderr only (no kernel messages)");
      const lines = out.split('\n');
      assert.equal(lines[0], 'out-line', out);
      assert.ok(lines.includes(`kernel=${guestPaths()!.kernelVersion}`), out);
      assert.ok(
        lines.some((l) => /^sched_ext=(disabled|enabled)$/.test(l)),
        out,
      );
      assert.ok(lines.includes(`pwd=${cwd} home=/root probe=passed`), out);
      assert.ok(lines.includes('host wrote this'), out);
      assert.ok(lines.includes('root=read-only'), out);
      assert.ok(lines.includes('bpffs=yes'), out);
      assert.equal(readFileSync(join(cwd, 'from-guest'), 'utf8'), 'guest wrote this\n');
      assert.ok(!existsSync('/tsland-ro-probe'));
    } finally {
      rmSync(cwd, { recursive: true, force: true });
    }
  },
);

test(
  'guest run: a timeout stops the guest, exits 124 and leaves no process or directory',
  { timeout: BOOT_BUDGET_MS },
  async (t) => {
    if (!guestOrSkip(t)) return;
    const before = runDirs();
    const timeoutMs = 15_000;
    const t0 = Date.now();
    const r = await runInGuest({ argv: ['sleep', '600'], timeoutMs, cwd: tmpdir() });
    const elapsedMs = Date.now() - t0;
    assert.equal(r.code, TIMEOUT_EXIT_CODE);
    assert.ok(r.timedOut);
    assert.ok(elapsedMs >= timeoutMs && elapsedMs < timeoutMs + 20_000, `stopped ${elapsedMs} ms after the start`);
    assertLeftNothing(r, before);
  },
);

test(
  'guest run: output streams live, and an abort while the command runs stops everything',
  { timeout: BOOT_BUDGET_MS },
  async (t) => {
    if (!guestOrSkip(t)) return;
    const before = runDirs();
    const controller = new AbortController();
    let seen = '';
    const r = await runInGuest({
      argv: ['sh', '-c', 'echo streaming; sleep 600'],
      cwd: tmpdir(),
      signal: controller.signal,
      timeoutMs: BOOT_BUDGET_MS - 30_000,
      onStdout: (chunk) => {
        seen += chunk.toString('utf8');
        // Arrives while the command still sleeps: only a live stream can deliver it before the abort.
        if (seen.includes('streaming\n')) controller.abort();
      },
    });
    assert.equal(seen, 'streaming\n');
    assert.equal(r.code, ABORT_EXIT_CODE);
    assert.ok(r.aborted && !r.timedOut);
    assert.ok(r.timings.bootMs > 0, 'the command had started');
    assertLeftNothing(r, before);
  },
);
