// RaftLogStore on a real LevelDB: round trips through close and reopen, and equivalence with
// MemoryStorage (the reference semantics) on random operation sequences.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { MemoryStorage } from '../../../cell/raft/memory-storage.js';
import type { ConfState, Entry, HardState, RaftStorage } from '../../../cell/raft/types.js';
import { openNodeDb, type NodeDb } from '../../../cell/storage/node-db.js';
import { GroupCommit } from '../../../cell/storage/group-commit.js';
import { RaftLogStore } from '../../../cell/storage/raft-log-store.js';
import { raftLogKey, raftLogKeyIndex, raftLogPrefix, raftLogRange } from '../../../cell/storage/records.js';

const CONF: ConfState = { voters: ['n1', 'n2', 'n3'], learners: [], votersOutgoing: [], learnersNext: [], autoLeave: false };
const enc = (s: string) => new TextEncoder().encode(s);
const ent = (index: number, term: number, data = `e${index}t${term}`): Entry => ({ index, term, kind: 'normal', data: enc(data) });
const range = (lo: number, hi: number, term: number): Entry[] => Array.from({ length: hi - lo + 1 }, (_, i) => ent(lo + i, term));

let root = '';
let seq = 0;
before(async () => {
  root = await mkdtemp(join(tmpdir(), 'cellkv-raftlog-'));
});
after(async () => {
  await rm(root, { recursive: true, force: true });
});
const freshDir = () => join(root, `db${++seq}`);

async function open(dir: string): Promise<{ db: NodeDb; gc: GroupCommit }> {
  const db = await openNodeDb(dir);
  return { db, gc: new GroupCommit(db) };
}

async function reopen(dir: string, db: NodeDb, cellId: string) {
  await db.close();
  const o = await open(dir);
  const loaded = await RaftLogStore.load(o.db, cellId, o.gc);
  // Everything here was written through the store: load must find nothing to repair.
  assert.equal(loaded.report.truncatedFrom, null, `unexpected repair: ${loaded.report.reason}`);
  assert.equal(loaded.report.droppedRecords, 0);
  return { ...o, ...loaded };
}

async function logIndexesOnDisk(db: NodeDb, cellId: string): Promise<number[]> {
  const out: number[] = [];
  const p = raftLogPrefix(cellId);
  for await (const [k] of db.iterator(raftLogRange(cellId))) out.push(raftLogKeyIndex(p, k));
  return out;
}

function view(s: RaftStorage) {
  const first = s.firstIndex();
  const last = s.lastIndex();
  const terms: number[] = [];
  for (let i = first - 1; i <= last; i++) terms.push(s.term(i));
  const ents = last >= first ? s.entries(first, last + 1, Number.MAX_SAFE_INTEGER) : [];
  return {
    first,
    last,
    terms,
    ents: ents.map((e) => ({ ...e, data: Buffer.from(e.data).toString('hex') })),
    init: s.initialState(),
  };
}

test('keys: byte order is index order, and cells never share a range', () => {
  const idx = [0, 1, 255, 256, 2 ** 32 - 1, 2 ** 32, 2 ** 40 + 7, Number.MAX_SAFE_INTEGER];
  const keys = idx.map((i) => Buffer.from(raftLogKey('c', i)));
  const sorted = [...keys].sort(Buffer.compare);
  assert.deepEqual(sorted, keys);
  for (const i of idx) assert.equal(raftLogKeyIndex(raftLogPrefix('c'), raftLogKey('c', i)), i);
  const r = raftLogRange('a');
  const other = Buffer.from(raftLogKey('ab', 0));
  assert.ok(!(Buffer.compare(other, Buffer.from(r.gte)) >= 0 && Buffer.compare(other, Buffer.from(r.lt)) < 0));
});

test('append, overwrite, compact and snapshot survive close and reopen', async () => {
  const dir = freshDir();
  let { db, gc } = await open(dir);
  let { store, report } = await RaftLogStore.load(db, 'cell-1', gc);
  assert.deepEqual(report, { entries: 0, truncatedFrom: null, droppedRecords: 0, reason: null });
  store.stageBootstrap(CONF);
  store.stageAppend(range(2, 10, 1));
  store.stageHardState({ term: 1, vote: 'n1', commit: 4 });
  await gc.flush();

  ({ db, gc, store, report } = await reopen(dir, db, 'cell-1'));
  assert.equal(report.entries, 9);
  assert.equal(store.firstIndex(), 2);
  assert.equal(store.lastIndex(), 10);
  assert.deepEqual(store.initialState(), { hardState: { term: 1, vote: 'n1', commit: 4 }, confState: CONF });
  assert.deepEqual(store.entries(2, 11, 1e9), range(2, 10, 1).map((e) => ({ ...e, data: Buffer.from(e.data) })));
  assert.equal(store.snapshot().metadata.index, 1, 'the bootstrap snapshot is servable');

  // A new leader overwrites 6.. with a shorter suffix: 8..10 must disappear from disk too.
  store.stageHardState({ term: 2, vote: 'n2', commit: 4 });
  store.stageAppend([ent(6, 2), ent(7, 2)]);
  await gc.flush();
  ({ db, gc, store, report } = await reopen(dir, db, 'cell-1'));
  assert.equal(store.lastIndex(), 7);
  assert.equal(store.term(6), 2);
  assert.equal(store.term(5), 1);
  assert.deepEqual(await logIndexesOnDisk(db, 'cell-1'), [2, 3, 4, 5, 6, 7]);

  // Compaction: entries <= 5 go, metadata records the point.
  store.stageHardState({ term: 2, vote: 'n2', commit: 7 });
  store.stageCompact(5, { index: 5, term: 1, confState: CONF });
  await gc.flush();
  ({ db, gc, store, report } = await reopen(dir, db, 'cell-1'));
  assert.equal(store.firstIndex(), 6);
  assert.equal(store.term(5), 1);
  assert.deepEqual(store.snapshotMetadata(), { index: 5, term: 1, confState: CONF });
  assert.deepEqual(await logIndexesOnDisk(db, 'cell-1'), [6, 7]);
  assert.throws(() => store.snapshot(), { code: 'RAFT_SNAPSHOT_UNAVAILABLE' });
  assert.throws(() => store.term(4), { code: 'RAFT_COMPACTED' });

  // Installing a received snapshot replaces the whole log.
  const conf2: ConfState = { ...CONF, learners: ['n4'] };
  store.stageSnapshot({ metadata: { index: 20, term: 3, confState: conf2 }, data: enc('state machine bytes') });
  store.stageHardState({ term: 3, vote: null, commit: 20 });
  await gc.flush();
  ({ db, gc, store, report } = await reopen(dir, db, 'cell-1'));
  assert.equal(store.firstIndex(), 21);
  assert.equal(store.lastIndex(), 20);
  assert.equal(store.term(20), 3);
  assert.deepEqual(store.initialState(), { hardState: { term: 3, vote: null, commit: 20 }, confState: conf2 });
  assert.deepEqual(await logIndexesOnDisk(db, 'cell-1'), []);
  store.stageAppend([ent(21, 3), ent(22, 3)]);
  await gc.flush();
  ({ db, gc, store, report } = await reopen(dir, db, 'cell-1'));
  assert.equal(store.lastIndex(), 22);
  assert.deepEqual(report, { entries: 2, truncatedFrom: null, droppedRecords: 0, reason: null });
  await db.close();
});

test('cells with prefix-related ids keep separate logs in one database', async () => {
  const dir = freshDir();
  let { db, gc } = await open(dir);
  const a = (await RaftLogStore.load(db, 'a', gc)).store;
  const ab = (await RaftLogStore.load(db, 'ab', gc)).store;
  a.stageBootstrap(CONF);
  ab.stageBootstrap(CONF);
  a.stageAppend(range(2, 4, 1));
  ab.stageAppend(range(2, 9, 1));
  await gc.flush();
  await db.close();
  ({ db, gc } = await open(dir));
  assert.equal((await RaftLogStore.load(db, 'a', gc)).store.lastIndex(), 4);
  assert.equal((await RaftLogStore.load(db, 'ab', gc)).store.lastIndex(), 9);
  await db.close();
});

test('staging rejects writes that would break Raft invariants', async () => {
  const { db, gc } = await open(freshDir());
  const { store } = await RaftLogStore.load(db, 'c', gc);
  store.stageBootstrap(CONF);
  store.stageAppend(range(2, 5, 2));
  store.stageHardState({ term: 2, vote: null, commit: 3 });
  assert.throws(() => store.stageAppend([ent(3, 3)]), /overwrite committed/);
  assert.throws(() => store.stageAppend([ent(9, 2)]), /gap/);
  assert.throws(() => store.stageAppend([ent(5, 1)]), /term below/);
  assert.throws(() => store.stageHardState({ term: 1, vote: null, commit: 3 }), /term went back/);
  assert.throws(() => store.stageHardState({ term: 2, vote: null, commit: 9 }), /beyond last/);
  assert.throws(() => store.stageCompact(4, { index: 4, term: 2, confState: CONF }), /beyond commit/);
  await gc.flush();
  await db.close();
});

// --- equivalence with MemoryStorage ---------------------------------------------------------

type Op = { kind: 'append' | 'hardState' | 'compact' | 'snapshot' | 'reopen'; a: number; b: number; n: number };
const opArb: fc.Arbitrary<Op> = fc.record({
  kind: fc.constantFrom('append', 'append', 'append', 'hardState', 'compact', 'snapshot', 'reopen'),
  a: fc.nat(20),
  b: fc.nat(3),
  n: fc.integer({ min: 1, max: 6 }),
});

test('equivalent to MemoryStorage on random operation sequences, across reopens', async () => {
  await fc.assert(
    fc.asyncProperty(fc.array(opArb, { minLength: 1, maxLength: 25 }), async (ops) => {
      const dir = freshDir();
      let { db, gc } = await open(dir);
      let store = (await RaftLogStore.load(db, 'eq', gc)).store;
      const mem = new MemoryStorage();
      mem.bootstrap(CONF);
      store.stageBootstrap(CONF);
      let hs: HardState = mem.hardStateNow();
      let data = 0;
      try {
        for (const op of ops) {
          const first = mem.firstIndex();
          const last = mem.lastIndex();
          switch (op.kind) {
            case 'append': {
              // Start anywhere after the commit point (Raft never rewrites committed entries).
              const lo = Math.max(first, hs.commit + 1);
              const start = lo + (op.a % (last + 2 - lo));
              const term = Math.max(hs.term, mem.term(start - 1)) + op.b;
              const ents = Array.from({ length: op.n }, (_, i) => ent(start + i, term, `d${++data}`));
              mem.append(ents);
              store.stageAppend(ents);
              if (term > hs.term) hs = { ...hs, term };
              mem.setHardState(hs);
              store.stageHardState(hs);
              break;
            }
            case 'hardState': {
              hs = { term: hs.term + op.b, vote: op.b === 0 ? hs.vote : `n${op.a % 3}`, commit: hs.commit + (op.a % (last - hs.commit + 1)) };
              mem.setHardState(hs);
              store.stageHardState(hs);
              break;
            }
            case 'compact': {
              if (hs.commit < first) break;
              const index = first + (op.a % (hs.commit - first + 1));
              const confState = { ...CONF, learners: [`l${op.a}`] };
              mem.createSnapshot(index, confState, new Uint8Array(0));
              mem.compact(index);
              store.stageCompact(index, { index, term: mem.term(index), confState });
              break;
            }
            case 'snapshot': {
              const index = Math.max(last, hs.commit) + 1 + op.a;
              const metadata = { index, term: hs.term + op.b, confState: { ...CONF, voters: ['n1', `v${op.a}`] } };
              const snap = { metadata, data: new Uint8Array(0) };
              mem.applySnapshot(snap);
              store.stageSnapshot(snap);
              hs = { term: metadata.term, vote: hs.vote, commit: index };
              mem.setHardState(hs);
              store.stageHardState(hs);
              break;
            }
            case 'reopen': {
              await gc.flush();
              const r = await reopen(dir, db, 'eq');
              ({ db, gc, store } = r);
              assert.equal(r.report.truncatedFrom, null);
              break;
            }
          }
          assert.deepEqual(view(store), view(mem));
        }
        await gc.flush();
        const r = await reopen(dir, db, 'eq');
        ({ db, gc, store } = r);
        assert.deepEqual(view(store), view(mem));
        assert.deepEqual(await logIndexesOnDisk(db, 'eq'), view(mem).ents.map((e) => e.index), 'no stray log keys on disk');
      } finally {
        await db.close();
        await rm(dir, { recursive: true, force: true });
      }
    }),
    { numRuns: 40 },
  );
});
