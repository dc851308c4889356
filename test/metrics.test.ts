import { test } from 'node:test';
import assert from 'node:assert/strict';
import { COUNTER_NAMES, C, createCounters } from '../src/sched/counters.js';
import { formatOpenMetrics } from '../src/stats/openmetrics.js';
import { isLoopback, parseMetricsAddress, startMetricsServer } from '../src/stats/metrics-server.js';
import { UsageError } from '../src/cli/command.js';

// A strict reader of the OpenMetrics 1.0 text format, written for this test: it throws on anything a
// conforming scraper would reject, and returns the samples by name.
const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const TYPES = new Set(['counter', 'gauge', 'histogram', 'gaugehistogram', 'stateset', 'info', 'summary', 'unknown']);
const SUFFIXES: Record<string, string[]> = { counter: ['_total', '_created'], gauge: [''], info: ['_info'], unknown: [''], stateset: [''] };

interface Parsed {
  families: Map<string, { type: string; help?: string }>;
  samples: Map<string, { labels: Record<string, string>; value: number }>;
}

function parseValue(text: string, where: string): number {
  if (text === 'NaN') return NaN;
  if (text === '+Inf') return Infinity;
  if (text === '-Inf') return -Infinity;
  if (!/^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$/.test(text)) throw new Error(`${where}: bad number '${text}'`);
  return Number(text);
}

function parseLabels(text: string, where: string): Record<string, string> {
  const labels: Record<string, string> = {};
  let i = 0;
  while (i < text.length) {
    const eq = text.indexOf('=', i);
    if (eq < 0) throw new Error(`${where}: label without '='`);
    const name = text.slice(i, eq);
    if (!LABEL_NAME.test(name)) throw new Error(`${where}: bad label name '${name}'`);
    if (name in labels) throw new Error(`${where}: duplicate label '${name}'`);
    if (text[eq + 1] !== '"') throw new Error(`${where}: label value must be quoted`);
    let j = eq + 2;
    let value = '';
    for (; j < text.length && text[j] !== '"'; j++) {
      if (text[j] === '\\') {
        const next = text[++j];
        if (next === 'n') value += '\n';
        else if (next === '\\' || next === '"') value += next;
        else throw new Error(`${where}: bad escape '\\${next}'`);
      } else value += text[j];
    }
    if (j >= text.length) throw new Error(`${where}: unterminated label value`);
    labels[name] = value;
    i = j + 1;
    if (i < text.length) {
      if (text[i] !== ',') throw new Error(`${where}: expected ',' between labels`);
      i++;
    }
  }
  return labels;
}

function parseOpenMetrics(text: string): Parsed {
  if (!text.endsWith('# EOF\n')) throw new Error('missing final "# EOF" line');
  const lines = text.slice(0, -1).split('\n');
  lines.pop();
  const families: Parsed['families'] = new Map();
  const samples: Parsed['samples'] = new Map();
  const closed = new Set<string>();
  let current = '';
  const enter = (family: string, where: string) => {
    if (family === current) return;
    if (closed.has(family)) throw new Error(`${where}: family '${family}' is interleaved`);
    if (current) closed.add(current);
    current = family;
  };
  lines.forEach((line, n) => {
    const where = `line ${n + 1}`;
    if (line === '') throw new Error(`${where}: blank line`);
    if (line.startsWith('#')) {
      const m = /^# (HELP|TYPE|UNIT) ([^ ]+) (.*)$/.exec(line);
      if (!m) throw new Error(`${where}: bad metadata line '${line}'`);
      const [, kind, family, rest] = m as unknown as [string, string, string, string];
      if (!METRIC_NAME.test(family)) throw new Error(`${where}: bad family name`);
      enter(family, where);
      const entry = families.get(family) ?? { type: 'unknown' };
      if (kind === 'TYPE') {
        if (!TYPES.has(rest)) throw new Error(`${where}: unknown type '${rest}'`);
        if (families.has(family) && entry.type !== 'unknown') throw new Error(`${where}: second TYPE for ${family}`);
        entry.type = rest;
      } else if (kind === 'HELP') {
        if (entry.help !== undefined) throw new Error(`${where}: second HELP for ${family}`);
        entry.help = rest;
      }
      families.set(family, entry);
      return;
    }
    const m = /^([^ {]+)(?:\{(.*)\})? ([^ ]+)(?: ([^ ]+))?$/.exec(line);
    if (!m) throw new Error(`${where}: bad sample line '${line}'`);
    const [, name, labelText, valueText, ts] = m as unknown as [string, string, string | undefined, string, string | undefined];
    if (!METRIC_NAME.test(name)) throw new Error(`${where}: bad metric name '${name}'`);
    const fam = families.get(current);
    if (!fam) throw new Error(`${where}: sample '${name}' before any TYPE`);
    const allowed = SUFFIXES[fam.type] ?? [''];
    if (!allowed.some((s) => name === current + s)) throw new Error(`${where}: sample '${name}' does not belong to ${fam.type} '${current}'`);
    const value = parseValue(valueText, where);
    if (fam.type === 'counter' && (Number.isNaN(value) || value < 0)) throw new Error(`${where}: counter must be >= 0`);
    if (ts !== undefined) parseValue(ts, where);
    const labels = labelText ? parseLabels(labelText, where) : {};
    const key = name + JSON.stringify(labels);
    if (samples.has(name) || samples.has(key)) throw new Error(`${where}: duplicate sample ${name}`);
    samples.set(name, { labels, value });
  });
  return { families, samples };
}

test('the strict parser rejects what a scraper would', () => {
  const bad = [
    'x 1\n', // no EOF
    '# TYPE a counter\na 1\n# EOF\n', // counter without _total
    '# TYPE a gauge\na 1\n\n# EOF\n', // blank line
    '# TYPE a gauge\na{b="c} 1\n# EOF\n', // unterminated label
    '# TYPE a gauge\na one\n# EOF\n', // bad value
    '# TYPE a gauge\na 1\n# TYPE b gauge\nb 1\n# TYPE a gauge\n# EOF\n', // interleaved family
    '# TYPE a counter\na_total -1\n# EOF\n',
  ];
  for (const text of bad) assert.throws(() => parseOpenMetrics(text), Error, JSON.stringify(text));
  assert.equal(parseOpenMetrics('# TYPE a counter\na_total 3\n# EOF\n').samples.get('a_total')!.value, 3);
});

test('formatted counters parse as OpenMetrics with the counters\' values', () => {
  const counters = createCounters();
  counters.f64[C.nr_user_dispatches] = 1234;
  counters.f64[C.nr_running] = 2;
  counters.f64[C.heartbeat_ns] = 1.5e15;
  const text = formatOpenMetrics({
    counters,
    health: () => ({ healthy: false, reason: 'x', status: 'WARNING: x', intervalMs: 1000, pageFaults: 1, gcEvents: 0, congested: 0, failedDispatches: 0, locked: true }),
    info: () => ({ version: '0.1.0', policy: 'rust"land\\\n' }),
  });
  const parsed = parseOpenMetrics(text);
  for (const name of COUNTER_NAMES) assert.ok(parsed.families.has(`tsland_${name}`), name);
  assert.equal(parsed.samples.get('tsland_nr_user_dispatches_total')!.value, 1234);
  assert.equal(parsed.samples.get('tsland_nr_running')!.value, 2);
  assert.equal(parsed.samples.get('tsland_heartbeat_ns')!.value, 1.5e15);
  assert.equal(parsed.samples.get('tsland_healthy')!.value, 0);
  assert.equal(parsed.samples.get('tsland_build_info')!.labels.policy, 'rust"land\\\n');
});

test('HTTP endpoint serves the text on loopback', async () => {
  const counters = createCounters();
  counters.f64[C.nr_decisions] = 42;
  const server = await startMetricsServer(parseMetricsAddress('127.0.0.1:0'), { counters });
  try {
    const res = await fetch(server.url);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type')!, /^application\/openmetrics-text; version=1\.0\.0/);
    const parsed = parseOpenMetrics(await res.text());
    assert.equal(parsed.samples.get('tsland_nr_decisions_total')!.value, 42);
    counters.f64[C.nr_decisions] = 43;
    assert.equal(parseOpenMetrics(await (await fetch(server.url)).text()).samples.get('tsland_nr_decisions_total')!.value, 43);
    assert.equal((await fetch(server.url.replace('/metrics', '/nope'))).status, 404);
    assert.equal((await fetch(server.url, { method: 'POST', body: 'x' })).status, 405);
  } finally {
    await server.close();
  }
});

test('non-loopback addresses are refused unless allowed', () => {
  for (const a of ['0.0.0.0:9464', '10.1.2.3:9464', '[::]:9464', '[2001:db8::1]:80']) {
    assert.throws(() => parseMetricsAddress(a), (e: unknown) => e instanceof UsageError && /--metrics-allow-remote/.test(e.message), a);
    assert.equal(parseMetricsAddress(a, true).port, Number(a.split(':').at(-1)));
  }
  for (const a of ['127.0.0.1:9464', 'localhost:1', '[::1]:9464', '127.9.9.9:80']) assert.ok(isLoopback(parseMetricsAddress(a).host), a);
  for (const a of ['9464', 'host:', ':9464', '127.0.0.1:70000', 'example.com:80']) assert.throws(() => parseMetricsAddress(a), UsageError, a);
});
