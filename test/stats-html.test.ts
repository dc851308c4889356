import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildHtmlReport, readEmbeddedData, type ReportSpec } from '../src/stats/html.js';
import { niceTicks } from '../src/stats/axis.js';

const VOID = new Set(['meta', 'br', 'hr', 'img', 'input', 'link']);

/** Checks that every element is closed in order: a broken page is what a careless escape produces. */
function assertBalanced(html: string): void {
  const body = html.replace(/<script type="application\/json"[^>]*>[\s\S]*?<\/script>/, '').replace(/<!DOCTYPE[^>]*>/, '');
  const stack: string[] = [];
  for (const m of body.matchAll(/<(\/?)([a-zA-Z][\w-]*)[^>]*?(\/?)>/g)) {
    const [, closing, name, selfClosing] = m;
    const tag = name!.toLowerCase();
    if (selfClosing || VOID.has(tag)) continue;
    if (!closing) stack.push(tag);
    else assert.equal(stack.pop(), tag, `closing </${tag}> at ${m.index}`);
  }
  assert.deepEqual(stack, []);
}

const hostile = '</script><script>alert(1)</script> & "q"';

const spec: ReportSpec = {
  title: 'demo <report>',
  subtitle: 'kernel vs tsland',
  generatedAt: '2026-11-26T15:00:00Z',
  sections: [
    {
      heading: 'Charts',
      blocks: [
        {
          kind: 'line',
          title: 'lateness',
          xLabel: 's',
          yLabel: 'ms',
          series: [
            { name: 'kernel', x: [0, 1, 2], y: [1, 3, 2] },
            { name: hostile, x: [0, 1, 2], y: [0.5, 0.4, 0.45] },
          ],
          markers: [{ x: 1, label: 'hogs start' }],
        },
        {
          kind: 'bar',
          title: 'shares',
          yLabel: '%',
          categories: ['nice 0', 'nice 5'],
          series: [
            { name: 'kernel', values: [60, 40] },
            { name: 'ideal', values: [75, 25] },
          ],
        },
      ],
    },
    {
      heading: 'Table',
      blocks: [
        {
          kind: 'table',
          id: 'results',
          columns: ['metric', 'kernel', 'tsland'],
          rows: [
            ['p99 ms', 2.5, 0.31234],
            [hostile, 1, 2],
          ],
        },
        { kind: 'text', text: 'ran unlocked\n\nnot root', tone: 'warning' },
        {
          kind: 'keyvalue',
          entries: [
            ['cpus', 2],
            ['policy', 'rustland'],
          ],
        },
      ],
    },
  ],
  data: { p99Ms: [2.5, 0.31234], note: hostile },
};

test('report is one well-formed, self-contained page', () => {
  const html = buildHtmlReport(spec);
  assertBalanced(html);
  assert.match(html, /^<!DOCTYPE html>/);
  // Nothing is fetched: the only URL is the SVG namespace, which is an identifier, not a request.
  const urls = [...html.matchAll(/https?:\/\/[^"' )]+/g)].map((m) => m[0]);
  assert.ok(
    urls.every((u) => u === 'http://www.w3.org/2000/svg'),
    urls.join(' '),
  );
  assert.doesNotMatch(html, /<script(?! type="application\/json")/);
  assert.doesNotMatch(html, /<link|<img|@import/);
});

test('data from outside is escaped everywhere it appears', () => {
  const html = buildHtmlReport(spec);
  assert.ok(!html.includes('<script>alert'), 'raw script tag leaked');
  assert.ok(html.includes('&lt;/script&gt;&lt;script&gt;alert(1)&lt;/script&gt; &amp; &quot;q&quot;'));
  assert.ok(html.includes('<title>demo &lt;report&gt;</title>'));
});

test('charts draw one shape per series value and a marker per event', () => {
  const html = buildHtmlReport(spec);
  assert.equal((html.match(/<polyline /g) ?? []).length, 2);
  assert.equal((html.match(/class="marker"/g) ?? []).length, 1);
  assert.equal((html.match(/<rect [^>]*><title>/g) ?? []).length, 4, 'four bars');
  assert.ok(html.includes('hogs start'));
});

test('tables keep their numbers and embedded data reads back intact', () => {
  const html = buildHtmlReport(spec);
  const table = html.slice(html.indexOf('<table id="results">'), html.indexOf('</table>'));
  assert.ok(table.includes('<td>p99 ms</td><td>2.5</td><td>0.3123</td>'));
  assert.deepEqual(readEmbeddedData(html), spec.data);
  assert.equal(readEmbeddedData(buildHtmlReport({ title: 't', sections: [] })), undefined);
});

test('mismatched chart or table input is a programming error', () => {
  assert.throws(
    () =>
      buildHtmlReport({
        title: 't',
        sections: [
          {
            heading: 'h',
            blocks: [{ kind: 'line', title: '', xLabel: '', yLabel: '', series: [{ name: 'a', x: [1, 2], y: [1] }] }],
          },
        ],
      }),
    RangeError,
  );
  assert.throws(
    () =>
      buildHtmlReport({
        title: 't',
        sections: [{ heading: 'h', blocks: [{ kind: 'table', columns: ['a', 'b'], rows: [[1]] }] }],
      }),
    RangeError,
  );
});

test('axis ticks are round numbers covering the data', () => {
  for (const [lo, hi] of [
    [0, 1],
    [0.13, 0.97],
    [-3, 1234],
    [5, 5],
    [0, 0],
    [1e-6, 3e-6],
  ] as const) {
    const t = niceTicks(lo, hi);
    assert.ok(t.min <= lo && t.max >= hi, `${lo}..${hi}`);
    const mantissa = t.step / 10 ** Math.floor(Math.log10(t.step));
    assert.ok(
      [1, 2, 5].some((m) => Math.abs(mantissa - m) < 1e-9),
      `step ${t.step}`,
    );
    assert.ok(t.values.length >= 2 && t.values.length <= 12);
  }
});
