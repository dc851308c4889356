// Resolves `--policy NAME|PATH`: a built-in by name, or a user's JS module loaded with a dynamic import and
// checked where it enters. The module may export the policy as `default`, as `policy`, or export a factory
// function (default or `createPolicy`) returning one. One clear PolicyError when it does not fit.

import { pathToFileURL } from 'node:url';
import { resolve } from 'node:path';
import { existsSync } from 'node:fs';
import { PolicyError, type Policy } from './api.js';
import { BUILTIN_POLICIES } from './policies/index.js';
import { validatePolicy } from './scheduler.js';

function looksLikePath(spec: string): boolean {
  return spec.includes('/') || spec.endsWith('.js') || spec.endsWith('.mjs');
}

export async function loadPolicy(spec: string): Promise<Policy> {
  const builtin = BUILTIN_POLICIES[spec];
  if (builtin) return builtin();
  if (!looksLikePath(spec)) {
    throw new PolicyError(`unknown policy '${spec}': use ${Object.keys(BUILTIN_POLICIES).join(', ')} or a path to a .js file`);
  }
  const file = resolve(spec);
  if (!existsSync(file)) throw new PolicyError(`policy file not found: ${spec}`);
  let mod: Record<string, unknown>;
  try {
    mod = (await import(pathToFileURL(file).href)) as Record<string, unknown>;
  } catch (err) {
    throw new PolicyError(`policy file ${spec} could not be loaded: ${(err as Error).message}`);
  }
  let candidate: unknown = mod.default ?? mod.policy ?? mod.createPolicy;
  if (candidate === undefined) {
    throw new PolicyError(`policy file ${spec} exports no policy: export default a policy object (or a function returning one)`);
  }
  if (typeof candidate === 'function' && !('enqueue' in candidate)) {
    const isClass = typeof (candidate as { prototype?: { enqueue?: unknown } }).prototype?.enqueue === 'function';
    try {
      candidate = isClass ? new (candidate as new () => unknown)() : (candidate as () => unknown)();
    } catch (err) {
      throw new PolicyError(`policy file ${spec}: its factory threw: ${(err as Error).message}`);
    }
  }
  try {
    validatePolicy(candidate);
  } catch (err) {
    throw new PolicyError(`policy file ${spec}: ${(err as Error).message}`);
  }
  return candidate;
}
