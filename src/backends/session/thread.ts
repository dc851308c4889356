// What every backend's scheduler thread does the same way at its start.

import { pathToFileURL } from 'node:url';
import type { Policy } from '../../sched/api.js';
import { BUILTIN_POLICIES } from '../../sched/policies/index.js';

/**
 * The policy named by SessionThreadConfig.policy: a built-in, or the module at an absolute path (the main
 * thread has checked the name; the module exports a policy or a factory, as `default` or `policy`).
 */
export async function loadThreadPolicy(spec: string): Promise<Policy> {
  const builtin = BUILTIN_POLICIES[spec];
  if (builtin) return builtin();
  const mod = (await import(pathToFileURL(spec).href)) as Record<string, unknown>;
  const exported = mod.default ?? mod.policy;
  return (typeof exported === 'function' ? (exported as () => Policy)() : exported) as Policy;
}
