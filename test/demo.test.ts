import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { marked, start } from './fixtures/spawn.js';
import { readEmbeddedData } from '../src/stats/html.js';
import {
  comparisonRows,
  formatValue,
  renderTextTable,
  tableCells,
  tableColumns,
  type Row,
  type SchedulerColumn,
} from '../src/demo/table.js';
import { analyse, jainIndex, percentile } from '../src/demo/analysis.js';
import { demoReportHtml, PERCENTILE_CHART_TITLE, type DemoData } from '../src/demo/report.js';
import type { MixResult } from '../src/demo/workload.js';
import { chooseDemoBackend } from '../src/cli/commands/demo.js';

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
  const head = lines.findIndex((l) => /^metric\s+kernel\s+tsland(\s+\S+)*$/.test(l));
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

/** A run of the workload whose probe woke `lateUs` late each time and whose hogs did `chunks` each. */
function mixOf(lateUs: number[], chunks: number): MixResult {
  return {
    startAtMs: 0,
    endAtMs: 1000,
    hogs: [
      { nice: 0, pid: 1, chunks, cpuMs: 700 },
      { nice: 5, pid: 2, chunks, cpuMs: 230 },
      { nice: 10, pid: 3, chunks, cpuMs: 70 },
    ],
    probe: { periodUs: 2000, latenessUs: lateUs, atMs: lateUs.map((_, i) => i * 2) },
  };
}

test('the report has a column per scheduler and a chart of the probe lateness percentiles of each', () => {
  const ramp = (scale: number) => Array.from({ length: 1000 }, (_, i) => (i + 1) * scale);
  const columns: SchedulerColumn[] = [
    { name: 'kernel', figures: analyse(mixOf(ramp(10), 100)) },
    { name: 'tsland', figures: analyse(mixOf(ramp(5), 90)) },
    { name: 'scx_simple', figures: analyse(mixOf(ramp(20), 110)) },
    { name: 'scx_userland', figures: analyse(mixOf(ramp(40), 50)) },
  ];
  const extras = { policy: 'rustland', locked: true, pageFaults: 3, gcEvents: 0, cpuPercent: 12.5 };
  const rows = comparisonRows(columns, 1, extras);
  const header = tableColumns(columns);
  assert.deepEqual(header, ['metric', 'kernel', 'tsland', 'scx_simple', 'scx_userland']);
  const byKey = Object.fromEntries(rows.map((r) => [r.key, r]));
  assert.deepEqual(byKey.probe_p50!.values, [5, 2.5, 10, 20], 'p50 of 10..10000 µs, 5..5000, 20..20000, 40..40000');
  assert.deepEqual(byKey.throughput!.values, [1, 0.9, 1.1, 0.5], 'throughput against the kernel column');
  assert.deepEqual(byKey.sched_faults!.values, [null, 3, null, null], "only tsland's column has the scheduler thread's figures");
  const text = renderTextTable(header, rows);
  assert.match(text.split('\n')[0]!, /^metric\s+kernel\s+tsland\s+scx_simple\s+scx_userland$/);
  assert.deepEqual(textTableCells(text), tableCells(rows), 'printed cells = the rows');

  const data: DemoData = {
    setup: {
      seconds: 1,
      nrCpus: 2,
      nices: [0, 5, 10],
      probePeriodUs: 2000,
      policy: 'rustland',
      backend: 'scx',
      inGuest: true,
      node: process.version,
      kernel: '7.3.4+deb13-amd64',
      startedAt: new Date(0).toISOString(),
      loadAverage: 0.5,
    },
    columns: header,
    rows,
    cells: tableCells(rows),
    kernel: columns[0]!.figures!,
    tsland: columns[1]!.figures,
    extras,
    peers: columns.slice(2).map((c) => ({ name: c.name, ops: c.name.replace('scx_', ''), figures: c.figures! })),
    dispatchRate: { atS: [], perS: [] },
    notes: [],
  };
  const html = demoReportHtml(data);
  const head = html.slice(
    html.indexOf('<table id="comparison">'),
    html.indexOf('</thead>', html.indexOf('<table id="comparison">')),
  );
  assert.deepEqual(
    [...head.matchAll(/<th>(.*?)<\/th>/g)].map((m) => m[1]),
    header,
    'report header: one column per scheduler',
  );
  const cells = htmlTableCells(html, 'comparison');
  assert.deepEqual(cells, data.cells);
  assert.ok(cells.every((r) => r.length === 5));
  // The percentile chart: one bar per scheduler and percentile, each titled with its scheduler, percentile, value.
  const at = html.indexOf(`aria-label="${PERCENTILE_CHART_TITLE}"`);
  assert.ok(at >= 0, 'percentile chart in the report');
  const chart = html.slice(at, html.indexOf('</svg>', at));
  const bars = [...chart.matchAll(/<title>(.*?)<\/title>/g)].map((m) => unescapeHtml(m[1]!));
  const names = ['kernel', 'tsland (rustland)', 'scx_simple', 'scx_userland'];
  const cats = ['p50', 'p90', 'p95', 'p99', 'p99.9', 'max'];
  assert.equal(bars.length, names.length * cats.length, bars.join('\n'));
  for (const [i, name] of names.entries()) {
    for (const [j, cat] of cats.entries()) {
      const v = columns[i]!.figures!.latenessPercentiles.ms[j]!;
      assert.ok(bars.includes(`${name} ${cat}: ${v}`), `bar ${name} ${cat}: ${v}`);
    }
  }
  assert.match(chart, /scx_userland<\/text>/, 'legend names the peers');
  assert.match(html, /sched_ext guest/);
  assert.doesNotMatch(html.replaceAll('http://www.w3.org/2000/svg', ''), /https?:\/\//, 'self-contained');
});

test('auto: sched_ext where the kernel has it, else the guest where ready, else signals with one line on how', () => {
  assert.deepEqual(chooseDemoBackend(null, true, { ok: false, reason: 'x' }), { where: 'scx', hint: null });
  assert.deepEqual(chooseDemoBackend('no sched_ext', false, { ok: true }), { where: 'guest', hint: null });
  const rootless = chooseDemoBackend('needs root', true, { ok: true });
  assert.equal(rootless.where, 'proc', 'a kernel with sched_ext is used directly, or not at all');
  assert.match(rootless.hint!, /sudo npm start/);
  const none = chooseDemoBackend('no sched_ext', false, { ok: false, reason: 'the guest needs root' });
  assert.equal(none.where, 'proc');
  assert.equal(none.hint!.split('\n').length, 1);
  assert.match(none.hint!, /npm run guest:setup.*npm start/);
});

test('the demo in CI mode completes and its report matches its table', async () => {
  const outDir = mkdtempSync(join(tmpdir(), 'tsland-demo-test-'));
  // No guest in an empty cache: auto falls back to signals here and says how to get sched_ext.
  const p = start(process.execPath, [MAIN, 'demo', '--seconds', '1', '--out-dir', outDir], {
    env: { ...process.env, TSLAND_STATS_DIR: join(outDir, 'sock'), TSLAND_CACHE_DIR: join(outDir, 'empty-cache') },
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
      assert.equal(row.values.length, 2, 'kernel and tsland: no peers through signals');
      assert.equal(formatValue(row.values[0]!, row), printed[i]![1]);
      assert.equal(formatValue(row.values[1]!, row), printed[i]![2]);
    });
    const byKey = Object.fromEntries(data.rows.map((r) => [r.key, r]));
    assert.equal(byKey.jain!.values[0], data.kernel.jainIndex);
    assert.equal(byKey.probe_p99!.values[1], data.tsland!.probeP99Ms);
    assert.ok(data.kernel.probeWakeups > 0 && data.tsland!.probeWakeups > 0, 'the probe ran in both halves');
    assert.ok(data.kernel.hogChunks > 0 && data.tsland!.hogChunks > 0, 'the hogs worked in both halves');
    assert.equal(typeof data.extras!.pageFaults, 'number');
    assert.equal(data.setup.backend, 'proc');
    const hints = p
      .stderr()
      .split('\n')
      .filter((l) => /guest:setup/.test(l));
    assert.equal(hints.length, 1, `one line on how to get the sched_ext comparison:\n${p.stderr()}`);
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
  const p = start(process.execPath, [MAIN, 'demo', '--backend', 'proc', '--seconds', '20', '--out-dir', outDir], {
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
  const p = start(process.execPath, [MAIN, 'demo', '--backend', 'proc', '--seconds', '3', '--out-dir', outDir], {
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
