// Formats the counters as OpenMetrics text (the exposition format Prometheus scrapes), names prefixed
// tsland_. Counters (only ever grow) get the mandatory _total sample suffix; gauges do not. The page ends
// with `# EOF`, without which a strict parser rejects it.
//
//   # HELP tsland_nr_user_dispatches dispatches decided by the policy
//   # TYPE tsland_nr_user_dispatches counter
//   tsland_nr_user_dispatches_total 1234
//   ...
//   # EOF

import { COUNTER_COUNT, COUNTER_NAMES, type Counters } from '../base/counters.js';
import { fieldMeta } from './meta.js';
import type { Health } from './sampler.js';

export const METRIC_PREFIX = 'tsland_';
export const OPENMETRICS_CONTENT_TYPE = 'application/openmetrics-text; version=1.0.0; charset=utf-8';

/** HELP text and label values escape backslash, newline and (labels only) the double quote. */
function escapeHelp(text: string): string {
  return text.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
}

function escapeLabel(text: string): string {
  return escapeHelp(text).replace(/"/g, '\\"');
}

function number(value: number): string {
  if (Number.isNaN(value)) return 'NaN';
  if (value === Infinity) return '+Inf';
  if (value === -Infinity) return '-Inf';
  return String(value);
}

export interface MetricsSources {
  counters: Counters;
  health?: () => Health;
  /** Labels of the tsland_build info metric: version, policy, backend. */
  info?: () => Record<string, string>;
}

export function formatOpenMetrics(src: MetricsSources): string {
  const lines: string[] = [];
  const info = src.info?.();
  if (info) {
    const labels = Object.entries(info).map(([k, v]) => `${k.replace(/[^a-zA-Z0-9_]/g, '_')}="${escapeLabel(String(v))}"`);
    lines.push(`# HELP ${METRIC_PREFIX}build facts about this tsland instance`, `# TYPE ${METRIC_PREFIX}build info`);
    lines.push(`${METRIC_PREFIX}build_info{${labels.join(',')}} 1`);
  }
  for (let i = 0; i < COUNTER_COUNT; i++) {
    const name = COUNTER_NAMES[i]!;
    const meta = fieldMeta(name);
    const family = METRIC_PREFIX + name;
    lines.push(`# HELP ${family} ${escapeHelp(meta.desc)}`, `# TYPE ${family} ${meta.kind}`);
    lines.push(`${family}${meta.kind === 'counter' ? '_total' : ''} ${number(src.counters.f64[i]!)}`);
  }
  if (src.health) {
    const h = src.health();
    lines.push(`# HELP ${METRIC_PREFIX}healthy 1 when the last interval had no page fault, GC, congestion or failed dispatch`);
    lines.push(`# TYPE ${METRIC_PREFIX}healthy gauge`, `${METRIC_PREFIX}healthy ${h.healthy ? 1 : 0}`);
  }
  lines.push('# EOF');
  return lines.join('\n') + '\n';
}
