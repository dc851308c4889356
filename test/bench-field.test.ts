// bench:scx's reading of cyclictest's histogram (bench/scx/field.ts): percentiles over every sample,
// overflows counted past the histogram's end.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { meanOfVisits, parseCyclictestHistogram } from '../bench/scx/field.js';

function histogram(counts: Record<number, number>, size: number, overflows: number, max: number): string {
  const lines = ['# /dev/cpu_dma_latency set to 0us', '# Histogram'];
  for (let us = 0; us < size; us++) lines.push(`${String(us).padStart(6, '0')} ${String(counts[us] ?? 0).padStart(6, '0')}`);
  lines.push(`# Total: ${String(Object.values(counts).reduce((a, b) => a + b, 0)).padStart(9, '0')}`);
  lines.push('# Min Latencies: 00010', '# Avg Latencies: 00050', `# Max Latencies: ${String(max).padStart(5, '0')}`);
  lines.push(`# Histogram Overflows: ${String(overflows).padStart(5, '0')}`, '# Histogram Overflow at cycle number:');
  return lines.join('\n') + '\n';
}

test('p50 and p99 come from the cumulative histogram', () => {
  // 900 samples at 10 us, 90 at 100 us, 10 at 900 us: p50 10, p99 100.
  const l = parseCyclictestHistogram(histogram({ 10: 900, 100: 90, 900: 10 }, 1000, 0, 900));
  assert.deepEqual(l, { samples: 1000, p50Us: 10, p99Us: 100, maxUs: 900, overflows: 0 });
});

test('overflows count as samples past the end: p99 falls on the max when more than 1% overflowed', () => {
  const l = parseCyclictestHistogram(histogram({ 10: 970 }, 100, 30, 5000));
  assert.equal(l.samples, 1000);
  assert.equal(l.p50Us, 10);
  assert.equal(l.p99Us, 5000);
  assert.equal(l.overflows, 30);
});

test('output without a histogram is refused', () => {
  assert.throws(() => parseCyclictestHistogram('T: 0 ( 123) P: 0 I:1000 C: 10 Min: 1 Act: 2 Avg: 3 Max: 4\n'), /no histogram/);
});

test("a scheduler's two visits: means of the figures, the larger maximum, every sample kept", () => {
  const lat = (p50Us: number, p99Us: number, maxUs: number) => ({ samples: 100, p50Us, p99Us, maxUs, overflows: 1 });
  const out = {
    hackbenchS: [1, 3, 2],
    hackbenchMedianS: 2,
    latencyIdle: lat(10, 20, 30),
    latencyHogs: lat(100, 400, 900),
    buildS: 10,
  };
  const back = {
    hackbenchS: [4, 5, 6],
    hackbenchMedianS: 5,
    latencyIdle: lat(20, 40, 25),
    latencyHogs: lat(300, 200, 1200),
    buildS: 14,
  };
  const m = meanOfVisits(out, back);
  assert.deepEqual(m, {
    hackbenchS: [1, 3, 2, 4, 5, 6],
    hackbenchMedianS: 3.5,
    latencyIdle: { samples: 200, p50Us: 15, p99Us: 30, maxUs: 30, overflows: 2 },
    latencyHogs: { samples: 200, p50Us: 200, p99Us: 300, maxUs: 1200, overflows: 2 },
    buildS: 12,
  });
  // A visit that failed on the way back leaves the first as it was.
  assert.equal(meanOfVisits(out, null), out);
});
