// A node's snapshot duties for its replicas: installing a snapshot a leader sent (data and
// log metadata durable together), and building a sendable snapshot and compacting the log
// once it grew long or a follower needs one.

import type { Snapshot } from '../raft/types.js';
import { KvError } from '../../shared/errors.js';
import type { PinnedView } from '../storage/node-db.js';
import { CellData } from '../kv/cell-data.js';
import type { KvDb } from '../kv/kv-db.js';
import { META_CELL_ID, bytesOfHex } from '../../shared/directory.js';
import { appliedKey, decodeAppliedState, decodeReplicaRecord, replicaKey } from '../storage/records.js';
import type { NodeConfig } from './config.js';
import type { Failpoints } from './failpoints.js';
import type { MetaState } from './meta.js';
import type { NodeMetrics } from './metrics.js';
import type { Replica } from './replica.js';
import { buildSnapshotData, snapshotInstallOps } from './snapshots.js';

/** What the keeper needs from its node. */
export interface SnapshotHost {
  readonly cfg: NodeConfig;
  readonly kv: KvDb;
  readonly metrics: NodeMetrics;
  readonly failpoints: Failpoints;
  /** Writes everything staged (synced or not); see CellNode.flushAll. */
  flushAll(sync: boolean): Promise<void>;
  meta(): MetaState | null;
  /** A frozen replica whose range this node's absorbing cell owns now: it must send no snapshot. */
  absorbed(r: Replica): boolean;
  /** A read view pinned to now (a LevelDB snapshot); null where the database has none. */
  pinnedView(): PinnedView | null;
}

/** How long (in snapshot intervals of entries) the log keeps a split entry. */
const SPLIT_LOG_HOLD_SNAPSHOTS = 4;

export class SnapshotKeeper {
  constructor(private readonly host: SnapshotHost) {}

  async install(r: Replica, snap: Snapshot): Promise<void> {
    const { cfg, kv, failpoints } = this.host;
    if (failpoints.active) await failpoints.hit('duringSnapshotInstall');
    await this.host.flushAll(false);
    // Data and the log's snapshot metadata become durable together, in one synced unit.
    r.log.stageSnapshot(snap, await snapshotInstallOps(kv, r.cellId, r.range, snap.data));
    // Entries a merge commit held back are covered by the snapshot.
    r.deferred = r.deferred.filter((e) => e.index > snap.metadata.index);
    await this.host.flushAll(true);
    const data = await CellData.open(r.cellId, kv, snap.metadata.confState, { retentionMs: cfg.dedupeRetentionMs, maxEntries: cfg.dedupeMaxEntries }, null);
    r.data.resetTo({ ...data.applied, index: snap.metadata.index, confState: snap.metadata.confState });
    r.conf = snap.metadata.confState;
    // A snapshot taken after a split this replica never applied narrows its range.
    const record = await kv.get(replicaKey(r.cellId));
    if (record) {
      const rec = decodeReplicaRecord(record);
      if (rec.epoch > r.epoch && r.cellId !== META_CELL_ID) {
        r.epoch = rec.epoch;
        r.rangeEpoch = rec.epoch;
        r.range = { start: bytesOfHex(rec.start), end: rec.end === null ? null : bytesOfHex(rec.end) };
        r.data.setRange(r.range.start, r.range.end);
      }
      if (rec.epoch >= r.epoch && r.cellId !== META_CELL_ID) {
        // The merge state is state-machine state: a frozen cell refuses the entries after its
        // freeze on every replica, and the proof of absorbed cells travels with the data (a
        // replica created by a move starts from this snapshot at the same epoch).
        r.absorbed = [...new Set([...r.absorbed, ...(rec.absorbed ?? [])])];
        r.merge = rec.merge ?? null;
        r.data.frozen = rec.merge !== undefined;
      }
    }
    if (r.cellId === META_CELL_ID) await this.host.meta()?.reload(kv);
    r.onSnapshotInstalled(snap.metadata.index);
    this.host.metrics.snapshotInstalls.inc();
  }

  /** Builds a sendable snapshot and compacts the log when it grew long (or one is wanted). */
  async maybeCompact(r: Replica): Promise<void> {
    const { cfg, failpoints } = this.host;
    const applied = r.data.applied.index;
    // While a snapshot is on its way to a follower, keep the log after it (bounded), so the
    // follower goes on from the log once it installed it instead of needing a newer one.
    let keepFrom = Math.max(
      Math.min(applied - cfg.logRetainEntries, ...r.raft.snapshotsInFlight()),
      applied - cfg.logRetainEntries - 4 * cfg.snapshotEveryEntries,
    );
    // Keep a recent split entry in the log (bounded): a replica that lags gets it by append
    // and splits itself, instead of by a snapshot that cannot create the new cell on its node.
    if (r.lastSplitIndex > 0 && applied - r.lastSplitIndex < SPLIT_LOG_HOLD_SNAPSHOTS * cfg.snapshotEveryEntries) {
      keepFrom = Math.min(keepFrom, r.lastSplitIndex - 1);
    }
    const long = keepFrom - r.log.firstIndex() > cfg.snapshotEveryEntries - cfg.logRetainEntries;
    // The data of an absorbed cell's range is the absorbing cell's now: never sent as this one's.
    if (this.host.absorbed(r)) return;
    const wanted = r.snapshotWanted && (r.sendableSnapshot === null || r.sendableSnapshot.metadata.index < r.log.firstIndex() - 1);
    if (!long && !wanted) return;
    r.snapshotWanted = false;
    if (failpoints.active) await failpoints.hit('duringSnapshotSend');
    const term = r.raft.termAt(applied);
    if (term === null) return;
    await this.host.flushAll(false); // the snapshot reads LevelDB: applied data must be in it
    const data = await buildSnapshotData(this.host.kv, r.cellId, r.range);
    r.sendableSnapshot = { metadata: { index: applied, term, confState: r.conf }, data };
    if (!long) return;
    const keepTerm = keepFrom > 0 ? r.raft.termAt(keepFrom) : null;
    if (keepTerm !== null && keepFrom >= r.log.firstIndex()) {
      r.log.stageCompact(keepFrom, { index: keepFrom, term: keepTerm, confState: r.conf });
      await this.host.flushAll(true);
    }
  }

  /**
   * Builds a sendable snapshot and compacts the log up to what every other voter already has
   * (the snapshot's index at most; at least index 1), so a new learner, whose log is empty, is
   * below the first index and starts from this snapshot: replaying the log from index 1 would
   * apply old splits and writes in a context they no longer fit. The snapshot is read from a
   * pinned LevelDB view (its applied state and data come from whole batches), so building it
   * does not stop the Raft loop; only installing it and compacting run in `exclusive` (between
   * pump rounds). Returns the snapshot's index and size and the log's new first index.
   */
  async compactNow(r: Replica, exclusive: <T>(fn: () => Promise<T>) => Promise<T>): Promise<{ index: number; bytes: number; firstIndex: number }> {
    const rangeEpoch = r.rangeEpoch;
    await this.host.flushAll(false); // the pinned view must hold what was applied so far
    const pin = this.host.pinnedView();
    if (pin === null) return exclusive(() => this.compactBuiltHere(r));
    let snap: Snapshot;
    try {
      const raw = await pin.get(appliedKey(r.cellId));
      const applied = raw ? decodeAppliedState(raw) : null;
      const term = applied === null ? null : r.raft.termAt(applied.index);
      if (applied === null || term === null) throw new KvError('UNAVAILABLE', `cell ${r.cellId}: no snapshot point yet (nothing applied, or just compacted); retry`);
      snap = { metadata: { index: applied.index, term, confState: applied.confState }, data: await buildSnapshotData(pin, r.cellId, r.range) };
    } finally {
      await pin.close();
    }
    return exclusive(async () => {
      if (r.rangeEpoch !== rangeEpoch) throw new KvError('UNAVAILABLE', `cell ${r.cellId} split while its snapshot was built; retry the move`);
      r.sendableSnapshot = snap;
      r.snapshotWanted = false;
      return { index: snap.metadata.index, bytes: snap.data.length, firstIndex: await this.compactBehind(r, snap.metadata.index) };
    });
  }

  /** compactNow without a pinned view: the snapshot is built between pump rounds. */
  private async compactBuiltHere(r: Replica): Promise<{ index: number; bytes: number; firstIndex: number }> {
    const applied = r.data.applied.index;
    const term = r.raft.termAt(applied);
    if (term === null) throw new KvError('UNAVAILABLE', `cell ${r.cellId}: no term at applied index ${applied}; retry`);
    await this.host.flushAll(false);
    const data = await buildSnapshotData(this.host.kv, r.cellId, r.range);
    r.sendableSnapshot = { metadata: { index: applied, term, confState: r.conf }, data };
    r.snapshotWanted = false;
    return { index: applied, bytes: data.length, firstIndex: await this.compactBehind(r, applied) };
  }

  /** Compacts the log up to min(index, the other voters' match), never below index 1. */
  private async compactBehind(r: Replica, index: number): Promise<number> {
    const others = r.raft.progress().filter((p) => p.id !== r.nodeId && r.conf.voters.includes(p.id));
    let keepFrom = Math.min(index, ...others.map((p) => p.match));
    if (keepFrom < 1) keepFrom = index;
    const keepTerm = r.raft.termAt(keepFrom);
    if (keepFrom >= r.log.firstIndex() && keepTerm !== null) {
      r.log.stageCompact(keepFrom, { index: keepFrom, term: keepTerm, confState: r.conf });
      await this.host.flushAll(true);
    }
    return r.log.firstIndex();
  }
}
