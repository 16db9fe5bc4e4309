// Making a replica from its records: the bootstrap of a fresh cluster (the meta cell and one
// data cell over the whole keyspace), and a replica's log, state machine and Raft core opened
// from the database (at start, or for the new cell of a split).

import { META_CELL_ID, FIRST_DATA_CELL_ID, bytesOfHex } from '../../shared/directory.js';
import { CellData } from '../kv/cell-data.js';
import type { KvDb } from '../kv/kv-db.js';
import type { GroupCommit } from '../storage/group-commit.js';
import type { NodeDb } from '../storage/node-db.js';
import { RaftLogStore } from '../storage/raft-log-store.js';
import type { NodeConfig } from './config.js';
import type { Logger } from './log.js';
import type { MetaState } from './meta.js';
import type { NodeMutation } from './mutations.js';
import { Replica, type CellRange } from './replica.js';
import type { ReplicaRecord, ReplicaRegistry } from './replica-registry.js';

export interface ReplicaFactoryHost {
  readonly cfg: NodeConfig;
  readonly db: NodeDb;
  readonly kv: KvDb;
  readonly groupCommit: GroupCommit;
  readonly registry: ReplicaRegistry;
  readonly log: Logger;
  readonly random: () => number;
  readonly bootId: string;
  readonly mutations: ReadonlySet<NodeMutation>;
  /** Tracing on: replicas call their waiters' trace hooks. */
  traced(): boolean;
}

/** A fresh cluster: the meta cell and one data cell over the whole keyspace, one replica per AZ. */
export async function bootstrapReplicas(h: ReplicaFactoryHost): Promise<ReplicaRecord[]> {
  const voters = h.cfg.bootstrap.map((n) => n.id).sort();
  const conf = { voters, learners: [], votersOutgoing: [], learnersNext: [], autoLeave: false };
  const records: ReplicaRecord[] = [
    { cellId: META_CELL_ID, start: '', end: '', epoch: 1 },
    { cellId: FIRST_DATA_CELL_ID, start: '', end: null, epoch: 1 },
  ];
  for (const rec of records) {
    const { store } = await RaftLogStore.load(h.db, rec.cellId, h.groupCommit);
    store.stageBootstrap(conf);
    h.registry.stage(h.groupCommit, rec);
  }
  await h.groupCommit.flush();
  h.log.info({ voters }, 'bootstrapped a new cluster');
  return records;
}

/** Opens a replica from its records; `meta` is the meta cell's state when `rec` is the meta cell. */
export async function openReplicaFromDisk(h: ReplicaFactoryHost, rec: ReplicaRecord, meta: MetaState | null): Promise<Replica> {
  const { store, report } = await RaftLogStore.load(h.db, rec.cellId, h.groupCommit);
  if (report.truncatedFrom !== null) {
    h.log.warn({ cell: rec.cellId, ...report }, 'dropped a torn log tail (never acknowledged)');
  }
  const isMeta = rec.cellId === META_CELL_ID;
  const data = await CellData.open(
    rec.cellId,
    h.kv,
    store.initialState().confState,
    { retentionMs: h.cfg.dedupeRetentionMs, maxEntries: h.cfg.dedupeMaxEntries },
    isMeta && meta ? async (json, _index, ops) => meta.apply(json, ops) : null,
    store.snapshotMetadata().index,
  );
  const range: CellRange = isMeta
    ? { start: new Uint8Array(0), end: new Uint8Array(0) }
    : { start: bytesOfHex(rec.start), end: rec.end === null ? null : bytesOfHex(rec.end) };
  data.setRange(range.start, range.end);
  data.mutantKeepsStaleCache = h.mutations.has('valueCacheNotInvalidated');
  data.mutantDropsData = h.mutations.has('dedupeWithoutData');
  const replica = new Replica(rec.cellId, h.cfg.nodeId, store, data, {
    range,
    epoch: rec.epoch,
    electionTicks: h.cfg.electionTicks,
    heartbeatTicks: h.cfg.heartbeatTicks,
    random: h.random,
    bootId: h.bootId,
    limits: { maxCommandsPerEntry: h.cfg.maxCommandsPerEntry, maxQueuedOps: h.cfg.maxPendingOps },
    traced: h.traced(),
    readsBeforeApply: h.mutations.has('readsBeforeApply'),
  });
  // Frozen for a merge before this start: still no writes, no reads (merge-apply.ts).
  if (rec.merge !== undefined) {
    replica.merge = rec.merge;
    data.frozen = true;
  }
  replica.absorbed = rec.absorbed ?? [];
  return replica;
}
