// A line chart as inline SVG: several series over a shared x axis, vertical markers for events (a hog
// started, the scheduler was killed), a legend. No script, no external resource: the report opens offline.

import { colorAt, niceTicks, scale } from './axis.js';
import { escapeHtml, formatNumber } from './escape.js';

export interface LineSeries {
  name: string;
  /** x values, ascending; same length as `y`. */
  x: readonly number[];
  y: readonly number[];
  color?: string;
}

export interface ChartMarker {
  x: number;
  label: string;
}

export interface LineChartSpec {
  kind: 'line';
  title: string;
  xLabel: string;
  yLabel: string;
  series: readonly LineSeries[];
  markers?: readonly ChartMarker[];
  widthPx?: number;
  heightPx?: number;
  /** Start the y axis at 0 even when the data does not reach it (shares, rates). */
  yFromZero?: boolean;
}

const MARGIN_LEFT_PX = 64;
const MARGIN_RIGHT_PX = 16;
const MARGIN_TOP_PX = 28;
const MARGIN_BOTTOM_PX = 44;
const LEGEND_ROW_PX = 16;

export function lineChartSvg(spec: LineChartSpec): string {
  const widthPx = spec.widthPx ?? 720;
  const legendPx = LEGEND_ROW_PX * Math.ceil(spec.series.length / 4);
  const heightPx = (spec.heightPx ?? 300) + legendPx;
  for (const s of spec.series) {
    if (s.x.length !== s.y.length) throw new RangeError(`series '${s.name}' has ${s.x.length} x and ${s.y.length} y values`);
  }
  const xs = spec.series.flatMap((s) => s.x.filter(Number.isFinite));
  const ys = spec.series.flatMap((s) => s.y.filter(Number.isFinite));
  for (const m of spec.markers ?? []) xs.push(m.x);
  const xTicks = niceTicks(xs.length ? Math.min(...xs) : 0, xs.length ? Math.max(...xs) : 1);
  const yLo = ys.length ? Math.min(...ys) : 0;
  const yTicks = niceTicks(spec.yFromZero ? Math.min(0, yLo) : yLo, ys.length ? Math.max(...ys) : 1);
  const plotBottom = heightPx - MARGIN_BOTTOM_PX - legendPx;
  const px = scale(xTicks.min, xTicks.max, MARGIN_LEFT_PX, widthPx - MARGIN_RIGHT_PX);
  const py = scale(yTicks.min, yTicks.max, plotBottom, MARGIN_TOP_PX);

  const parts: string[] = [];
  parts.push(
    `<svg class="chart line" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${widthPx} ${heightPx}" width="${widthPx}" height="${heightPx}" role="img" aria-label="${escapeHtml(spec.title)}">`,
  );
  parts.push(`<text x="${widthPx / 2}" y="16" text-anchor="middle" class="title">${escapeHtml(spec.title)}</text>`);
  for (const v of yTicks.values) {
    const y = py(v).toFixed(1);
    parts.push(`<line x1="${MARGIN_LEFT_PX}" x2="${widthPx - MARGIN_RIGHT_PX}" y1="${y}" y2="${y}" class="grid"/>`);
    parts.push(
      `<text x="${MARGIN_LEFT_PX - 6}" y="${y}" text-anchor="end" dominant-baseline="middle" class="tick">${formatNumber(v)}</text>`,
    );
  }
  for (const v of xTicks.values) {
    const x = px(v).toFixed(1);
    parts.push(`<line x1="${x}" x2="${x}" y1="${plotBottom}" y2="${plotBottom + 4}" class="axis"/>`);
    parts.push(`<text x="${x}" y="${plotBottom + 16}" text-anchor="middle" class="tick">${formatNumber(v)}</text>`);
  }
  parts.push(
    `<line x1="${MARGIN_LEFT_PX}" x2="${widthPx - MARGIN_RIGHT_PX}" y1="${plotBottom}" y2="${plotBottom}" class="axis"/>`,
  );
  parts.push(
    `<text x="${(MARGIN_LEFT_PX + widthPx - MARGIN_RIGHT_PX) / 2}" y="${plotBottom + 34}" text-anchor="middle" class="label">${escapeHtml(spec.xLabel)}</text>`,
  );
  parts.push(
    `<text transform="translate(14 ${(MARGIN_TOP_PX + plotBottom) / 2}) rotate(-90)" text-anchor="middle" class="label">${escapeHtml(spec.yLabel)}</text>`,
  );

  for (const m of spec.markers ?? []) {
    const x = px(m.x).toFixed(1);
    parts.push(`<line x1="${x}" x2="${x}" y1="${MARGIN_TOP_PX}" y2="${plotBottom}" class="marker"/>`);
    parts.push(`<text x="${x}" y="${MARGIN_TOP_PX - 2}" text-anchor="middle" class="marker-label">${escapeHtml(m.label)}</text>`);
  }

  spec.series.forEach((s, i) => {
    const color = s.color ?? colorAt(i);
    const points: string[] = [];
    for (let k = 0; k < s.x.length; k++) {
      if (Number.isFinite(s.x[k]) && Number.isFinite(s.y[k])) points.push(`${px(s.x[k]!).toFixed(1)},${py(s.y[k]!).toFixed(1)}`);
    }
    const label = escapeHtml(s.name);
    if (points.length === 1)
      parts.push(
        `<circle cx="${points[0]!.split(',')[0]}" cy="${points[0]!.split(',')[1]}" r="3" fill="${color}"><title>${label}</title></circle>`,
      );
    else
      parts.push(
        `<polyline fill="none" stroke="${color}" stroke-width="1.6" points="${points.join(' ')}"><title>${label}</title></polyline>`,
      );
    const lx = MARGIN_LEFT_PX + (i % 4) * 160;
    const ly = heightPx - legendPx + LEGEND_ROW_PX * Math.floor(i / 4) + 4;
    parts.push(
      `<rect x="${lx}" y="${ly}" width="10" height="10" fill="${color}"/><text x="${lx + 14}" y="${ly + 9}" class="legend">${label}</text>`,
    );
  });
  parts.push('</svg>');
  return parts.join('');
}
