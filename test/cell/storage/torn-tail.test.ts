// Torn-tail recovery of the Raft log: corrupted, truncated, missing and out-of-order records
// are cut off at the first bad one; a copy of a live database (a crash image) opens with every
// synced entry; a commit index beyond the surviving log is refused loudly.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { cp, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ConfState, Entry } from '../../../cell/raft/types.js';
import { openNodeDb, type NodeDb } from '../../../cell/storage/node-db.js';
import { GroupCommit } from '../../../cell/storage/group-commit.js';
import { RaftLogStore, RaftStorageError } from '../../../cell/storage/raft-log-store.js';
import { hardStateKey, raftLogKey, raftLogKeyIndex, raftLogPrefix, raftLogRange } from '../../../cell/storage/records.js';
import { encodeLogRecord } from '../../../cell/raft/codec.js';

const CONF: ConfState = { voters: ['n1'], learners: [], votersOutgoing: [], learnersNext: [], autoLeave: false };
const enc = (s: string) => new TextEncoder().encode(s);
const ent = (index: number, term: number): Entry => ({ index, term, kind: 'normal', data: enc(`payload-${index}-${term}`) });
const CELL = 'torn-c';

let root = '';
let seq = 0;
before(async () => {
  root = await mkdtemp(join(tmpdir(), 'cellkv-torn-'));
});
after(async () => {
  await rm(root, { recursive: true, force: true });
});

async function logIndexesOnDisk(db: NodeDb, cellId: string): Promise<number[]> {
  const out: number[] = [];
  const p = raftLogPrefix(cellId);
  for await (const [k] of db.iterator(raftLogRange(cellId))) out.push(raftLogKeyIndex(p, k));
  return out;
}

/** A database holding entries 2..10 (term 2) with commit `commit`, then a raw mutation. */
async function damaged(commit: number, mutate: (db: NodeDb) => Promise<void>): Promise<{ dir: string; db: NodeDb }> {
  const dir = join(root, `db${++seq}`);
  const db = await openNodeDb(dir);
  const gc = new GroupCommit(db);
  const { store } = await RaftLogStore.load(db, CELL, gc);
  store.stageBootstrap(CONF);
  store.stageAppend(Array.from({ length: 9 }, (_, i) => ent(i + 2, 2)));
  store.stageHardState({ term: 2, vote: 'n1', commit });
  await gc.flush();
  await mutate(db);
  await db.close();
  return { dir, db: await openNodeDb(dir) };
}

const rawPut = (db: NodeDb, index: number, value: Uint8Array) => db.batch([{ type: 'put', key: raftLogKey(CELL, index), value }], true);
const rawDel = (db: NodeDb, index: number) => db.batch([{ type: 'del', key: raftLogKey(CELL, index) }], true);
const recordOf = async (db: NodeDb, index: number) => (await db.get(raftLogKey(CELL, index)))!;

const cases: { name: string; mutate: (db: NodeDb) => Promise<void>; from: number; reason: RegExp }[] = [
  { name: 'last record overwritten with garbage', mutate: (db) => rawPut(db, 10, enc('garbage garbage garbage')), from: 10, reason: /unreadable.*checksum/ },
  { name: 'last record truncated', mutate: async (db) => rawPut(db, 10, (await recordOf(db, 10)).subarray(0, 7)), from: 10, reason: /unreadable/ },
  { name: 'last record shorter than its header', mutate: (db) => rawPut(db, 10, Uint8Array.of(1, 2)), from: 10, reason: /unreadable/ },
  {
    name: 'one flipped bit in a middle record',
    mutate: async (db) => {
      const r = Uint8Array.from(await recordOf(db, 6));
      r[r.length - 1]! ^= 0x10;
      await rawPut(db, 6, r);
    },
    from: 6,
    reason: /checksum/,
  },
  { name: 'a missing record', mutate: (db) => rawDel(db, 7), from: 7, reason: /missing/ },
  { name: 'a record whose term goes back', mutate: (db) => rawPut(db, 9, encodeLogRecord(ent(9, 1))), from: 9, reason: /term 1 below/ },
  { name: 'a record under the wrong key', mutate: (db) => rawPut(db, 8, encodeLogRecord(ent(12, 2))), from: 8, reason: /holds entry 12/ },
];

for (const c of cases) {
  test(`torn tail: ${c.name} -> truncated there, everything before kept`, async () => {
    let { dir, db } = await damaged(4, c.mutate);
    const gc = new GroupCommit(db);
    const { store, report } = await RaftLogStore.load(db, CELL, gc);
    assert.equal(report.truncatedFrom, c.from);
    assert.match(report.reason ?? '', c.reason);
    assert.equal(report.entries, c.from - 2);
    assert.equal(store.lastIndex(), c.from - 1);
    assert.deepEqual(
      store.entries(2, c.from, 1e9).map((e) => [e.index, e.term, Buffer.from(e.data).toString()]),
      Array.from({ length: c.from - 2 }, (_, i) => [i + 2, 2, `payload-${i + 2}-2`]),
    );
    // The repair is durable: the disk holds exactly the kept log.
    const expected = Array.from({ length: c.from - 2 }, (_, i) => i + 2);
    assert.deepEqual(await logIndexesOnDisk(db, CELL), expected);
    assert.equal(report.droppedRecords, c.name === 'a missing record' ? 3 : 11 - c.from);

    // The log continues from the cut (Raft re-replicates the dropped suffix).
    store.stageAppend([ent(c.from, 3), ent(c.from + 1, 3)]);
    await gc.flush();
    await db.close();
    db = await openNodeDb(dir);
    const again = await RaftLogStore.load(db, CELL, new GroupCommit(db));
    assert.deepEqual(again.report, { entries: c.from - 2 + 2, truncatedFrom: null, droppedRecords: 0, reason: null });
    assert.equal(again.store.term(c.from + 1), 3);
    await db.close();
  });
}

test('commit beyond the surviving log is a clear error, and the disk is left as found', async () => {
  const { db } = await damaged(10, (db) => rawPut(db, 8, enc('torn')));
  await assert.rejects(RaftLogStore.load(db, CELL, new GroupCommit(db)), (e: unknown) => {
    assert.ok(e instanceof RaftStorageError);
    assert.equal(e.code, 'STORAGE_COMMITTED_LOST');
    assert.equal(e.cellId, CELL);
    assert.match(e.message, /cell torn-c: hard state commit index 10 is beyond the last intact log index 7/);
    assert.match(e.message, /damaged from index 8/);
    return true;
  });
  assert.deepEqual(await logIndexesOnDisk(db, CELL), [2, 3, 4, 5, 6, 7, 8, 9, 10]);
  assert.deepEqual(await db.get(raftLogKey(CELL, 8)), Buffer.from('torn'));
  await db.close();

  const ends = await damaged(10, async (db) => {
    await rawDel(db, 10);
    await rawDel(db, 9);
  });
  await assert.rejects(RaftLogStore.load(ends.db, CELL, new GroupCommit(ends.db)), /commit index 10 is beyond the last intact log index 8 \(the log simply ends there\)/);
  await ends.db.close();
});

test('an unreadable hard state is a clear error', async () => {
  const { db } = await damaged(4, (db) => db.batch([{ type: 'put', key: hardStateKey(CELL), value: enc('xx') }], true));
  await assert.rejects(RaftLogStore.load(db, CELL, new GroupCommit(db)), { code: 'STORAGE_CORRUPT', message: /cell torn-c: unreadable hard state/ });
  await db.close();
});

// --- a copy of a live database ---------------------------------------------------------------

const mod = (p: string) => JSON.stringify(new URL(`../../../cell/storage/${p}`, import.meta.url).href);

// Appends synced batches forever; every few batches a new term overwrites the uncommitted
// tail. Prints "synced <last> <commit>" only after the batch's flush resolved. Sleeps 1 ms per
// batch so LevelDB's memtable never fills during the test: a memtable flush rewrites files,
// and a file-by-file copy across it would not be a crash image (it could miss files).
const WRITER = `
import { openNodeDb } from ${mod('node-db.ts')};
import { GroupCommit } from ${mod('group-commit.ts')};
import { RaftLogStore } from ${mod('raft-log-store.ts')};
const db = await openNodeDb(process.env.CELLKV_DIR);
const gc = new GroupCommit(db);
const { store } = await RaftLogStore.load(db, 'w', gc);
store.stageBootstrap(${JSON.stringify(CONF)});
await gc.flush();
const data = (i, t) => new TextEncoder().encode(i + ':' + t + ':' + 'x'.repeat(i % 40));
let last = 1, term = 1;
for (let b = 1; ; b++) {
  let start = last + 1;
  if (b % 30 === 0 && last > store.hardState().commit) { term++; start = last; }
  const ents = [];
  for (let i = 0; i < 1 + (b % 5); i++) ents.push({ index: start + i, term, kind: 'normal', data: data(start + i, term) });
  store.stageAppend(ents);
  last = start + ents.length - 1;
  const commit = Math.max(store.hardState().commit, last - 2);
  store.stageHardState({ term, vote: 'n1', commit });
  await gc.flush();
  process.stdout.write('synced ' + last + ' ' + commit + '\\n');
  await new Promise((r) => setTimeout(r, 1));
}
`;

test('a copy of the directory taken while a writer appends opens with every synced entry', { timeout: 120_000 }, async (t) => {
  for (let run = 0; run < 2; run++) {
    const dir = join(root, `live${run}`);
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', WRITER], {
      env: { ...process.env, CELLKV_DIR: dir },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    let synced = 0;
    let committed = 0;
    createInterface({ input: child.stdout }).on('line', (line) => {
      const m = /^synced (\d+) (\d+)$/.exec(line);
      if (m) {
        synced = Number(m[1]);
        committed = Number(m[2]);
      }
    });
    try {
      const deadline = Date.now() + 30_000;
      while (synced < 50) {
        assert.ok(child.exitCode === null, `writer exited early: ${stderr}`);
        assert.ok(Date.now() < deadline, `writer made no progress: ${stderr}`);
        await sleep(20);
      }
      for (let k = 0; k < 3; k++) {
        await sleep(50 + Math.random() * 200);
        const syncedBefore = synced;
        const committedBefore = committed;
        const copy = join(root, `copy${run}-${k}`);
        await cp(dir, copy, { recursive: true });
        const db = await openNodeDb(copy);
        try {
          const { store, report } = await RaftLogStore.load(db, 'w', new GroupCommit(db));
          // Only a tail nobody was told about may be dropped.
          assert.ok(report.truncatedFrom === null || report.truncatedFrom > syncedBefore, `dropped synced entries: ${JSON.stringify(report)}`);
          assert.ok(store.lastIndex() >= syncedBefore, `copy ends at ${store.lastIndex()}, writer had synced ${syncedBefore}`);
          assert.ok(store.initialState().hardState.commit >= committedBefore);
          assert.equal(store.firstIndex(), 2);
          t.diagnostic(`run ${run} copy ${k}: writer had synced ${syncedBefore}, copy holds ${store.lastIndex()}, repair ${report.truncatedFrom ?? 'none'}`);
          for (const e of store.entries(2, store.lastIndex() + 1, Number.MAX_SAFE_INTEGER)) {
            const [i, t] = Buffer.from(e.data).toString().split(':');
            assert.equal(Number(i), e.index);
            assert.equal(Number(t), e.term);
          }
        } finally {
          await db.close();
          await rm(copy, { recursive: true, force: true });
        }
      }
      assert.ok(synced > 50, 'the writer kept going while copies were taken');
    } finally {
      child.kill('SIGKILL');
      await exited;
    }
  }
});
