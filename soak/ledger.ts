// The workload's ledger: one JSON object per line, appended by the workload root as it starts and reaps
// each component, read by the harness to prove that every process started is accounted for. Appending
// whole lines with one write keeps a reader from ever seeing half a record that matters.

import { appendFileSync, existsSync, readFileSync } from 'node:fs';

export type LedgerEvent =
  | { ev: 'root'; atMs: number; pid: number; ppid: number }
  | { ev: 'start'; atMs: number; id: string; kind: ComponentKind; pid: number; argv: string[]; countsFile?: string }
  | {
      ev: 'exit';
      atMs: number;
      id: string;
      kind: ComponentKind;
      pid: number;
      code: number | null;
      signal: string | null;
      stoppedByUs: boolean;
    }
  | { ev: 'done'; atMs: number; ok: boolean };

export type ComponentKind = 'cpu' | 'vm' | 'storm' | 'build' | 'burst' | 'memory-jump';

export function appendLedger(path: string, event: LedgerEvent): void {
  appendFileSync(path, JSON.stringify(event) + '\n');
}

export function readLedger(path: string): LedgerEvent[] {
  if (!existsSync(path)) return [];
  const out: LedgerEvent[] = [];
  for (const line of readFileSync(path, 'utf8').split('\n')) {
    if (!line) continue;
    try {
      out.push(JSON.parse(line) as LedgerEvent);
    } catch {
      // A line being written right now: the next read sees it whole.
    }
  }
  return out;
}

/** The counts a churn process writes: "started reaped ok failed". */
export interface ChurnCounts {
  started: number;
  reaped: number;
  ok: number;
  failed: number;
}

export function readChurnCounts(path: string): ChurnCounts | undefined {
  try {
    const [started, reaped, ok, failed] = readFileSync(path, 'utf8').trim().split(/\s+/).map(Number);
    if ([started, reaped, ok, failed].some((n) => n === undefined || !Number.isFinite(n))) return undefined;
    return { started: started!, reaped: reaped!, ok: ok!, failed: failed! };
  } catch {
    return undefined;
  }
}

export interface ComponentRecord {
  id: string;
  kind: ComponentKind;
  pid: number;
  startMs: number;
  exit?: Extract<LedgerEvent, { ev: 'exit' }>;
  countsFile?: string;
}

/** Folds the ledger into one record per component. */
export function components(events: readonly LedgerEvent[]): ComponentRecord[] {
  const byId = new Map<string, ComponentRecord>();
  for (const e of events) {
    if (e.ev === 'start') {
      const rec: ComponentRecord = { id: e.id, kind: e.kind, pid: e.pid, startMs: e.atMs };
      if (e.countsFile) rec.countsFile = e.countsFile;
      byId.set(e.id, rec);
    }
    if (e.ev === 'exit') {
      const rec = byId.get(e.id);
      if (rec) rec.exit = e;
    }
  }
  return [...byId.values()];
}
