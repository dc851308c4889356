// The built-in policies by name, for `--policy NAME`.

import type { Policy } from '../api.js';
import { fifo } from './fifo.js';
import { rustland } from './rustland.js';

export const BUILTIN_POLICIES: Readonly<Record<string, () => Policy>> = Object.freeze({ rustland, fifo });

export function builtinPolicyNames(): string[] {
  return Object.keys(BUILTIN_POLICIES);
}

export { fifo, FifoPolicy } from './fifo.js';
export { rustland, RustlandPolicy } from './rustland.js';
