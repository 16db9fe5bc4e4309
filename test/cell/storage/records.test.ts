// The record formats of the node's LevelDB (cell/storage/records.ts): prefix bytes are unique,
// every key builder round-trips through its parser, keys stay inside their kind's range, the
// ranges of different kinds (and of different cells) never overlap, and the bytes on disk are
// the ones existing data directories hold.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import type { ConfState } from '../../../cell/raft/types.js';
import {
  RecordPrefix,
  SYNC_MARKER_KEY,
  USAGE_MARKER_VALUE,
  appliedKey,
  cellIdOfPointKey,
  dataKey,
  dataKeyToNs,
  dataRange,
  decodeAppliedState,
  decodeDedupeRecord,
  decodeHardStateRecord,
  decodeReplicaRecord,
  decodeSnapshotMetaRecord,
  decodeUsage,
  dedupeAgeKey,
  dedupeAgeRange,
  dedupeKey,
  dedupeRange,
  encodeAppliedState,
  encodeDedupeRecord,
  encodeHardStateRecord,
  encodeReplicaRecord,
  encodeSnapshotMetaRecord,
  encodeUsage,
  expiryKey,
  expiryKeyToNs,
  expiryRangeUntil,
  hardStateKey,
  isDataKey,
  metaDocKey,
  metaDocName,
  metaDocRange,
  parseDedupeAgeKey,
  raftLogKey,
  raftLogKeyIndex,
  raftLogPrefix,
  raftLogRange,
  recordKindRange,
  replicaKey,
  snapshotMetaKey,
  splitCellScopedKey,
  usageKey,
  usageKeyTenant,
  usageMarkerKey,
  usageRange,
  type KeyRange,
  type RecordKind,
} from '../../../cell/storage/records.js';
import { compareBytes } from '../../../shared/keys.js';

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const enc = (s: string) => new TextEncoder().encode(s);
const within = (k: Uint8Array, r: KeyRange) => compareBytes(k, r.gte) >= 0 && compareBytes(k, r.lt) < 0;
const disjoint = (a: KeyRange, b: KeyRange) => compareBytes(a.lt, b.gte) <= 0 || compareBytes(b.lt, a.gte) <= 0;
const CONF: ConfState = { voters: ['n1', 'n2'], learners: ['n3'], votersOutgoing: [], learnersNext: [], autoLeave: false };

const cellIds = fc.stringMatching(/^[a-z0-9-]{1,40}$/);
const ids = fc.stringMatching(/^[A-Za-z0-9._:-]{1,128}$/);
const times = fc.integer({ min: 0, max: 2 ** 48 });
const nsKeys = fc.tuple(fc.stringMatching(/^[a-z0-9]{1,20}$/), fc.uint8Array({ minLength: 1, maxLength: 64 })).map(([t, k]) => {
  const out = new Uint8Array(t.length + 1 + k.length);
  out.set(enc(t), 0);
  out.set(k, t.length + 1);
  return out;
});

test('every record kind has its own prefix byte', () => {
  const prefixes = Object.values(RecordPrefix);
  assert.equal(new Set(prefixes).size, prefixes.length);
  assert.equal(SYNC_MARKER_KEY[0], RecordPrefix.marker);
});

test('the kinds’ key ranges are pairwise disjoint', () => {
  const kinds = Object.keys(RecordPrefix) as RecordKind[];
  for (const a of kinds) for (const b of kinds) if (a !== b) assert.ok(disjoint(recordKindRange(a), recordKindRange(b)), `${a} vs ${b}`);
});

test('the bytes on disk are unchanged (existing data must still load)', () => {
  const ns = Uint8Array.of(0x74, 0x00, 0x6b);
  const golden: [string, Uint8Array, string][] = [
    ['sync marker', SYNC_MARKER_KEY, '0073796e63'],
    ['raft log', raftLogKey('c1', 258), '010263310000000000000102'],
    ['hard state', hardStateKey('c1'), '026331'],
    ['snapshot meta', snapshotMetaKey('c1'), '036331'],
    ['data', dataKey(ns), '1074006b'],
    ['expiry', expiryKey(0x0102, ns), '11000000000000010274006b'],
    ['applied', appliedKey('c1'), '126331'],
    ['dedupe', dedupeKey('c1', 'r'), '1302633172'],
    ['replica', replicaKey('c1'), '146331'],
    ['dedupe age', dedupeAgeKey('c1', 5, 'r'), '15026331000000000000000572'],
    ['meta doc', metaDocKey('c1', 'd'), '1702633164'],
    ['usage marker', usageMarkerKey('c1'), '1802633100'],
    ['usage', usageKey('c1', 't'), '180263310174'],
    ['usage record', encodeUsage({ keys: 3, bytes: 300 }), '03ac02'],
    ['applied state', encodeAppliedState({ index: 300, confState: CONF, dedupeCutoffMs: 1700000000000 }), '01ac020f0102026e31026e3201026e3300000080d095ffbc31'],
    ['usage marker value', USAGE_MARKER_VALUE, '01'],
  ];
  for (const [name, got, want] of golden) assert.equal(hex(got), want, name);
});

test('point keys (prefix | cellId) round-trip through cellIdOfPointKey', () => {
  fc.assert(
    fc.property(cellIds, (c) => {
      for (const k of [hardStateKey(c), snapshotMetaKey(c), appliedKey(c), replicaKey(c)]) assert.equal(cellIdOfPointKey(k), c);
    }),
  );
  assert.throws(() => cellIdOfPointKey(dataKey(Uint8Array.of(1))));
});

test('raft log keys round-trip, sort by index and stay in their cell’s range', () => {
  fc.assert(
    fc.property(cellIds, fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }), fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }), (c, i, j) => {
      const k = raftLogKey(c, i);
      assert.equal(raftLogKeyIndex(raftLogPrefix(c), k), i);
      const split = splitCellScopedKey(k);
      assert.deepEqual([split.prefix, split.cellId, split.rest.length], [RecordPrefix.raftLog, c, 8]);
      assert.equal(Math.sign(compareBytes(k, raftLogKey(c, j))), Math.sign(i - j));
      assert.ok(within(k, raftLogRange(c)));
      assert.ok(within(k, recordKindRange('raftLog')));
    }),
  );
});

test('data and expiry keys round-trip; the expiry range holds exactly the due entries', () => {
  fc.assert(
    fc.property(nsKeys, times, times, (ns, at, now) => {
      const d = dataKey(ns);
      assert.ok(isDataKey(d));
      assert.deepEqual(dataKeyToNs(d), ns);
      assert.ok(within(d, dataRange(new Uint8Array(0), null)) && within(d, recordKindRange('data')));
      const e = expiryKey(at, ns);
      assert.deepEqual(expiryKeyToNs(e), ns);
      assert.ok(!isDataKey(e) && within(e, recordKindRange('expiry')));
      assert.equal(within(e, expiryRangeUntil(now)), at <= now);
    }),
  );
});

test('cell-scoped keys round-trip and stay inside their cell’s range of their kind', () => {
  fc.assert(
    fc.property(cellIds, ids, times, (c, id, at) => {
      const cases: [RecordKind, Uint8Array, KeyRange, string][] = [
        ['dedupe', dedupeKey(c, id), dedupeRange(c), id],
        ['dedupeAge', dedupeAgeKey(c, at, id), dedupeAgeRange(c, Number.MAX_SAFE_INTEGER), ''],
        ['metaDoc', metaDocKey(c, id), metaDocRange(c), id],
        ['usage', usageKey(c, id), usageRange(c), ''],
        ['usage', usageMarkerKey(c), usageRange(c), ''],
      ];
      for (const [kind, k, range, rest] of cases) {
        const split = splitCellScopedKey(k);
        assert.equal(split.prefix, RecordPrefix[kind]);
        assert.equal(split.cellId, c);
        if (rest !== '') assert.equal(new TextDecoder().decode(split.rest), rest);
        assert.ok(within(k, range), `${kind} key in its cell range`);
        assert.ok(within(k, recordKindRange(kind)), `${kind} key in its kind range`);
      }
      assert.deepEqual(parseDedupeAgeKey(c, dedupeAgeKey(c, at, id)), { atMs: at, requestId: id });
      assert.equal(within(dedupeAgeKey(c, at, id), dedupeAgeRange(c, at)), false);
      assert.equal(within(dedupeAgeKey(c, at, id), dedupeAgeRange(c, at + 1)), true);
      assert.equal(metaDocName(c, metaDocKey(c, id)), id);
      assert.equal(usageKeyTenant(c, usageKey(c, id)), id);
      assert.equal(usageKeyTenant(c, usageMarkerKey(c)), null);
    }),
  );
});

test('the ranges of one kind for different cells never overlap ("a" vs "ab")', () => {
  const rangesOf = (c: string): KeyRange[] => [raftLogRange(c), dedupeRange(c), dedupeAgeRange(c, Number.MAX_SAFE_INTEGER), metaDocRange(c), usageRange(c)];
  fc.assert(
    fc.property(cellIds, cellIds, (a, b) => {
      fc.pre(a !== b);
      const ra = rangesOf(a);
      const rb = rangesOf(b);
      ra.forEach((r, i) => assert.ok(disjoint(r, rb[i]!), `range ${i} of ${a} and ${b}`));
    }),
  );
  assert.ok(disjoint(raftLogRange('a'), raftLogRange('ab')));
  assert.ok(!within(dedupeKey('ab', 'x'), dedupeRange('a')));
});

test('record values round-trip', () => {
  const hs = { term: 7, vote: 'n2', commit: 41 };
  assert.deepEqual(decodeHardStateRecord(encodeHardStateRecord(hs)), hs);
  const meta = { index: 40, term: 6, confState: CONF };
  assert.deepEqual(decodeSnapshotMetaRecord(encodeSnapshotMetaRecord(meta)), meta);
  const torn = encodeHardStateRecord(hs).slice();
  torn[torn.length - 1]! ^= 1;
  assert.throws(() => decodeHardStateRecord(torn));
  const applied = { index: 12, confState: CONF, dedupeCutoffMs: 99 };
  assert.deepEqual(decodeAppliedState(encodeAppliedState(applied)), applied);
  const dedupe = { atMs: 5, results: [{ status: 'ok' as const, found: false, value: null, meta: null }] };
  assert.deepEqual(decodeDedupeRecord(encodeDedupeRecord(dedupe)), dedupe);
  assert.deepEqual(decodeUsage(encodeUsage({ keys: 1, bytes: 2 ** 40 })), { keys: 1, bytes: 2 ** 40 });
  const rec = { cellId: 'c2', start: '61', end: null, epoch: 3 };
  assert.deepEqual(decodeReplicaRecord(encodeReplicaRecord(rec)), rec);
});

test('a dedupe record rehomed to another cell has the keys built from its decoded id and time', async () => {
  const { dedupeRehomer, dedupeKey, dedupeAgeKey, encodeDedupeRecord } = await import('../../../cell/storage/records.js');
  const rehome = dedupeRehomer('c1', 'c9x-new');
  for (const [id, atMs] of [['req-1', 0], ['ü-ñ-請求', 1_700_000_000_123], ['x'.repeat(128), 2 ** 40]] as const) {
    const value = encodeDedupeRecord({ atMs, results: [] });
    const got = rehome(dedupeKey('c1', id), value);
    assert.deepEqual(got.recordKey, dedupeKey('c9x-new', id));
    assert.deepEqual(got.ageKey, dedupeAgeKey('c9x-new', atMs, id));
  }
});
