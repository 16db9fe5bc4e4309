// The records of a replica this node no longer hosts (a cell merged away): its Raft log, hard
// state and snapshot metadata, applied state, dedupe table, usage counters, meta documents and
// replica record. Data keys are not among them: they belong to the cell that absorbed it.

import type { BatchOp, KvDb } from '../kv/kv-db.js';
import {
  appliedKey,
  dedupeAgeRange,
  dedupeRange,
  hardStateKey,
  metaDocRange,
  raftLogRange,
  replicaKey,
  snapshotMetaKey,
  usageRange,
} from '../storage/records.js';

/** Deletes of every record of `cellId` on this node (the replica record last, in one batch). */
export async function replicaRecordDeletes(kv: KvDb, cellId: string): Promise<BatchOp[]> {
  const ops: BatchOp[] = [];
  for (const range of [raftLogRange(cellId), dedupeRange(cellId), dedupeAgeRange(cellId, Number.MAX_SAFE_INTEGER), usageRange(cellId), metaDocRange(cellId)]) {
    for await (const [k] of kv.iterator(range)) ops.push({ type: 'del', key: k });
  }
  for (const key of [hardStateKey(cellId), snapshotMetaKey(cellId), appliedKey(cellId), replicaKey(cellId)]) ops.push({ type: 'del', key });
  return ops;
}
