// Merging two adjacent cells, as every replica carries out the merge's Raft commands (decision
// 0014). The data stays in place (data keys are not scoped by cell); a merge moves ownership in
// two steps, each an entry of its own:
//   1. freeze, in the absorbed (right) cell R at index F: R's epoch goes up, and from F on it
//      refuses writes and expiries alike on every replica, so its state is fixed at F;
//   2. commit, in the absorbing (left) cell L at index M: L's range grows over R's, its epoch
//      goes above both, its version base rises so that every later version (index + base) is
//      above R's last one (F + R's base), and R's dedupe table is copied into L's. On each node
//      L applies M only once that node's replica of R has applied F (the entries wait in
//      Replica.deferred meanwhile), so the data of R's range in LevelDB is R's final state.
// A merge that does not commit is given up in order: an abort in L raises L's epoch, so a commit
// still in flight can never apply, and only then a rollback in R lets R take writes again.
// R's replicas stay (frozen) until every replica of L has the commit on disk (merge.ts), so a
// replica of R that lagged or lost its last writes in a crash can still catch up from R's
// leader before its node's L applies M.

import type { Entry } from '../raft/types.js';
import type { CellEntryPayload, MergeAbortCommand, MergeCommitCommand, MergeFreezeCommand, MergeRollbackCommand, OpResult } from '../../shared/cell-protocol.js';
import { compareBytes } from '../../shared/keys.js';
import { isJoint } from '../raft/confchange.js';
import { META_CELL_ID, hexOf } from '../../shared/directory.js';
import { dedupeRange, dedupeRehomer, encodeReplicaRecord, replicaKey, usageRange, type ReplicaRecord } from '../storage/records.js';
import type { BatchOp, KvDb } from '../kv/kv-db.js';
import type { GroupCommit } from '../storage/group-commit.js';
import type { Logger } from './log.js';
import type { NodeClock } from './clock.js';
import type { NodeMetrics } from './metrics.js';
import type { Replica } from './replica.js';

/** What carrying out merge commands needs from the node (CellNode provides it). */
export interface MergeApplyHost {
  readonly clock: Pick<NodeClock, 'now'>;
  readonly replicas: ReadonlyMap<string, Replica>;
  readonly kv: KvDb;
  readonly groupCommit: Pick<GroupCommit, 'stage'>;
  readonly metrics: Pick<NodeMetrics, 'merges' | 'mergeSeconds'>;
  readonly log: Logger;
  flushAll(sync: boolean): Promise<void>;
  /** Writes descriptors into the directory and drops the retired ones (DirectorySync.publish). */
  publish(cells: readonly Replica[], retire?: readonly { id: string; epoch: number }[]): void;
  schedulePump(): void;
}

/** Why a freeze does nothing (decided from the cell's own state alike on every replica), or null. */
export function freezeRefusal(r: Replica, cmd: MergeFreezeCommand): string | null {
  if (r.cellId === META_CELL_ID) return 'the meta cell does not merge';
  if (r.frozen) return 'the cell is frozen already';
  if (cmd.epoch !== r.epoch) return `epoch ${cmd.epoch} is not the cell's ${r.epoch}`;
  if (cmd.into === r.cellId) return 'a cell does not merge into itself';
  return null;
}

/** Why a commit does nothing (from the absorbing cell's own state alike on every replica), or null. */
export function commitRefusal(r: Replica, cmd: MergeCommitCommand): string | null {
  if (r.cellId === META_CELL_ID) return 'the meta cell does not merge';
  if (r.frozen) return 'the cell is frozen for another merge';
  if (cmd.epoch !== r.epoch) return `epoch ${cmd.epoch} is not the cell's ${r.epoch}`;
  if (cmd.source === r.cellId) return 'a cell does not absorb itself';
  // A replica a move is adding has no replica of the source: it could never apply the commit.
  if (r.conf.learners.length > 0 || isJoint(r.conf)) return 'a membership change is in progress';
  if (r.range.end === null || compareBytes(r.range.end, cmd.sourceStart) !== 0) return 'the source does not start where the cell ends';
  if (cmd.sourceEnd !== null && compareBytes(cmd.sourceEnd, cmd.sourceStart) <= 0) return 'the source range is empty';
  return null;
}

/**
 * Whether this node's replica of the cell may apply the commit now: its replica of the source
 * has applied the freeze. A refused commit is always ready (it changes nothing).
 */
export function commitReady(r: Replica, cmd: MergeCommitCommand, replicas: ReadonlyMap<string, Replica>): boolean {
  if (commitRefusal(r, cmd) !== null) return true;
  const source = replicas.get(cmd.source);
  return source !== undefined && source.frozen && source.data.applied.index >= cmd.freezeIndex;
}

/** How many absorbed cell ids a record keeps (a frozen replica is retired long before). */
const MAX_ABSORBED = 64;

/**
 * Whether `r` (frozen) was merged into a cell this node hosts: the commit applied here, by the
 * absorbing cell or the cell it later split from (ReplicaRecord.absorbed, inherited by splits).
 */
export function isAbsorbed(r: Replica, replicas: ReadonlyMap<string, Replica>): boolean {
  return r.merge !== null && absorberOf(r.cellId, replicas) !== null;
}

/** The live replica here whose record says it (or an ancestor) absorbed `cellId`. */
export function absorberOf(cellId: string, replicas: ReadonlyMap<string, Replica>): Replica | null {
  for (const x of replicas.values()) if (!x.frozen && x.absorbed.includes(cellId)) return x;
  return null;
}

function recordOf(r: Replica): ReplicaRecord {
  return {
    cellId: r.cellId,
    start: hexOf(r.range.start),
    end: r.range.end === null ? null : hexOf(r.range.end),
    epoch: r.epoch,
    ...(r.merge !== null ? { merge: r.merge } : {}),
    ...(r.absorbed.length > 0 ? { absorbed: r.absorbed } : {}),
  };
}

export class MergeApplier {
  constructor(private readonly host: MergeApplyHost) {}

  /** An entry holding one merge command: applied, then carried out (or refused alike everywhere). */
  async applyEntry(r: Replica, e: Entry, payload: CellEntryPayload): Promise<(OpResult[] | null)[]> {
    const kind = payload.commands[0]!.kind;
    if (kind === 'mergeCommit') {
      // The data of earlier entries (and the source's final state) is in LevelDB before the
      // commit's records are computed from it.
      this.host.groupCommit.stage(r.data.takeBatch());
      await this.host.flushAll(false);
    }
    const results = await r.data.applyEntry(e, payload);
    const cmd = r.data.takePendingRange();
    if (cmd === null) return results;
    if (cmd.kind === 'mergeFreeze') this.freeze(r, e, cmd);
    else if (cmd.kind === 'mergeCommit') await this.commit(r, e, cmd);
    else if (cmd.kind === 'mergeRollback') this.rollback(r, e, cmd);
    else if (cmd.kind === 'mergeAbort') this.abort(r, e, cmd);
    return results;
  }

  private freeze(r: Replica, e: Entry, cmd: MergeFreezeCommand): void {
    const refusal = freezeRefusal(r, cmd);
    if (refusal !== null) {
      this.host.log.warn({ cell: r.cellId, index: e.index, refusal }, 'merge freeze not applied');
      return;
    }
    // A new epoch: reads and scans that waited across the freeze are refused (request-handler).
    r.epoch += 1;
    r.rangeEpoch = r.epoch;
    r.merge = { into: cmd.into, intoEpoch: cmd.intoEpoch, freezeIndex: e.index, atMs: cmd.atMs };
    r.data.frozen = true;
    r.sendableSnapshot = null;
    r.data.stageOps([{ type: 'put', key: replicaKey(r.cellId), value: encodeReplicaRecord(recordOf(r)) }]);
    this.host.log.info({ cell: r.cellId, into: cmd.into, index: e.index, epoch: r.epoch }, 'cell frozen for a merge');
  }

  private abort(r: Replica, e: Entry, cmd: MergeAbortCommand): void {
    if (r.frozen || cmd.epoch !== r.epoch) {
      this.host.log.warn({ cell: r.cellId, source: cmd.source, index: e.index, epoch: r.epoch }, 'merge abort not applied (the merge committed, or the cell changed)');
      return;
    }
    r.epoch += 1;
    r.data.stageOps([{ type: 'put', key: replicaKey(r.cellId), value: encodeReplicaRecord(recordOf(r)) }]);
    this.host.log.info({ cell: r.cellId, source: cmd.source, index: e.index, epoch: r.epoch }, 'merge aborted: a commit still in flight can no longer apply');
  }

  private rollback(r: Replica, e: Entry, cmd: MergeRollbackCommand): void {
    if (!r.frozen || cmd.epoch !== r.epoch) {
      this.host.log.warn({ cell: r.cellId, index: e.index, epoch: r.epoch, frozen: r.frozen }, 'merge rollback not applied');
      return;
    }
    r.epoch += 1;
    r.rangeEpoch = r.epoch;
    r.merge = null;
    r.data.frozen = false;
    r.data.stageOps([{ type: 'put', key: replicaKey(r.cellId), value: encodeReplicaRecord(recordOf(r)) }]);
    this.host.log.info({ cell: r.cellId, index: e.index, epoch: r.epoch }, 'merge rolled back: the cell takes writes again');
  }

  private async commit(r: Replica, e: Entry, cmd: MergeCommitCommand): Promise<void> {
    const h = this.host;
    const t0 = performance.now();
    const refusal = commitRefusal(r, cmd);
    if (refusal !== null) {
      h.log.warn({ cell: r.cellId, source: cmd.source, index: e.index, refusal }, 'merge commit not applied');
      return;
    }
    const source = h.replicas.get(cmd.source);
    if (source === undefined) throw new Error(`merge commit of ${cmd.source} into ${r.cellId} applied without a local replica of the source`);
    r.epoch = Math.max(r.epoch, cmd.sourceEpoch) + 1;
    r.rangeEpoch = r.epoch;
    r.range = { start: r.range.start, end: cmd.sourceEnd };
    r.data.setRange(r.range.start, r.range.end);
    // (M + 1) + base > F + source base: versions of the merged cell stay above the source's.
    r.data.raiseVersionBase(Math.max(0, cmd.sourceVersionTop - e.index));
    r.absorbed = [...r.absorbed.filter((id) => id !== cmd.source), cmd.source].slice(-MAX_ABSORBED);
    const ops: BatchOp[] = [{ type: 'put', key: replicaKey(r.cellId), value: encodeReplicaRecord(recordOf(r)) }];
    // A write applied in the source and retried after the merge reaches this cell: at most once.
    const rehome = dedupeRehomer(cmd.source, r.cellId);
    const empty = new Uint8Array(0);
    for await (const [k, v] of h.kv.iterator(dedupeRange(cmd.source))) {
      const { recordKey, ageKey } = rehome(k, v);
      ops.push({ type: 'put', key: recordKey, value: v });
      ops.push({ type: 'put', key: ageKey, value: empty });
    }
    // The counters are recounted from the data of the grown range.
    for await (const [k] of h.kv.iterator(usageRange(r.cellId))) ops.push({ type: 'del', key: k });
    r.data.stageOps(ops);
    h.groupCommit.stage(r.data.takeBatch());
    await h.flushAll(false);
    r.data.usage.reset();
    r.rangeChangedAtMs = h.clock.now();
    r.lastSplitIndex = e.index; // the log keeps the commit a while (a lagging replica applies it)
    h.metrics.merges.inc();
    h.metrics.mergeSeconds.observe((performance.now() - t0) / 1000);
    h.log.info({ cell: r.cellId, source: cmd.source, index: e.index, epoch: r.epoch, records: ops.length }, 'cells merged');
    h.publish([r], [{ id: cmd.source, epoch: source.epoch }]);
    h.schedulePump();
  }
}
