// GroupCommit: one fsync for the writes of many cells, bounded batches, serialized writes,
// forced sync after unsynced writes, sticky failure, metrics.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Registry } from 'prom-client';
import type { ConfState, Entry } from '../../../cell/raft/types.js';
import { openNodeDb, type BatchOp, type NodeDb } from '../../../cell/storage/node-db.js';
import { GroupCommit } from '../../../cell/storage/group-commit.js';
import { RaftLogStore } from '../../../cell/storage/raft-log-store.js';

const CONF: ConfState = { voters: ['n1'], learners: [], votersOutgoing: [], learnersNext: [], autoLeave: false };
const enc = (s: string) => new TextEncoder().encode(s);
const ent = (index: number, term: number): Entry => ({ index, term, kind: 'normal', data: enc(`x${index}`) });

let root = '';
let seq = 0;
before(async () => {
  root = await mkdtemp(join(tmpdir(), 'cellkv-gc-'));
});
after(async () => {
  await rm(root, { recursive: true, force: true });
});

/** Wraps a NodeDb to count and observe batch writes (the fsyncs are the synced ones). */
class SpyDb implements NodeDb {
  synced = 0;
  unsynced = 0;
  inFlight = 0;
  maxInFlight = 0;
  batches: { ops: readonly BatchOp[]; sync: boolean }[] = [];
  delayMs = 0;
  failNext = false;
  readonly kv = this;
  constructor(readonly inner: NodeDb) {}
  get location() {
    return this.inner.location;
  }
  get(key: Uint8Array) {
    return this.inner.get(key);
  }
  getMany(keys: Uint8Array[]) {
    return this.inner.getMany(keys);
  }
  iterator(r: Parameters<NodeDb['iterator']>[0]) {
    return this.inner.iterator(r);
  }
  async batch(ops: readonly BatchOp[], sync: boolean): Promise<void> {
    this.inFlight++;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    try {
      if (this.delayMs > 0) await sleep(this.delayMs * Math.random());
      if (this.failNext) {
        this.failNext = false;
        throw new Error('injected I/O error');
      }
      await this.inner.batch(ops, sync);
      this.batches.push({ ops, sync });
      if (sync) this.synced++;
      else this.unsynced++;
    } finally {
      this.inFlight--;
    }
  }
  close() {
    return this.inner.close();
  }
}

async function openSpy(): Promise<{ dir: string; db: SpyDb }> {
  const dir = join(root, `db${++seq}`);
  return { dir, db: new SpyDb(await openNodeDb(dir)) };
}

test('the Ready of many cells becomes durable with one fsync', async () => {
  const { dir, db } = await openSpy();
  const gc = new GroupCommit(db);
  const cells = Array.from({ length: 60 }, (_, i) => `cell-${i}`);
  const stores = [];
  for (const c of cells) stores.push((await RaftLogStore.load(db, c, gc)).store);
  for (const s of stores) s.stageBootstrap(CONF);
  await gc.flush();
  assert.equal(db.synced, 1);

  // One pump turn: every cell appends and updates its hard state, several callers flush.
  for (const [i, s] of stores.entries()) {
    s.stageAppend([ent(2, 1), ent(3, 1), ...(i % 2 ? [ent(4, 1)] : [])]);
    s.stageHardState({ term: 1, vote: 'n1', commit: 3 });
  }
  await Promise.all([gc.flush(), gc.flush(), gc.flush()]);
  assert.equal(db.synced, 2, 'one fsync for all cells and all concurrent flushers');
  assert.equal(gc.stats.syncedBatches, 2);
  await gc.flush();
  assert.equal(db.synced, 2, 'flush with nothing staged does not fsync');

  await db.close();
  const db2 = await openNodeDb(dir);
  const gc2 = new GroupCommit(db2);
  for (const [i, c] of cells.entries()) {
    const { store, report } = await RaftLogStore.load(db2, c, gc2);
    assert.equal(report.truncatedFrom, null);
    assert.equal(store.lastIndex(), i % 2 ? 4 : 3);
    assert.equal(store.initialState().hardState.commit, 3);
  }
  await db2.close();
});

test('a batch over its bound is written early, units stay whole and in order', async () => {
  const { db } = await openSpy();
  const gc = new GroupCommit(db, { maxBatchOps: 9 });
  const key = (i: number) => enc(`\u0020k${i}`);
  for (let i = 0; i < 7; i++) gc.stage([{ type: 'put', key: key(i), value: enc('a') }, { type: 'put', key: key(100 + i), value: enc('b') }]);
  // 2-op units under a bound of 9: the 5th unit would exceed it, so 4 units (8 ops) go early
  // (splitting ops instead of units would give 9 + 6).
  gc.del(key(0)); // must land after the put of the same key in an earlier batch
  await gc.flush();
  assert.equal(gc.stats.earlyBatches, 1);
  assert.equal(db.synced, 2);
  assert.deepEqual(db.batches.map((b) => b.ops.length), [8, 7]);
  assert.equal(await db.get(key(0)), undefined);
  assert.deepEqual(await db.get(key(1)), Buffer.from('a'));

  // A unit bigger than the bound on its own goes out alone, unsplit.
  const big: BatchOp[] = Array.from({ length: 25 }, (_, i) => ({ type: 'put', key: key(200 + i), value: enc('c') }));
  gc.put(key(999), enc('d'));
  gc.stage(big);
  await gc.flush();
  assert.deepEqual(db.batches.slice(2).map((b) => b.ops.length), [1, 25]);
  await db.close();
});

test('writes are serialized and applied in staging order', async () => {
  const { db } = await openSpy();
  db.delayMs = 5;
  const gc = new GroupCommit(db, { maxBatchOps: 3 });
  const k = enc(' last-writer');
  const flushes: Promise<void>[] = [];
  for (let i = 0; i < 40; i++) {
    gc.put(k, enc(String(i)));
    if (i % 3 === 0) flushes.push(i % 2 ? gc.flushUnsynced() : gc.flush());
  }
  flushes.push(gc.flush());
  await Promise.all(flushes);
  assert.equal(db.maxInFlight, 1, 'never two LevelDB batches in flight');
  assert.deepEqual(await db.get(k), Buffer.from('39'));
  await db.close();
});

test('flush after an unsynced write forces a sync even with nothing staged', async () => {
  const { db } = await openSpy();
  const gc = new GroupCommit(db);
  gc.put(enc(' a'), enc('1'));
  const unsynced = gc.flushUnsynced(); // took the op another caller staged...
  await gc.flush(); // ...so that caller's flush must still fsync
  await unsynced;
  assert.equal(db.unsynced, 1);
  assert.equal(db.synced, 1);
  await gc.flush();
  assert.equal(db.synced, 1);
  await db.close();
});

test('a failed write fails every later flush (the staged state is unknown)', async () => {
  const { db } = await openSpy();
  const gc = new GroupCommit(db);
  db.failNext = true;
  gc.put(enc(' a'), enc('1'));
  await assert.rejects(gc.flush(), /injected I\/O error/);
  gc.put(enc(' b'), enc('2'));
  await assert.rejects(gc.flush(), /injected I\/O error/);
  await assert.rejects(gc.flushUnsynced(), /injected I\/O error/);
  await db.close();
});

test('metrics: fsync latency and ops per batch', async () => {
  const { db } = await openSpy();
  const registry = new Registry();
  const gc = new GroupCommit(db, { registry });
  gc.put(enc(' a'), enc('1'));
  gc.put(enc(' b'), enc('2'));
  await gc.flush();
  gc.put(enc(' c'), enc('3'));
  await gc.flushUnsynced();
  const json = await registry.getMetricsAsJSON();
  const sum = (name: string, suffix: string) =>
    json.find((m) => m.name === name)!.values.find((v) => (v as { metricName?: string }).metricName === `${name}${suffix}`)!.value;
  assert.equal(sum('cellkv_group_commit_fsync_seconds', '_count'), 1);
  assert.equal(sum('cellkv_group_commit_batch_ops', '_sum'), 2);
  await db.close();
});
