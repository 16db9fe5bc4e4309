// The cell node: hosts replicas of many cells (multi-Raft) over one LevelDB and one NATS
// connection. One loop drives every replica: ticks, then a "pump" that collects the Ready of
// every cell, persists all of them with ONE synced write (group commit), sends the Raft
// messages coalesced per destination node, applies committed entries, and answers clients.

import { maySendEarly, type Ready } from '../raft/types.js';
import { CellSplitter } from './split.js';
import { MergeApplier, isAbsorbed } from './merge-apply.js';
import { EntryApplier } from './entry-apply.js';
import { askNode, moveElsewhere, observeRemote } from './remote-ops.js';
import { CellMerger, type MergeResult } from './merge.js';
import { ReplicaMover, type MoveRequest, type MoveResult, type PrepareRequest } from './replica-mover.js';
import { ReplicaCollector } from './replica-gc.js';
import { bootstrapReplicas, openReplicaFromDisk, type ReplicaFactoryHost } from './replica-factory.js';
import { DirectorySync } from './directory-sync.js';
import { Rebalancer, rebalanceConfigFor, type CellStats } from './rebalancer.js';
import { PlacementDriver, placementConfigFor } from './placement-driver.js';
import { mulberry32 } from './random.js';
import { randomUUID } from 'node:crypto';
import type { KvDb } from '../kv/kv-db.js';
import { Failpoints } from './failpoints.js';
import { NodeMetrics } from './metrics.js';
import { nodeMetricsSource } from './metrics-source.js';
import { MetaState } from './meta.js';
import type { Replica } from './replica.js';
import { NodeTransport } from './transport.js';
import type { NodeDeps, NodeTransportPort } from './ports.js';
import { NO_MUTATIONS, type NodeMutation } from './mutations.js';
import { RaftMail } from './raft-mail.js';
import { SnapshotKeeper } from './snapshot-keeper.js';
import type { NodeConfig } from './config.js';
import { KvError } from '../../shared/errors.js';
import { META_CELL_ID, hexOf } from '../../shared/directory.js';

import { openNodeDb, type NodeDb } from '../storage/node-db.js';
import { JOINED_VALUE, joinedKey } from '../storage/records.js';
import { GroupCommit } from '../storage/group-commit.js';
import { ReplicaRegistry, type ReplicaRecord } from './replica-registry.js';
import { RequestHandler } from './request-handler.js';
import type { CellTracing } from './tracing.js';
import type { Logger } from './log.js';
import { systemClock, type NodeClock, type TimerHandle } from './clock.js';

/** How often a node checks that the directory knows its cells' current ranges. */
const DIRECTORY_RECONCILE_MS = 500;
/** How often replicas that heard no leader for a while check whether they were removed. */
const REMOVAL_CHECK_MS = 3000;

export class CellNode {
  readonly replicas = new Map<string, Replica>();
  meta: MetaState | null = null;
  /** Time and timers (virtual in the whole-node simulation). */
  readonly clock: NodeClock;
  /** Request tracing; null when telemetry is disabled (the hot path checks only this). */
  tracing: CellTracing | null = null;
  private transport: NodeTransportPort | null = null;
  private readonly mail: RaftMail;
  private readonly snapshots: SnapshotKeeper;
  private timers: TimerHandle[] = [];
  private pumping = false;
  private pumpAgain = false;
  private stopped = false;
  private readonly random: () => number;
  private readonly failpoints: Failpoints;
  private readonly requests: RequestHandler;
  private readonly lastLeader = new Map<string, string | null>();
  private readonly mutations: ReadonlySet<NodeMutation>;
  private readonly directorySync: DirectorySync;
  private readonly splitter: CellSplitter;
  private readonly mergeApplier: MergeApplier;
  private readonly applier: EntryApplier;
  readonly merger: CellMerger;
  private readonly rebalancer: Rebalancer | null;
  private readonly placement: PlacementDriver | null;
  private readonly mover: ReplicaMover;
  private readonly collector: ReplicaCollector;

  private constructor(
    readonly cfg: NodeConfig,
    readonly db: NodeDb,
    private readonly kv: KvDb,
    private readonly groupCommit: GroupCommit,
    private readonly registry: ReplicaRegistry,
    private readonly log: Logger,
    readonly metrics: NodeMetrics,
    private readonly deps: NodeDeps,
  ) {
    // The directory host reads `meta` when it needs it: the meta replica opens after this.
    const node = this;
    this.clock = deps.clock;
    this.mutations = deps.mutations ?? NO_MUTATIONS;
    this.random = deps.random;
    this.failpoints = new Failpoints(cfg.failpoints);
    this.requests = new RequestHandler(this, log);
    this.snapshots = new SnapshotKeeper({
      cfg,
      kv,
      metrics,
      failpoints: this.failpoints,
      flushAll: (sync) => this.flushAll(sync),
      meta: () => this.meta,
      absorbed: (r) => isAbsorbed(r, this.replicas),
      pinnedView: () => this.db.pinnedView?.() ?? null,
    });
    this.mail = new RaftMail(cfg.nodeId, cfg.heartbeatTicks * cfg.tickMs, metrics, () => this.transport, deps.clock, cfg.snapshotMaxBytesPerSec);
    this.directorySync = new DirectorySync({
      cfg,
      clock: deps.clock,
      replicas: this.replicas,
      get meta() {
        return node.meta;
      },
      transport: () => this.transport,
      proposeMeta: (json) => this.proposeMeta(json),
      hexRange: (r) => this.hexRange(r),
    });
    this.collector = new ReplicaCollector({
      cfg,
      clock: deps.clock,
      replicas: this.replicas,
      kv,
      groupCommit,
      metrics,
      log,
      flushAll: (sync) => this.flushAll(sync),
      transport: () => this.transport,
      schedulePump: () => this.schedulePump(),
      // Without its meta replica the node asks the meta leader for the directory (meta-link.ts).
      onDestroyed: (r) => {
        if (r.cellId === META_CELL_ID) this.meta = null;
      },
    });
    this.mover = new ReplicaMover({
      cfg,
      clock: deps.clock,
      replicas: this.replicas,
      metrics,
      log,
      directory: () => this.directorySync.knownDirectory(),
      transport: () => this.transport,
      schedulePump: () => this.schedulePump(),
      // Installing and compacting between pump rounds (mid-round, the applied index runs ahead of the written data).
      compactNow: (r) => this.snapshots.compactNow(r, (fn) => this.collector.exclusive(fn)),
      publish: (cells, azHints) => this.directorySync.publish(cells, { azHints }),
      destroyZombie: (r) => this.collector.destroy(r, 'zombie'),
      createEmptyReplica: async (rec) => {
        this.registry.stage(this.groupCommit, rec);
        this.groupCommit.put(joinedKey(), JOINED_VALUE);
        await this.flushAll(true);
        return this.openReplica(rec);
      },
    });
    this.splitter = new CellSplitter({
      cfg,
      clock: deps.clock,
      replicas: this.replicas,
      kv,
      groupCommit,
      metrics,
      log,
      random: deps.random,
      flushAll: (sync) => this.flushAll(sync),
      openReplica: (rec) => this.openReplica(rec),
      publish: (cells) => this.directorySync.publish(cells),
      schedulePump: () => this.schedulePump(),
    });
    this.mergeApplier = new MergeApplier({
      clock: deps.clock,
      replicas: this.replicas,
      kv,
      groupCommit,
      metrics,
      log,
      flushAll: (sync) => this.flushAll(sync),
      publish: (cells, retire) => void this.directorySync.publish(cells, retire ? { retire } : {}).catch(() => undefined),
      schedulePump: () => this.schedulePump(),
    });
    this.applier = new EntryApplier({
      replicas: this.replicas,
      failpoints: this.failpoints,
      groupCommit,
      metrics,
      traced: () => this.tracing !== null,
      applySplit: (r, e, payload) => this.splitter.applySplitEntry(r, e, payload),
      applyMerge: (r, e, payload) => this.mergeApplier.applyEntry(r, e, payload),
      confApplied: (r, before) => this.collector.onConfApplied(r, before),
    });
    this.merger = new CellMerger({
      cfg,
      clock: deps.clock,
      replicas: this.replicas,
      log,
      transport: () => this.transport,
      flushAll: (sync) => this.flushAll(sync),
      schedulePump: () => this.schedulePump(),
      retireReplica: (cellId) => this.retireReplica(cellId),
      directory: () => this.directorySync.knownDirectory(),
    });
    this.rebalancer =
      cfg.rebalanceIntervalMs > 0
        ? new Rebalancer(
            {
              nodeId: cfg.nodeId,
              clock: deps.clock,
              replicas: this.replicas,
              kv,
              log,
              metrics,
              flushAll: (sync) => this.flushAll(sync),
              schedulePump: () => this.schedulePump(),
              requestSplit: (cellId, key) => this.splitter.requestSplit(cellId, key),
              requestMerge: (left, right) => this.merger.requestMerge(left, right),
              observeRemote: (cellId, leader) => observeRemote(() => this.transport, cellId, leader),
              directory: () => this.directorySync.knownDirectory(),
              requestMove: (cellId, from, to, nodes) =>
                this.replicas.has(cellId) ? this.moveReplica({ cell: cellId, from, to }).then(() => undefined) : moveElsewhere(() => this.transport, cellId, from, to, nodes),
              isDraining: (id) => this.directorySync.knownDirectory()?.nodes.find((n) => n.id === id)?.draining === true,
            },
            rebalanceConfigFor(cfg),
          )
        : null;
    // Fleet placement: runs everywhere, acts only while this node leads the meta cell.
    this.placement =
      cfg.placementIntervalMs > 0
        ? new PlacementDriver(
            {
              nodeId: cfg.nodeId,
              clock: deps.clock,
              log,
              decisions: metrics.placementDecisions,
              isMetaLeader: () => this.replicas.get(META_CELL_ID)?.isLeader === true,
              directory: () => this.meta?.directory() ?? null,
              requestAdmin: (to, body, timeoutMs) => askNode(() => this.transport, to, body, timeoutMs),
            },
            placementConfigFor(cfg),
          )
        : null;
    metrics.attach(nodeMetricsSource(this));
  }

  /** Proposes a split of `cellId` at `splitKey` (namespaced) on its leader; resolves once applied. */
  requestSplit(cellId: string, splitKey: Uint8Array): Promise<{ left: string; right: string; index: number }> {
    return this.splitter.requestSplit(cellId, splitKey);
  }

  /** This node's stats of a cell it leads (admin `cellStats`). */
  async cellStats(cellId: string): Promise<CellStats> {
    const r = this.replicas.get(cellId);
    if (!r || !r.isLeader || this.rebalancer === null) throw new KvError('NOT_LEADER', `node ${this.cfg.nodeId} does not lead cell ${cellId} (or rebalancing is off)`, { leaderHint: r?.raft.status().leader ?? '' });
    return this.rebalancer.stats(r);
  }

  /** Merges `right` into its left neighbour `left` (both hosted here); see CellMerger. */
  requestMerge(left: string, right: string): Promise<MergeResult> {
    return this.merger.requestMerge(left, right);
  }

  /** Moves a replica of a cell this node leads (forwarded to the leader otherwise); see replica-mover.ts. */
  moveReplica(req: MoveRequest): Promise<MoveResult> {
    return this.mover.handleMove(req);
  }

  /** A move's target: an empty replica of the cell, opened between pump rounds. */
  prepareReplica(req: PrepareRequest): Promise<{ cell: string; replaced: boolean }> {
    return this.collector.exclusive(() => this.mover.prepareReplica(req));
  }

  /** The production node: LevelDB in cfg.dataDir, NATS, the wall clock. */
  static async start(cfg: NodeConfig, log: Logger, tracing: CellTracing | null = null): Promise<CellNode> {
    const db = await openNodeDb(cfg.dataDir);
    return CellNode.open(cfg, log, {
      db,
      clock: systemClock,
      random: mulberry32(hashString(cfg.nodeId) ^ Date.now()),
      bootId: randomUUID().slice(0, 8),
      connect: (handlers) => NodeTransport.start(cfg.nodeId, cfg.natsUrls, { user: cfg.natsUser, pass: cfg.natsPass }, handlers),
      onFatal: (err) => {
        log.fatal({ err }, 'raft loop failed; exiting so the node restarts from disk');
        process.exit(70);
      },
      tracing,
      processMetrics: true,
    });
  }

  /** A node over the given ports (see ports.ts); `start` is this with the production ones. */
  static async open(cfg: NodeConfig, log: Logger, deps: NodeDeps): Promise<CellNode> {
    const db = deps.db;
    const metrics = new NodeMetrics(deps.processMetrics, () => deps.clock.now());
    const groupCommit = new GroupCommit(db, { registry: metrics.registry });
    const registry = new ReplicaRegistry(db.kv);
    const node = new CellNode(cfg, db, db.kv, groupCommit, registry, log, metrics, deps);
    node.tracing = deps.tracing;
    await node.openReplicas();
    node.transport = await deps.connect({
      onRaft: (data) => node.onRaftEnvelope(data),
      onRequest: (data, reply) => node.requests.handle(data, reply),
      onDirectory: (reply) => node.serveDirectory(reply),
      onAdmin: (data, reply) => void node.requests.admin(data).then(reply),
    });
    const clock = deps.clock;
    node.timers = [
      clock.every(cfg.tickMs, () => node.onTick()),
      clock.every(2000, () => node.directorySync.heartbeat()),
      // An in-memory comparison; it proposes only when the directory lags a cell's epoch.
      clock.every(DIRECTORY_RECONCILE_MS, () => node.directorySync.reconcile()),
      clock.every(cfg.expiryScanMs, () => node.requests.sweepExpired()),
      clock.every(250, () => void node.merger.tick()),
      clock.every(REMOVAL_CHECK_MS, () => {
        void node.collector.check();
        node.mover.sweepStaleLearners();
      }),
    ];
    const rebalancer = node.rebalancer;
    if (rebalancer !== null) node.timers.push(clock.every(cfg.rebalanceIntervalMs, () => void rebalancer.tick()));
    const placement = node.placement;
    if (placement !== null) node.timers.push(clock.every(cfg.placementIntervalMs, () => void placement.tick()));
    node.schedulePump();
    log.info({ node: cfg.nodeId, az: cfg.az, cells: [...node.replicas.keys()] }, 'cell node started');
    return node;
  }

  // ---------------------------------------------------------------- replicas

  private async openReplicas(): Promise<void> {
    let records = await this.registry.list();
    // A data dir that ever belonged to a cluster never bootstraps again, even with no replica
    // left (moved away or drained): it would start a second cluster's cells under the same ids.
    const joined = records.length > 0 || (await this.kv.get(joinedKey())) !== undefined;
    if (!joined && this.cfg.bootstrap.some((n) => n.id === this.cfg.nodeId)) {
      records = await bootstrapReplicas(this.factoryHost());
    }
    if (records.length > 0) {
      this.groupCommit.put(joinedKey(), JOINED_VALUE);
      await this.groupCommit.flush();
    }
    for (const rec of records) await this.openReplica(rec);
  }

  private async openReplica(rec: ReplicaRecord): Promise<Replica> {
    if (rec.cellId === META_CELL_ID) {
      this.meta = new MetaState(META_CELL_ID);
      await this.meta.load(this.kv);
    }
    const replica = await openReplicaFromDisk(this.factoryHost(), rec, rec.cellId === META_CELL_ID ? this.meta : null);
    replica.rangeChangedAtMs = this.clock.now();
    this.replicas.set(rec.cellId, replica);
    return replica;
  }

  private factoryHost(): ReplicaFactoryHost {
    return {
      cfg: this.cfg,
      db: this.db,
      kv: this.kv,
      groupCommit: this.groupCommit,
      registry: this.registry,
      log: this.log,
      random: this.random,
      bootId: this.deps.bootId,
      mutations: this.mutations,
      traced: () => this.tracing !== null,
    };
  }

  // ---------------------------------------------------------------- loop

  private onTick(): void {
    for (const r of this.replicas.values()) r.raft.tick();
    this.schedulePump();
  }

  schedulePump(): void {
    if (this.stopped) return;
    if (this.pumping) {
      this.pumpAgain = true;
      return;
    }
    this.pumping = true;
    this.clock.soon(() => void this.pumpLoop());
  }

  private async pumpLoop(): Promise<void> {
    try {
      // Bounded: a pump turn that keeps finding work yields to the event loop between turns.
      for (let i = 0; i < 64; i++) {
        this.pumpAgain = false;
        const worked = await this.pumpOnce();
        if (!worked && !this.pumpAgain) break;
        if (i % 8 === 7) await this.clock.sleep(0);
      }
      // Idle: write what the last rounds applied.
      if (this.groupCommit.pendingOps > 0) await this.flushAll(false);
    } catch (e) {
      this.stopped = true;
      this.deps.onFatal(e);
      return;
    } finally {
      this.pumping = false;
    }
    if (this.pumpAgain) this.schedulePump();
  }

  private async pumpOnce(): Promise<boolean> {
    // Replicas destroyed or created (moves) between rounds, never while a round uses them.
    if (this.collector.pending) await this.collector.runPending();
    const now = this.clock.now();
    for (const r of this.replicas.values()) {
      const n = r.flushQueues(now);
      if (n > 0) {
        this.metrics.proposedCommands.inc(n);
        this.metrics.commandsPerEntry.observe(n);
        this.metrics.proposals.inc({ cell: r.cellId });
      }
    }
    const readies: [Replica, Ready][] = [];
    for (const r of this.replicas.values()) if (r.raft.hasReady()) readies.push([r, r.raft.ready()]);
    if (readies.length === 0) return this.applier.applyDeferred(now, new Set());

    // 0. A leader's appends promise nothing about its own disk: send them now so the
    //    followers' fsync overlaps ours (the core counts our copy only after advance()).
    if (this.failpoints.active && readies.some(([r]) => r.isLeader)) await this.failpoints.hit('beforeLeaderSend');
    const ackEarly = this.mutations.has('ackBeforeLogSync');
    this.mail.send(readies, (m, rd) => ackEarly || maySendEarly(rd, m));

    // 1. Persist: snapshots first, then entries and hard state of every cell in one sync.
    let mustSync = false;
    for (const [r, rd] of readies) {
      if (rd.snapshot) await this.snapshots.install(r, rd.snapshot);
      if (rd.entries.length > 0) r.log.stageAppend(rd.entries);
      if (rd.hardState) r.log.stageHardState(rd.hardState);
      mustSync ||= rd.mustSync;
    }
    if (this.failpoints.active) await this.failpoints.hit('beforeLogSync');
    // A commit-only hard state change needs no fsync: it rides with the next write. The
    // synced batch also carries the previous round's applied data. The write starts now and
    // is awaited only after applying: see below.
    const logSynced = mustSync ? this.flushAll(true) : null;
    logSynced?.catch(() => undefined); // awaited below; a failure must not go unhandled meanwhile

    // 2. Apply while the log syncs. Committed entries are already durable on a quorum (the
    //    core counts this node's own copy only after advance()), so answering clients need
    //    not wait for this round's fsync, which only covers entries proposed since. The data
    //    they write is staged after the log batch was taken, so LevelDB, which writes in
    //    order, can never hold applied data without the log entries it came from.
    for (const [r, rd] of readies) {
      this.observeLeadership(r, rd);
      await this.applier.applyCommitted(r, rd.committedEntries, now);
      r.onReadStates(rd);
      r.releaseReads();
    }
    await this.applier.applyDeferred(now, new Set(readies.map(([r]) => r)));

    const advanceEarly = this.mutations.has('advanceBeforeLogSync');
    if (advanceEarly) for (const [r] of readies) r.raft.advance();
    if (logSynced) await logSynced;
    if (this.failpoints.active) await this.failpoints.hit('afterLogSync');

    // 3. Only now may the rest leave (votes and acknowledgements promise durable state),
    //    and the core learn that what it handed out is persisted.
    if (!ackEarly) this.mail.send(readies, (m, rd) => !maySendEarly(rd, m));
    for (const [r] of readies) {
      if (!advanceEarly) r.raft.advance();
      r.releaseReads();
      const st = r.raft.status();
      this.metrics.applyLag.set({ cell: r.cellId }, st.commit - st.applied);
      await this.snapshots.maybeCompact(r);
    }
    return true;
  }

  /**
   * Drops a replica of a merged-away cell between pump rounds, its records deleted in one synced
   * batch; its data keys stay (the absorbing replica here owns them). A crash before it reopens
   * the frozen replica, and the merger retires it again.
   */
  async retireReplica(cellId: string): Promise<void> {
    await this.collector.exclusive(async () => {
      const r = this.replicas.get(cellId);
      if (r) await this.collector.destroy(r, 'merged');
    });
    this.metrics.retiredReplicas.inc();
  }


  private onRaftEnvelope(data: Uint8Array): void {
    if (this.mail.receive(data, this.replicas)) this.schedulePump();
  }

  private observeLeadership(r: Replica, rd: Ready): void {
    if (!rd.softState) return;
    const prev = this.lastLeader.get(r.cellId) ?? null;
    if (rd.softState.leader !== prev) {
      this.lastLeader.set(r.cellId, rd.softState.leader);
      this.metrics.leaderChanges.inc({ cell: r.cellId });
      this.log.info({ cell: r.cellId, leader: rd.softState.leader, role: rd.softState.role }, 'leader changed');
    }
    if (rd.softState.role === 'candidate') this.metrics.elections.inc({ cell: r.cellId });
    this.metrics.isLeader.set({ cell: r.cellId }, rd.softState.role === 'leader' ? 1 : 0);
  }

  /** Writes everything staged (synced or not) and lets the state machines drop their overlays. */
  async flushAll(sync: boolean): Promise<void> {
    const generations = [...this.replicas.values()].map((r) => [r, r.data.generation] as const);
    if (sync) await this.groupCommit.flush();
    else await this.groupCommit.flushUnsynced();
    for (const [r, g] of generations) r.data.flushed(g);
  }

  // ---------------------------------------------------------------- meta, directory, liveness

  directoryView() {
    const dir = this.meta?.directory() ?? { cells: [], nodes: [] };
    const leaders: Record<string, string> = {};
    for (const r of this.replicas.values()) {
      const l = r.raft.status().leader;
      if (l) leaders[r.cellId] = l;
    }
    return { ...dir, leaders, servedBy: this.cfg.nodeId };
  }

  /** A `cellkv.dir` lookup: from the meta replica here, else fetched from a node that has one. */
  private serveDirectory(reply: (bytes: Uint8Array) => void): void {
    const send = (v: unknown) => reply(new TextEncoder().encode(JSON.stringify(v)));
    if (this.meta) return send(this.directoryView());
    void this.directorySync.metaLink
      .fetchDirectory()
      .then((view) => send(view))
      // No directory to give: an empty one, which clients retry elsewhere (as before an init).
      .catch(() => send(this.directoryView()));
  }

  /** Proposes a meta command if this node leads the meta cell (fire and forget). */
  proposeMeta(json: string): Promise<void> {
    const r = this.replicas.get(META_CELL_ID);
    if (!r || !r.isLeader) return Promise.reject(new KvError('NOT_LEADER', 'not the meta leader'));
    return new Promise((resolve, reject) => {
      r.enqueueWrite({ cmd: { kind: 'meta', json }, resolve: () => resolve(), reject, deadline: this.clock.now() + 5000 });
      this.schedulePump();
    });
  }

  // ---------------------------------------------------------------- shutdown

  /** Graceful stop: hand leadership away, drain, flush and close LevelDB. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    for (const r of this.replicas.values()) {
      if (!r.isLeader) continue;
      const other = r.conf.voters.find((v) => v !== this.cfg.nodeId);
      if (other) r.raft.transferLeadership(other);
    }
    this.schedulePump();
    const deadline = this.clock.now() + 3000;
    while (this.clock.now() < deadline && [...this.replicas.values()].some((r) => r.isLeader && r.conf.voters.length > 1)) {
      await this.clock.sleep(this.cfg.tickMs);
    }
    this.stopped = true;
    for (const t of this.timers) t.cancel();
    while (this.pumping) await this.clock.sleep(5);
    const err = new KvError('OUTCOME_UNKNOWN', 'node shut down; retry the request');
    for (const r of this.replicas.values()) r.failAll(err);
    await this.transport?.close();
    await this.flushAll(true);
    await this.db.close();
  }

  hexRange(r: Replica): { start: string; end: string | null } {
    return { start: hexOf(r.range.start), end: r.range.end === null ? null : hexOf(r.range.end) };
  }
}

function hashString(s: string): number {
  let h = 2166136261;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 16777619);
  return h >>> 0;
}
