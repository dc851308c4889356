import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { start } from './fixtures/spawn.js';
import { readEmbeddedData } from '../src/stats/html.js';
import { formatValue, type Row } from '../src/demo/table.js';
import { analyse, jainIndex, percentile } from '../src/demo/analysis.js';
import type { DemoData } from '../src/demo/report.js';

const MAIN = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));

function unescapeHtml(s: string): string {
  return s
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&quot;/g, '"')
    .replace(/&#39;/g, "'")
    .replace(/&amp;/g, '&');
}

function htmlTableCells(html: string, id: string): string[][] {
  const start = html.indexOf(`<table id="${id}">`);
  assert.ok(start >= 0, `table ${id} in report`);
  const body = html.slice(html.indexOf('<tbody>', start), html.indexOf('</table>', start));
  return [...body.matchAll(/<tr>(.*?)<\/tr>/g)].map((m) =>
    [...m[1]!.matchAll(/<td>(.*?)<\/td>/g)].map((c) => unescapeHtml(c[1]!)),
  );
}

function textTableCells(out: string): string[][] {
  const lines = out.split('\n');
  const head = lines.findIndex((l) => /^metric\s+kernel\s+tsland$/.test(l));
  assert.ok(head >= 0, `table header in:\n${out}`);
  const rows: string[][] = [];
  for (const l of lines.slice(head + 2)) {
    if (l.trim() === '') break;
    rows.push(l.split(/ {3,}/).map((c) => c.trim()));
  }
  return rows;
}

test('figures: percentiles, Jain and shares', () => {
  assert.equal(percentile([1, 2, 3, 4], 50), 2);
  assert.equal(percentile([1, 2, 3, 4], 99), 4);
  assert.ok(Number.isNaN(percentile([], 50)));
  assert.equal(jainIndex([1, 1, 1]), 1);
  assert.ok(Math.abs(jainIndex([1, 0, 0, 0]) - 0.25) < 1e-12);
  const f = analyse({
    startAtMs: 0,
    endAtMs: 1000,
    hogs: [
      { nice: 0, pid: 1, chunks: 10, cpuMs: 750 },
      { nice: 5, pid: 2, chunks: 5, cpuMs: 250 },
    ],
    probe: { periodUs: 2000, latenessUs: [100, 300, 200], atMs: [0, 300, 600] },
  });
  assert.equal(f.hogChunks, 15);
  assert.equal(f.hogCpus, 1);
  assert.equal(f.classes[0]!.share, 0.75);
  assert.ok(Math.abs(f.classes[0]!.idealShare - 100 / 133) < 1e-9, 'ideal from weights 100 and 33');
  assert.equal(f.probeP50Ms, 0.2);
  assert.equal(f.probeMaxMs, 0.3);
});

test('the demo in CI mode completes and its report matches its table', async () => {
  const outDir = mkdtempSync(join(tmpdir(), 'tsland-demo-test-'));
  const p = start(process.execPath, [MAIN, 'demo', '--seconds', '1', '--out-dir', outDir], {
    env: { ...process.env, TSLAND_STATS_DIR: join(outDir, 'sock') },
  });
  try {
    let timer: NodeJS.Timeout | undefined;
    const tooLong = new Promise<number>((_, rej) => (timer = setTimeout(() => rej(new Error('demo took over 180 s')), 180_000)));
    const code = await Promise.race([p.exited, tooLong]).finally(() => clearTimeout(timer));
    assert.equal(code, 0, p.stderr());
    const reports = readdirSync(outDir).filter((f) => f.endsWith('.html'));
    assert.equal(reports.length, 1);
    assert.match(p.stderr(), new RegExp(`report: .*${reports[0]}`));
    const html = readFileSync(join(outDir, reports[0]!), 'utf8');
    const printed = textTableCells(p.stdout());
    const inReport = htmlTableCells(html, 'comparison');
    assert.deepEqual(inReport, printed, 'report table = printed table');
    const data = readEmbeddedData(html) as DemoData;
    assert.deepEqual(data.cells, printed, 'embedded figures = printed table');
    // Each printed cell is the formatting of the embedded number, so the numbers match, not just the text.
    data.rows.forEach((row: Row, i: number) => {
      assert.equal(formatValue(row.kernel, row), printed[i]![1]);
      assert.equal(formatValue(row.tsland, row), printed[i]![2]);
    });
    const byKey = Object.fromEntries(data.rows.map((r) => [r.key, r]));
    assert.equal(byKey.jain!.kernel, data.kernel.jainIndex);
    assert.equal(byKey.probe_p99!.tsland, data.tsland!.probeP99Ms);
    assert.ok(data.kernel.probeWakeups > 0 && data.tsland!.probeWakeups > 0, 'the probe ran in both halves');
    assert.ok(data.kernel.hogChunks > 0 && data.tsland!.hogChunks > 0, 'the hogs worked in both halves');
    assert.equal(typeof data.extras!.pageFaults, 'number');
    // Self-contained: nothing to fetch.
    assert.doesNotMatch(html.replaceAll('http://www.w3.org/2000/svg', ''), /https?:\/\//);
  } finally {
    p.kill('SIGKILL');
    await p.exited;
    rmSync(outDir, { recursive: true, force: true });
  }
});

test('an unknown policy is a usage error before anything runs', async () => {
  const p = start(process.execPath, [MAIN, 'demo', '--policy', 'no-such-policy']);
  try {
    assert.equal(await p.exited, 2);
    assert.match(p.stderr(), /^tsland: --policy must be one of rustland, fifo/);
  } finally {
    p.kill('SIGKILL');
  }
});

test('a bad window length from the environment is a usage error', async () => {
  const p = start(process.execPath, [MAIN, 'demo'], { env: { ...process.env, TSLAND_DEMO_SECONDS: 'soon' } });
  try {
    assert.equal(await p.exited, 2);
    assert.equal(p.stderr().trim().split('\n').length, 1);
    assert.match(p.stderr(), /TSLAND_DEMO_SECONDS must be/);
  } finally {
    p.kill('SIGKILL');
  }
});

test('SIGTERM during the kernel half stops the demo and leaves no process behind', async () => {
  const outDir = mkdtempSync(join(tmpdir(), 'tsland-demo-int-'));
  const mark = `tsland-demo-test-k-${process.pid}-${Date.now()}`;
  const p = start(process.execPath, [MAIN, 'demo', '--seconds', '20', '--out-dir', outDir], {
    env: { ...process.env, TSLAND_TEST_MARK: mark },
  });
  try {
    const deadline = Date.now() + 60_000;
    while (!/kernel scheduler/.test(p.stderr())) {
      assert.ok(Date.now() < deadline && p.child.exitCode === null, `kernel half never started: ${p.stderr()}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    process.kill(p.child.pid!, 'SIGTERM');
    assert.equal(await p.exited, 130, p.stderr());
    const deadlineGone = Date.now() + 15_000;
    while (marked(mark).length > 0 && Date.now() < deadlineGone) await new Promise((r) => setTimeout(r, 200));
    assert.deepEqual(marked(mark), [], 'processes of the demo left behind');
  } finally {
    p.kill('SIGKILL');
    await p.exited;
    rmSync(outDir, { recursive: true, force: true });
  }
});

test('Ctrl-C during the tsland half stops the demo and leaves no process of its tree behind', async () => {
  const outDir = mkdtempSync(join(tmpdir(), 'tsland-demo-int-'));
  // Every process of this demo's tree inherits the mark, so they can be told from another demo's.
  const mark = `tsland-demo-test-${process.pid}-${Date.now()}`;
  const p = start(process.execPath, [MAIN, 'demo', '--seconds', '3', '--out-dir', outDir], {
    env: { ...process.env, TSLAND_STATS_DIR: join(outDir, 'sock'), TSLAND_TEST_MARK: mark },
  });
  try {
    const deadline = Date.now() + 120_000;
    while (!/measuring/.test(p.stderr().split('tsland: starting')[1] ?? '')) {
      assert.ok(Date.now() < deadline && p.child.exitCode === null, `tsland half never started: ${p.stderr()}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.ok(marked(mark).length > 0, 'the workload is running');
    process.kill(p.child.pid!, 'SIGINT');
    assert.equal(await p.exited, 130, p.stderr());
    assert.match(p.stderr(), /demo interrupted/);
    const deadlineGone = Date.now() + 15_000;
    while (marked(mark).length > 0 && Date.now() < deadlineGone) await new Promise((r) => setTimeout(r, 200));
    assert.deepEqual(marked(mark), [], 'processes of the demo left behind');
  } finally {
    p.kill('SIGKILL');
    await p.exited;
    rmSync(outDir, { recursive: true, force: true });
  }
});

/** Live (not zombie) processes whose environment carries the mark. */
function marked(mark: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      if (!readFileSync(`/proc/${name}/environ`, 'latin1').includes(`TSLAND_TEST_MARK=${mark}`)) continue;
      const stat = readFileSync(`/proc/${name}/stat`, 'latin1');
      const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
      if (state !== 'Z') out.push(`${name} ${state}`);
    } catch {
      /* gone meanwhile */
    }
  }
  return out;
}
