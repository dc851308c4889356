import { ArenaError } from './errors.js';
import { MAX_ALIGN, MAX_ARENA_BYTES, MIN_ARENA_BYTES } from './header.js';

/** Every typed view an arena exposes, each as long as the buffer allows for its element size. */
export interface ArenaViews {
  buffer: ArrayBuffer | SharedArrayBuffer;
  u8: Uint8Array;
  u16: Uint16Array;
  u32: Uint32Array;
  i32: Int32Array;
  f32: Float32Array;
  f64: Float64Array;
  view: DataView;
}

export function makeViews(buffer: ArrayBuffer | SharedArrayBuffer): ArenaViews {
  const n = buffer.byteLength;
  return {
    buffer,
    u8: new Uint8Array(buffer),
    u16: new Uint16Array(buffer, 0, Math.floor(n / 2)),
    u32: new Uint32Array(buffer, 0, Math.floor(n / 4)),
    i32: new Int32Array(buffer, 0, Math.floor(n / 4)),
    f32: new Float32Array(buffer, 0, Math.floor(n / 4)),
    f64: new Float64Array(buffer, 0, Math.floor(n / 8)),
    view: new DataView(buffer),
  };
}

export function allocateBuffer(sizeBytes: number, shared: boolean): ArrayBuffer | SharedArrayBuffer {
  if (!Number.isInteger(sizeBytes) || sizeBytes < MIN_ARENA_BYTES || sizeBytes > MAX_ARENA_BYTES) {
    throw new ArenaError(`sizeBytes must be a whole number from ${MIN_ARENA_BYTES} to ${MAX_ARENA_BYTES}, got ${sizeBytes}`);
  }
  try {
    return shared ? new SharedArrayBuffer(sizeBytes) : new ArrayBuffer(sizeBytes);
  } catch (err) {
    throw new ArenaError(
      `cannot allocate a ${sizeBytes}-byte ${shared ? 'SharedArrayBuffer' : 'ArrayBuffer'}: ${(err as Error).message}`,
    );
  }
}

// The throwers sit outside the allocators' hot functions so those stay small enough to inline; each builds
// its message only when it throws.

export function throwBadSize(what: string, size: number): never {
  throw new ArenaError(`${what}: size must be a whole number of bytes from 0 to ${MAX_ARENA_BYTES}, got ${String(size)}`);
}

export function throwBadAlign(what: string, align: number): never {
  throw new ArenaError(`${what}: align must be a power of two from 1 to 4096, got ${String(align)}`);
}

export function throwBadPointer(what: string, ptr: number): never {
  const p = Number(ptr);
  throw new ArenaError(
    `${what}: ${String(ptr)} is not a live block of this arena (never returned, interior, or already freed)`,
    Number.isFinite(p) ? p : -1,
  );
}

/**
 * Alignment of the new block when realloc has to move one: the alignment asked for, or (align 0) the
 * largest the old offset had, up to MAX_ALIGN, so a caller that relied on it keeps it.
 */
export function moveAlignOf(ptr: number, align: number): number {
  if (align !== 0) return align;
  const lowBit = (ptr & -ptr) >>> 0;
  return lowBit > MAX_ALIGN ? MAX_ALIGN : lowBit;
}
