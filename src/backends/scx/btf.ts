// A small reader of BTF, the BPF Type Format (kernel Documentation/bpf/btf.rst): enough to find a struct's
// members (name, bit offset, size), a global variable's place in its data section, and an enumerator's
// value. It reads the .BTF section of an ELF object (our compiled bpf/tsland.bpf.o: the layout test compares
// it with layout.ts, and the loader finds the struct_ops fields and variables to configure through it) or a
// raw BTF blob (/sys/kernel/btf/vmlinux: what the running kernel calls its enumerators).
//
// BTF blob:
//   header (24 bytes): u16 magic 0xeB9F | u8 version | u8 flags | u32 hdr_len | u32 type_off | u32 type_len |
//                      u32 str_off | u32 str_len          (offsets relative to the end of the header)
//   types: one after another, ids from 1: u32 name_off | u32 info (vlen 0-15, kind 24-28, kind_flag 31) |
//          u32 size or type, then a kind-specific tail (see TAIL_BYTES_*)

const BTF_MAGIC = 0xeb9f;
const BTF_HEADER_BYTES = 24;

export const BTF_KIND_INT = 1;
export const BTF_KIND_PTR = 2;
export const BTF_KIND_ARRAY = 3;
export const BTF_KIND_STRUCT = 4;
export const BTF_KIND_UNION = 5;
export const BTF_KIND_ENUM = 6;
export const BTF_KIND_FWD = 7;
export const BTF_KIND_TYPEDEF = 8;
export const BTF_KIND_VOLATILE = 9;
export const BTF_KIND_CONST = 10;
export const BTF_KIND_RESTRICT = 11;
export const BTF_KIND_FUNC = 12;
export const BTF_KIND_FUNC_PROTO = 13;
export const BTF_KIND_VAR = 14;
export const BTF_KIND_DATASEC = 15;
export const BTF_KIND_FLOAT = 16;
export const BTF_KIND_DECL_TAG = 17;
export const BTF_KIND_TYPE_TAG = 18;
export const BTF_KIND_ENUM64 = 19;

export interface BtfType {
  id: number;
  kind: number;
  name: string;
  /** Members, enumerators, parameters or section variables. */
  vlen: number;
  kindFlag: boolean;
  /** size (INT, STRUCT, UNION, ENUM, DATASEC, FLOAT) or referenced type id (PTR, TYPEDEF, VAR, ...). */
  sizeOrType: number;
  /** Byte offset of the kind-specific tail inside the blob. */
  tailAt: number;
}

export interface BtfMember {
  name: string;
  typeId: number;
  bitOffset: number;
  /** Bitfield width, 0 for an ordinary member. */
  bitSize: number;
  /** Byte size of the member's type (array: element size x count). */
  sizeBytes: number;
}

export interface BtfStruct {
  name: string;
  sizeBytes: number;
  members: BtfMember[];
}

export interface BtfVar {
  name: string;
  offsetBytes: number;
  sizeBytes: number;
  typeId: number;
}

export class BtfError extends Error {
  override name = 'BtfError';
}

export class Btf {
  private readonly view: DataView;
  private readonly strBase: number;
  private readonly strEnd: number;
  readonly types: BtfType[] = [];
  private byName: Map<string, BtfType[]> | null = null;

  constructor(blob: Uint8Array) {
    this.view = new DataView(blob.buffer, blob.byteOffset, blob.byteLength);
    const v = this.view;
    if (blob.byteLength < BTF_HEADER_BYTES || v.getUint16(0, true) !== BTF_MAGIC) {
      throw new BtfError('not a little-endian BTF blob (bad magic)');
    }
    const hdrLen = v.getUint32(4, true);
    const typeOff = v.getUint32(8, true);
    const typeLen = v.getUint32(12, true);
    const strOff = v.getUint32(16, true);
    const strLen = v.getUint32(20, true);
    this.strBase = hdrLen + strOff;
    this.strEnd = this.strBase + strLen;
    if (this.strEnd > blob.byteLength || hdrLen + typeOff + typeLen > blob.byteLength) {
      throw new BtfError('BTF header points past the end of the blob');
    }
    this.types.push({ id: 0, kind: 0, name: 'void', vlen: 0, kindFlag: false, sizeOrType: 0, tailAt: 0 });
    let at = hdrLen + typeOff;
    const end = at + typeLen;
    while (at < end) {
      const nameOff = v.getUint32(at, true);
      const info = v.getUint32(at + 4, true);
      const sizeOrType = v.getUint32(at + 8, true);
      const kind = (info >>> 24) & 0x1f;
      const vlen = info & 0xffff;
      const type: BtfType = {
        id: this.types.length,
        kind,
        name: this.str(nameOff),
        vlen,
        kindFlag: (info & 0x80000000) !== 0,
        sizeOrType,
        tailAt: at + 12,
      };
      this.types.push(type);
      at += 12 + tailBytes(kind, vlen);
    }
  }

  str(off: number): string {
    let end = this.strBase + off;
    if (end >= this.strEnd) return '';
    const start = end;
    while (end < this.strEnd && this.view.getUint8(end) !== 0) end++;
    return new TextDecoder().decode(new Uint8Array(this.view.buffer, this.view.byteOffset + start, end - start));
  }

  find(kind: number, name: string): BtfType | null {
    if (!this.byName) {
      this.byName = new Map();
      for (const t of this.types) {
        if (!t.name) continue;
        const list = this.byName.get(t.name);
        if (list) list.push(t);
        else this.byName.set(t.name, [t]);
      }
    }
    for (const t of this.byName.get(name) ?? []) if (t.kind === kind) return t;
    return null;
  }

  /** Follows typedefs, const, volatile, restrict and type tags to the type they qualify. */
  resolve(id: number): BtfType {
    let t = this.types[id];
    for (let hops = 0; t && hops < 64; hops++) {
      if (
        t.kind === BTF_KIND_TYPEDEF ||
        t.kind === BTF_KIND_VOLATILE ||
        t.kind === BTF_KIND_CONST ||
        t.kind === BTF_KIND_RESTRICT ||
        t.kind === BTF_KIND_TYPE_TAG
      ) {
        t = this.types[t.sizeOrType];
      } else {
        return t;
      }
    }
    throw new BtfError(`type ${id} does not resolve`);
  }

  sizeOf(id: number): number {
    const t = this.resolve(id);
    switch (t.kind) {
      case BTF_KIND_INT:
      case BTF_KIND_STRUCT:
      case BTF_KIND_UNION:
      case BTF_KIND_ENUM:
      case BTF_KIND_ENUM64:
      case BTF_KIND_FLOAT:
      case BTF_KIND_DATASEC:
        return t.sizeOrType;
      case BTF_KIND_PTR:
        return 8;
      case BTF_KIND_ARRAY: {
        const elem = this.view.getUint32(t.tailAt, true);
        const count = this.view.getUint32(t.tailAt + 8, true);
        return this.sizeOf(elem) * count;
      }
      default:
        throw new BtfError(`type ${t.id} (${t.name || 'anonymous'}, kind ${t.kind}) has no size`);
    }
  }

  /** A struct (or union) by name, with every member; null when the blob has none of that name. */
  struct(name: string): BtfStruct | null {
    const t = this.find(BTF_KIND_STRUCT, name) ?? this.find(BTF_KIND_UNION, name);
    if (!t) return null;
    const members: BtfMember[] = [];
    for (let i = 0; i < t.vlen; i++) {
      const at = t.tailAt + i * 12;
      const typeId = this.view.getUint32(at + 4, true);
      const raw = this.view.getUint32(at + 8, true);
      members.push({
        name: this.str(this.view.getUint32(at, true)),
        typeId,
        bitOffset: t.kindFlag ? raw & 0xffffff : raw,
        bitSize: t.kindFlag ? raw >>> 24 : 0,
        sizeBytes: this.sizeOf(typeId),
      });
    }
    return { name, sizeBytes: t.sizeOrType, members };
  }

  /** Byte offset of a struct member, or throws naming what is missing. */
  memberOffset(structName: string, member: string): number {
    const s = this.struct(structName);
    if (!s) throw new BtfError(`no struct ${structName} in BTF`);
    const m = s.members.find((x) => x.name === member);
    if (!m) throw new BtfError(`struct ${structName} has no member ${member}`);
    if (m.bitOffset % 8 !== 0) throw new BtfError(`${structName}.${member} is not byte aligned`);
    return m.bitOffset / 8;
  }

  /** The variables of a data section (".bss", ".data", ".rodata", ...). */
  datasec(name: string): BtfVar[] {
    const t = this.find(BTF_KIND_DATASEC, name);
    if (!t) return [];
    const vars: BtfVar[] = [];
    for (let i = 0; i < t.vlen; i++) {
      const at = t.tailAt + i * 12;
      const varType = this.types[this.view.getUint32(at, true)]!;
      vars.push({
        name: varType.name,
        offsetBytes: this.view.getUint32(at + 4, true),
        sizeBytes: this.view.getUint32(at + 8, true),
        typeId: varType.sizeOrType,
      });
    }
    return vars;
  }

  /** Value of an enumerator (searched in every enum and enum64), or null. Values above 2^53 lose bits. */
  enumValue(name: string): number | null {
    for (const t of this.types) {
      if (t.kind !== BTF_KIND_ENUM && t.kind !== BTF_KIND_ENUM64) continue;
      const step = t.kind === BTF_KIND_ENUM ? 8 : 12;
      for (let i = 0; i < t.vlen; i++) {
        const at = t.tailAt + i * step;
        if (this.str(this.view.getUint32(at, true)) !== name) continue;
        if (t.kind === BTF_KIND_ENUM) {
          return t.kindFlag ? this.view.getInt32(at + 4, true) : this.view.getUint32(at + 4, true);
        }
        return this.view.getUint32(at + 8, true) * 2 ** 32 + this.view.getUint32(at + 4, true);
      }
    }
    return null;
  }
}

function tailBytes(kind: number, vlen: number): number {
  switch (kind) {
    case BTF_KIND_INT:
    case BTF_KIND_VAR:
    case BTF_KIND_DECL_TAG:
      return 4;
    case BTF_KIND_ARRAY:
      return 12;
    case BTF_KIND_STRUCT:
    case BTF_KIND_UNION:
    case BTF_KIND_DATASEC:
    case BTF_KIND_ENUM64:
      return vlen * 12;
    case BTF_KIND_ENUM:
    case BTF_KIND_FUNC_PROTO:
      return vlen * 8;
    case BTF_KIND_PTR:
    case BTF_KIND_FWD:
    case BTF_KIND_TYPEDEF:
    case BTF_KIND_VOLATILE:
    case BTF_KIND_CONST:
    case BTF_KIND_RESTRICT:
    case BTF_KIND_FUNC:
    case BTF_KIND_FLOAT:
    case BTF_KIND_TYPE_TAG:
      return 0;
    default:
      throw new BtfError(`unknown BTF kind ${kind}`);
  }
}

/** The bytes of a named section of a little-endian ELF64 file, or null when it has none. */
export function elfSection(file: Uint8Array, name: string): Uint8Array | null {
  const v = new DataView(file.buffer, file.byteOffset, file.byteLength);
  if (file.byteLength < 64 || v.getUint32(0, false) !== 0x7f454c46 || file[4] !== 2 || file[5] !== 1) {
    throw new BtfError('not a little-endian ELF64 file');
  }
  const shoff = Number(v.getBigUint64(0x28, true));
  const shentsize = v.getUint16(0x3a, true);
  const shnum = v.getUint16(0x3c, true);
  const shstrndx = v.getUint16(0x3e, true);
  const sect = (i: number) => {
    const at = shoff + i * shentsize;
    return {
      nameOff: v.getUint32(at, true),
      offset: Number(v.getBigUint64(at + 0x18, true)),
      size: Number(v.getBigUint64(at + 0x20, true)),
    };
  };
  const strtab = sect(shstrndx);
  const want = new TextEncoder().encode(name);
  for (let i = 0; i < shnum; i++) {
    const s = sect(i);
    const at = strtab.offset + s.nameOff;
    let same = file[at + want.length] === 0;
    for (let j = 0; same && j < want.length; j++) same = file[at + j] === want[j];
    if (same) return file.subarray(s.offset, s.offset + s.size);
  }
  return null;
}

/** The BTF of an ELF object (its .BTF section). */
export function btfOfElf(file: Uint8Array): Btf {
  const section = elfSection(file, '.BTF');
  if (!section) throw new BtfError('the object has no .BTF section');
  return new Btf(section);
}

export interface ElfSymbol {
  name: string;
  /** Offset inside its section (for a global variable: its place in .bss, .data or .rodata). */
  valueBytes: number;
  sizeBytes: number;
  section: string;
}

/**
 * A symbol of an ELF64 object's symbol table. Clang leaves the offsets of a BTF DATASEC at 0 in an object
 * file (libbpf fills them from these symbols when it opens it), so variables are placed by their symbol.
 */
export function elfSymbol(file: Uint8Array, name: string): ElfSymbol | null {
  const v = new DataView(file.buffer, file.byteOffset, file.byteLength);
  const shoff = Number(v.getBigUint64(0x28, true));
  const shentsize = v.getUint16(0x3a, true);
  const shnum = v.getUint16(0x3c, true);
  const shstrndx = v.getUint16(0x3e, true);
  const sect = (i: number) => {
    const at = shoff + i * shentsize;
    return {
      nameOff: v.getUint32(at, true),
      type: v.getUint32(at + 4, true),
      offset: Number(v.getBigUint64(at + 0x18, true)),
      size: Number(v.getBigUint64(at + 0x20, true)),
      link: v.getUint32(at + 0x28, true),
    };
  };
  const cstr = (at: number) => {
    let end = at;
    while (end < file.length && file[end] !== 0) end++;
    return new TextDecoder().decode(file.subarray(at, end));
  };
  const shstr = sect(shstrndx);
  for (let i = 0; i < shnum; i++) {
    const s = sect(i);
    if (s.type !== 2) continue; // SHT_SYMTAB
    const strtab = sect(s.link);
    for (let at = s.offset; at + 24 <= s.offset + s.size; at += 24) {
      if (cstr(strtab.offset + v.getUint32(at, true)) !== name) continue;
      const shndx = v.getUint16(at + 6, true);
      return {
        name,
        valueBytes: Number(v.getBigUint64(at + 8, true)),
        sizeBytes: Number(v.getBigUint64(at + 16, true)),
        section: shndx > 0 && shndx < shnum ? cstr(shstr.offset + sect(shndx).nameOff) : '',
      };
    }
  }
  return null;
}
