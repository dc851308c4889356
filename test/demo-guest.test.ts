// The demo in the sched_ext guest, as `npm start` runs it on a machine whose kernel lacks sched_ext: one boot,
// the kernel's scheduler (EEVDF) and tsland on the guest's real sched_ext, the figures and the report back on
// the host. The peers are left out here (each adds about half a minute under emulation); the report's
// columns for them are tested from data in demo.test.ts. Ctrl-C while the guest runs stops it and leaves
// nothing behind.

import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { DemoData } from '../src/demo/report.js';
import { guestPaths } from '../src/guest/paths.js';
import { readEmbeddedData } from '../src/stats/html.js';
import { guestOrSkip } from './fixtures/guest.js';
import { marked, start } from './fixtures/spawn.js';

const MAIN = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));
// Under emulation on a loaded 2-core machine: a boot of up to a minute, Node starting in ~5 s per process.
const BUDGET_MS = 480_000;

test(
  'demo --backend guest: EEVDF and tsland on sched_ext in the guest, figures and report on the host',
  { timeout: BUDGET_MS },
  async (t) => {
    if (!guestOrSkip(t)) return;
    const outDir = mkdtempSync(join(tmpdir(), 'tsland-demo-guest-test-'));
    const p = start(process.execPath, [
      MAIN,
      'demo',
      '--backend',
      'guest',
      '--seconds',
      '2',
      '--no-peers',
      '--json',
      '--out-dir',
      outDir,
    ]);
    try {
      const code = await p.exited;
      assert.match(p.stderr(), /guest: booted in \d+ s/);
      const data = JSON.parse(p.stdout()) as DemoData;
      // A tsland half the kernel ejected shows here with its reason (the run then exits 1, after the table).
      assert.ok(data.tsland, `the sched_ext half ran: ${data.notes.join(' | ')}`);
      assert.equal(code, 0, p.stderr());
      assert.equal(data.setup.backend, 'scx', 'tsland ran on sched_ext');
      assert.equal(data.setup.inGuest, true);
      assert.equal(data.setup.kernel, guestPaths()!.kernelVersion, "the figures are the guest kernel's");
      assert.deepEqual(data.columns, ['metric', 'kernel', 'tsland']);
      assert.ok(data.tsland.probeWakeups > 0 && data.tsland.hogChunks > 0, 'probe and hogs ran under tsland');
      assert.ok(data.kernel.probeWakeups > 0 && data.kernel.hogChunks > 0, 'probe and hogs ran under EEVDF');
      assert.ok(data.tsland.hogCpus > 0.2, `the hogs got CPU under tsland: ${data.tsland.hogCpus}`);
      assert.equal(data.extras!.locked, true, 'root in the guest: the arena is locked');
      assert.equal(data.tsland.latenessPercentiles.ms.length, data.tsland.latenessPercentiles.p.length);
      const reports = readdirSync(outDir).filter((f) => f.endsWith('.html'));
      assert.equal(reports.length, 1, 'the report lands in --out-dir on the host');
      assert.match(p.stderr(), new RegExp(`report: .*${reports[0]}`));
      const inReport = readEmbeddedData(readFileSync(join(outDir, reports[0]!), 'utf8')) as DemoData;
      assert.deepEqual(inReport.cells, data.cells, 'report figures = printed figures');
      assert.deepEqual(
        readdirSync(tmpdir()).filter((n) => n.startsWith('tsland-demo-guest-') && !outDir.endsWith(n)),
        [],
        'exchange directory removed',
      );
    } finally {
      p.kill('SIGKILL');
      await p.exited;
      rmSync(outDir, { recursive: true, force: true });
    }
  },
);

test('Ctrl-C while the demo runs in the guest stops the guest and leaves nothing running', { timeout: BUDGET_MS }, async (t) => {
  if (!guestOrSkip(t)) return;
  const outDir = mkdtempSync(join(tmpdir(), 'tsland-demo-guest-int-'));
  const mark = `tsland-demo-guest-test-${process.pid}-${Date.now()}`;
  const p = start(process.execPath, [MAIN, 'demo', '--backend', 'guest', '--seconds', '30', '--out-dir', outDir], {
    env: { ...process.env, TSLAND_TEST_MARK: mark },
  });
  try {
    const deadline = Date.now() + BUDGET_MS / 2;
    while (!/guest: booted/.test(p.stderr())) {
      assert.ok(Date.now() < deadline && p.child.exitCode === null, `the guest never booted: ${p.stderr()}`);
      await new Promise((r) => setTimeout(r, 200));
    }
    assert.ok(marked(mark).length >= 2, 'qemu and virtiofsd run');
    process.kill(p.child.pid!, 'SIGINT');
    assert.equal(await p.exited, 130, p.stderr());
    assert.match(p.stderr(), /demo interrupted.*the guest too/);
    const deadlineGone = Date.now() + 15_000;
    while (marked(mark).length > 0 && Date.now() < deadlineGone) await new Promise((r) => setTimeout(r, 200));
    assert.deepEqual(marked(mark), [], 'processes of the demo left behind');
    assert.deepEqual(readdirSync(outDir), [], 'no report from an interrupted run');
  } finally {
    p.kill('SIGKILL');
    await p.exited;
    rmSync(outDir, { recursive: true, force: true });
  }
});
