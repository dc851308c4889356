// A grouped bar chart as inline SVG: one group per category (e.g. nice 0 / 5 / 10), one bar per series
// (e.g. kernel, tsland, ideal), the value printed on each bar so the chart can be read without hovering.

import { colorAt, niceTicks, scale } from './axis.js';
import { escapeHtml, formatNumber } from './escape.js';

export interface BarSeries {
  name: string;
  /** One value per category. */
  values: readonly number[];
  color?: string;
}

export interface BarChartSpec {
  kind: 'bar';
  title: string;
  yLabel: string;
  categories: readonly string[];
  series: readonly BarSeries[];
  widthPx?: number;
  heightPx?: number;
}

const MARGIN_LEFT_PX = 64;
const MARGIN_RIGHT_PX = 16;
const MARGIN_TOP_PX = 28;
const MARGIN_BOTTOM_PX = 52;
const GROUP_GAP_FRACTION = 0.25;

export function barChartSvg(spec: BarChartSpec): string {
  const widthPx = spec.widthPx ?? 720;
  const heightPx = spec.heightPx ?? 300;
  for (const s of spec.series) {
    if (s.values.length !== spec.categories.length) {
      throw new RangeError(`bar series '${s.name}' has ${s.values.length} values for ${spec.categories.length} categories`);
    }
  }
  const all = spec.series.flatMap((s) => s.values.filter(Number.isFinite));
  const ticks = niceTicks(Math.min(0, ...all), Math.max(0, ...all));
  const plotBottom = heightPx - MARGIN_BOTTOM_PX;
  const py = scale(ticks.min, ticks.max, plotBottom, MARGIN_TOP_PX);
  const plotWidth = widthPx - MARGIN_LEFT_PX - MARGIN_RIGHT_PX;
  const groupWidth = plotWidth / Math.max(1, spec.categories.length);
  const barWidth = (groupWidth * (1 - GROUP_GAP_FRACTION)) / Math.max(1, spec.series.length);

  const parts: string[] = [];
  parts.push(
    `<svg class="chart bar" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${widthPx} ${heightPx}" width="${widthPx}" height="${heightPx}" role="img" aria-label="${escapeHtml(spec.title)}">`,
  );
  parts.push(`<text x="${widthPx / 2}" y="16" text-anchor="middle" class="title">${escapeHtml(spec.title)}</text>`);
  for (const v of ticks.values) {
    const y = py(v).toFixed(1);
    parts.push(`<line x1="${MARGIN_LEFT_PX}" x2="${widthPx - MARGIN_RIGHT_PX}" y1="${y}" y2="${y}" class="grid"/>`);
    parts.push(
      `<text x="${MARGIN_LEFT_PX - 6}" y="${y}" text-anchor="end" dominant-baseline="middle" class="tick">${formatNumber(v)}</text>`,
    );
  }
  parts.push(
    `<text transform="translate(14 ${(MARGIN_TOP_PX + plotBottom) / 2}) rotate(-90)" text-anchor="middle" class="label">${escapeHtml(spec.yLabel)}</text>`,
  );
  const zeroY = py(0);
  spec.categories.forEach((cat, c) => {
    const groupX = MARGIN_LEFT_PX + c * groupWidth + (groupWidth * GROUP_GAP_FRACTION) / 2;
    spec.series.forEach((s, i) => {
      const v = s.values[c]!;
      if (!Number.isFinite(v)) return;
      const x = groupX + i * barWidth;
      const top = Math.min(py(v), zeroY);
      const h = Math.abs(py(v) - zeroY);
      parts.push(
        `<rect x="${x.toFixed(1)}" y="${top.toFixed(1)}" width="${(barWidth - 2).toFixed(1)}" height="${h.toFixed(1)}" fill="${s.color ?? colorAt(i)}"><title>${escapeHtml(`${s.name} ${cat}: ${v}`)}</title></rect>`,
      );
      parts.push(
        `<text x="${(x + barWidth / 2 - 1).toFixed(1)}" y="${(top - 3).toFixed(1)}" text-anchor="middle" class="value">${formatNumber(v)}</text>`,
      );
    });
    parts.push(
      `<text x="${(MARGIN_LEFT_PX + (c + 0.5) * groupWidth).toFixed(1)}" y="${plotBottom + 16}" text-anchor="middle" class="tick">${escapeHtml(cat)}</text>`,
    );
  });
  parts.push(
    `<line x1="${MARGIN_LEFT_PX}" x2="${widthPx - MARGIN_RIGHT_PX}" y1="${zeroY.toFixed(1)}" y2="${zeroY.toFixed(1)}" class="axis"/>`,
  );
  spec.series.forEach((s, i) => {
    const lx = MARGIN_LEFT_PX + i * 160;
    const ly = heightPx - 20;
    parts.push(
      `<rect x="${lx}" y="${ly}" width="10" height="10" fill="${s.color ?? colorAt(i)}"/><text x="${lx + 14}" y="${ly + 9}" class="legend">${escapeHtml(s.name)}</text>`,
    );
  });
  parts.push('</svg>');
  return parts.join('');
}
