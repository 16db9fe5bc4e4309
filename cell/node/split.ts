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
import type { CellEntryPayload, OpResult, SplitCommand } from '../../shared/cell-protocol.js';
import { KvError } from '../../shared/errors.js';
import { assert } from '../../shared/assert.js';
import { isJoint } from '../raft/confchange.js';
import { compareBytes } from '../../shared/keys.js';
import { META_CELL_ID, hexOf } from '../../shared/directory.js';
import {
  appliedKey,
  dedupeRange,
  dedupeRehomer,
  encodeAppliedState,
  encodeHardStateRecord,
  encodeReplicaRecord,
  encodeSnapshotMetaRecord,
  hardStateKey,
  replicaKey,
  snapshotMetaKey,
  usageRange,
  type ReplicaRecord,
} from '../storage/records.js';
import type { BatchOp, KvDb } from '../kv/kv-db.js';
import type { GroupCommit } from '../storage/group-commit.js';
import type { NodeClock } from './clock.js';
import type { NodeConfig } from './config.js';
import type { Logger } from './log.js';
import type { NodeMetrics } from './metrics.js';
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
  if (r.frozen) return 'the cell is frozen for a merge';
  // The new cell starts with the cell's configuration: a move's learner would be left in it.
  if (r.conf.learners.length > 0 || isJoint(r.conf)) return 'a membership change is in progress';
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
  // Both halves keep the proof of earlier merges (a frozen replica of an absorbed cell reads it).
  const absorbed = r.absorbed.length > 0 ? { absorbed: r.absorbed } : {};
  const left: ReplicaRecord = { cellId: r.cellId, start: hexOf(r.range.start), end: hexOf(cmd.splitKey), epoch, ...absorbed };
  const right: ReplicaRecord = { cellId: cmd.newCellId, start: hexOf(cmd.splitKey), end: r.range.end === null ? null : hexOf(r.range.end), epoch, ...absorbed };
  const ops: BatchOp[] = [
    { type: 'put', key: replicaKey(left.cellId), value: encodeReplicaRecord(left) },
    { type: 'put', key: replicaKey(right.cellId), value: encodeReplicaRecord(right) },
    // The new cell's Raft state: a snapshot at the split entry, nothing voted yet.
    { type: 'put', key: snapshotMetaKey(right.cellId), value: encodeSnapshotMetaRecord({ index: entry.index, term: entry.term, confState: r.conf }) },
    { type: 'put', key: hardStateKey(right.cellId), value: encodeHardStateRecord({ term: entry.term, vote: null, commit: entry.index }) },
    {
      type: 'put',
      key: appliedKey(right.cellId),
      // The version base carries over: a cell born of a merged cell keeps its versions above.
      value: encodeAppliedState({ index: entry.index, confState: r.conf, dedupeCutoffMs: r.data.applied.dedupeCutoffMs, versionBase: r.data.applied.versionBase ?? 0 }),
    },
  ];
  const rehome = dedupeRehomer(r.cellId, right.cellId);
  const empty = new Uint8Array(0);
  for await (const [k, v] of kv.iterator(dedupeRange(r.cellId))) {
    const { recordKey, ageKey } = rehome(k, v);
    ops.push({ type: 'put', key: recordKey, value: v });
    ops.push({ type: 'put', key: ageKey, value: empty });
  }
  // The old cell's counters covered both halves: dropped, so both recount from their data.
  for await (const [k] of kv.iterator(usageRange(r.cellId))) ops.push({ type: 'del', key: k });
  return { left, right, ops };
}

/** What carrying out a split needs from the node (CellNode provides it). */
export interface SplitHost {
  readonly cfg: Pick<NodeConfig, 'nodeId' | 'requestTimeoutMs'>;
  readonly clock: NodeClock;
  readonly replicas: ReadonlyMap<string, Replica>;
  readonly kv: KvDb;
  readonly groupCommit: Pick<GroupCommit, 'stage'>;
  readonly metrics: Pick<NodeMetrics, 'splits' | 'splitSeconds'>;
  readonly log: Logger;
  readonly random: () => number;
  flushAll(sync: boolean): Promise<void>;
  /** Opens a replica from its records (just written): the new cell. */
  openReplica(rec: ReplicaRecord): Promise<Replica>;
  /** Writes the cells' descriptors into the directory (DirectorySync.publish). */
  publish(cells: readonly Replica[]): Promise<void>;
  schedulePump(): void;
}

export class CellSplitter {
  constructor(private readonly host: SplitHost) {}

  /**
   * A split entry (alone in its entry: Replica.flushQueues cuts batches around it): the data
   * of earlier entries is written first, so the split's records are computed from the
   * database; then the split's records and the applied index land in one unit.
   */
  async applySplitEntry(r: Replica, e: Entry, payload: CellEntryPayload): Promise<(OpResult[] | null)[]> {
    const h = this.host;
    const t0 = performance.now();
    h.groupCommit.stage(r.data.takeBatch());
    await h.flushAll(false);
    const results = await r.data.applyEntry(e, payload);
    const cmd = r.data.takePendingRange();
    if (cmd === null) return results;
    assert(cmd.kind === 'split', 'a split entry carries a split');
    const refusal = splitRefusal(r, cmd, (id) => h.replicas.has(id));
    if (refusal !== null) {
      h.log.warn({ cell: r.cellId, index: e.index, refusal }, 'split not applied');
      return results;
    }
    const tPlan = performance.now();
    const plan = await planSplit(h.kv, r, cmd, e);
    const tWrite = performance.now();
    r.data.stageOps(plan.ops);
    h.groupCommit.stage(r.data.takeBatch());
    const wasLeader = r.isLeader;
    r.range = { start: r.range.start, end: cmd.splitKey };
    r.epoch = plan.left.epoch;
    r.rangeEpoch = r.epoch;
    r.data.setRange(r.range.start, r.range.end);
    await h.flushAll(false);
    const tOpen = performance.now();
    // Recounted from the data of the narrowed range (a load begun before the flush is discarded).
    r.data.usage.reset();
    const right = await h.openReplica(plan.right);
    r.lastSplitIndex = e.index;
    right.lastSplitIndex = e.index;
    r.rangeChangedAtMs = right.rangeChangedAtMs = h.clock.now();
    h.metrics.splits.inc();
    const ms = (a: number, b: number) => Math.round(b - a);
    const tEnd = performance.now();
    h.metrics.splitSeconds.observe((tEnd - t0) / 1000);
    h.log.info(
      { cell: r.cellId, newCell: right.cellId, index: e.index, splitKey: plan.right.start, records: plan.ops.length, flushMs: ms(t0, tPlan), planMs: ms(tPlan, tWrite), writeMs: ms(tWrite, tOpen), openMs: ms(tOpen, tEnd) },
      'cell split',
    );
    // The old leader's node starts the new cell's first election: no election timeout to wait.
    if (wasLeader) right.raft.campaign();
    // Every replica publishes both halves (the directory keeps the newest epoch, so the extra
    // copies change nothing): one lost publication, or a crash of the old leader, leaves no hole.
    void h.publish([r, right]).catch(() => undefined);
    h.schedulePump();
    return results;
  }

  /** Proposes a split of `cellId` at `splitKey` (namespaced) on its leader; resolves once applied. */
  requestSplit(cellId: string, splitKey: Uint8Array): Promise<{ left: string; right: string; index: number }> {
    const h = this.host;
    const r = h.replicas.get(cellId);
    if (!r || !r.isLeader) {
      return Promise.reject(new KvError('NOT_LEADER', `node ${h.cfg.nodeId} does not lead cell ${cellId}`, { leaderHint: r?.raft.status().leader ?? '' }));
    }
    if (r.conf.learners.length > 0 || isJoint(r.conf)) {
      return Promise.reject(new KvError('UNAVAILABLE', `cell ${cellId} is changing its membership (a replica move); retry the split when it is done`));
    }
    const newCellId = `c${Math.floor(h.random() * 0xffffffff).toString(36)}${(h.clock.now() % 46656).toString(36)}`;
    return new Promise((resolve, reject) => {
      r.enqueueWrite({
        cmd: { kind: 'split', splitKey, newCellId, epoch: r.epoch },
        resolve: ({ index }) => {
          if (h.replicas.has(newCellId)) resolve({ left: cellId, right: newCellId, index });
          else reject(new KvError('INVALID_ARGUMENT', `split of cell ${cellId} was refused (stale epoch, key outside the range, or a membership change under way); check the key and retry`));
        },
        reject,
        deadline: h.clock.now() + h.cfg.requestTimeoutMs,
      });
      h.schedulePump();
    });
  }
}
