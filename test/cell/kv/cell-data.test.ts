import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openNodeDb, type NodeDb } from '../../../cell/storage/node-db.js';
import { CellData } from '../../../cell/kv/cell-data.js';
import { encodeCellEntryPayload } from '../../../shared/codec/index.js';
import type { CellCommand, CellOp } from '../../../shared/cell-protocol.js';
import type { Entry } from '../../../cell/raft/types.js';
import { namespacedKey } from '../../../shared/keys.js';
import { dataKey } from '../../../cell/storage/records.js';

const enc = (s: string) => new TextEncoder().encode(s);
const conf = { voters: ['n1'], learners: [], votersOutgoing: [], learnersNext: [], autoLeave: false };
const dirs: string[] = [];
after(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

async function freshDb(): Promise<NodeDb> {
  const d = await mkdtemp(join(tmpdir(), 'cellkv-data-'));
  dirs.push(d);
  return openNodeDb(d);
}

const put = (key: string, value: string): CellOp => ({ op: 'put', key: enc(key), value: enc(value), ttlMs: null, ifVersion: null, ifAbsent: false, attrs: null });
const entry = (index: number, commands: CellCommand[]): Entry => ({ index, term: 1, kind: 'normal', data: encodeCellEntryPayload({ commands }) });
const write = (requestId: string, ops: CellOp[], nowMs = 1_000_000): CellCommand => ({ kind: 'write', requestId, tenant: 't1', nowMs, atomic: false, ops });

async function applyAll(data: CellData, db: NodeDb, entries: Entry[]) {
  const out = [];
  for (const e of entries) out.push(await data.applyEntry(e));
  const ops = data.takeBatch();
  const gen = data.generation;
  await db.batch(ops, false);
  data.flushed(gen);
  return out;
}

test('a retried request id applies once and returns the first results, also across batches and reopen', async () => {
  const db = await freshDb();
  const limits = { retentionMs: 60_000, maxEntries: 1000 };
  let data = await CellData.open('c1', db.kv, conf, limits, null);
  const [r1, r2] = await applyAll(data, db, [entry(1, [write('req-1', [put('k', 'a')])]), entry(2, [write('req-1', [put('k', 'b')])])]);
  assert.deepEqual(r2, r1, 'duplicate in the same batch');
  const [r3] = await applyAll(data, db, [entry(3, [write('req-1', [put('k', 'c')])])]);
  assert.deepEqual(r3, r1, 'duplicate in a later batch');
  const v = await data.read(namespacedKey('t1', enc('k')));
  assert.equal(new TextDecoder().decode(v!.value), 'a');
  await db.close();
  const db2 = await openNodeDb(db.location);
  data = await CellData.open('c1', db2.kv, conf, limits, null);
  assert.equal(data.applied.index, 3, 'applied index persisted with the data');
  const [r4] = await applyAll(data, db2, [entry(4, [write('req-1', [put('k', 'd')])])]);
  assert.deepEqual(r4, r1, 'duplicate after reopen');
  await db2.close();
});

test('dedupe records past their retention are dead, deterministically by command time', async () => {
  const db = await freshDb();
  const data = await CellData.open('c1', db.kv, conf, { retentionMs: 1000, maxEntries: 1000 }, null);
  await applyAll(data, db, [entry(1, [write('req-x', [put('k', 'a')], 10_000)])]);
  const [again] = await applyAll(data, db, [entry(2, [write('req-x', [put('k', 'b')], 20_000)])]);
  assert.equal(again![0]![0]!.status, 'ok');
  const v = await data.read(namespacedKey('t1', enc('k')));
  assert.equal(new TextDecoder().decode(v!.value), 'b', 'an expired request id is a new write');
  const removed = await data.collectDedupe(30_000, 100);
  assert.ok(removed >= 1);
  await db.close();
});

test('value cache: a LevelDB read that raced with a write never puts the older value in the cache', async () => {
  const db = await freshDb();
  const limits = { retentionMs: 60_000, maxEntries: 1000 };
  const seed = await CellData.open('c1', db.kv, conf, limits, null);
  await applyAll(seed, db, [entry(1, [write('r1', [put('k', 'old')])])]);
  // A database whose point reads hang until released: the read is in flight during the write.
  let release: () => void = () => {};
  const gate = new Promise<void>((r) => (release = r));
  const nsKey = namespacedKey('t1', enc('k'));
  const gated = Buffer.from(dataKey(nsKey)).toString('hex');
  const slow = {
    get: async (k: Uint8Array) => {
      const v = await db.kv.get(k);
      if (Buffer.from(k).toString('hex') === gated) await gate;
      return v;
    },
    getMany: (ks: Uint8Array[]) => db.kv.getMany(ks),
    iterator: (r: Parameters<typeof db.kv.iterator>[0]) => db.kv.iterator(r),
  };
  const data = await CellData.open('c1', slow, conf, limits, null);
  const racing = data.read(nsKey); // reads "old" from LevelDB, answers after the write below
  await new Promise((r) => setTimeout(r, 10));
  // The apply loop's own reads go through prefetch (one getMany), as in the node.
  const e2 = entry(2, [write('r2', [put('k', 'new')])]);
  const [payload] = await data.prefetch([e2]);
  await data.applyEntry(e2, payload);
  release();
  assert.equal(new TextDecoder().decode((await racing)!.value), 'old', 'the racing read itself saw the older state');
  data.flushed(data.generation); // nothing flushed yet: the overlay stays
  const ops = data.takeBatch();
  const gen = data.generation;
  await db.batch(ops, false);
  data.flushed(gen); // overlay dropped: reads now go to the cache, then LevelDB
  assert.equal(new TextDecoder().decode((await data.read(nsKey))!.value), 'new');
  // And with the cache off, the same answer comes from LevelDB.
  const uncached = await CellData.open('c1', db.kv, conf, limits, null, 0, 0);
  assert.equal(new TextDecoder().decode((await uncached.read(nsKey))!.value), 'new');
  await db.close();
});

test('value cache: bounded in bytes, and a snapshot install (resetTo) forgets everything', async () => {
  const db = await freshDb();
  const limits = { retentionMs: 60_000, maxEntries: 1000 };
  const data = await CellData.open('c1', db.kv, conf, limits, null, 0, 4096);
  const big = 'x'.repeat(1000);
  const entries = Array.from({ length: 20 }, (_, i) => entry(i + 1, [write(`r${i}`, [put(`k${i}`, big)])]));
  await applyAll(data, db, entries);
  // Every value still reads right, whether it stayed in the small cache or not.
  for (let i = 0; i < 20; i++) assert.equal((await data.read(namespacedKey('t1', enc(`k${i}`))))!.value.length, 1000);
  // Rewrite LevelDB behind the state machine's back (as a snapshot install does), then reset.
  await db.batch([{ type: 'del', key: dataKey(namespacedKey('t1', enc('k19'))) }], false);
  data.resetTo({ ...data.applied });
  assert.equal(await data.read(namespacedKey('t1', enc('k19'))), null, 'no stale cached value after resetTo');
  await db.close();
});
