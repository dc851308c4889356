/**
 * The header both strategies keep at offset 0 of the buffer. Offset 0 is therefore never a block, which is
 * what lets 0 mean null. Counters live in the buffer (not in JS fields) so a worker holding a shared arena
 * can read them, and so locking the buffer's pages locks the allocator's whole state.
 *
 *    0       4       8       12      16              24              32
 *    +-------+-------+-------+-------+---------------+---------------+
 *    | magic | strat | size  | heap0 |    allocs     |     frees     |
 *    +-------+-------+-------+-------+---------------+---------------+
 *   32              40              48              56              64
 *    +---------------+---------------+---------------+---------------+
 *    | failedAllocs  |   usedBytes   |  liveBlocks*  |   reserved    |
 *    +---------------+---------------+---------------+---------------+
 *   64: the strategy's own metadata (tlsf.ts, block.ts draw theirs)
 *
 *   magic  u32  MAGIC, so a buffer can be recognised as an arena
 *   strat  u32  STRATEGY_TLSF or STRATEGY_BLOCK
 *   size   u32  sizeBytes of the arena (below 2^32)
 *   heap0  u32  first byte the strategy hands out blocks from
 *   allocs .. liveBlocks: f64 counters, exact to 2^53
 *   liveBlocks*  kept by the block strategy; tlsf derives it as allocs - frees (one store less per call)
 */

export const MAGIC = 0x41_4c_53_54; // 'TSLA' little-endian
export const STRATEGY_TLSF = 1;
export const STRATEGY_BLOCK = 2;

export const MAGIC_U32 = 0;
export const STRATEGY_U32 = 1;
export const SIZE_U32 = 2;
export const HEAP_START_U32 = 3;

export const ALLOCS_F64 = 2;
export const FREES_F64 = 3;
export const FAILED_F64 = 4;
export const USED_BYTES_F64 = 5;
export const LIVE_BLOCKS_F64 = 6;

export const HEADER_END = 64;

export const MIN_ARENA_BYTES = 4096;
export const MAX_ARENA_BYTES = 2 ** 32 - 1;
export const MAX_ALIGN = 4096;
export const DEFAULT_ALIGN = 8;
