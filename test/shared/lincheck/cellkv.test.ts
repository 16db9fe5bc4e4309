// The cellkv model: version rules, unknown writes, cas, delete-and-recreate.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { type CheckResult, type HistoryRecord, checkCellkvHistory, formatDetails } from '../../../shared/lincheck/index.js';

// Builders. A span is [invoke, complete]; a write without a result has an unknown outcome.
type Span = readonly [number, number];
let nextClient = 0;
function rec(span: Span, fields: Omit<HistoryRecord, 'client' | 'invoke' | 'complete' | 'outcome'>, unknown = false): HistoryRecord {
  return {
    client: nextClient++,
    invoke: span[0],
    complete: unknown ? null : span[1],
    outcome: unknown ? 'unknown' : 'ok',
    ...fields,
  };
}
const put = (span: Span, value: string, version?: number, key = 'k'): HistoryRecord =>
  rec(span, { key, op: 'put', value, ...(version === undefined ? {} : { output: { version: String(version) } }) }, version === undefined);
const get = (span: Span, found: readonly [string, number] | null, key = 'k'): HistoryRecord =>
  rec(span, {
    key,
    op: 'get',
    output: found === null ? { found: false } : { found: true, value: found[0], version: String(found[1]) },
  });
const del = (span: Span, existed?: boolean, key = 'k'): HistoryRecord =>
  rec(span, { key, op: 'delete', ...(existed === undefined ? {} : { output: { existed } }) }, existed === undefined);
/** `result`: a number = swapped to that version; `{current}` = refused; undefined = unknown. */
const cas = (span: Span, ifVersion: number, value: string, result?: number | { current: number | null }): HistoryRecord =>
  rec(
    span,
    {
      key: 'k',
      op: 'cas',
      ifVersion: String(ifVersion),
      value,
      ...(result === undefined
        ? {}
        : typeof result === 'number'
          ? { output: { swapped: true, version: String(result) } }
          : { output: { swapped: false, currentVersion: result.current === null ? null : String(result.current) } }),
    },
    result === undefined,
  );

function verdict(records: HistoryRecord[]): CheckResult['result'] {
  return checkCellkvHistory(records).result;
}

test('versions strictly increase per key', () => {
  assert.equal(verdict([put([0, 1], 'a', 5), get([2, 3], ['a', 5]), put([4, 5], 'b', 9), get([6, 7], ['b', 9])]), 'linearizable');
  // A put returning a lower or equal version than one already observed.
  assert.equal(verdict([put([0, 1], 'a', 5), put([2, 3], 'b', 3)]), 'not-linearizable');
  assert.equal(verdict([put([0, 1], 'a', 5), put([2, 3], 'b', 5)]), 'not-linearizable');
  // Concurrent puts: the version order decides the linearization order.
  const both = [put([0, 10], 'a', 5), put([0, 10], 'b', 6)];
  assert.equal(verdict([...both, get([11, 12], ['b', 6])]), 'linearizable');
  assert.equal(verdict([...both, get([11, 12], ['a', 5])]), 'not-linearizable');
  // Version 0 is a legal first version.
  assert.equal(verdict([put([0, 1], 'a', 0), get([2, 3], ['a', 0])]), 'linearizable');
  // Keys are independent.
  assert.equal(verdict([put([0, 1], 'a', 5, 'x'), put([2, 3], 'b', 1, 'y')]), 'linearizable');
});

test('a read must return the current value and version', () => {
  assert.equal(verdict([get([0, 1], null), put([2, 3], 'a', 5), get([4, 5], ['a', 5])]), 'linearizable');
  assert.equal(verdict([put([0, 1], 'a', 5), get([2, 3], ['a', 6])]), 'not-linearizable');
  assert.equal(verdict([put([0, 1], 'a', 5), get([2, 3], ['x', 5])]), 'not-linearizable');
  assert.equal(verdict([put([0, 1], 'a', 5), get([2, 3], null)]), 'not-linearizable');
  // Stale read after a newer write completed.
  assert.equal(verdict([put([0, 1], 'a', 5), put([2, 3], 'b', 7), get([4, 5], ['a', 5])]), 'not-linearizable');
  // ...but fine while the newer write is still in flight, until someone has seen it.
  const inflight = [put([0, 1], 'a', 5), put([2, 10], 'b', 7)];
  assert.equal(verdict([...inflight, get([3, 4], ['a', 5])]), 'linearizable');
  assert.equal(verdict([...inflight, get([3, 4], ['b', 7]), get([5, 6], ['a', 5])]), 'not-linearizable');
});

test('cas checks the version it swaps against', () => {
  const base = put([0, 1], 'a', 5);
  assert.equal(verdict([base, cas([2, 3], 5, 'b', 6), get([4, 5], ['b', 6])]), 'linearizable');
  assert.equal(verdict([base, cas([2, 3], 4, 'b', 6)]), 'not-linearizable'); // swapped against a wrong version
  assert.equal(verdict([base, cas([2, 3], 5, 'b', 5)]), 'not-linearizable'); // new version not above the old
  assert.equal(verdict([base, cas([2, 3], 4, 'b', { current: 5 })]), 'linearizable');
  assert.equal(verdict([base, cas([2, 3], 5, 'b', { current: 5 })]), 'not-linearizable'); // should have swapped
  assert.equal(verdict([base, cas([2, 3], 4, 'b', { current: 7 })]), 'not-linearizable'); // wrong current version
  assert.equal(verdict([base, cas([2, 3], 4, 'b', { current: null })]), 'not-linearizable'); // key exists
  assert.equal(verdict([cas([0, 1], 4, 'b', { current: null })]), 'linearizable');
  assert.equal(verdict([cas([0, 1], 4, 'b', 5)]), 'not-linearizable'); // absent key cannot match
  // Two concurrent cas on the same version: only one may win.
  const race = [base, cas([2, 6], 5, 'b', 6), cas([2, 6], 5, 'c', 7)];
  assert.equal(verdict(race), 'not-linearizable');
  assert.equal(verdict([base, cas([2, 6], 5, 'b', 6), cas([2, 6], 5, 'c', { current: 6 })]), 'linearizable');
});

test('delete, and recreate with a higher version', () => {
  const base = [put([0, 1], 'a', 5), del([2, 3], true)];
  assert.equal(verdict([...base, get([4, 5], null), put([6, 7], 'b', 6), get([8, 9], ['b', 6])]), 'linearizable');
  assert.equal(verdict([...base, put([6, 7], 'b', 5)]), 'not-linearizable'); // version reused
  assert.equal(verdict([...base, put([6, 7], 'b', 2)]), 'not-linearizable');
  assert.equal(verdict([...base, get([4, 5], ['a', 5])]), 'not-linearizable');
  assert.equal(verdict([...base, del([4, 5], true)]), 'not-linearizable');
  assert.equal(verdict([...base, del([4, 5], false)]), 'linearizable');
  assert.equal(verdict([del([0, 1], true)]), 'not-linearizable');
});

test('an unknown write revealed later by a read', () => {
  const base = [put([0, 1], 'a', 5), put([2, 3], 'b')];
  assert.equal(verdict([...base, get([10, 11], ['b', 9])]), 'linearizable');
  assert.equal(verdict([...base, get([10, 11], ['b', 6])]), 'linearizable');
  assert.equal(verdict([...base, get([10, 11], ['b', 5])]), 'not-linearizable'); // needs a fresh version
  assert.equal(verdict([...base, get([10, 11], ['b', 4])]), 'not-linearizable');
  // Once revealed, the version is fixed and bounds later writes.
  assert.equal(verdict([...base, get([10, 11], ['b', 9]), put([12, 13], 'c', 7)]), 'not-linearizable');
  assert.equal(verdict([...base, get([10, 11], ['b', 9]), put([12, 13], 'c', 10)]), 'linearizable');
  assert.equal(verdict([...base, get([10, 11], ['b', 9]), get([12, 13], ['b', 8])]), 'not-linearizable');
  // It may take effect long after its timeout, but not before its invocation.
  assert.equal(verdict([...base, get([10, 11], ['a', 5]), get([12, 13], ['b', 9])]), 'linearizable');
  assert.equal(verdict([put([0, 1], 'a', 5), get([2, 3], ['b', 9]), put([4, 5], 'b')]), 'not-linearizable');
  // Revealed by a refused cas's current version, and by a cas that matched it.
  assert.equal(verdict([...base, cas([10, 11], 5, 'c', { current: 8 }), get([12, 13], ['b', 8])]), 'linearizable');
  assert.equal(verdict([...base, cas([10, 11], 5, 'c', { current: 8 }), get([12, 13], ['b', 9])]), 'not-linearizable');
  assert.equal(verdict([...base, cas([10, 11], 8, 'c', 12), get([12, 13], ['c', 12])]), 'linearizable');
});

test('an unknown write never revealed', () => {
  const base = [put([0, 1], 'a', 5), put([2, 3], 'b')];
  assert.equal(verdict(base), 'linearizable');
  assert.equal(verdict([...base, get([10, 11], ['a', 5])]), 'linearizable');
  // It may never have happened, so a later put may take the very next version...
  assert.equal(verdict([...base, put([10, 11], 'c', 6), get([12, 13], ['c', 6])]), 'linearizable');
  // ...or it happened after that put, with a higher version.
  assert.equal(verdict([...base, put([10, 11], 'c', 6), get([12, 13], ['b', 7])]), 'linearizable');
  assert.equal(verdict([...base, put([10, 11], 'c', 6), get([12, 13], ['b', 6])]), 'not-linearizable');
  // Forced to have happened (the key exists again after a delete), its unseen version still
  // takes a slot: the next put needs a version above it.
  const forced = [put([0, 1], 'a', 5), del([2, 3], true), put([4, 5], 'b'), del([6, 7], true)];
  assert.equal(verdict([...forced, put([8, 9], 'c', 7)]), 'linearizable');
  assert.equal(verdict([...forced, put([8, 9], 'c', 6)]), 'not-linearizable');
});

test('unknown cas and unknown delete', () => {
  const base = put([0, 1], 'a', 5);
  assert.equal(verdict([base, cas([2, 3], 5, 'b'), get([4, 5], ['b', 6])]), 'linearizable');
  assert.equal(verdict([base, cas([2, 3], 5, 'b'), get([4, 5], ['a', 5])]), 'linearizable');
  assert.equal(verdict([base, cas([2, 3], 5, 'b'), get([4, 5], ['b', 5])]), 'not-linearizable');
  assert.equal(verdict([base, cas([2, 3], 4, 'b'), get([4, 5], ['b', 6])]), 'not-linearizable'); // could not match
  assert.equal(verdict([base, del([2, 3]), get([4, 5], null), get([6, 7], null)]), 'linearizable');
  assert.equal(verdict([base, del([2, 3]), get([4, 5], null), get([6, 7], ['a', 5])]), 'not-linearizable');
});

test('fail outcomes are dropped and unknown reads ignored', () => {
  const failed: HistoryRecord = { client: 9, key: 'k', op: 'put', value: 'z', invoke: 2, complete: 3, outcome: 'fail' };
  const lostRead: HistoryRecord = { client: 8, key: 'k', op: 'get', invoke: 2, complete: null, outcome: 'unknown' };
  assert.equal(verdict([put([0, 1], 'a', 5), failed, lostRead, get([4, 5], ['a', 5])]), 'linearizable');
  assert.equal(verdict([put([0, 1], 'a', 5), failed, get([4, 5], ['z', 6])]), 'not-linearizable');
});

test('many timed-out writes stay cheap to check', () => {
  // 40 concurrent unknown puts: the checker must not try their 2^40 subsets.
  const ghosts = Array.from({ length: 40 }, (_, i) => put([i, i + 1], `g${i}`));
  const ok = [put([0, 1], 'a', 5), ...ghosts, get([100, 101], ['g17', 30]), get([102, 103], ['g3', 31])];
  assert.equal(checkCellkvHistory(ok, { timeoutMs: 2000 }).result, 'linearizable');
  const bad = [put([0, 1], 'a', 5), ...ghosts, get([100, 101], ['g17', 30]), get([102, 103], ['g3', 29])];
  assert.equal(checkCellkvHistory(bad, { timeoutMs: 2000 }).result, 'not-linearizable');
});

test('a violation names the key and ends at the culprit', () => {
  const res = checkCellkvHistory([
    put([0, 1], 'x1', 1, 'x'),
    put([0, 1], 'a', 5),
    put([2, 3], 'b', 7),
    get([4, 5], ['a', 5]),
    get([6, 7], ['b', 7]),
  ]);
  assert.equal(res.result, 'not-linearizable');
  if (res.result !== 'not-linearizable') return;
  assert.equal(res.key, 'k');
  assert.equal(res.prefix.length, 3);
  assert.deepEqual(res.prefix.map((e) => e.culprit), [false, false, true]);
  assert.equal(res.prefix[2]!.description, 'get "k" -> "a" v5');
  assert.match(formatDetails(res)[0]!, /^key "k": shortest illegal prefix, 3 ops/);
});

test('malformed records are rejected with their index', () => {
  const bad = { client: 1, key: 'k', op: 'put', invoke: 0, complete: 1, outcome: 'ok', output: { version: '1' } } as HistoryRecord;
  assert.throws(() => checkCellkvHistory([bad]), /history record 0: put needs a string "value"/);
});
