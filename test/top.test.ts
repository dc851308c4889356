import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { start, type Started } from './fixtures/spawn.js';
import { TopModel } from '../src/stats/top-model.js';
import { renderTop } from '../src/stats/top-view.js';
import { sparkline } from '../src/stats/sparkline.js';

const MAIN = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));
const FIXTURE = fileURLToPath(new URL('./fixtures/stats-instance.js', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'tsland-top-'));
const socketPath = join(dir, 'top.sock');
// A private tmux server: only it is ever killed.
// Each test gets a server of its own: a server whose last session was just killed is still shutting down,
// and a new session asked of it in that moment fails with "server exited unexpectedly".
const TMUX_SERVERS: string[] = [];
let instance: Started;

function newTmuxServer(): void {
  TMUX_SERVERS.push(`tsland-top-test-${process.pid}-${TMUX_SERVERS.length}`);
}

function tmux(...args: string[]): string {
  return execFileSync('tmux', ['-L', TMUX_SERVERS.at(-1)!, '-f', '/dev/null', ...args], { encoding: 'utf8' });
}

function haveTmux(): boolean {
  try {
    execFileSync('tmux', ['-V']);
    return true;
  } catch {
    return false;
  }
}

/** Pids whose parent is `ppid`, read from /proc (no dependence on ps). */
function childrenOf(ppid: number): number[] {
  const out: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'latin1');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(fields[1]) === ppid) out.push(Number(name));
    } catch {
      /* gone meanwhile */
    }
  }
  return out;
}

async function until<T>(what: string, fn: () => T | undefined, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = fn();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

before(async () => {
  instance = start(process.execPath, [FIXTURE, socketPath]);
  await instance.waitFor(/ready/);
});

after(async () => {
  for (const server of TMUX_SERVERS) {
    try {
      execFileSync('tmux', ['-L', server, 'kill-server'], { stdio: 'ignore' });
    } catch {
      /* not running */
    }
  }
  instance?.kill('SIGTERM');
  await instance?.exited;
  rmSync(dir, { recursive: true, force: true });
});

test('renders counters, per-CPU tasks and tasks by vruntime', () => {
  const m = new TopModel();
  const base = {
    health: {
      healthy: true,
      reason: '',
      status: 'OK',
      intervalMs: 1000,
      pageFaults: 0,
      gcEvents: 0,
      congested: 0,
      failedDispatches: 0,
      locked: true,
    },
    info: { policy: 'rustland' },
  };
  const tasks = [
    { pid: 10, comm: 'late', weight: 100, vruntimeNs: 9e6, cpuTimeNs: 1e9, state: 'Q', cpu: 0 },
    { pid: 11, comm: 'early', weight: 100, vruntimeNs: 1e6, cpuTimeNs: 1e9, state: 'R', cpu: 1 },
  ];
  m.push(
    {
      ...base,
      atMs: 0,
      counters: { nr_cpus: 2, nr_user_dispatches: 0, nr_wake_dispatches: 0, wake_latency_total_ns: 0, nr_page_faults: 0 },
    },
    tasks,
  );
  m.push(
    {
      ...base,
      atMs: 1000,
      counters: {
        nr_cpus: 2,
        nr_user_dispatches: 500,
        nr_wake_dispatches: 10,
        wake_latency_total_ns: 500_000,
        nr_page_faults: 2,
      },
    },
    tasks,
  );
  assert.deepEqual(m.dispatchRate, [500]);
  assert.deepEqual(m.wakeLatencyUs, [50]);
  assert.deepEqual(m.pageFaults, [2]);
  const lines = renderTop(m, { cols: 100, rows: 30 });
  const text = lines.join('\n');
  assert.ok(lines.every((l) => l.length <= 100));
  assert.match(text, /dispatch rate .* 500\/s/);
  assert.match(text, /wake latency .* 50 µs/);
  assert.match(text, /^ {2}0 {2}- +\(idle\)$/m);
  assert.match(text, /^ {2}1 {2}11 +early$/m);
  assert.ok(text.indexOf('early') < text.lastIndexOf('late'), 'smallest vruntime first');
  assert.equal(sparkline([0, 1, 2, 4], 4), '▁▃▅█');
  assert.equal(sparkline([0, 0], 4), '  ▁▁');
});

test('non-TTY mode prints plain snapshots without escape codes', async () => {
  const p = start(process.execPath, [MAIN, 'top', '--socket', socketPath, '--iterations', '2', '--interval', '0.2']);
  try {
    assert.equal(await p.exited, 0, p.stderr());
    const out = p.stdout();
    assert.equal((out.match(/^tsland top/gm) ?? []).length, 2);
    assert.ok(!out.includes('\x1b'), 'no escape sequence');
    assert.match(out, /hog-heavy/);
  } finally {
    p.kill('SIGKILL');
  }
});

test(
  'in a real terminal: renders, updates, q quits and the terminal is restored',
  { skip: !haveTmux() && 'tmux not installed' },
  async () => {
    const sttyFile = join(dir, 'stty-after');
    const script = `${process.execPath} ${MAIN} top --socket ${socketPath} --interval 0.3; echo EXIT=$?; stty -a > ${sttyFile}; echo DONE; sleep 60`;
    newTmuxServer();
    tmux('new-session', '-d', '-x', '120', '-y', '40', 'sh', '-c', script);
    const screen = () => tmux('capture-pane', '-p');
    const first = await until('first frame', () => (/user (\d+)/.exec(screen()) ? screen() : undefined));
    assert.match(first, /tsland top/);
    assert.match(first, /hog-heavy/);
    assert.match(first, /health: OK/);
    assert.equal(tmux('display', '-p', '#{alternate_on}').trim(), '1', 'alternate screen in use');
    assert.equal(tmux('display', '-p', '#{cursor_flag}').trim(), '0', 'cursor hidden');
    const n0 = Number(/user (\d+)/.exec(first)![1]);
    await until('an update', () => Number(/user (\d+)/.exec(screen())?.[1] ?? 0) > n0 || undefined);
    tmux('send-keys', 'q');
    const after = await until('exit', () => (screen().includes('DONE') ? screen() : undefined));
    assert.match(after, /EXIT=0/);
    assert.doesNotMatch(after, /hog-heavy/, 'main screen is back, the view is gone');
    assert.equal(tmux('display', '-p', '#{alternate_on}').trim(), '0');
    assert.equal(tmux('display', '-p', '#{cursor_flag}').trim(), '1', 'cursor visible again');
    const stty = readFileSync(sttyFile, 'utf8');
    assert.match(stty, /(^|\s)icanon(\s|$)/, 'canonical mode back');
    assert.match(stty, /(^|\s)echo(\s|$)/, 'echo back');
    tmux('kill-session');
  },
);

test('in a real terminal: SIGTERM also restores the terminal', { skip: !haveTmux() && 'tmux not installed' }, async () => {
  const sttyFile = join(dir, 'stty-term');
  const script = `${process.execPath} ${MAIN} top --socket ${socketPath} --interval 0.3; echo EXIT=$?; stty -a > ${sttyFile}; echo DONE; sleep 60`;
  newTmuxServer();
  tmux('new-session', '-d', '-x', '100', '-y', '30', 'sh', '-c', script);
  const screen = () => tmux('capture-pane', '-p');
  await until('first frame', () => (/hog-heavy/.test(screen()) ? true : undefined));
  const shPid = tmux('display', '-p', '#{pane_pid}').trim();
  const topPid = await until('top pid', () => childrenOf(Number(shPid))[0]);
  process.kill(Number(topPid), 'SIGTERM');
  const after = await until('exit', () => (screen().includes('DONE') ? screen() : undefined));
  assert.match(after, /EXIT=0/);
  assert.equal(tmux('display', '-p', '#{alternate_on}').trim(), '0');
  assert.equal(tmux('display', '-p', '#{cursor_flag}').trim(), '1');
  assert.match(readFileSync(sttyFile, 'utf8'), /(^|\s)icanon(\s|$)/);
  tmux('kill-session');
});
