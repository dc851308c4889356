// The one place that loads libc through koffi. Everything that talks to the kernel (mem/, backends/proc/)
// declares its functions on this handle. On a system without glibc (not Linux) `libc()` returns null and
// callers report the capability as unavailable instead of crashing on import.

import { createRequire } from 'node:module';

type Koffi = typeof import('koffi');
export type LibC = ReturnType<Koffi['load']>;

const require = createRequire(import.meta.url);
let koffiModule: Koffi | null | undefined;
let libcHandle: LibC | null | undefined;
let loadError = '';

export function koffi(): Koffi | null {
  if (koffiModule === undefined) {
    try {
      koffiModule = require('koffi') as Koffi;
    } catch (err) {
      koffiModule = null;
      loadError = `koffi could not be loaded: ${(err as Error).message}`;
    }
  }
  return koffiModule;
}

/** The libc handle, or null when this platform has none we can use (see `libcUnavailableReason`). */
export function libc(): LibC | null {
  if (libcHandle !== undefined) return libcHandle;
  libcHandle = null;
  if (process.platform !== 'linux') {
    loadError = `not Linux (platform ${process.platform})`;
    return null;
  }
  const k = koffi();
  if (!k) return null;
  try {
    libcHandle = k.load('libc.so.6');
  } catch (err) {
    loadError = `libc.so.6 could not be loaded: ${(err as Error).message}`;
  }
  return libcHandle;
}

export function libcUnavailableReason(): string {
  libc();
  return loadError;
}

/** errno of the last failed libc call on this thread (read it right after the call). */
export function errno(): number {
  return koffi()?.errno() ?? 0;
}
