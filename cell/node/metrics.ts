// Prometheus metrics of a cell node (prom-client), one registry per process. Counters on the
// Raft loop are updated where things happen; the gauges below the line are read from the node
// at scrape time (collect), so they cost nothing on the request path. The catalog with alerting
// advice is docs/metrics.md.

import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { CachedDiskUsage, type DiskUsage } from './disk-usage.js';

/** One replica as the scrape-time gauges see it. */
export interface ReplicaMetricsView {
  readonly cell: string;
  readonly term: number;
  readonly commit: number;
  readonly applied: number;
  readonly hasLeader: boolean;
  /** Leader only: entries each other replica is behind this log's last index. */
  readonly followerLag: readonly (readonly [string, number])[];
}

/** A node's liveness record as the meta-cell leader holds it. */
export interface HeartbeatView {
  readonly node: string;
  readonly az: string;
  /** Clock time of the last heartbeat (the sender's clock), 0 when never seen. */
  readonly lastHeartbeatMs: number;
}

/** What the node shows the scrape-time gauges (set once by CellNode). */
export interface NodeMetricsSource {
  readonly nodeId: string;
  readonly az: string;
  readonly dataDir: string;
  replicas(): Iterable<ReplicaMetricsView>;
  /** The node registry when this node leads the meta cell, else null (one exporter per cluster). */
  heartbeats(): readonly HeartbeatView[] | null;
}

export class NodeMetrics {
  readonly registry = new Registry();
  readonly proposals = new Counter({ name: 'cellkv_proposals_total', help: 'Raft entries proposed', labelNames: ['cell'], registers: [this.registry] });
  readonly proposedCommands = new Counter({ name: 'cellkv_proposed_commands_total', help: 'Client commands proposed', registers: [this.registry] });
  readonly commits = new Counter({ name: 'cellkv_committed_entries_total', help: 'Entries applied after commit', labelNames: ['cell'], registers: [this.registry] });
  readonly applyLag = new Gauge({ name: 'cellkv_apply_lag_entries', help: 'Committed but not applied entries', labelNames: ['cell'], registers: [this.registry] });
  readonly elections = new Counter({ name: 'cellkv_elections_total', help: 'Campaigns started by this node', labelNames: ['cell'], registers: [this.registry] });
  readonly leaderChanges = new Counter({ name: 'cellkv_leader_changes_total', help: 'Leader changes seen', labelNames: ['cell'], registers: [this.registry] });
  readonly isLeader = new Gauge({ name: 'cellkv_is_leader', help: '1 when this node leads the cell', labelNames: ['cell'], registers: [this.registry] });
  readonly commandsPerEntry = new Histogram({
    name: 'cellkv_commands_per_entry',
    help: 'Client commands batched into one Raft entry',
    buckets: [1, 2, 5, 10, 20, 50, 100, 200, 500],
    registers: [this.registry],
  });
  readonly raftMessagesOut = new Counter({ name: 'cellkv_raft_messages_sent_total', help: 'Raft messages sent', registers: [this.registry] });
  readonly raftEnvelopesOut = new Counter({ name: 'cellkv_raft_envelopes_sent_total', help: 'NATS messages carrying Raft messages', registers: [this.registry] });
  readonly snapshotSends = new Counter({ name: 'cellkv_snapshot_chunks_sent_total', help: 'Snapshot chunks sent', registers: [this.registry] });
  readonly snapshotInstalls = new Counter({ name: 'cellkv_snapshots_installed_total', help: 'Snapshots installed', registers: [this.registry] });
  readonly leaderTransfers = new Counter({ name: 'cellkv_leader_balance_transfers_total', help: 'Leaderships this node handed to a voter leading fewer data cells (leader balance)', registers: [this.registry] });
  readonly placementDecisions = new Counter({ name: 'cellkv_placement_decisions_total', help: 'Placement decisions the meta leader carried out, by kind (move, transfer-leader) and reason', labelNames: ['kind', 'reason'], registers: [this.registry] });
  readonly autoSplits = new Counter({ name: 'cellkv_cell_auto_splits_total', help: 'Automatic splits this node proposed as a cell leader, by reason (size, load)', labelNames: ['reason'], registers: [this.registry] });
  readonly splitSeconds = new Histogram({ name: 'cellkv_cell_split_seconds', help: 'Time a replica spent applying a split entry (its records written, the new cell opened)', buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5], registers: [this.registry] });
  readonly merges = new Counter({ name: 'cellkv_cell_merges_total', help: 'Cell merges this node applied (one per replica of the absorbing cell)', registers: [this.registry] });
  readonly mergeSeconds = new Histogram({ name: 'cellkv_cell_merge_seconds', help: 'Time a replica spent applying a merge commit (the records written, the dedupe table copied)', buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5], registers: [this.registry] });
  readonly autoMerges = new Counter({ name: 'cellkv_cell_auto_merges_total', help: 'Automatic merges this node ran as the left cell leader', registers: [this.registry] });
  readonly colocationMoves = new Counter({ name: 'cellkv_merge_colocation_moves_total', help: 'Replica moves this node asked for to put merge candidates on the same nodes', registers: [this.registry] });
  readonly retiredReplicas = new Counter({ name: 'cellkv_merged_replicas_retired_total', help: 'Replicas of merged-away cells this node retired (records deleted, data kept by the absorbing cell)', registers: [this.registry] });
  readonly splits = new Counter({ name: 'cellkv_cell_splits_total', help: 'Cell splits this node applied (one per replica of the split cell)', registers: [this.registry] });
  readonly replicaMoves = new Counter({ name: 'cellkv_replica_moves_total', help: 'Replica moves this node ran as the cell leader, by result (ok, refused, failed)', labelNames: ['result'], registers: [this.registry] });
  readonly replicaMoveSeconds = new Histogram({ name: 'cellkv_replica_move_seconds', help: 'Time of a successful replica move on its leader (prepare, catch-up, promotion)', buckets: [0.5, 1, 2.5, 5, 10, 30, 60, 120, 300], registers: [this.registry] });
  readonly snapshotBytesSent = new Counter({ name: 'cellkv_snapshot_bytes_sent_total', help: 'Bytes of snapshot chunks sent to other nodes (paced by --snapshot-max-bytes-per-sec)', registers: [this.registry] });
  readonly replicasDestroyed = new Counter({ name: 'cellkv_replicas_destroyed_total', help: 'Replicas this node destroyed after they were removed from their cell (or replaced as zombies)', labelNames: ['reason'], registers: [this.registry] });
  readonly requests = new Counter({ name: 'cellkv_requests_total', help: 'Cell requests by outcome', labelNames: ['outcome'], registers: [this.registry] });
  readonly shed = new Counter({ name: 'cellkv_requests_shed_total', help: 'Requests refused because a queue was full', registers: [this.registry] });
  readonly expiredKeys = new Counter({ name: 'cellkv_expired_keys_deleted_total', help: 'Expired keys reclaimed', registers: [this.registry] });

  // ------------------------------------------------------------ read at scrape time
  private source: NodeMetricsSource | null = null;
  private disk: CachedDiskUsage | null = null;

  readonly nodeInfo: Gauge = this.scraped('cellkv_node_info', 'Always 1; labels name the node and its availability zone (for joins)', ['node', 'az'], (g, s) => {
    g.set({ node: s.nodeId, az: s.az }, 1);
  });
  readonly raftTerm: Gauge = this.scraped('cellkv_raft_term', 'Current Raft term of this replica', ['cell'], (g, s) => {
    for (const r of s.replicas()) g.set({ cell: r.cell }, r.term);
  });
  readonly raftCommit: Gauge = this.scraped('cellkv_raft_commit_index', 'Highest log index this replica knows committed', ['cell'], (g, s) => {
    for (const r of s.replicas()) g.set({ cell: r.cell }, r.commit);
  });
  readonly raftApplied: Gauge = this.scraped('cellkv_raft_applied_index', 'Highest log index this replica applied to its state machine', ['cell'], (g, s) => {
    for (const r of s.replicas()) g.set({ cell: r.cell }, r.applied);
  });
  readonly raftHasLeader: Gauge = this.scraped('cellkv_raft_has_leader', '1 when this replica knows a leader of its cell in the current term, else 0', ['cell'], (g, s) => {
    for (const r of s.replicas()) g.set({ cell: r.cell }, r.hasLeader ? 1 : 0);
  });
  readonly followerLag: Gauge = this.scraped('cellkv_raft_follower_lag_entries', 'Leader only: log entries a follower is behind the leader', ['cell', 'follower'], (g, s) => {
    for (const r of s.replicas()) for (const [follower, lag] of r.followerLag) g.set({ cell: r.cell, follower }, lag);
  });
  readonly heartbeatAge: Gauge = this.scraped(
    'cellkv_meta_node_heartbeat_age_seconds',
    'Meta-cell leader only: seconds since each registered node last sent a liveness heartbeat (+Inf: never)',
    ['node', 'az'],
    (g, s) => {
      const now = this.now();
      for (const h of s.heartbeats() ?? []) g.set({ node: h.node, az: h.az }, h.lastHeartbeatMs > 0 ? Math.max(0, now - h.lastHeartbeatMs) / 1000 : Infinity);
    },
  );
  readonly dataDirBytes = this.diskGauge('cellkv_data_dir_bytes', 'Bytes of the files in the data directory (LevelDB, snapshots)', (d) => d.bytes);
  readonly dataDirFiles = this.diskGauge('cellkv_data_dir_files', 'Files in the data directory', (d) => d.files);
  readonly sstFiles = this.diskGauge('cellkv_leveldb_sst_files', 'LevelDB table files in the data directory', (d) => d.sstFiles);
  readonly fsFree = this.diskGauge('cellkv_data_fs_free_bytes', 'Free bytes (available to the node) on the filesystem of the data directory', (d) => d.fsFreeBytes);
  readonly fsSize = this.diskGauge('cellkv_data_fs_size_bytes', 'Size in bytes of the filesystem of the data directory', (d) => d.fsSizeBytes);

  /** `processMetrics`: CPU, memory and event loop of the process (off when nodes share one). */
  constructor(processMetrics = true, private readonly now: () => number = Date.now) {
    if (processMetrics) collectDefaultMetrics({ register: this.registry });
  }

  /** Connects the scrape-time gauges to the node (before the first scrape). */
  attach(source: NodeMetricsSource): void {
    this.source = source;
    this.disk = new CachedDiskUsage(source.dataDir);
  }

  /** A gauge recomputed at every scrape; series of cells no longer hosted disappear. */
  private scraped(name: string, help: string, labelNames: string[], fill: (g: Gauge, s: NodeMetricsSource) => void): Gauge {
    const metrics = this;
    return new Gauge({
      name,
      help,
      labelNames,
      registers: [this.registry],
      collect(this: Gauge): void {
        this.reset();
        if (metrics.source) fill(this, metrics.source);
      },
    });
  }

  private diskGauge(name: string, help: string, pick: (d: DiskUsage) => number): Gauge {
    const metrics = this;
    return new Gauge({
      name,
      help,
      registers: [this.registry],
      async collect(this: Gauge): Promise<void> {
        // A failed measurement reports NaN (no alert compares true on it) rather than failing
        // the scrape or showing a misleading 0.
        const d = await metrics.disk?.get().catch(() => null);
        this.set(d ? pick(d) : NaN);
      },
    });
  }
}
