// npm run bench:alloc - every allocator peer side by side in one run, on the same random sequences.
//
// Each cell: build the peer, fill `live` blocks, warm up (so the optimizing compiler has the loop and the
// allocator), then time batches of free+alloc pairs. A batch is sized to last ~50 us, so the clock's
// resolution and cost vanish; the ns/pair of each batch gives the median and the 99.9th percentile. GC
// events and throughput come from a second window of pairs with no clock reads inside (performance.now()
// allocates, and 2 reads per batch would be the harness's garbage, not the allocator's). Slow peers stop at
// a time budget and say how many pairs they ran.
//
// Fragmentation, as the TLSF paper (Masmano et al. 2004) defines it: (highest offset ever in use, from the
// heap's start - peak of requested bytes live) / peak of requested bytes live, on the random workload.

import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, release } from 'node:os';
import { performance } from 'node:perf_hooks';
import { lockBuffer, type LockHandle } from '../src/mem/index.js';
import { GcEvents } from './alloc/gc-events.js';
import { PEERS, v8Peer, type Peer, type PeerFactory, type PeerSpec } from './alloc/peers.js';
import { FIFO, MIXED64, RANDOM, fillLoop, nextSize, pairLoop, type Workload } from './alloc/workloads.js';

const NSEC_PER_MSEC = 1e6;
const SEED = 0x2545f491;
const MAX_PAIRS = 2_000_000;
const BUDGET_MS = 1_500;
const WINDOW_BUDGET_MS = 1_000;
const WARM_PAIRS = 300_000;
const WARM_MS = 500;
const TARGET_BATCH_NS = 50_000;
const MAX_BATCH_PAIRS = 1_000;
const FRAG_PAIRS = 1_000_000;
const FRAG_BUDGET_MS = 2_500;

const collect = (globalThis as { gc?: () => void }).gc ?? (() => {});
const gcEvents = new GcEvents();

interface Row {
  workload: string;
  live: number;
  peer: string;
  pairs: number;
  batchPairs: number;
  /** Pairs in the untimed-batch window that gives pairsPerSec and gcEvents. */
  windowPairs: number;
  medianNs: number | null;
  p999Ns: number | null;
  pairsPerSec: number | null;
  gcEvents: number | null;
  failedAllocs: number;
  /** The peer's buffer was locked and prefaulted (peers without a buffer: false). */
  locked: boolean;
  note: string;
}

interface FragRow {
  peer: string;
  live: number;
  pairs: number;
  peakRequestedBytes: number;
  highestOffsetBytes: number;
  fragmentationPct: number;
  note: string;
}

function percentile(sorted: Float64Array, q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

function newLive(factory: PeerFactory, n: number): unknown {
  return factory === v8Peer ? new Array<Uint8Array | null>(n).fill(null) : new Uint32Array(n);
}

async function measure(factory: PeerFactory, w: Workload, live: number): Promise<Row> {
  const spec: PeerSpec = { liveCount: live, maxSizeBytes: w.maxSizeBytes, align: w.align };
  const row: Row = {
    workload: w.name,
    live,
    peer: factory.name,
    pairs: 0,
    batchPairs: 0,
    windowPairs: 0,
    medianNs: null,
    p999Ns: null,
    pairsPerSec: null,
    gcEvents: null,
    failedAllocs: 0,
    locked: false,
    note: '',
  };
  const skip = factory.skip(spec);
  if (skip !== null) {
    row.note = skip;
    return row;
  }
  collect();
  const peer = factory.make(spec);
  // Every peer that owns a buffer runs on it locked, prefaulted and on huge pages where the kernel gives
  // them, as tsland runs its arena: then the numbers compare allocators, not page faults and TLB misses.
  const lock: LockHandle | null = peer.buffer ? lockBuffer(peer.buffer, { hugePages: true, allowUnlocked: true }) : null;
  row.locked = lock?.locked ?? false;
  try {
    return await timeCell(peer, factory, w, live, row);
  } finally {
    lock?.unlock();
  }
}

async function timeCell(peer: Peer, factory: PeerFactory, w: Workload, live: number, row: Row): Promise<Row> {
  const handles = newLive(factory, live);
  const state = new Int32Array(3);
  state[0] = SEED;
  const loop = pairLoop(w);
  fillLoop(w)(peer, handles, state);

  // Calibrate on a few pairs, warm up within a time bound, then size batches from a warmed estimate.
  let t = performance.now();
  loop(peer, handles, 10, state);
  let perPairNs = ((performance.now() - t) * NSEC_PER_MSEC) / 10;
  const warm = Math.max(10, Math.min(WARM_PAIRS, Math.floor((WARM_MS * NSEC_PER_MSEC) / perPairNs)));
  loop(peer, handles, warm, state);
  const probe = Math.max(1, Math.min(10_000, Math.floor(warm / 10)));
  t = performance.now();
  loop(peer, handles, probe, state);
  perPairNs = ((performance.now() - t) * NSEC_PER_MSEC) / probe;
  const batch = Math.max(1, Math.min(MAX_BATCH_PAIRS, Math.round(TARGET_BATCH_NS / perPairNs)));
  const maxBatches = Math.ceil(MAX_PAIRS / batch);
  const times = new Float64Array(maxBatches);
  state[2] = 0;

  let batches = 0;
  const start = performance.now();
  while (batches < maxBatches) {
    const t0 = performance.now();
    loop(peer, handles, batch, state);
    const t1 = performance.now();
    times[batches++] = t1 - t0;
    if (t1 - start > BUDGET_MS) break;
  }
  const perPair = times
    .slice(0, batches)
    .map((ms) => (ms * NSEC_PER_MSEC) / batch)
    .sort();
  row.pairs = batches * batch;
  row.batchPairs = batch;
  row.medianNs = percentile(perPair, 0.5);
  row.p999Ns = percentile(perPair, 0.999);

  // The clock allocates (performance.now() returns a fresh number), so GC events and throughput come from
  // one window that reads it twice: up to as many pairs again, within a shorter budget.
  const windowPairs = Math.max(1, Math.min(row.pairs, Math.floor((WINDOW_BUDGET_MS * NSEC_PER_MSEC) / row.medianNs)));
  collect();
  const gcBefore = await gcEvents.settle();
  const w0 = performance.now();
  loop(peer, handles, windowPairs, state);
  const windowMs = performance.now() - w0;
  row.gcEvents = (await gcEvents.settle()) - gcBefore;
  row.windowPairs = windowPairs;
  row.pairsPerSec = windowPairs / (windowMs / 1000);
  row.failedAllocs = state[2]!;
  if (batches * batch < MAX_PAIRS) row.note = `stopped by the ${BUDGET_MS / 1000} s budget`;
  if (batch === 1) row.note += `${row.note ? '; ' : ''}one pair per batch`;
  return row;
}

/** The random workload once more, untimed, tracking the highest offset in use and the requested bytes live. */
function fragmentation(factory: PeerFactory, live: number): FragRow | null {
  const w = RANDOM;
  const spec: PeerSpec = { liveCount: live, maxSizeBytes: w.maxSizeBytes, align: w.align };
  if (!factory.offsets || factory.skip(spec) !== null) return null;
  collect();
  const peer: Peer = factory.make(spec);
  const ptrs = new Float64Array(live);
  const sizes = new Float64Array(live);
  const state = new Int32Array(1);
  state[0] = SEED ^ 0x5bd1e995;
  let lowest = Infinity;
  let highest = 0;
  let liveBytes = 0;
  let peak = 0;
  const take = (slot: number): void => {
    const size = nextSize(w, state);
    const p = peer.alloc(size, w.align) as number;
    if (p === 0) throw new Error(`${factory.name} ran out of memory in the fragmentation run`);
    ptrs[slot] = p;
    sizes[slot] = size;
    if (p < lowest) lowest = p;
    if (p + size > highest) highest = p + size;
    liveBytes += size;
    if (liveBytes > peak) peak = liveBytes;
  };
  for (let s = 0; s < live; s++) take(s);
  const start = performance.now();
  let pairs = 0;
  while (pairs < FRAG_PAIRS && (pairs % 1024 !== 0 || performance.now() - start < FRAG_BUDGET_MS)) {
    state[0] = (Math.imul(state[0]!, 1103515245) + 12345) & 0x3fffffff;
    const slot = (state[0]! >>> 7) % live;
    peer.free(ptrs[slot]!);
    liveBytes -= sizes[slot]!;
    take(slot);
    pairs++;
  }
  // The lowest offset ever returned stands for the heap's start (the allocator's own header sits below it).
  const span = highest - lowest;
  return {
    peer: factory.name,
    live,
    pairs,
    peakRequestedBytes: peak,
    highestOffsetBytes: span,
    fragmentationPct: ((span - peak) / peak) * 100,
    note: pairs < FRAG_PAIRS ? `stopped by the ${FRAG_BUDGET_MS / 1000} s budget` : '',
  };
}

function fmt(n: number | null, digits = 0): string {
  if (n === null) return '-';
  return n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
}

function printRows(rows: Row[]): void {
  const header = ['workload', 'live', 'peer', 'pairs', 'median ns', 'p99.9 ns', 'pairs/s', 'GC', 'note'];
  const cells = rows.map((r) => [
    r.workload,
    fmt(r.live),
    r.peer,
    fmt(r.pairs),
    fmt(r.medianNs, 1),
    fmt(r.p999Ns, 1),
    fmt(r.pairsPerSec),
    r.gcEvents === null ? '-' : String(r.gcEvents),
    r.note + (r.failedAllocs ? ` ${r.failedAllocs} failed allocs` : ''),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)));
  const line = (c: string[]): string =>
    c
      .map((v, i) => (i >= 3 && i <= 7 ? v.padStart(widths[i]!) : v.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  console.log(line(header));
  for (const c of cells) console.log(line(c));
}

async function main(): Promise<void> {
  const started = performance.now();
  const plan: [Workload, number][] = [
    [RANDOM, 100],
    [RANDOM, 10_000],
    [RANDOM, 1_000_000],
    [FIFO, 10_000],
    [MIXED64, 10_000],
  ];
  const rows: Row[] = [];
  for (const [w, live] of plan) {
    console.error(`# ${w.title}, ${fmt(live)} live`);
    for (const factory of PEERS) rows.push(await measure(factory, w, live));
  }
  const frag: FragRow[] = [];
  for (const live of [10_000, 1_000_000]) {
    for (const factory of PEERS) {
      const r = fragmentation(factory, live);
      if (r) frag.push(r);
    }
  }
  gcEvents.close();

  console.log(
    `\nallocator benchmark: ${cpus().length} CPUs (${cpus()[0]?.model ?? '?'}), Node ${process.version}, Linux ${release()}`,
  );
  console.log('ns per free+alloc pair: median and 99.9th percentile over batches of ~50 us; pairs/s and GC events: one');
  console.log('further window of up to as many pairs, timed whole (the clock itself allocates, so it is read twice)');
  console.log('peers with a buffer run it locked and prefaulted, with huge pages advised (as tsland runs its arena)\n');
  printRows(rows);
  console.log(
    '\nfragmentation (TLSF paper): (highest offset in use - peak requested live) / peak requested live, random 16..256 B',
  );
  for (const f of frag) {
    console.log(
      `  ${f.peer.padEnd(24)} live ${fmt(f.live).padStart(9)}  ${fmt(f.fragmentationPct, 1).padStart(6)} %  over ${fmt(f.pairs)} pairs ${f.note}`,
    );
  }

  const find = (w: string, live: number, peer: string): Row | undefined =>
    rows.find((r) => r.workload === w && r.live === live && r.peer === peer);
  const tlsf10k = find('random', 10_000, 'tsland tlsf');
  const thing10k = find('random', 10_000, '@thi.ng/malloc');
  const tlsf1m = find('random', 1_000_000, 'tsland tlsf');
  const slot1m = find('random', 1_000_000, 'floor: fixed-slot list');
  const tlsfFrag = frag.filter((f) => f.peer === 'tsland tlsf').map((f) => f.fragmentationPct);
  const ourGc = rows.filter((r) => r.peer.startsWith('tsland') && r.gcEvents !== null).reduce((n, r) => n + r.gcEvents!, 0);
  const targets = {
    tlsfPairsPerSecAt10k: tlsf10k?.pairsPerSec ?? null,
    tlsfPairsPerSecAt10kFromMedian: tlsf10k?.medianNs ? 1e9 / tlsf10k.medianNs : null,
    tlsfSpeedupOverThingAt10k: tlsf10k?.medianNs && thing10k?.medianNs ? thing10k.medianNs / tlsf10k.medianNs : null,
    tlsfOverSlotFloorAt1M: tlsf1m?.medianNs && slot1m?.medianNs ? tlsf1m.medianNs / slot1m.medianNs : null,
    tslandGcEventsInTimedLoops: ourGc,
    tlsfFragmentationPctMax: tlsfFrag.length ? Math.max(...tlsfFrag) : null,
  };
  console.log('\ntargets:');
  console.log(
    `  tlsf pairs/s at 10,000 live      ${fmt(targets.tlsfPairsPerSecAt10k)} in the window, ${fmt(targets.tlsfPairsPerSecAt10kFromMedian)} at the median batch  (>= 5,000,000)`,
  );
  console.log(`  tlsf vs @thi.ng/malloc at 10,000 ${fmt(targets.tlsfSpeedupOverThingAt10k)}x faster (>= 400x)`);
  console.log(`  tlsf / fixed-slot floor at 1M    ${fmt(targets.tlsfOverSlotFloorAt1M, 2)}x  (<= 3x)`);
  console.log(`  GC events, tsland timed loops    ${targets.tslandGcEventsInTimedLoops}  (0)`);
  console.log(`  tlsf fragmentation               ${fmt(targets.tlsfFragmentationPctMax, 1)} %  (< 25 %)`);
  const totalS = (performance.now() - started) / 1000;
  console.log(`\nwhole run ${fmt(totalS, 1)} s`);

  mkdirSync('bench/results', { recursive: true });
  writeFileSync(
    'bench/results/alloc.json',
    JSON.stringify(
      {
        benchmark: 'alloc',
        date: new Date().toISOString(),
        machine: { cpus: cpus().length, cpuModel: cpus()[0]?.model ?? null, node: process.version, kernel: release() },
        settings: { seed: SEED, maxPairs: MAX_PAIRS, budgetMs: BUDGET_MS, warmPairs: WARM_PAIRS, targetBatchNs: TARGET_BATCH_NS },
        rows,
        fragmentation: frag,
        targets,
        totalSeconds: totalS,
      },
      null,
      2,
    ) + '\n',
  );
  console.log('wrote bench/results/alloc.json');
}

await main();
