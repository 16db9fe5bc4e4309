import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openNodeDb, type NodeDb } from '../../cell/storage/node-db.js';
import { CellData } from '../../cell/kv/cell-data.js';
import { encodeCellEntryPayload } from '../../shared/codec/index.js';
import type { CellCommand, CellOp } from '../../shared/cell-protocol.js';
import type { Entry } from '../../cell/raft/types.js';
import { namespacedKey } from '../../shared/keys.js';

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
