// Splitting a cell, as every replica carries it out when it applies the split entry at index
// N (a Raft command, so all replicas split at the same point of the same history). The data
// stays in place (data keys are not scoped by cell); what changes is ownership:
//   - the cell keeps [start, splitKey) and its epoch goes up by one;
//   - a new cell takes [splitKey, end) with the same replicas and epoch. Its Raft log starts as
//     if from a snapshot at (N, term of the split entry), so its first entry is N + 1 and every
//     version it assigns (index << 16 | position) is above every version the old cell assigned
//     to those keys up to N: versions never repeat across a split;
//   - the new cell's dedupe table is a copy of the old one's (a write retried after the split
//     reaches the new owner and must still apply at most once); both cells' usage counters are
//     recounted from their data.
// Everything is staged in one unit with the old cell's applied index N: a crash leaves either
// no trace of the split (it is applied again from the log) or all of it.

import type { Entry } from '../raft/types.js';
import type { SplitCommand } from '../../shared/cell-protocol.js';
import { compareBytes } from '../../shared/keys.js';
import { META_CELL_ID, hexOf } from '../../shared/directory.js';
import {
  appliedKey,
  decodeDedupeRecord,
  dedupeAgeKey,
  dedupeKey,
  dedupeRange,
  encodeAppliedState,
  encodeHardStateRecord,
  encodeReplicaRecord,
  encodeSnapshotMetaRecord,
  hardStateKey,
  replicaKey,
  snapshotMetaKey,
  splitCellScopedKey,
  usageRange,
  type ReplicaRecord,
} from '../storage/records.js';
import type { BatchOp, KvDb } from '../kv/kv-db.js';
import type { Replica } from './replica.js';

/** Cell ids: what a split may name the new cell. */
const CELL_ID = /^c[a-z0-9-]{1,40}$/;

export interface SplitPlan {
  readonly left: ReplicaRecord;
  readonly right: ReplicaRecord;
  /** Staged with the old cell's applied state N. */
  readonly ops: BatchOp[];
}

/**
 * Why a split command does nothing (every replica decides alike: the same epoch, range and
 * hosted cells at the same applied index), or null when it applies.
 */
export function splitRefusal(r: Replica, cmd: SplitCommand, hosted: (cellId: string) => boolean): string | null {
  if (r.cellId === META_CELL_ID) return 'the meta cell does not split';
  if (cmd.epoch !== r.epoch) return `epoch ${cmd.epoch} is not the cell's ${r.epoch}`;
  if (!CELL_ID.test(cmd.newCellId)) return `bad new cell id ${cmd.newCellId}`;
  if (hosted(cmd.newCellId)) return `cell ${cmd.newCellId} exists`;
  if (compareBytes(cmd.splitKey, r.range.start) <= 0) return 'split key at or before the start';
  if (r.range.end !== null && compareBytes(cmd.splitKey, r.range.end) >= 0) return 'split key at or after the end';
  return null;
}

/** The records of both halves (read from the database: the caller flushed the cell first). */
export async function planSplit(kv: KvDb, r: Replica, cmd: SplitCommand, entry: Entry): Promise<SplitPlan> {
  const epoch = r.epoch + 1;
  const left: ReplicaRecord = { cellId: r.cellId, start: hexOf(r.range.start), end: hexOf(cmd.splitKey), epoch };
  const right: ReplicaRecord = { cellId: cmd.newCellId, start: hexOf(cmd.splitKey), end: r.range.end === null ? null : hexOf(r.range.end), epoch };
  const ops: BatchOp[] = [
    { type: 'put', key: replicaKey(left.cellId), value: encodeReplicaRecord(left) },
    { type: 'put', key: replicaKey(right.cellId), value: encodeReplicaRecord(right) },
    // The new cell's Raft state: a snapshot at the split entry, nothing voted yet.
    { type: 'put', key: snapshotMetaKey(right.cellId), value: encodeSnapshotMetaRecord({ index: entry.index, term: entry.term, confState: r.conf }) },
    { type: 'put', key: hardStateKey(right.cellId), value: encodeHardStateRecord({ term: entry.term, vote: null, commit: entry.index }) },
    {
      type: 'put',
      key: appliedKey(right.cellId),
      value: encodeAppliedState({ index: entry.index, confState: r.conf, dedupeCutoffMs: r.data.applied.dedupeCutoffMs }),
    },
  ];
  for await (const [k, v] of kv.iterator(dedupeRange(r.cellId))) {
    const requestId = new TextDecoder().decode(splitCellScopedKey(k).rest);
    ops.push({ type: 'put', key: dedupeKey(right.cellId, requestId), value: v });
    ops.push({ type: 'put', key: dedupeAgeKey(right.cellId, decodeDedupeRecord(v).atMs, requestId), value: new Uint8Array(0) });
  }
  // The old cell's counters covered both halves: dropped, so both recount from their data.
  for await (const [k] of kv.iterator(usageRange(r.cellId))) ops.push({ type: 'del', key: k });
  return { left, right, ops };
}
