// Unit tests: manifest schema, chunk assembly, log segment frames, entry times, restore
// planning over a chain, schedule planning and retention, argument parsing.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { ChunkAssembler, fetchBlob, type ChunkReply } from '../../../cell/backup/chunks.js';
import { BackupError } from '../../../cell/backup/errors.js';
import { MAX_CHUNK_BYTES } from '../../../cell/node/backup-admin.js';
import {
  checkLogSegment,
  decodeLogFrames,
  encodeLogFrames,
  entryTimeMs,
  parseManifest,
  type LogItem,
  type Manifest,
} from '../../../cell/backup/format.js';
import { planRestore } from '../../../cell/backup/replay.js';
import { parseRestoreNodes, parseToTime } from '../../../cell/backup/restore.js';
import { backupDirName, parseInterval, planNext, retention, type ExistingBackup } from '../../../cell/backup/schedule.js';
import { encodeCellEntryPayload } from '../../../cell/storage/records.js';
import type { Entry } from '../../../cell/raft/types.js';

const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
const isCode = (code: string) => (e: unknown) => e instanceof BackupError && e.code === code;

function manifest(over: Partial<Manifest> = {}): Manifest {
  return {
    format: 'cellkv-backup',
    version: 1,
    backupId: '00000000-0000-4000-8000-000000000001',
    clusterId: 'test',
    kind: 'full',
    createdAt: new Date(1_700_000_000_000).toISOString(),
    startedAtMs: 1_700_000_000_000,
    finishedAtMs: 1_700_000_001_000,
    base: null,
    nodes: [{ id: 'n1', az: 'az1' }],
    cells: [
      { cell: 'meta', start: '', end: '', epoch: 1, item: { type: 'snapshot', file: 'meta.snapshot', bytes: 10, sha256: 'a'.repeat(64), index: 5, term: 2, pairs: 3, capturedAtMs: 1_700_000_000_500, node: 'n1' } },
      { cell: 'c1', start: '', end: null, epoch: 1, item: { type: 'snapshot', file: 'c1.snapshot', bytes: 10, sha256: 'b'.repeat(64), index: 50, term: 2, pairs: 3, capturedAtMs: 1_700_000_000_500, node: 'n1' } },
    ],
    totalBytes: 20,
    ...over,
  };
}

test('manifest: a valid one parses; bad fields, path tricks and duplicate cells are BACKUP_CORRUPT', () => {
  const m = manifest();
  assert.deepEqual(parseManifest(JSON.stringify(m), 'x'), m);
  assert.throws(() => parseManifest('{not json', 'x'), isCode('BACKUP_CORRUPT'));
  assert.throws(() => parseManifest(JSON.stringify({ ...m, version: 2 }), 'x'), isCode('BACKUP_CORRUPT'));
  const evil = structuredClone(m);
  (evil.cells[1]!.item as { file: string }).file = '../../etc/passwd';
  assert.throws(() => parseManifest(JSON.stringify(evil), 'x'), isCode('BACKUP_CORRUPT'));
  const badSha = structuredClone(m);
  (badSha.cells[0]!.item as { sha256: string }).sha256 = 'xyz';
  assert.throws(() => parseManifest(JSON.stringify(badSha), 'x'), isCode('BACKUP_CORRUPT'));
  assert.throws(() => parseManifest(JSON.stringify({ ...m, cells: [m.cells[0], m.cells[0]] }), 'x'), /listed twice/);
  assert.throws(() => parseManifest(JSON.stringify({ ...m, cells: [] }), 'x'), isCode('BACKUP_CORRUPT'));
});

test('chunks: a full chunk as base64 in its JSON reply stays well below NATS max_payload (1 MiB)', () => {
  const reply = JSON.stringify({ ok: true, offset: Number.MAX_SAFE_INTEGER, next: Number.MAX_SAFE_INTEGER, done: false, data: Buffer.alloc(MAX_CHUNK_BYTES).toString('base64') });
  assert.ok(reply.length < 0.75 * 1024 * 1024, `${reply.length} bytes`);
});

test('chunks: in-order chunks assemble and match the digest; gaps, overruns, bad flags and digests are refused', async () => {
  const data = new Uint8Array(2500).map((_, i) => i % 251);
  const ref = { bytes: data.length, sha256: sha(data) };
  const piece = (from: number, to: number, done = to === data.length): ChunkReply => ({ offset: from, next: to, done, data: Buffer.from(data.subarray(from, to)).toString('base64') });
  const ok = new ChunkAssembler(ref, 'blob');
  ok.accept(piece(0, 1000));
  ok.accept(piece(1000, 2000));
  ok.accept(piece(2000, 2500));
  ok.finish();

  const gap = new ChunkAssembler(ref, 'blob');
  gap.accept(piece(0, 1000));
  assert.throws(() => gap.accept(piece(1500, 2000)), /expected 1000/);
  assert.throws(() => new ChunkAssembler(ref, 'b').accept({ ...piece(0, 1000), next: 1200 }), /carries 1000 bytes/);
  assert.throws(() => new ChunkAssembler({ ...ref, bytes: 800 }, 'b').accept(piece(0, 1000)), /past the announced/);
  assert.throws(() => new ChunkAssembler(ref, 'b').accept(piece(0, 1000, true)), /end flag/);
  const short = new ChunkAssembler(ref, 'b');
  short.accept(piece(0, 1000));
  assert.throws(() => short.finish(), /got 1000 of 2500/);
  const wrong = new ChunkAssembler({ ...ref, sha256: sha(new Uint8Array(1)) }, 'b');
  wrong.accept(piece(0, 2500));
  assert.throws(() => wrong.finish(), /damaged in transit/);

  // fetchBlob asks for each next offset and hands the pieces on in order.
  const got: Uint8Array[] = [];
  const asked: number[] = [];
  await fetchBlob({ ...ref, blob: 'id', inline: null }, 'blob', async (_b, off) => {
    asked.push(off);
    return piece(off, Math.min(off + 700, data.length));
  }, async (b) => void got.push(b));
  assert.deepEqual(asked, [0, 700, 1400, 2100]);
  assert.deepEqual(Buffer.concat(got), Buffer.from(data));
  // A node that keeps answering the same chunk cannot loop forever.
  await assert.rejects(fetchBlob({ ...ref, blob: 'id', inline: null }, 'blob', async () => piece(0, 700), async () => undefined), /expected 700/);
});

function writeEntry(index: number, term: number, nowMs: number): Entry {
  const data = encodeCellEntryPayload({ commands: [{ kind: 'write', requestId: `r${index}`, tenant: 't', nowMs, atomic: false, ops: [{ op: 'delete', key: new Uint8Array([1]), ifVersion: null }] }] });
  return { index, term, kind: 'normal', data };
}

test('log frames: round trip, CRC damage detected, segment checks, proposal times', () => {
  const entries: Entry[] = [writeEntry(11, 3, 1000), { index: 12, term: 3, kind: 'normal', data: new Uint8Array(0) }, writeEntry(13, 4, 1200)];
  const bytes = encodeLogFrames(entries);
  const back = decodeLogFrames(bytes, 'seg');
  assert.deepEqual(back.map((e) => [e.index, e.term]), [[11, 3], [12, 3], [13, 4]]);
  const damaged = bytes.slice();
  damaged[damaged.length - 2]! ^= 0xff;
  assert.throws(() => decodeLogFrames(damaged, 'seg'), isCode('BACKUP_CORRUPT'));
  const item: LogItem = { type: 'log', file: 'c1.log', bytes: bytes.length, sha256: sha(bytes), fromIndex: 11, toIndex: 13, term: 4, entries: 3, firstTimeMs: 1000, lastTimeMs: 1200, node: 'n1' };
  checkLogSegment(back, item, 'seg');
  assert.throws(() => checkLogSegment(back, { ...item, fromIndex: 10, toIndex: 12 }, 'seg'), /index 11, expected 10/);
  assert.throws(() => checkLogSegment(back, { ...item, term: 5 }, 'seg'), /term 4/);
  assert.throws(() => checkLogSegment(back.slice(0, 2), item, 'seg'), /holds 2 entries/);
  assert.equal(entryTimeMs(entries[0]!), 1000);
  assert.equal(entryTimeMs(entries[1]!), null);
  const hb = encodeCellEntryPayload({ commands: [{ kind: 'meta', json: JSON.stringify({ op: 'heartbeat', node: 'n1', az: 'az1', atMs: 777 }) }] });
  assert.equal(entryTimeMs({ index: 1, term: 1, kind: 'normal', data: hb }), 777);
});

test('planRestore: newest snapshot at or before the time, then contiguous logs; a fallback snapshot ends replay', () => {
  const full = manifest();
  const logItem = (from: number, to: number, first: number, last: number): LogItem => ({ type: 'log', file: 'c1.log', bytes: 0, sha256: 'c'.repeat(64), fromIndex: from, toIndex: to, term: 2, entries: to - from + 1, firstTimeMs: first, lastTimeMs: last, node: 'n1' });
  const inc1 = manifest({ kind: 'incremental', cells: [{ ...full.cells[1]!, item: logItem(51, 80, 1_700_000_002_000, 1_700_000_003_000) }] });
  const inc2 = manifest({ kind: 'incremental', cells: [{ ...full.cells[1]!, item: { ...(full.cells[1]!.item as object), index: 200, capturedAtMs: 1_700_000_009_000, fallback: 'compacted' } as Manifest['cells'][number]['item'] }] });
  const chain = [{ dir: '/b/full', manifest: full }, { dir: '/b/inc1', manifest: inc1 }, { dir: '/b/inc2', manifest: inc2 }];
  const latest = planRestore(chain, null).find((p) => p.cell === 'c1')!;
  assert.equal(latest.snapshot.dir, '/b/inc2');
  assert.equal(latest.logs.length, 0);
  const mid = planRestore(chain, 1_700_000_005_000).find((p) => p.cell === 'c1')!;
  assert.equal(mid.snapshot.dir, '/b/full');
  assert.deepEqual(mid.logs.map((l) => l.dir), ['/b/inc1']);
  assert.match(mid.stoppedBy ?? '', /compacted/);
  assert.throws(() => planRestore(chain, 1_600_000_000_000), isCode('PITR_OUT_OF_RANGE'));
  const gap = manifest({ kind: 'incremental', cells: [{ ...full.cells[1]!, item: logItem(60, 80, 1, 2) }] });
  assert.throws(() => planRestore([chain[0]!, { dir: '/b/gap', manifest: gap }], null), isCode('BACKUP_CHAIN_BROKEN'));
});

test('schedule: full every K runs, incrementals on the newest; retention keeps the chains of the newest N', () => {
  const root = '/r';
  const b = (name: string, base: string | null): ExistingBackup => ({
    name,
    manifest: manifest({ kind: base ? 'incremental' : 'full', base: base ? { path: `../${base}`, backupId: 'x', manifestSha256: 'd'.repeat(64) } : null }),
  });
  assert.deepEqual(planNext([], 3, root), { kind: 'full', base: null });
  const list = [b('20260101T000000Z', null), b('20260101T010000Z', '20260101T000000Z')];
  assert.deepEqual(planNext(list, 3, root), { kind: 'incremental', base: '20260101T010000Z' });
  const three = [...list, b('20260101T020000Z', '20260101T010000Z')];
  assert.deepEqual(planNext(three, 3, root), { kind: 'full', base: null });
  assert.deepEqual(planNext(list, 1, root), { kind: 'full', base: null });
  const all = [...three, b('20260101T030000Z', null), { name: '20260101T025000Z', manifest: null }, b('20260101T040000Z', '20260101T030000Z')];
  const sorted = all.sort((x, y) => x.name.localeCompare(y.name));
  // Keep 1: the newest incremental and its full; the older chain and the crashed dir go.
  assert.deepEqual(retention(sorted, 1, root), ['20260101T000000Z', '20260101T010000Z', '20260101T020000Z', '20260101T025000Z']);
  // Keep 3: the third newest is an incremental, so its whole chain stays.
  assert.deepEqual(retention(sorted, 3, root), ['20260101T025000Z']);
  assert.equal(backupDirName(Date.UTC(2026, 11, 3, 12, 0, 5, 123)), '20261203T120005Z');
});

test('argument parsing: intervals, times, node lists', () => {
  assert.equal(parseInterval('1h'), 3_600_000);
  assert.equal(parseInterval('90s'), 90_000);
  assert.equal(parseInterval('30'), 30_000);
  assert.throws(() => parseInterval('10ms'), isCode('INVALID_ARGUMENT'));
  assert.throws(() => parseInterval('soon'), isCode('INVALID_ARGUMENT'));
  assert.equal(parseToTime('2026-12-03T12:00:00Z'), Date.UTC(2026, 11, 3, 12));
  assert.equal(parseToTime('1700000000000'), 1_700_000_000_000);
  assert.throws(() => parseToTime('later'), isCode('INVALID_ARGUMENT'));
  assert.deepEqual(parseRestoreNodes('n1:az1, n2:az2'), [{ id: 'n1', az: 'az1' }, { id: 'n2', az: 'az2' }]);
  assert.throws(() => parseRestoreNodes('n1'), isCode('INVALID_ARGUMENT'));
  assert.throws(() => parseRestoreNodes('n1:az1,n1:az2'), /twice/);
  assert.throws(() => parseRestoreNodes('N1:az1'), isCode('INVALID_ARGUMENT'));
});
