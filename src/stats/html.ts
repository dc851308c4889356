// Builds one self-contained HTML report: inline CSS, charts drawn as inline SVG, no script that runs, no
// network, no CDN, so the file can be mailed, archived in CI or opened offline years later. The demo and
// the soak harness both write their reports with it.
//
// The numbers behind the page are also embedded verbatim as JSON (<script type="application/json">, which a
// browser never executes) so that tools and tests can read them back without scraping the tables.

import { barChartSvg, type BarChartSpec } from './svg-bar.js';
import { lineChartSvg, type LineChartSpec } from './svg-line.js';
import { escapeHtml, formatNumber } from './escape.js';

export type { BarChartSpec, BarSeries } from './svg-bar.js';
export type { ChartMarker, LineChartSpec, LineSeries } from './svg-line.js';

export type Cell = string | number;

export interface TableSpec {
  kind: 'table';
  title?: string;
  columns: readonly string[];
  rows: readonly (readonly Cell[])[];
  /** Rendered as the table's id attribute, so a reader can find it. */
  id?: string;
}

export interface TextSpec {
  kind: 'text';
  /** Plain text; blank lines separate paragraphs. Escaped, never interpreted as HTML. */
  text: string;
  /** 'note' draws it as a highlighted notice (e.g. "ran unlocked: not root"). */
  tone?: 'plain' | 'note' | 'warning';
}

export interface KeyValueSpec {
  kind: 'keyvalue';
  title?: string;
  entries: readonly (readonly [string, Cell])[];
}

export type ReportBlock = LineChartSpec | BarChartSpec | TableSpec | TextSpec | KeyValueSpec;

export interface ReportSection {
  heading: string;
  blocks: readonly ReportBlock[];
}

export interface ReportSpec {
  title: string;
  subtitle?: string;
  /** ISO time stamp printed in the header; the caller passes it so the builder stays deterministic. */
  generatedAt?: string;
  sections: readonly ReportSection[];
  /** Raw figures embedded as JSON for machine readers (`readEmbeddedData`). */
  data?: unknown;
}

export const REPORT_DATA_ID = 'tsland-report-data';

const CSS = `
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:0;color:#1b1f24;background:#fafafa}
header{background:#14213d;color:#fff;padding:18px 28px}header h1{margin:0;font-size:22px}header p{margin:4px 0 0;opacity:.85}
main{max-width:980px;margin:0 auto;padding:8px 28px 40px}section{margin-top:26px}h2{font-size:18px;border-bottom:1px solid #ddd;padding-bottom:4px}
h3{font-size:15px;margin:14px 0 6px}table{border-collapse:collapse;margin:8px 0;background:#fff}
th,td{border:1px solid #d0d7de;padding:4px 10px;text-align:right;font-variant-numeric:tabular-nums}th{background:#eef1f4}
td:first-child,th:first-child{text-align:left}.note{background:#e8f1fb;border-left:4px solid #0072B2;padding:8px 12px}
.warning{background:#fdf0e6;border-left:4px solid #D55E00;padding:8px 12px}svg.chart{background:#fff;border:1px solid #e1e4e8;margin:8px 0;max-width:100%;height:auto}
svg .title{font-weight:600;font-size:13px}svg .tick,svg .legend,svg .value{font-size:11px;fill:#333}svg .label{font-size:12px;fill:#555}
svg .grid{stroke:#eee}svg .axis{stroke:#888}svg .marker{stroke:#999;stroke-dasharray:4 3}svg .marker-label{font-size:10px;fill:#666}
dl{display:grid;grid-template-columns:max-content auto;gap:2px 16px}dt{color:#555}dd{margin:0;font-variant-numeric:tabular-nums}
footer{color:#777;font-size:12px;margin-top:30px}`;

function cellHtml(cell: Cell): string {
  return escapeHtml(typeof cell === 'number' ? formatCell(cell) : cell);
}

/** Numbers in tables keep full precision up to 4 significant digits; charts use the shorter form. */
function formatCell(value: number): string {
  if (!Number.isFinite(value)) return '-';
  if (Number.isInteger(value)) return String(value);
  return String(Number(value.toPrecision(4)));
}

function tableHtml(t: TableSpec): string {
  const out: string[] = [];
  if (t.title) out.push(`<h3>${escapeHtml(t.title)}</h3>`);
  out.push(`<table${t.id ? ` id="${escapeHtml(t.id)}"` : ''}><thead><tr>`);
  for (const c of t.columns) out.push(`<th>${escapeHtml(c)}</th>`);
  out.push('</tr></thead><tbody>');
  for (const row of t.rows) {
    if (row.length !== t.columns.length)
      throw new RangeError(`table row has ${row.length} cells for ${t.columns.length} columns`);
    out.push('<tr>' + row.map((c) => `<td>${cellHtml(c)}</td>`).join('') + '</tr>');
  }
  out.push('</tbody></table>');
  return out.join('');
}

function textHtml(t: TextSpec): string {
  const paragraphs = t.text
    .split(/\n\s*\n/)
    .map((p) => `<p>${escapeHtml(p.trim())}</p>`)
    .join('');
  return t.tone && t.tone !== 'plain' ? `<div class="${t.tone}">${paragraphs}</div>` : paragraphs;
}

function keyValueHtml(kv: KeyValueSpec): string {
  const head = kv.title ? `<h3>${escapeHtml(kv.title)}</h3>` : '';
  return head + '<dl>' + kv.entries.map(([k, v]) => `<dt>${escapeHtml(k)}</dt><dd>${cellHtml(v)}</dd>`).join('') + '</dl>';
}

export function blockHtml(block: ReportBlock): string {
  switch (block.kind) {
    case 'line':
      return lineChartSvg(block);
    case 'bar':
      return barChartSvg(block);
    case 'table':
      return tableHtml(block);
    case 'text':
      return textHtml(block);
    case 'keyvalue':
      return keyValueHtml(block);
  }
}

/** JSON that is safe inside a <script> element: no `</script>` or `<!--` can close it early. */
function embeddedJson(data: unknown): string {
  return JSON.stringify(data)
    .replace(/</g, '\\u003c')
    .replace(/\u2028/g, '\\u2028')
    .replace(/\u2029/g, '\\u2029');
}

export function buildHtmlReport(spec: ReportSpec): string {
  const out: string[] = [
    '<!DOCTYPE html>',
    '<html lang="en"><head><meta charset="utf-8">',
    '<meta name="viewport" content="width=device-width, initial-scale=1">',
    `<title>${escapeHtml(spec.title)}</title><style>${CSS}</style></head><body>`,
    `<header><h1>${escapeHtml(spec.title)}</h1>`,
  ];
  if (spec.subtitle) out.push(`<p>${escapeHtml(spec.subtitle)}</p>`);
  if (spec.generatedAt) out.push(`<p>Generated ${escapeHtml(spec.generatedAt)}</p>`);
  out.push('</header><main>');
  for (const section of spec.sections) {
    out.push(`<section><h2>${escapeHtml(section.heading)}</h2>`);
    for (const block of section.blocks) out.push(blockHtml(block));
    out.push('</section>');
  }
  out.push('<footer>Self-contained report written by tsland: no script, no network access.</footer></main>');
  if (spec.data !== undefined) {
    out.push(`<script type="application/json" id="${REPORT_DATA_ID}">${embeddedJson(spec.data)}</script>`);
  }
  out.push('</body></html>');
  return out.join('\n');
}

/** Reads back the JSON a report embedded with `data`; undefined when it has none. */
export function readEmbeddedData(html: string): unknown {
  const open = `<script type="application/json" id="${REPORT_DATA_ID}">`;
  const start = html.indexOf(open);
  if (start < 0) return undefined;
  const end = html.indexOf('</script>', start);
  return JSON.parse(html.slice(start + open.length, end));
}

export { formatNumber, escapeHtml };
