// The drawings at the top of src/arena/tlsf.ts type their numbers by hand (offsets 64, 68, 168, 3368, the
// 8-byte grain, the 256-byte status span, the block's field offsets). This test derives each number from the
// constants the code uses and fails when the drawing and the code disagree, so the drawing cannot go stale.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { HEADER_END } from '../src/arena/header.js';
import { TLSF_LAYOUT as L, TLSF_METADATA_BYTES } from '../src/arena/tlsf.js';

const SOURCE = new URL('../../src/arena/tlsf.ts', import.meta.url);

/** The file's leading block comment, one string per line, without the leading ` * `. */
function headerComment(): string[] {
  const text = readFileSync(SOURCE, 'utf8');
  const end = text.indexOf('*/');
  assert.ok(text.startsWith('/**') && end > 0, 'tlsf.ts starts with its block comment');
  return text
    .slice(0, end)
    .split('\n')
    .map((line) => line.replace(/^ ?\* ?/, ''));
}

/** Each number (or h-relative offset) of a ruler line with the column it starts at. */
function rulerMarks(line: string, pattern: RegExp): { text: string; column: number }[] {
  return [...line.matchAll(pattern)].map((m) => ({ text: m[0], column: m.index }));
}

/** The ruler line that starts with `first`, and the box border right under it. */
function ruler(lines: string[], first: RegExp): [string, string] {
  const at = lines.findIndex((line) => first.test(line));
  assert.ok(at >= 0, `no ruler line matching ${first}`);
  return [lines[at]!, lines[at + 1] ?? ''];
}

test('tlsf layout drawing: the buffer ruler shows the metadata offsets the code computes', () => {
  const [line, border] = ruler(headerComment(), /^\s+0\s+\d/);
  const marks = rulerMarks(line, /\d+/g);
  assert.deepEqual(
    marks.map((m) => Number(m.text)),
    [0, L.flMapStart, L.slMapStart, L.headsStart, L.statusMapStart],
    'ruler: header, flMap, slMap, heads, status map',
  );
  // The code's own relations, so the numbers above mean what the drawing says.
  assert.equal(L.flMapStart, HEADER_END);
  assert.equal(L.statusMapStart, TLSF_METADATA_BYTES);
  for (const m of marks) assert.equal(border[m.column], '+', `ruler mark ${m.text} stands over a box edge`);
});

test('tlsf layout drawing: the block ruler shows the field offsets the code uses', () => {
  const [line, border] = ruler(headerComment(), /^\s+h\s+h\+\d/);
  const marks = rulerMarks(line, /h(\+size)?(-\d+|\+\d+)?/g);
  const h = L.headerBytes;
  assert.deepEqual(
    marks.map((m) => m.text),
    [
      'h',
      `h+${h}`,
      `h+${h + L.nextFreeBytes}`,
      `h+${h + L.nextFreeBytes + L.prevFreeBytes}`,
      `h+size-${L.backRefBytes}`,
      'h+size',
    ],
    'ruler: header, next, prev, payload, back reference, end',
  );
  assert.equal(L.minBlockBytes, h + L.nextFreeBytes + L.prevFreeBytes + L.backRefBytes);
  for (const m of marks) assert.equal(border[m.column], '+', `ruler mark ${m.text} stands over a box edge`);
});

test('tlsf layout drawing: the sizes in the prose are the constants', () => {
  const text = headerComment().join('\n');
  const span = L.statusSpanBytes;
  const statusBitsPerWord = (span / L.grainBytes) | 0;
  assert.equal(statusBitsPerWord, 32, 'one u32 word of status bits covers one span');
  const phrases = [
    `2 bits / ${L.grainBytes} B`,
    `for every ${L.grainBytes}-byte position`,
    `For each ${span}-byte span`,
    `[${span}k, ${span}k + ${span}), 1 bit per ${L.grainBytes} B`,
    `status word ${L.statusWordsPerSpan}k `,
    `status word ${L.statusWordsPerSpan}k+1`,
    `h % ${L.grainBytes} == ${L.headerBytes}, so the payload h + ${L.headerBytes} is ${L.grainBytes}-byte aligned`,
    `payload: size - ${L.headerBytes} bytes`,
    `a multiple of ${L.grainBytes}; the low ${L.flagBits} bits carry flags`,
    `in its last ${L.backRefBytes} bytes`,
  ];
  // Comments in the code below the drawing.
  const source = readFileSync(SOURCE, 'utf8');
  const codePhrases = [
    `First header at ${L.headerBytes} mod ${L.grainBytes}, so its payload is ${L.grainBytes}-byte aligned`,
    `The sentinel header (${L.headerBytes} bytes) must end inside the buffer and sit at ${L.headerBytes} mod ${L.grainBytes}`,
  ];
  const missing = [...phrases.filter((p) => !text.includes(p)), ...codePhrases.filter((p) => !source.includes(p))];
  assert.deepEqual(missing, [], 'phrases of the drawing that no longer match the constants');
});
