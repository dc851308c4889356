// The stats protocol reference (docs/stats-protocol.md), generated from the same tables the server answers
// `stats_meta` with, so the page and the server can never disagree.

import { METRIC_PREFIX } from './openmetrics.js';
import { allFieldMeta, HEALTH_META, TASK_META } from './meta.js';
import { REQUESTS } from './protocol.js';
import { DEFAULT_HISTORY_SAMPLES, DEFAULT_SAMPLE_INTERVAL_MS } from './sampler.js';
import { DEFAULT_IDLE_TIMEOUT_MS, DEFAULT_MAX_LINE_BYTES } from './server.js';
import { MSEC_PER_SEC } from '../base/units.js';

const KIB = 1024;

function table(head: [string, string], rows: [string, string][]): string[] {
  return [`| ${head[0]} | ${head[1]} |`, '| --- | --- |', ...rows.map(([a, b]) => `| \`${a}\` | ${b.replaceAll('|', '\\|')} |`)];
}

export function statsProtocolReference(): string {
  const counters = Object.entries(allFieldMeta());
  return [
    '# Stats protocol',
    '',
    'Generated from `src/stats/meta.ts` by `npm run docs`; do not edit by hand.',
    '',
    '`tsland run` and `tsland attach` serve their counters on a UNIX socket, `/run/tsland/<pid>.sock` as root',
    '(a private per-user directory otherwise; `--stats-socket PATH` to choose), mode 0600. The protocol is',
    "scx_stats': one JSON object per line each way.",
    '',
    '```',
    '{"req":"stats"}                           -> {"errno":0,"args":{"resp":{"atMs":..,"counters":{..},"health":{..},"info":{..}}}}',
    '{"req":"tasks","args":{"limit":"20"}}     -> {"errno":0,"args":{"resp":{"total":..,"tasks":[{..},..]}}}',
    '{"req":"nope"}                            -> {"errno":2,"args":{"resp":{"error":"unknown request \'nope\' (..)"}}}',
    '```',
    '',
    `Requests: ${REQUESTS.map((r) => `\`${r}\``).join(', ')}. \`stats_meta\` returns the descriptions below; \`history\``,
    `returns the samples the server took (one every ${DEFAULT_SAMPLE_INTERVAL_MS / MSEC_PER_SEC} s, the last ${DEFAULT_HISTORY_SAMPLES}). A malformed or unknown`,
    `request gets an error (errno 22 or 2) and the connection stays open; a line over ${DEFAULT_MAX_LINE_BYTES / KIB} KiB, a client`,
    `silent for ${DEFAULT_IDLE_TIMEOUT_MS / MSEC_PER_SEC} s or one that never reads its replies is disconnected.`,
    '',
    '`info` holds facts about the instance as strings: `policy`, `backend`, `command`, `pid`, and for the',
    'signals backend `last_release` when the state directory records one: the latest release of an earlier',
    "run's tasks by its guardian or by a later tsland, who did it, when, and why (a heartbeat's age, a death).",
    '',
    '## Counters',
    '',
    `Counters only grow (rates make sense); gauges go up and down. Over OpenMetrics each is \`${METRIC_PREFIX}<name>\`,`,
    'with `_total` after counters.',
    '',
    '| name | kind | meaning |',
    '| --- | --- | --- |',
    ...counters.map(([name, m]) => `| \`${name}\` | ${m.kind} | ${m.desc} |`),
    '',
    '## Health',
    '',
    ...table(['field', 'meaning'], Object.entries(HEALTH_META)),
    '',
    '## Tasks',
    '',
    ...table(['field', 'meaning'], Object.entries(TASK_META)),
    '',
  ].join('\n');
}
