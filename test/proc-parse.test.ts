// The hand parsers of /proc bytes, against tricky inputs and against the kernel's own files, plus the
// CPU-list and option checks where user input enters.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import fc from 'fast-check';
import {
  parsePidList,
  parseSchedstatRuntimeNs,
  parseStat,
  parseVoluntarySwitches,
  STAT_CPU_TICKS,
  STAT_FIELDS,
  STAT_NICE,
  STAT_START_TICKS,
  STAT_STATE,
  STAT_THREADS,
} from '../src/backends/os/procfs.js';
import { ManagedOptionError, parseCpuList, resolveOptions } from '../src/backends/proc/main/options.js';

const bytes = (text: string): Uint8Array => Buffer.from(text, 'latin1');

test('parseStat: fields count from the last parenthesis, whatever the command name holds', () => {
  const line = '4242 (a) b) R (c) S 1 4242 4242 0 -1 4194304 120 0 0 0 1500 250 0 0 20 -5 3 0 987654 1 1\n';
  const out = new Float64Array(STAT_FIELDS);
  assert.ok(parseStat(bytes(line), line.length, out));
  assert.equal(String.fromCharCode(out[STAT_STATE]!), 'S');
  assert.equal(out[STAT_CPU_TICKS], 1750);
  assert.equal(out[STAT_NICE], -5);
  assert.equal(out[STAT_THREADS], 3);
  assert.equal(out[STAT_START_TICKS], 987654);
  assert.equal(parseStat(bytes('truncated (no'), 13, out), false);
  assert.equal(parseStat(bytes('1 (x) R 1 2'), 11, out), false, 'a line cut before the start time');
});

test("parseStat agrees with a plain split of this process's own stat file", () => {
  const text = readFileSync('/proc/self/stat', 'latin1');
  const out = new Float64Array(STAT_FIELDS);
  assert.ok(parseStat(bytes(text), text.length, out));
  const f = text.slice(text.lastIndexOf(')') + 2).split(' ');
  assert.equal(out[STAT_CPU_TICKS], Number(f[11]) + Number(f[12]));
  assert.equal(out[STAT_NICE], Number(f[16]));
  assert.equal(out[STAT_THREADS], Number(f[17]));
  assert.equal(out[STAT_START_TICKS], Number(f[19]));
});

test('parseStat: any command name and any values round-trip (property)', () => {
  const comm = fc.string({ maxLength: 15 }).map((s) => s.replace(/[\n\0]/g, '_'));
  const num = fc.integer({ min: 0, max: 2 ** 40 });
  fc.assert(
    fc.property(
      comm,
      num,
      num,
      fc.integer({ min: -20, max: 19 }),
      fc.integer({ min: 1, max: 5000 }),
      num,
      (c, ut, st, nice, threads, start) => {
        const line = `77 (${c}) R 1 77 77 0 -1 0 0 0 0 0 ${ut} ${st} 0 0 20 ${nice} ${threads} 0 ${start} 1 1\n`;
        const buf = bytes(line);
        const out = new Float64Array(STAT_FIELDS);
        assert.ok(parseStat(buf, buf.length, out));
        assert.equal(out[STAT_CPU_TICKS], ut + st);
        assert.equal(out[STAT_NICE], nice);
        assert.equal(out[STAT_THREADS], threads);
        assert.equal(out[STAT_START_TICKS], start);
      },
    ),
  );
});

test('parseSchedstatRuntimeNs, parseVoluntarySwitches and parsePidList', () => {
  const out = new Float64Array(1);
  assert.ok(parseSchedstatRuntimeNs(bytes('98765432109876 12 3\n'), 20, out, 0));
  assert.equal(out[0], 98765432109876);
  assert.equal(parseSchedstatRuntimeNs(bytes('x'), 1, out, 0), false);
  const status = 'Name:\tsh\nvoluntary_ctxt_switches:\t4321\nnonvoluntary_ctxt_switches:\t7\n';
  assert.equal(parseVoluntarySwitches(bytes(status), status.length), 4321);
  assert.equal(parseVoluntarySwitches(bytes('Name:\tsh\n'), 9), -1);
  const own = readFileSync('/proc/self/status', 'latin1');
  assert.equal(parseVoluntarySwitches(bytes(own), own.length), Number(/^voluntary_ctxt_switches:\s*(\d+)/m.exec(own)![1]));
  const pids = new Int32Array(3);
  assert.equal(parsePidList(bytes('10 20 30 40 '), 12, pids, 0), 3, 'stops at the end of the array');
  assert.deepEqual([...pids], [10, 20, 30]);
  assert.equal(parsePidList(bytes(''), 0, pids, 1), 1);
});

test('options: CPU lists, policies and bounds are checked where they enter', () => {
  assert.deepEqual(parseCpuList('0-2,5,1'), [0, 1, 2, 5]);
  assert.throws(() => parseCpuList('3-1'), ManagedOptionError);
  assert.throws(() => parseCpuList('a'), /--cpus/);
  assert.throws(() => resolveOptions({ cpus: [4096] }), /--cpus: CPU 4096/);
  assert.throws(() => resolveOptions({ policy: 'nosuch' }), /--policy: unknown policy 'nosuch'/);
  assert.throws(() => resolveOptions({ watchdogMs: 5 }), /--watchdog-ms/);
  const r = resolveOptions({ sliceUs: 5000 });
  assert.equal(r.sliceNs, 5_000_000);
  assert.ok(r.heartbeatNs * 4 <= r.watchdogMs * 1e6, 'at least four beats per timeout');
});
