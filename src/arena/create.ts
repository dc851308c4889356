import { createBlockArena, DEFAULT_BLOCK_BYTES, validateBlockBytes } from './block.js';
import { ArenaError } from './errors.js';
import { createTlsfArena } from './tlsf.js';
import type { Arena, ArenaOptions } from './types.js';
import { allocateBuffer } from './views.js';

/** Allocate a buffer of options.sizeBytes and run the chosen allocator over it. */
export function createArena(options: ArenaOptions): Arena {
  if (options === null || typeof options !== 'object') throw new ArenaError('createArena: options must be an object');
  const strategy = options.strategy ?? 'tlsf';
  if (strategy !== 'tlsf' && strategy !== 'block') {
    throw new ArenaError(`createArena: strategy must be 'tlsf' or 'block', got '${String(strategy)}'`);
  }
  if (options.shared !== undefined && typeof options.shared !== 'boolean') {
    throw new ArenaError(`createArena: shared must be true or false, got ${String(options.shared)}`);
  }
  if (strategy === 'tlsf' && options.blockSize !== undefined) {
    throw new ArenaError('createArena: blockSize applies to the block strategy only');
  }
  const blockBytes = options.blockSize ?? DEFAULT_BLOCK_BYTES;
  if (strategy === 'block') validateBlockBytes(blockBytes);
  const buffer = allocateBuffer(options.sizeBytes, options.shared ?? false);
  return strategy === 'tlsf' ? createTlsfArena(buffer) : createBlockArena(buffer, blockBytes);
}
