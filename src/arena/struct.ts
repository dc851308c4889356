/**
 * Record layouts over an arena. Declare the fields once; read and write them at any record offset through
 * accessors bound to typed views, which create nothing on the JS heap per call:
 *
 *   const Task = defineStruct({ pid: 'u32', vruntimeNs: 'f64', weight: 'u16' });
 *   const task = Task.bind(arena);
 *   const p = arena.alloc(Task.sizeBytes, Task.align);
 *   task.set.vruntimeNs(p, 1_500_000);
 *   task.get.pid(p);
 *
 * Fields are packed by natural alignment, largest first (ties keep declaration order), so the record has
 * no holes but its tail padding; `Task.describe()` draws the result. Example, the layout above:
 *
 *    0               8       12  14  16
 *    +---------------+-------+---+---+
 *    |  vruntimeNs   |  pid  |wgt|pad|    sizeBytes 16, align 8
 *    +---------------+-------+---+---+
 *
 * A record offset must be a multiple of `align` (arena.alloc's default alignment of 8 always is); the
 * accessors do not check it, because checking on every access would cost the hot path.
 *
 * u64 fields read and write plain numbers, exact from 0 to 2^53 (Number.MAX_SAFE_INTEGER): a BigInt
 * would allocate on every access. They are stored little-endian as two u32 words.
 */

import { ArenaError } from './errors.js';
import { makeViews, type ArenaViews } from './views.js';

export type FieldType = 'u8' | 'u16' | 'u32' | 'i32' | 'f32' | 'f64' | 'u64';
export type StructSpec = Readonly<Record<string, FieldType>>;

const FIELD_BYTES: Readonly<Record<FieldType, number>> = { u8: 1, u16: 2, u32: 4, i32: 4, f32: 4, f64: 8, u64: 8 };
const TWO_POW_32 = 2 ** 32;

export interface FieldInfo {
  readonly name: string;
  readonly type: FieldType;
  readonly offsetBytes: number;
  readonly sizeBytes: number;
}

export type Getters<S extends StructSpec> = { readonly [K in keyof S]: (ptr: number) => number };
export type Setters<S extends StructSpec> = { readonly [K in keyof S]: (ptr: number, value: number) => void };

export interface BoundStruct<S extends StructSpec> {
  readonly get: Getters<S>;
  readonly set: Setters<S>;
  /** Zero the whole record at ptr. */
  clear(ptr: number): void;
  /** Copy the record at src over the record at dst. */
  copy(dst: number, src: number): void;
}

/** What bind accepts: an arena (or anything with its views), or a bare buffer to make views over. */
export type StructTarget = ArenaViews | { readonly buffer: ArrayBuffer | SharedArrayBuffer } | ArrayBuffer | SharedArrayBuffer;

export interface StructDef<S extends StructSpec> {
  readonly sizeBytes: number;
  readonly align: number;
  readonly offsets: { readonly [K in keyof S]: number };
  /** Fields in layout order. */
  readonly fields: readonly FieldInfo[];
  bind(target: StructTarget): BoundStruct<S>;
  /** A box diagram of the layout, with a byte ruler. */
  describe(): string;
}

export function defineStruct<S extends StructSpec>(spec: S): StructDef<S> {
  const names = Object.keys(spec);
  if (names.length === 0) throw new ArenaError('defineStruct: a struct needs at least one field');
  for (const name of names) {
    if (name === '__proto__' || name === 'constructor') throw new ArenaError(`defineStruct: field name '${name}' is reserved`);
    if (!Object.hasOwn(FIELD_BYTES, spec[name]!)) {
      throw new ArenaError(`defineStruct: field '${name}' has unknown type '${String(spec[name])}' (u8 u16 u32 i32 f32 f64 u64)`);
    }
  }
  const order = names
    .map((name, index) => ({ name, index, bytes: FIELD_BYTES[spec[name]!] }))
    .sort((a, b) => b.bytes - a.bytes || a.index - b.index);
  let offset = 0;
  const fields: FieldInfo[] = [];
  const offsets: Record<string, number> = {};
  for (const f of order) {
    fields.push({ name: f.name, type: spec[f.name]!, offsetBytes: offset, sizeBytes: f.bytes });
    offsets[f.name] = offset;
    offset += f.bytes;
  }
  const align = order[0]!.bytes;
  const sizeBytes = Math.ceil(offset / align) * align;

  return {
    sizeBytes,
    align,
    offsets: offsets as { [K in keyof S]: number },
    fields,
    bind: (target) => bindStruct<S>(fields, sizeBytes, viewsOf(target)),
    describe: () => describeLayout(fields, sizeBytes, align),
  };
}

function viewsOf(target: StructTarget): ArenaViews {
  if (target instanceof ArrayBuffer || (typeof SharedArrayBuffer !== 'undefined' && target instanceof SharedArrayBuffer)) {
    return makeViews(target);
  }
  const t = target as Partial<ArenaViews> & { buffer: ArrayBuffer | SharedArrayBuffer };
  if (t.u8 && t.u16 && t.u32 && t.i32 && t.f32 && t.f64 && t.view) return t as ArenaViews;
  if (t.buffer instanceof ArrayBuffer || t.buffer instanceof SharedArrayBuffer) return makeViews(t.buffer);
  throw new ArenaError('defineStruct bind: expected an arena, its views, or an ArrayBuffer/SharedArrayBuffer');
}

function bindStruct<S extends StructSpec>(fields: readonly FieldInfo[], sizeBytes: number, v: ArenaViews): BoundStruct<S> {
  const get: Record<string, (ptr: number) => number> = {};
  const set: Record<string, (ptr: number, value: number) => void> = {};
  for (const f of fields) {
    get[f.name] = getter(f.type, f.offsetBytes, v);
    set[f.name] = setter(f.type, f.offsetBytes, v);
  }
  const u8 = v.u8;
  return {
    get: get as Getters<S>,
    set: set as Setters<S>,
    clear: (ptr) => {
      u8.fill(0, ptr, ptr + sizeBytes);
    },
    copy: (dst, src) => {
      u8.copyWithin(dst, src, src + sizeBytes);
    },
  };
}

// One closure per field and type, each over exactly one typed array, keeps every accessor monomorphic.
function getter(type: FieldType, off: number, v: ArenaViews): (ptr: number) => number {
  switch (type) {
    case 'u8': {
      const a = v.u8;
      return (ptr) => a[ptr + off]!;
    }
    case 'u16': {
      const a = v.u16;
      return (ptr) => a[(ptr + off) >>> 1]!;
    }
    case 'u32': {
      const a = v.u32;
      return (ptr) => a[(ptr + off) >>> 2]!;
    }
    case 'i32': {
      const a = v.i32;
      return (ptr) => a[(ptr + off) >>> 2]!;
    }
    case 'f32': {
      const a = v.f32;
      return (ptr) => a[(ptr + off) >>> 2]!;
    }
    case 'f64': {
      const a = v.f64;
      return (ptr) => a[(ptr + off) >>> 3]!;
    }
    case 'u64': {
      const a = v.u32;
      return (ptr) => {
        const i = (ptr + off) >>> 2;
        return a[i + 1]! * TWO_POW_32 + a[i]!;
      };
    }
  }
}

function setter(type: FieldType, off: number, v: ArenaViews): (ptr: number, value: number) => void {
  switch (type) {
    case 'u8': {
      const a = v.u8;
      return (ptr, value) => {
        a[ptr + off] = value;
      };
    }
    case 'u16': {
      const a = v.u16;
      return (ptr, value) => {
        a[(ptr + off) >>> 1] = value;
      };
    }
    case 'u32': {
      const a = v.u32;
      return (ptr, value) => {
        a[(ptr + off) >>> 2] = value;
      };
    }
    case 'i32': {
      const a = v.i32;
      return (ptr, value) => {
        a[(ptr + off) >>> 2] = value;
      };
    }
    case 'f32': {
      const a = v.f32;
      return (ptr, value) => {
        a[(ptr + off) >>> 2] = value;
      };
    }
    case 'f64': {
      const a = v.f64;
      return (ptr, value) => {
        a[(ptr + off) >>> 3] = value;
      };
    }
    case 'u64': {
      const a = v.u32;
      return (ptr, value) => {
        const i = (ptr + off) >>> 2;
        a[i] = value >>> 0; // ToUint32 is value mod 2^32: the exact low word for any integer up to 2^53
        a[i + 1] = Math.floor(value / TWO_POW_32);
      };
    }
  }
}

/** Draw the record as a box: a ruler of field start offsets, then one cell per field. */
function describeLayout(fields: readonly FieldInfo[], sizeBytes: number, align: number): string {
  const cells: { label: string; start: number }[] = fields.map((f) => ({ label: ` ${f.name}:${f.type} `, start: f.offsetBytes }));
  const end = fields[fields.length - 1]!.offsetBytes + fields[fields.length - 1]!.sizeBytes;
  if (end < sizeBytes) cells.push({ label: ' pad ', start: end });
  let ruler = '';
  let border = '';
  let body = '';
  for (const c of cells) {
    const width = Math.max(c.label.length, String(c.start).length + 1);
    ruler += String(c.start).padEnd(width + 1);
    border += '+' + '-'.repeat(width);
    body += '|' + c.label.padEnd(width);
  }
  ruler += String(sizeBytes);
  return `${ruler}\n${border}+\n${body}|\n${border}+\nsizeBytes ${sizeBytes}, align ${align}`;
}
