// Plain-text renderings of a stats reply: the one-line summary in the spirit of scx_rustland's periodic
// line, and the full block `tsland stats` prints. Both take a plain snapshot, so they work the same on a
// reply read from the socket and on counters read in-process.

import type { Health } from './sampler.js';
import { fieldMeta } from './meta.js';

export type CounterSnapshot = Record<string, number>;

const n = (s: CounterSnapshot, k: string) => s[k] ?? 0;

export function healthText(h: Health): string {
  return h.status;
}

/** `[tsland] tasks=.. r=.. q=.. s=.. | user=.. kernel=.. cancel=.. bounce=.. fail=.. cong=.. | pf=.. gc=.. | OK` */
export function formatStatsLine(s: CounterSnapshot, h: Health): string {
  return (
    `[tsland] tasks=${n(s, 'nr_tasks')} r=${n(s, 'nr_running')}/${n(s, 'nr_cpus')} q=${n(s, 'nr_queued')} s=${n(s, 'nr_scheduled')}` +
    ` | user=${n(s, 'nr_user_dispatches')} kernel=${n(s, 'nr_kernel_dispatches')} cancel=${n(s, 'nr_cancel_dispatches')}` +
    ` bounce=${n(s, 'nr_bounce_dispatches')} fail=${n(s, 'nr_failed_dispatches')} cong=${n(s, 'nr_sched_congested')}` +
    ` | pf=${n(s, 'nr_page_faults')} gc=${n(s, 'nr_gc_events')} | ${healthText(h)}`
  );
}

/** Every counter with its description, then the health. */
export function formatStatsBlock(s: CounterSnapshot, h: Health, info: Record<string, unknown> = {}): string {
  const names = Object.keys(s);
  const width = Math.max(...names.map((k) => k.length));
  const valueWidth = Math.max(...names.map((k) => String(s[k]).length));
  const lines: string[] = [];
  const facts = Object.entries(info).map(([k, v]) => `${k}=${String(v)}`);
  if (facts.length) lines.push(facts.join('  '));
  for (const k of names) lines.push(`${k.padEnd(width)}  ${String(s[k]).padStart(valueWidth)}  ${fieldMeta(k).desc}`);
  lines.push(`${'health'.padEnd(width)}  ${healthText(h)}`);
  return lines.join('\n');
}
