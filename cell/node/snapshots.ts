// State-machine snapshots of one cell as raw LevelDB pairs: the cell's data range with the
// expiry index of those keys, its dedupe table, its meta documents, its tenant usage counters
// and its applied state.
// Built from one LevelDB iterator pass while no apply of the cell is in flight, so the pairs
// are exactly the state at the applied index; installed by replacing the same key sets.

import { BinaryReader, BinaryWriter } from '../../shared/codec/index.js';
import {
  appliedKey,
  decodeReplicaRecord,
  replicaKey,
  dataKeyToNs,
  dataRange,
  decodeStoredValue,
  dedupeAgeRange,
  dedupeRange,
  expiryKey,
  isDataKey,
  metaDocRange,
  usageRange,
  type KeyRange,
} from '../storage/records.js';
import type { BatchOp, KvDb } from '../kv/kv-db.js';
import type { CellRange } from './replica.js';
import { compareBytes } from '../../shared/keys.js';
import { bytesOfHex } from '../../shared/directory.js';

function cellRanges(cellId: string): KeyRange[] {
  return [dedupeRange(cellId), dedupeAgeRange(cellId, Number.MAX_SAFE_INTEGER), metaDocRange(cellId), usageRange(cellId)];
}

export async function buildSnapshotData(db: KvDb, cellId: string, range: CellRange): Promise<Uint8Array> {
  const w = new BinaryWriter();
  const pairs: [Uint8Array, Uint8Array][] = [];
  for await (const [k, v] of db.iterator(dataRange(range.start, range.end))) pairs.push([k, v]);
  for (const r of cellRanges(cellId)) for await (const [k, v] of db.iterator(r)) pairs.push([k, v]);
  const applied = await db.get(appliedKey(cellId));
  if (applied) pairs.push([appliedKey(cellId), applied]);
  // The cell's own record (range and epoch): a replica that missed a split learns it here.
  const record = await db.get(replicaKey(cellId));
  if (record) pairs.push([replicaKey(cellId), record]);
  w.varuint(pairs.length);
  for (const [k, v] of pairs) {
    w.bytes(k);
    w.bytes(v);
  }
  return w.finish();
}

/** The batch that replaces the cell's state with the snapshot's pairs. */
export async function snapshotInstallOps(db: KvDb, cellId: string, current: CellRange, data: Uint8Array): Promise<BatchOp[]> {
  const ops: BatchOp[] = [];
  // The snapshot's own range may be wider (taken after a merge this replica missed): the keys of
  // both are replaced.
  const range = hull(current, data.length === 0 ? null : recordedRange(data, cellId));
  for await (const [k, v] of db.iterator(dataRange(range.start, range.end))) {
    ops.push({ type: 'del', key: k });
    const sv = decodeStoredValue(v);
    if (sv.meta.expiresAt !== null) ops.push({ type: 'del', key: expiryKey(sv.meta.expiresAt, dataKeyToNs(k)) });
  }
  for (const r of cellRanges(cellId)) for await (const [k] of db.iterator(r)) ops.push({ type: 'del', key: k });
  if (data.length === 0) return ops; // the bootstrap snapshot: the empty state
  const rd = new BinaryReader(data);
  const n = rd.varuint();
  for (let i = 0; i < n; i++) {
    const k = rd.bytes().slice();
    const v = rd.bytes().slice();
    ops.push({ type: 'put', key: k, value: v });
    if (isDataKey(k)) {
      const sv = decodeStoredValue(v);
      if (sv.meta.expiresAt !== null) ops.push({ type: 'put', key: expiryKey(sv.meta.expiresAt, dataKeyToNs(k)), value: new Uint8Array(0) });
    }
  }
  rd.expectEnd();
  return ops;
}

/** The range in the snapshot's replica record of `cellId`, if it has one. */
function recordedRange(data: Uint8Array, cellId: string): CellRange | null {
  const want = replicaKey(cellId);
  const rd = new BinaryReader(data);
  const n = rd.varuint();
  for (let i = 0; i < n; i++) {
    const k = rd.bytes();
    const v = rd.bytes();
    if (k.length === want.length && k.every((b, j) => b === want[j])) {
      const rec = decodeReplicaRecord(v.slice());
      return { start: bytesOfHex(rec.start), end: rec.end === null ? null : bytesOfHex(rec.end) };
    }
  }
  return null;
}

function hull(a: CellRange, b: CellRange | null): CellRange {
  if (b === null) return a;
  const start = compareBytes(a.start, b.start) <= 0 ? a.start : b.start;
  const end = a.end === null || b.end === null ? null : compareBytes(a.end, b.end) >= 0 ? a.end : b.end;
  return { start, end };
}
