// The C and TypeScript halves agree byte for byte, without clang: the compiled bpf/tsland.bpf.o carries its
// types in BTF, which src/backends/scx/btf.ts reads; every record of layout.ts must match its C struct
// member by member, and every constant must match its #define in bpf/intf.h.

import { test } from 'node:test';
import { CPU_SHARED } from '../src/sched/records.js';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { btfOfElf, elfSection, elfSymbol } from '../src/backends/scx/btf.js';
import { BPF_DIR, OBJECT_PATH } from '../src/backends/scx/build-bpf.js';
import * as L from '../src/backends/scx/layout.js';

const object = readFileSync(OBJECT_PATH);
const btf = btfOfElf(object);

test('every shared record of layout.ts is its C struct, member by member (from the object BTF)', () => {
  for (const [structName, layout] of Object.entries(L.RECORD_LAYOUTS)) {
    const s = btf.struct(structName);
    assert.ok(s, `struct ${structName} is in the object's BTF`);
    assert.equal(s.sizeBytes, layout.bytes, `sizeof(struct ${structName})`);
    const c = s.members.map((m) => [m.name, m.bitOffset / 8, m.sizeBytes]);
    assert.deepEqual(
      c,
      layout.fields.map((f) => [...f]),
      `members of struct ${structName}`,
    );
    for (const m of s.members) assert.equal(m.bitSize, 0, `${structName}.${m.name} is not a bitfield`);
  }
});

/** #define NAME value of intf.h, evaluated (numbers, (1u << n), ull/u suffixes, (-1)). */
function intfDefines(): Map<string, number> {
  const text = readFileSync(join(BPF_DIR, 'intf.h'), 'utf8');
  const out = new Map<string, number>();
  for (const m of text.matchAll(/^#define (TSLAND_\w+) (.+)$/gm)) {
    const expr = m[2]!
      .replace(/\/\*.*\*\//, '')
      .trim()
      .replace(/(\d+)(ull|u)\b/g, '$1');
    if (!/^[\d\s()<\-+]+$/.test(expr)) continue;
    out.set(m[1]!, Function(`return (${expr});`)() as number);
  }
  return out;
}

test('every constant of layout.ts is the #define of bpf/intf.h', () => {
  const d = intfDefines();
  const pairs: Array<[string, number]> = [
    ['TSLAND_QUEUED_BYTES', L.QUEUED_BYTES],
    ['TSLAND_DISPATCH_BYTES', L.DISPATCH_BYTES],
    ['TSLAND_COUNTERS_BYTES', L.COUNTERS_BYTES],
    ['TSLAND_EXIT_INFO_BYTES', L.EXIT_INFO_BYTES],
    ['TSLAND_EXIT_REASON_BYTES', L.EXIT_REASON_BYTES],
    ['TSLAND_EXIT_MSG_BYTES', L.EXIT_MSG_BYTES],
    ['TSLAND_CONFIG_BYTES', L.CONFIG_BYTES],
    ['TSLAND_EV_RUNNABLE', L.EV_RUNNABLE],
    ['TSLAND_EV_STOPPED', L.EV_STOPPED],
    ['TSLAND_EV_EXITED', L.EV_EXITED],
    ['TSLAND_EV_CPU_IDLE', L.EV_CPU_IDLE],
    ['TSLAND_QF_RUNNABLE', L.QF_RUNNABLE],
    ['TSLAND_QF_NEW', L.QF_NEW],
    ['TSLAND_QF_PREEMPTED', L.QF_PREEMPTED],
    ['TSLAND_CPU_ANY', L.CPU_ANY],
    ['TSLAND_DF_PREEMPT', L.DF_PREEMPT],
    ['TSLAND_DF_HEAD', L.DF_HEAD],
    ['TSLAND_CFG_SELF_PREEMPT', L.CFG_F_SELF_PREEMPT],
    ['TSLAND_QUEUED_RING_BYTES', L.QUEUED_RING_BYTES],
    ['TSLAND_DISPATCH_RING_BYTES', L.DISPATCH_RING_BYTES],
  ];
  for (const [name, ts] of pairs) assert.equal(d.get(name), ts, name);
  // The core's shared-queue CPU (queueAhead) crosses the bridge unchanged: it must be the kernel half's.
  assert.equal(d.get('TSLAND_CPU_ANY'), CPU_SHARED, 'CPU_SHARED');
});

test('the loader finds its variables, maps and struct_ops fields in the object', () => {
  const want: Array<[string, string, number]> = [
    [L.VAR_COUNTERS, '.bss', L.COUNTERS_BYTES],
    [L.VAR_EXIT_INFO, '.bss', L.EXIT_INFO_BYTES],
    [L.VAR_CONFIG, '.rodata', L.CONFIG_BYTES],
  ];
  for (const [name, section, size] of want) {
    const sym = elfSymbol(object, name);
    assert.ok(sym, `symbol ${name}`);
    assert.equal(sym.section, section, `${name} section`);
    assert.equal(sym.sizeBytes, size, `${name} size`);
    assert.equal(sym.valueBytes % 8, 0, `${name} is 8-byte aligned (u64 halves are read in place)`);
  }
  for (const map of [L.MAP_QUEUED, L.MAP_DISPATCHED, L.MAP_OPS]) assert.ok(elfSymbol(object, map), `map ${map}`);
  const ops = elfSection(object, '.struct_ops.link');
  assert.ok(ops, 'a .struct_ops.link section');
  const nameAt = btf.memberOffset('sched_ext_ops', 'name');
  const name = new TextDecoder().decode(ops.subarray(nameAt, ops.indexOf(0, nameAt)));
  assert.equal(name, L.OPS_NAME);
  const timeoutAt = btf.memberOffset('sched_ext_ops', 'timeout_ms');
  assert.equal(new DataView(ops.buffer, ops.byteOffset).getUint32(timeoutAt, true), 5000, 'default timeout_ms');
  assert.ok(btf.memberOffset('sched_ext_ops', 'flags') >= 0);
});
