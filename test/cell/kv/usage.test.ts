// Per-tenant usage accounting in the cell state machine (cell/kv/usage.ts) over a real LevelDB:
// put / overwrite / delete / expiry / atomic batches, persistence in the apply batch, a recount
// of data written before the counters existed, and the snapshot round trip.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openNodeDb, type NodeDb } from '../../../cell/storage/node-db.js';
import { CellData } from '../../../cell/kv/cell-data.js';
import { usageMarkerKey, usageRange } from '../../../cell/storage/records.js';
import { buildSnapshotData, snapshotInstallOps } from '../../../cell/node/snapshots.js';
import { encodeCellEntryPayload } from '../../../shared/codec/index.js';
import type { CellCommand, CellOp } from '../../../shared/cell-protocol.js';
import type { Entry } from '../../../cell/raft/types.js';
import { namespacedKey } from '../../../shared/keys.js';

const enc = (s: string) => new TextEncoder().encode(s);
const conf = { voters: ['n1'], learners: [], votersOutgoing: [], learnersNext: [], autoLeave: false };
const limits = { retentionMs: 60_000, maxEntries: 1000 };
const dirs: string[] = [];
after(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

async function freshDb(): Promise<NodeDb> {
  const d = await mkdtemp(join(tmpdir(), 'cellkv-usage-'));
  dirs.push(d);
  return openNodeDb(d);
}

const put = (key: string, value: string, ttlMs: number | null = null): CellOp => ({ op: 'put', key: enc(key), value: enc(value), ttlMs, ifVersion: null, ifAbsent: false, attrs: null });
const del = (key: string): CellOp => ({ op: 'delete', key: enc(key), ifVersion: null });
let rid = 0;
const write = (tenant: string, ops: CellOp[], o: { nowMs?: number; atomic?: boolean } = {}): CellCommand => ({ kind: 'write', requestId: `r${++rid}`, tenant, nowMs: o.nowMs ?? 1_000_000, atomic: o.atomic ?? false, ops });

class Harness {
  index = 0;
  constructor(
    readonly db: NodeDb,
    public data: CellData,
  ) {}

  static async open(db: NodeDb, cellId = 'c1'): Promise<Harness> {
    const data = await CellData.open(cellId, db.kv, conf, limits, null);
    const h = new Harness(db, data);
    h.index = data.applied.index;
    return h;
  }

  /** Applies commands as one entry each, then writes the apply batch. */
  async apply(...commands: CellCommand[]): Promise<void> {
    for (const c of commands) {
      const e: Entry = { index: ++this.index, term: 1, kind: 'normal', data: encodeCellEntryPayload({ commands: [c] }) };
      await this.data.applyEntry(e);
    }
    const gen = this.data.generation;
    await this.db.batch(this.data.takeBatch(), false);
    this.data.flushed(gen);
  }

  async usage(tenant: string): Promise<{ keys: number; bytes: number } | undefined> {
    return (await this.data.usage.read([tenant], 100)).usage[tenant];
  }

  /** The usage records as stored in LevelDB (what snapshots and digests see). */
  async stored(): Promise<string[]> {
    const out: string[] = [];
    for await (const [k, v] of this.db.kv.iterator(usageRange(this.data.cellId))) out.push(`${Buffer.from(k).toString('hex')}=${Buffer.from(v).toString('hex')}`);
    return out;
  }
}

test('put, overwrite, delete and expiry adjust keys and key+value bytes per tenant', async () => {
  const h = await Harness.open(await freshDb());
  await h.apply(write('acme', [put('a', 'xxxx'), put('bb', 'y')]), write('other', [put('a', '1')]));
  assert.deepEqual(await h.usage('acme'), { keys: 2, bytes: 1 + 4 + 2 + 1 });
  assert.deepEqual(await h.usage('other'), { keys: 1, bytes: 2 });

  await h.apply(write('acme', [put('a', 'xxxxxxxxxx')])); // overwrite: bytes only
  assert.deepEqual(await h.usage('acme'), { keys: 2, bytes: 1 + 10 + 2 + 1 });

  await h.apply(write('acme', [del('bb'), del('missing')])); // deleting a missing key changes nothing
  assert.deepEqual(await h.usage('acme'), { keys: 1, bytes: 11 });

  // A failed precondition writes nothing and counts nothing; an atomic batch that fails counts nothing.
  await h.apply(write('acme', [{ ...put('a', 'zz'), ifAbsent: true } as CellOp]));
  await h.apply(write('acme', [put('n1', 'v'), { ...put('a', 'q'), ifVersion: 1n } as CellOp], { atomic: true }));
  assert.deepEqual(await h.usage('acme'), { keys: 1, bytes: 11 });

  // Expiry: the key counts until the expire command deletes it (as the leader's sweep does).
  await h.apply(write('acme', [put('t', 'ttl', 1000)], { nowMs: 2_000_000 }));
  assert.deepEqual(await h.usage('acme'), { keys: 2, bytes: 11 + 4 });
  await h.apply({ kind: 'expire', nowMs: 2_000_500, keys: [namespacedKey('acme', enc('t'))] }); // not yet due
  assert.deepEqual(await h.usage('acme'), { keys: 2, bytes: 15 });
  await h.apply({ kind: 'expire', nowMs: 2_001_000, keys: [namespacedKey('acme', enc('t'))] });
  assert.deepEqual(await h.usage('acme'), { keys: 1, bytes: 11 });

  // Overwriting an expired-but-unswept key replaces a stored key: no new key is counted.
  await h.apply(write('acme', [put('t2', 'a', 1000)], { nowMs: 3_000_000 }), write('acme', [put('t2', 'bcd')], { nowMs: 3_005_000 }));
  assert.deepEqual(await h.usage('acme'), { keys: 2, bytes: 11 + 2 + 3 });

  // A tenant with nothing left loses its record.
  await h.apply(write('other', [del('a')]));
  assert.equal(await h.usage('other'), undefined);
  assert.equal((await h.stored()).length, 2, 'the marker and acme');
  await h.db.close();
});

test('counters are written with the apply batch, survive a reopen and match a recount', async () => {
  const db = await freshDb();
  const h = await Harness.open(db);
  await h.apply(write('acme', [put('k1', 'v1'), put('k2', 'v22')]));
  const before = await h.stored();
  await db.close();
  const db2 = await openNodeDb(db.location);
  const h2 = await Harness.open(db2);
  assert.deepEqual(await h2.usage('acme'), { keys: 2, bytes: 4 + 5 });
  assert.deepEqual(await h2.stored(), before);

  // Data from before usage accounting: no marker. The first read recounts from the data, and
  // the records are written with the next change (an apply-time event on every replica).
  await db2.batch([{ type: 'del', key: usageMarkerKey('c1') }, ...(await h2.stored()).map((s) => ({ type: 'del' as const, key: Buffer.from(s.split('=')[0]!, 'hex') }))], false);
  const h3 = await Harness.open(db2);
  assert.deepEqual(await h3.usage('acme'), { keys: 2, bytes: 9 }, 'recount');
  assert.deepEqual(await h3.stored(), [], 'a read writes nothing');
  await h3.apply(write('acme', [put('k3', 'v')]));
  assert.deepEqual(await h3.usage('acme'), { keys: 3, bytes: 9 + 3 });
  assert.equal((await h3.stored()).length, 2, 'marker and acme written with the change');
  await db2.close();
});

test('snapshots carry the counters to a replica that had different ones', async () => {
  const [dbA, dbB] = [await freshDb(), await freshDb()];
  const a = await Harness.open(dbA);
  const b = await Harness.open(dbB);
  await a.apply(write('acme', [put('x', '12345'), put('y', '1')]));
  await b.apply(write('acme', [put('stale', 'zzzzzzzz')]));
  const range = { start: new Uint8Array(0), end: null };
  const snap = await buildSnapshotData(dbA.kv, 'c1', range);
  await dbB.batch(await snapshotInstallOps(dbB.kv, 'c1', range, snap), false);
  b.data.resetTo({ ...b.data.applied, index: a.index });
  assert.deepEqual(await b.stored(), await a.stored());
  assert.deepEqual(await b.usage('acme'), { keys: 2, bytes: 6 + 2 });
  await dbA.close();
  await dbB.close();
});
