import { test } from 'node:test';
import assert from 'node:assert/strict';
import { COUNTER_NAMES, C, createCounters } from '../src/base/counters.js';
import { formatOpenMetrics } from '../src/stats/openmetrics.js';
import { fieldMeta } from '../src/stats/meta.js';
import { isLoopback, parseMetricsAddress, startMetricsServer } from '../src/stats/metrics-server.js';
import { UsageError } from '../src/cli/command.js';
import { parseOpenMetrics } from './fixtures/openmetrics-parser.js';
import { observabilityFromFlags, startObservability } from '../src/stats/observe.js';

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

test("formatted counters parse as OpenMetrics with the counters' values", () => {
  const counters = createCounters();
  counters.f64[C.nr_user_dispatches] = 1234;
  counters.f64[C.nr_running] = 2;
  counters.f64[C.heartbeat_ns] = 1.5e15;
  const text = formatOpenMetrics({
    counters,
    health: () => ({
      healthy: false,
      reason: 'x',
      status: 'WARNING: x',
      intervalMs: 1000,
      pageFaults: 1,
      gcEvents: 0,
      congested: 0,
      failedDispatches: 0,
      locked: true,
    }),
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
    assert.throws(
      () => parseMetricsAddress(a),
      (e: unknown) => e instanceof UsageError && /--metrics-allow-remote/.test(e.message),
      a,
    );
    assert.equal(parseMetricsAddress(a, true).port, Number(a.split(':').at(-1)));
  }
  for (const a of ['127.0.0.1:9464', 'localhost:1', '[::1]:9464', '127.9.9.9:80'])
    assert.ok(isLoopback(parseMetricsAddress(a).host), a);
  for (const a of ['9464', 'host:', ':9464', '127.0.0.1:70000', 'example.com:80'])
    assert.throws(() => parseMetricsAddress(a), UsageError, a);
});

test('metrics without the stats server still judge health', async () => {
  const counters = createCounters();
  const obs = await startObservability(observabilityFromFlags({ 'stats-server': false, metrics: '127.0.0.1:0' }), { counters });
  try {
    assert.equal(obs.stats, undefined);
    const parsed = parseOpenMetrics(await (await fetch(obs.metrics!.url)).text());
    assert.equal(parsed.samples.get('tsland_healthy')!.value, 1);
  } finally {
    await obs.close();
  }
});

test('every counter is documented (name, kind and unit in the stats protocol and OpenMetrics HELP)', () => {
  const undocumented = COUNTER_NAMES.filter((name) => fieldMeta(name).desc === 'undocumented counter');
  assert.deepEqual(undocumented, []);
});
