// Replicas that leave their cell: the epoch bump of every applied membership change, learning
// that this node's replica was removed (it applied a configuration without itself, or a
// periodic check finds a member whose applied configuration lacks it), and destroying such a
// replica with everything it kept in the node's LevelDB. Destruction and other changes of the
// set of replicas run between pump rounds (runPending), never while a round uses a replica.

import { allMembers } from '../raft/confchange.js';
import type { ConfState } from '../raft/types.js';
import { KvError } from '../../shared/errors.js';
import { META_CELL_ID, hexOf } from '../../shared/directory.js';
import type { BatchOp, KvDb } from '../kv/kv-db.js';
import type { GroupCommit } from '../storage/group-commit.js';
import { compareBytes } from '../../shared/keys.js';
import {
  appliedKey,
  dataKeyToNs,
  dataRange,
  decodeStoredValue,
  dedupeAgeRange,
  dedupeRange,
  encodeReplicaRecord,
  expiryKey,
  hardStateKey,
  metaDocRange,
  raftLogRange,
  replicaKey,
  snapshotMetaKey,
  usageRange,
} from '../storage/records.js';
import type { NodeClock } from './clock.js';
import type { NodeConfig } from './config.js';
import type { Logger } from './log.js';
import type { NodeMetrics } from './metrics.js';
import type { NodeTransportPort } from './ports.js';
import type { CellRange, Replica } from './replica.js';

/** How long a replica hears no leader before the check asks the cell's members about it. */
const SILENCE_BEFORE_CHECK_MS = 10_000;
const STATUS_TIMEOUT_MS = 1000;

/** Why: removed by a conf change, found removed by the check, replaced as a zombie, or merged away. */
export type DestroyReason = 'removed' | 'gc' | 'zombie' | 'merged';

export interface CollectorHost {
  readonly cfg: Pick<NodeConfig, 'nodeId'>;
  readonly clock: NodeClock;
  readonly replicas: Map<string, Replica>;
  readonly kv: KvDb;
  readonly groupCommit: Pick<GroupCommit, 'stage'>;
  readonly metrics: Pick<NodeMetrics, 'replicasDestroyed'>;
  readonly log: Logger;
  flushAll(sync: boolean): Promise<void>;
  transport(): NodeTransportPort | null;
  schedulePump(): void;
  /** After a replica's records are gone (the node forgets the meta state with the meta replica). */
  onDestroyed?(r: Replica): void;
}

/** A member's view of one cell in its admin `status` answer. */
interface MemberCellStatus {
  readonly cell: string;
  readonly applied: number;
  readonly confState: ConfState;
}

export class ReplicaCollector {
  private readonly doomed = new Map<string, DestroyReason>();
  private readonly tasks: (() => Promise<void>)[] = [];
  private checking = false;

  constructor(private readonly host: CollectorHost) {}

  /** Work waits for the pump (see runPending). */
  get pending(): boolean {
    return this.doomed.size > 0 || this.tasks.length > 0;
  }

  /**
   * A data cell applied a membership change: its epoch goes up (the directory keeps the newest
   * epoch per cell, so the new replica list reaches it), and the record with that epoch is
   * staged with the applied index. A replica that was a member and is no more is destroyed.
   */
  onConfApplied(r: Replica, before: ConfState): void {
    // The meta cell is not in the directory's cell list: no epoch to publish.
    if (r.cellId !== META_CELL_ID) {
      r.epoch += 1;
      const end = r.range.end === null ? null : hexOf(r.range.end);
      r.data.stageOps([{ type: 'put', key: replicaKey(r.cellId), value: encodeReplicaRecord({ cellId: r.cellId, start: hexOf(r.range.start), end, epoch: r.epoch, ...(r.absorbed.length > 0 ? { absorbed: r.absorbed } : {}) }) }]);
    }
    const me = this.host.cfg.nodeId;
    if (allMembers(before).includes(me) && !allMembers(r.conf).includes(me)) this.markRemoved(r.cellId, 'removed');
  }

  markRemoved(cellId: string, reason: DestroyReason): void {
    if (!this.host.replicas.has(cellId)) return;
    this.doomed.set(cellId, reason);
    this.host.schedulePump();
  }

  /** Runs `fn` between pump rounds (no replica is in use then); resolves with its result. */
  exclusive<T>(fn: () => Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.tasks.push(() => fn().then(resolve, reject));
      this.host.schedulePump();
    });
  }

  /** Called by the pump before a round: destroys doomed replicas, runs queued tasks. */
  async runPending(): Promise<void> {
    for (const [cellId, reason] of [...this.doomed]) {
      this.doomed.delete(cellId);
      const r = this.host.replicas.get(cellId);
      if (r) await this.destroy(r, reason);
    }
    for (const task of this.tasks.splice(0)) await task();
  }

  /**
   * Deletes everything of the replica in one synced unit: its Raft log, hard state, snapshot
   * metadata, applied state, dedupe table, usage counters, meta documents and record, and the
   * data of its range with their expiry entries, unless another replica here owns part of that
   * range (a merge leaves such a pair). Only between pump rounds (runPending / exclusive).
   */
  async destroy(r: Replica, reason: DestroyReason): Promise<void> {
    const h = this.host;
    h.replicas.delete(r.cellId);
    r.failAll(new KvError('WRONG_RANGE', `node ${h.cfg.nodeId} no longer hosts cell ${r.cellId}; refresh the directory`));
    await h.flushAll(false);
    const ops: BatchOp[] = [];
    const id = r.cellId;
    for (const k of [hardStateKey(id), snapshotMetaKey(id), appliedKey(id), replicaKey(id)]) ops.push({ type: 'del', key: k });
    for (const range of [raftLogRange(id), dedupeRange(id), dedupeAgeRange(id, Number.MAX_SAFE_INTEGER), usageRange(id), metaDocRange(id)]) {
      for await (const [k] of h.kv.iterator(range)) ops.push({ type: 'del', key: k });
    }
    const overlapped = [...h.replicas.values()].some((o) => o.cellId !== META_CELL_ID && rangesOverlap(o.range, r.range));
    let dataKeys = 0;
    if (!overlapped) {
      for await (const [k, v] of h.kv.iterator(dataRange(r.range.start, r.range.end))) {
        ops.push({ type: 'del', key: k });
        const sv = decodeStoredValue(v);
        if (sv.meta.expiresAt !== null) ops.push({ type: 'del', key: expiryKey(sv.meta.expiresAt, dataKeyToNs(k)) });
        dataKeys++;
      }
    }
    h.groupCommit.stage(ops);
    await h.flushAll(true);
    h.metrics.replicasDestroyed.inc({ reason });
    h.onDestroyed?.(r);
    h.log.info({ cell: id, reason, records: ops.length, dataKeys, keptData: overlapped }, 'replica destroyed');
  }

  /**
   * Every few seconds: a replica that has not heard a leader for a while asks the cell's
   * members. An answer whose APPLIED configuration lacks this node, at an applied index at or
   * past ours, proves the removal (applied implies committed). Silence alone proves nothing.
   */
  async check(): Promise<void> {
    const h = this.host;
    const transport = h.transport();
    if (this.checking || !transport) return;
    this.checking = true;
    try {
      const me = h.cfg.nodeId;
      const now = h.clock.now();
      for (const r of [...h.replicas.values()]) {
        if (this.doomed.has(r.cellId) || r.isLeader) continue;
        if (now - r.lastLeaderContactMs < SILENCE_BEFORE_CHECK_MS) continue;
        // A replica that never was a member (an empty one a move prepared) is replaced by the
        // next prepare of its cell, not collected here.
        if (r.data.applied.index === 0 || !allMembers(r.conf).includes(me)) continue;
        for (const node of allMembers(r.conf)) {
          if (node === me) continue;
          const st = await memberStatus(transport, node, r.cellId);
          if (st && st.confState.voters.length > 0 && st.applied >= r.data.applied.index && !allMembers(st.confState).includes(me)) {
            h.log.warn({ cell: r.cellId, provedBy: node, theirApplied: st.applied, ourApplied: r.data.applied.index }, 'replica was removed from its cell; destroying it');
            this.markRemoved(r.cellId, 'gc');
            break;
          }
        }
      }
    } finally {
      this.checking = false;
    }
  }
}

async function memberStatus(transport: NodeTransportPort, node: string, cellId: string): Promise<MemberCellStatus | null> {
  try {
    const raw = await transport.requestAdmin(node, new TextEncoder().encode(JSON.stringify({ op: 'status' })), STATUS_TIMEOUT_MS);
    const body = JSON.parse(new TextDecoder().decode(raw)) as { ok?: boolean; cells?: MemberCellStatus[] };
    return body.cells?.find((c) => c.cell === cellId) ?? null;
  } catch {
    return null;
  }
}

/** Whether [a.start, a.end) and [b.start, b.end) share a key (end null = unbounded). */
export function rangesOverlap(a: CellRange, b: CellRange): boolean {
  const startsBeforeEnd = (x: CellRange, y: CellRange) => y.end === null || compareBytes(x.start, y.end) < 0;
  return startsBeforeEnd(a, b) && startsBeforeEnd(b, a);
}
