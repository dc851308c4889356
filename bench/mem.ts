// npm run bench:mem - the memory part's three figures, each with its peers in the same run:
//  1. lock + prefault of a 64 MiB arena, by prefault method (interleaved repetitions, median);
//  2. the cost of one page-fault counter read, for every way of reading it, and whether it allocates;
//  3. 10,000,000 arena alloc/free pairs with struct writes on a locked 64 MiB arena, after warm-up:
//     page faults on the thread, GC events and heap growth, measured by measureHotPath; peers: the block
//     allocator, an unlocked arena, and the same records as plain JS objects.
// Writes bench/results/mem.json.

import { mkdirSync, openSync, readSync, closeSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, release } from 'node:os';
import { performance } from 'node:perf_hooks';
import { createArena, defineStruct, type Arena } from '../src/arena/index.js';
import { FaultCounter, lockArena, measureHotPath, MemPublisher, type HotPathReport, type LockOptions } from '../src/mem/index.js';
import { createCounters } from '../src/base/counters.js';

const MIB = 1024 * 1024;
const NSEC_PER_MSEC = 1e6;
const USEC_PER_MSEC = 1e3;
const ARENA_BYTES = 64 * MIB;
const LOCK_REPS = 5;
const READS_PER_ROUND = 100_000;
const READ_ROUNDS = 5;
const HOT_PAIRS = 10_000_000;
const BLOCK_PEER_PAIRS = 100_000;
const HEAP_PEER_PAIRS = 300_000;
const HOT_WARMUP = 300_000;
const LIVE_RECORDS = 10_000;
const MIN_RECORD_BYTES = 32;
const RECORD_SIZE_SPAN = 128;

// ---------------------------------------------------------------- 1. lock + prefault

interface LockRow {
  method: string;
  medianMs: number;
  minMs: number;
  maxMs: number;
  /** CPU time (user + system) the process spent, median: what the work costs, whatever the load. */
  medianCpuMs: number;
  prefault: string;
  locked: boolean;
}

const LOCK_VARIANTS: { method: string; opts: LockOptions }[] = [
  { method: 'mlock alone, it faults the pages in (default)', opts: {} },
  { method: 'MADV_POPULATE_WRITE, then mlock', opts: { prefault: 'madvise' } },
  { method: 'a write per page from JS, then mlock', opts: { prefault: 'touch' } },
  { method: 'MADV_HUGEPAGE, then mlock (hugePages: true)', opts: { hugePages: true } },
];

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

function benchLock(): LockRow[] {
  const times = LOCK_VARIANTS.map(() => [] as number[]);
  const cpuTimes = LOCK_VARIANTS.map(() => [] as number[]);
  const prefault = LOCK_VARIANTS.map(() => '');
  const locked = LOCK_VARIANTS.map(() => true);
  for (let rep = 0; rep < LOCK_REPS; rep++) {
    for (let v = 0; v < LOCK_VARIANTS.length; v++) {
      const arena = createArena({ sizeBytes: ARENA_BYTES });
      const cpu0 = process.cpuUsage();
      const t0 = performance.now();
      const lock = lockArena(arena, { ...LOCK_VARIANTS[v]!.opts, allowUnlocked: true });
      times[v]!.push(performance.now() - t0);
      const cpu = process.cpuUsage(cpu0);
      cpuTimes[v]!.push((cpu.user + cpu.system) / USEC_PER_MSEC);
      prefault[v] = lock.prefaultMethod;
      locked[v] = locked[v]! && lock.locked;
      lock.unlock();
    }
  }
  return LOCK_VARIANTS.map((variant, v) => ({
    method: variant.method,
    medianMs: median(times[v]!),
    minMs: Math.min(...times[v]!),
    maxMs: Math.max(...times[v]!),
    medianCpuMs: median(cpuTimes[v]!),
    prefault: prefault[v]!,
    locked: locked[v]!,
  }));
}

// ---------------------------------------------------------------- 2. counter reads

interface ReadRow {
  method: string;
  medianNs: number;
  allocates: boolean;
  gcEvents: number;
  heapGrowthBytes: number;
  pageFaults: number;
}

function nodeStatReader(): () => number {
  // The obvious Node way: fs.readSync on a descriptor opened once, into a preallocated Buffer.
  const fd = openSync('/proc/thread-self/stat', 'r');
  const buf = Buffer.alloc(1024);
  process.on('exit', () => closeSync(fd));
  return () => readSync(fd, buf, 0, 1024, 0);
}

async function benchReads(): Promise<ReadRow[]> {
  const threadRu = new FaultCounter({ scope: 'thread', method: 'rusage' });
  const threadFs = new FaultCounter({ scope: 'thread', method: 'procfs' });
  const procRu = new FaultCounter({ scope: 'process', method: 'rusage' });
  const procFs = new FaultCounter({ scope: 'process', method: 'procfs' });
  const publisher = new MemPublisher(createCounters(), { lock: true });
  const nodeStat = nodeStatReader();
  const readers: { method: string; read: () => unknown }[] = [
    { method: 'thread, getrusage(RUSAGE_THREAD) via koffi', read: () => threadRu.sample() },
    { method: 'thread, pread /proc/thread-self/stat, parsed by hand', read: () => threadFs.sample() },
    { method: 'process, getrusage(RUSAGE_SELF) via koffi', read: () => procRu.sample() },
    { method: 'process, pread /proc/self/stat, parsed by hand', read: () => procFs.sample() },
    { method: 'MemPublisher.publish() (thread faults + GCs into the SAB)', read: () => publisher.publish() },
    { method: 'peer: process.resourceUsage().minorPageFault', read: () => process.resourceUsage().minorPageFault },
    { method: 'peer: fs.readSync of /proc/thread-self/stat (no parse)', read: nodeStat },
  ];
  const rounds = readers.map(() => [] as number[]);
  for (const r of readers) for (let i = 0; i < 10_000; i++) r.read();
  for (let round = 0; round < READ_ROUNDS; round++) {
    for (let k = 0; k < readers.length; k++) {
      const read = readers[k]!.read;
      const t0 = performance.now();
      for (let i = 0; i < READS_PER_ROUND; i++) read();
      rounds[k]!.push(((performance.now() - t0) * NSEC_PER_MSEC) / READS_PER_ROUND);
    }
  }
  const rows: ReadRow[] = [];
  for (let k = 0; k < readers.length; k++) {
    const rep = await measureHotPath(readers[k]!.read, { iterations: 20_000, warmup: 10_000 });
    rows.push({
      method: readers[k]!.method,
      medianNs: median(rounds[k]!),
      allocates: rep.gcEvents > 0 || rep.heapGrowthBytes > 0,
      gcEvents: rep.gcEvents,
      heapGrowthBytes: rep.heapGrowthBytes,
      pageFaults: rep.pageFaults,
    });
  }
  publisher.close();
  for (const c of [threadRu, threadFs, procRu, procFs]) c.close();
  return rows;
}

// ---------------------------------------------------------------- 3. the hot loop

interface HotRow {
  peer: string;
  pairs: number;
  locked: boolean;
  nsPerPair: number;
  pageFaults: number;
  gcEvents: number;
  heapGrowthBytes: number;
  windows: number;
}

const Task = defineStruct({ pid: 'u32', vruntimeNs: 'f64', weight: 'u16', cpu: 'u16' });

/** A ring of LIVE_RECORDS records: each call frees the oldest and allocates a new one of random size. */
function arenaPair(arena: Arena): () => void {
  const task = Task.bind(arena);
  const ring = new Uint32Array(LIVE_RECORDS);
  const rng = new Uint32Array([0x9e3779b9]);
  const state = new Float64Array(1); // the pair counter, kept out of a boxed let
  return () => {
    let x = rng[0]!;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    rng[0] = x;
    const n = state[0]!;
    state[0] = n + 1;
    const slot = n % LIVE_RECORDS;
    const old = ring[slot]!;
    if (old !== 0) arena.free(old);
    const p = arena.alloc(MIN_RECORD_BYTES + (x & (RECORD_SIZE_SPAN - 1)));
    ring[slot] = p;
    if (p === 0) return;
    task.set.pid(p, slot);
    task.set.vruntimeNs(p, n);
    task.set.weight(p, 100);
    task.set.cpu(p, x & 1);
  };
}

interface JsTask {
  pid: number;
  vruntimeNs: number;
  weight: number;
  cpu: number;
  pad: Uint8Array;
}

/** The same pattern with plain JS records: what the arena saves the hot path from. */
function heapPair(): () => void {
  const ring: (JsTask | null)[] = new Array<JsTask | null>(LIVE_RECORDS).fill(null);
  const rng = new Uint32Array([0x9e3779b9]);
  const state = new Float64Array(1);
  return () => {
    let x = rng[0]!;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    rng[0] = x;
    const n = state[0]!;
    state[0] = n + 1;
    const slot = n % LIVE_RECORDS;
    ring[slot] = {
      pid: slot,
      vruntimeNs: n,
      weight: 100,
      cpu: x & 1,
      pad: new Uint8Array(MIN_RECORD_BYTES + (x & (RECORD_SIZE_SPAN - 1))),
    };
  };
}

async function benchHot(): Promise<HotRow[]> {
  const rows: HotRow[] = [];
  const run = async (peer: string, locked: boolean, pairs: number, fn: () => void): Promise<void> => {
    const r: HotPathReport = await measureHotPath(fn, { iterations: pairs, warmup: HOT_WARMUP });
    rows.push({
      peer,
      pairs,
      locked,
      nsPerPair: r.nsPerIteration,
      pageFaults: r.pageFaults,
      gcEvents: r.gcEvents,
      heapGrowthBytes: r.heapGrowthBytes,
      windows: r.windows,
    });
  };
  {
    const arena = createArena({ sizeBytes: ARENA_BYTES, strategy: 'tlsf' });
    const lock = lockArena(arena);
    await run('tsland tlsf, locked 64 MiB arena', lock.locked, HOT_PAIRS, arenaPair(arena));
    lock.unlock();
  }
  {
    const arena = createArena({ sizeBytes: ARENA_BYTES, strategy: 'block' });
    const lock = lockArena(arena);
    await run('tsland block, locked 64 MiB arena', lock.locked, BLOCK_PEER_PAIRS, arenaPair(arena));
    lock.unlock();
  }
  {
    const arena = createArena({ sizeBytes: ARENA_BYTES, strategy: 'tlsf' });
    await run('tsland tlsf, unlocked 64 MiB arena', false, HOT_PAIRS, arenaPair(arena));
  }
  await run('peer: plain JS objects (+ Uint8Array payload)', false, HEAP_PEER_PAIRS, heapPair());
  return rows;
}

// ---------------------------------------------------------------- report

function pad(s: string, n: number): string {
  return s.length >= n ? s : s + ' '.repeat(n - s.length);
}

function table(head: string[], rows: string[][]): string {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => pad(c, widths[i]!)).join(' | ')} |`;
  return [line(head), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...rows.map(line)].join('\n');
}

async function main(): Promise<void> {
  const machine = { cpus: cpus().length, cpuModel: cpus()[0]?.model ?? '', node: process.version, kernel: release() };
  const startedAt = new Date().toISOString();
  const loadBefore = loadavg()[0]!;
  console.log(
    `tsland bench:mem  ${startedAt}  ${machine.cpus} cores, Node ${machine.node}, Linux ${machine.kernel}, ` +
      `load average ${loadBefore.toFixed(1)}\n`,
  );

  const lock = benchLock();
  console.log(`Lock + prefault of a ${ARENA_BYTES / MIB} MiB arena (${LOCK_REPS} interleaved repetitions; aim < 50 ms)`);
  console.log(
    table(
      ['method', 'median ms', 'min ms', 'max ms', 'CPU ms (median)', 'locked'],
      lock.map((r) => [
        r.method,
        r.medianMs.toFixed(1),
        r.minMs.toFixed(1),
        r.maxMs.toFixed(1),
        r.medianCpuMs.toFixed(1),
        String(r.locked),
      ]),
    ),
  );

  const reads = await benchReads();
  console.log(`\nOne page-fault counter read (median of ${READ_ROUNDS} rounds of ${READS_PER_ROUND}; aim < 2 us, no allocation)`);
  console.log(
    table(
      ['method', 'us/read', 'allocates', 'GCs', 'heap growth B'],
      reads.map((r) => [
        r.method,
        (r.medianNs / 1000).toFixed(3),
        r.allocates ? 'yes' : 'no',
        String(r.gcEvents),
        String(r.heapGrowthBytes),
      ]),
    ),
  );

  const hot = await benchHot();
  console.log(
    `\nAlloc/free pairs + struct writes after ${HOT_WARMUP} warm-up pairs, ${LIVE_RECORDS} records live (aim: 0 / 0 / 0)`,
  );
  console.log(
    table(
      ['peer', 'pairs', 'ns/pair', 'page faults', 'GCs', 'heap growth B'],
      hot.map((r) => [
        r.peer,
        String(r.pairs),
        r.nsPerPair.toFixed(1),
        String(r.pageFaults),
        String(r.gcEvents),
        String(r.heapGrowthBytes),
      ]),
    ),
  );

  const loadAfter = loadavg()[0]!;
  const out = {
    bench: 'mem',
    startedAt,
    machine,
    loadAverage1m: { before: loadBefore, after: loadAfter },
    arenaBytes: ARENA_BYTES,
    lock,
    counterReads: reads,
    hotLoop: hot,
  };
  const dir = new URL('../../bench/results/', import.meta.url);
  mkdirSync(dir, { recursive: true });
  writeFileSync(new URL('mem.json', dir), `${JSON.stringify(out, null, 2)}\n`);
  console.log('\nwrote bench/results/mem.json');
}

await main();
