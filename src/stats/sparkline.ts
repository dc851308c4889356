// Sparklines for `tsland top`: one block character per sample, scaled to the window's own maximum (so a
// quiet series still shows its shape) with the floor at 0 (so a flat line at 0 reads as nothing happening).

const BARS = '▁▂▃▄▅▆▇█';

export function sparkline(values: readonly number[], widthChars: number): string {
  const tail = values.slice(-widthChars);
  const max = Math.max(0, ...tail.filter(Number.isFinite));
  let out = '';
  for (const v of tail) {
    if (!Number.isFinite(v)) out += ' ';
    else if (max === 0) out += BARS[0];
    else out += BARS[Math.min(BARS.length - 1, Math.round((Math.max(0, v) / max) * (BARS.length - 1)))];
  }
  return out.padStart(widthChars, ' ');
}
