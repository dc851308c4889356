// Every string that reaches the report comes from data (command names, policy names, user paths), so it is
// escaped once here; the page must stay well-formed whatever a task calls itself.

const ENTITIES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

export function escapeHtml(text: string | number): string {
  return String(text).replace(/[&<>"']/g, (c) => ENTITIES[c]!);
}

/** Short human form of a number for axis ticks and table cells: 3 significant digits, k/M/G suffixes. */
export function formatNumber(value: number): string {
  if (!Number.isFinite(value)) return String(value);
  const abs = Math.abs(value);
  if (abs >= 1e9) return trim(value / 1e9) + 'G';
  if (abs >= 1e6) return trim(value / 1e6) + 'M';
  if (abs >= 1e4) return trim(value / 1e3) + 'k';
  return trim(value);
}

function trim(value: number): string {
  if (Number.isInteger(value)) return String(value);
  return String(Number(value.toPrecision(3)));
}
