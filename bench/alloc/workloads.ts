// The three workloads, as loop sources compiled once per peer (new Function), so each peer's loop has its
// own type feedback: one shared loop would see six allocator shapes and go megamorphic, which would measure
// the dispatch rather than the allocators.
//
// Randomness is a 30-bit LCG whose state stays a small integer, so the loops box no numbers themselves.

export interface Workload {
  readonly name: string;
  readonly title: string;
  readonly minSizeBytes: number;
  readonly maxSizeBytes: number;
  readonly align: number;
  /** Which slot a pair replaces: a random one, or the oldest (FIFO ring). */
  readonly order: 'random' | 'fifo';
}

export const RANDOM: Workload = {
  name: 'random',
  title: 'random 16..256 B free+alloc pairs',
  minSizeBytes: 16,
  maxSizeBytes: 256,
  align: 8,
  order: 'random',
};
export const FIFO: Workload = {
  name: 'fifo',
  title: 'scheduler-like: 64..128 B records freed in FIFO order',
  minSizeBytes: 64,
  maxSizeBytes: 128,
  align: 8,
  order: 'fifo',
};
export const MIXED64: Workload = {
  name: 'mixed64',
  title: 'mixed 16..1024 B, alignment 64',
  minSizeBytes: 16,
  maxSizeBytes: 1024,
  align: 64,
  order: 'random',
};

/** Runs `pairs` free+alloc pairs; state[0] is the RNG, state[1] the FIFO head, state[2] failed allocations. */
export type PairLoop = (peer: unknown, live: unknown, pairs: number, state: Int32Array) => void;
/** Fills every live slot once. */
export type FillLoop = (peer: unknown, live: unknown, state: Int32Array) => void;

const LCG_STEP = 'x = (Math.imul(x, 1103515245) + 12345) & 0x3fffffff;';

function sizeExpr(w: Workload): string {
  return `${w.minSizeBytes} + ((x >>> 7) % ${w.maxSizeBytes - w.minSizeBytes + 1})`;
}

export function pairLoop(w: Workload): PairLoop {
  const pick = w.order === 'fifo' ? 'const s = h; h = h + 1 === n ? 0 : h + 1;' : `${LCG_STEP} const s = (x >>> 7) % n;`;
  const src = `
    const n = live.length;
    let x = state[0]; let h = state[1]; let failed = 0;
    for (let i = 0; i < pairs; i++) {
      ${pick}
      peer.free(live[s]);
      ${LCG_STEP}
      const p = peer.alloc(${sizeExpr(w)}, ${w.align});
      if (p === 0) failed++;
      live[s] = p;
    }
    state[0] = x; state[1] = h; state[2] += failed;`;
  return new Function('peer', 'live', 'pairs', 'state', src) as PairLoop;
}

export function fillLoop(w: Workload): FillLoop {
  const src = `
    let x = state[0];
    for (let s = 0; s < live.length; s++) {
      ${LCG_STEP}
      live[s] = peer.alloc(${sizeExpr(w)}, ${w.align});
    }
    state[0] = x;`;
  return new Function('peer', 'live', 'state', src) as FillLoop;
}

/** Request size of the next allocation, the same sequence the loops draw (for the fragmentation run). */
export function nextSize(w: Workload, state: Int32Array): number {
  const x = (Math.imul(state[0]!, 1103515245) + 12345) & 0x3fffffff;
  state[0] = x;
  return w.minSizeBytes + ((x >>> 7) % (w.maxSizeBytes - w.minSizeBytes + 1));
}
