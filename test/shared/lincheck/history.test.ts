// The cellkv history file format: writer, reader, validation.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  HISTORY_FORMAT,
  type HistoryHeader,
  HistoryParseError,
  type HistoryRecord,
  checkCellkvHistory,
  detectFormat,
  formatHistory,
  parseHistory,
} from '../../../shared/lincheck/index.js';

const records: HistoryRecord[] = [
  { client: 1, key: 'k', op: 'put', value: 'v1', invoke: 0, complete: 2, outcome: 'ok', output: { version: '18446744073709551615' } },
  { client: 2, key: 'k', op: 'get', invoke: 1, complete: 3, outcome: 'ok', output: { found: false } },
  { client: 3, key: 'k', op: 'cas', ifVersion: '7', value: 'v2', invoke: 4, complete: null, outcome: 'unknown' },
  { client: 1, key: 'k', op: 'delete', invoke: 5, complete: 6, outcome: 'fail' },
  { client: 2, key: 'k', op: 'cas', ifVersion: '0', value: 'v3', invoke: 7, complete: 8, outcome: 'ok', output: { swapped: false, currentVersion: '18446744073709551615' } },
];

test('format and parse round-trip, with and without a header', () => {
  const header: HistoryHeader = { format: HISTORY_FORMAT, seed: 42, command: 'npm run sim -- --seed 42', extra: { a: 1 } };
  const text = formatHistory(header, records);
  assert.equal(text.split('\n').length, records.length + 2); // header + records + trailing newline
  assert.deepEqual(parseHistory(text), { header, records });
  assert.deepEqual(parseHistory(formatHistory(null, records)), { header: null, records });
  assert.deepEqual(parseHistory(''), { header: null, records: [] });
  assert.equal(detectFormat(text), 'cellkv');
  assert.equal(checkCellkvHistory(parseHistory(text).records).result, 'linearizable');
});

test('parse errors name the line', () => {
  const line = (o: object): string => JSON.stringify(o);
  const ok = line(records[0]!);
  const cases: [string, RegExp][] = [
    [`${ok}\n{oops`, /^line 2: invalid JSON/],
    [`${ok}\n\n${line({ ...records[0], op: 'scan' })}`, /^line 3: "op" must be/],
    [line({ ...records[0], output: undefined }), /^line 1: output of put must be an object/],
    [line({ ...records[0], output: { version: '-1' } }), /^line 1: output of put must be \{version\}/],
    [line({ ...records[0], output: { version: '18446744073709551616' } }), /^line 1: output of put/],
    [line({ ...records[0], output: { version: 7 } }), /^line 1: output of put/],
    [line({ ...records[0], complete: null }), /^line 1: an "ok" record needs "complete"/],
    [line({ ...records[0], complete: -1 }), /^line 1: "complete" is before "invoke"/],
    [line({ ...records[2], ifVersion: undefined }), /^line 1: cas needs "ifVersion"/],
    [line({ ...records[2], value: undefined }), /^line 1: cas needs a string "value"/],
    [line({ format: 'cellkv-history/2' }), /^line 1: unsupported format/],
    [line({ format: HISTORY_FORMAT, seed: 'x' }), /^line 1: "seed" must be a number/],
    [`${ok}\n${line({ format: HISTORY_FORMAT })}`, /^line 2: "client" must be an integer/],
  ];
  for (const [text, re] of cases) {
    assert.throws(() => parseHistory(text), (e: unknown) => e instanceof HistoryParseError && re.test(e.message), text);
  }
});
