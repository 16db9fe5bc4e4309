// Automatic splits: every interval, each data cell this node leads is observed (size and key
// count from its usage counters, load from its LoadSampler) and handed to the split policy
// (cell/placement/); a split it decides is proposed like an operator's (CellSplitter). A cell
// that needs a split key by size is scanned once, in key order, for a few dozen cut points.
// A cell that needs no split is offered to the policy together with its right neighbour
// (observed here when this node leads it too, else asked of its leader): a merge it decides is
// carried out by CellMerger (rate-limited by the policy, cool-downs after splits).

import { compareBytes } from '../../shared/keys.js';
import { META_CELL_ID, NODE_LIVENESS_MS, bytesOfHex, hexOf, type CellDescriptor, type Directory } from '../../shared/directory.js';
import { isJoint } from '../raft/confchange.js';
import { dataKeyToNs, dataRange, decodeStoredValue } from '../storage/records.js';
import type { KvDb } from '../kv/kv-db.js';
import { RebalancePolicy, type CellObservation, type SizeSample } from '../placement/split-policy.js';
import type { CellStats } from './remote-ops.js';
import { rebalanceConfig, type RebalanceConfig } from '../placement/rebalance-config.js';
import type { NodeConfig } from './config.js';
import type { NodeClock } from './clock.js';
import type { Logger } from './log.js';
import type { NodeMetrics } from './metrics.js';
import type { Replica } from './replica.js';
import { mergeRefusal } from './merge.js';

/** Cut points a size scan collects (evenly spaced by bytes), besides the load cuts. */
const SIZE_SAMPLES = 32;
/** Leaders this node must lead beyond the least-loaded voter before it hands one over. */
const LEADER_MARGIN = 2;
/** Keys a size scan reads at most (a bound on the work of one decision). */
const MAX_SCAN_KEYS = 5_000_000;

const MiB = 1024 * 1024;

/**
 * The policy's configuration from the node's knobs: the size and load thresholds as set, the
 * rest (minimum halves, merge limits) scaled with the size threshold so small test sizes stay
 * consistent (cell/placement/rebalance-config.ts checks the cross-field rules).
 */
export function rebalanceConfigFor(cfg: Pick<NodeConfig, 'splitMaxBytes' | 'splitSizeBytes' | 'splitMinKeys' | 'splitLoadQps' | 'mergeCooldownMs'>): RebalanceConfig {
  const maxSizeBytes = cfg.splitMaxBytes;
  const minSplitBytes = Math.max(4, Math.min(MiB, Math.floor(maxSizeBytes / 16)));
  return rebalanceConfig({
    maxSizeBytes,
    splitSizeBytes: Math.min(cfg.splitSizeBytes, maxSizeBytes),
    minSplitBytes,
    minSplitKeys: cfg.splitMinKeys,
    loadThreshold: cfg.splitLoadQps,
    mergeMaxBytes: Math.max(8, Math.min(20 * MiB, Math.floor(maxSizeBytes / 7))),
    mergeMaxKeys: Math.max(200_000, 2 * cfg.splitMinKeys + 1),
    mergeMaxLoad: Math.min(1000, cfg.splitLoadQps / 2),
    emptyBytes: Math.max(1, Math.min(256 * 1024, Math.floor(minSplitBytes / 4))),
    mergeCooldownMs: cfg.mergeCooldownMs,
    mergeCooldownAfterLoadSplitMs: 6 * cfg.mergeCooldownMs,
    emptyMergeDelayMs: Math.floor(cfg.mergeCooldownMs / 10),
    mergeIntervalMs: Math.floor(cfg.mergeCooldownMs / 60),
  });
}

export interface RebalanceHost {
  readonly nodeId: string;
  readonly clock: NodeClock;
  readonly replicas: ReadonlyMap<string, Replica>;
  readonly kv: KvDb;
  readonly log: Logger;
  readonly metrics: Pick<NodeMetrics, 'autoSplits' | 'leaderTransfers' | 'autoMerges' | 'colocationMoves'>;
  /** What this node knows of the directory (the neighbour of a cell may not be hosted here). */
  directory(): Directory | null;
  /** Moves a replica of `cellId` (sent to one of `nodes`, which forwards it to the leader). */
  requestMove(cellId: string, from: string, to: string, nodes: readonly string[]): Promise<void>;
  flushAll(sync: boolean): Promise<void>;
  schedulePump(): void;
  requestSplit(cellId: string, splitKey: Uint8Array): Promise<{ left: string; right: string; index: number }>;
  /** A node being drained (directory node record): never handed a leadership. */
  isDraining?(nodeId: string): boolean;
  requestMerge(left: string, right: string): Promise<{ cell: string; absorbed: string }>;
  /** The right neighbour's observation from its leader (admin `cellStats`); null if unknown. */
  observeRemote(cellId: string, leader: string): Promise<CellStats | null>;
}

export type { CellStats } from './remote-ops.js';

interface Neighbour {
  readonly obs: CellObservation;
  readonly desc: CellDescriptor;
  /** Hosted here on the same voters: the merge can run now. */
  readonly ready: boolean;
}

interface CellHistory {
  lastSplitAtMs: number | null;
  lastLoadSplitAtMs: number | null;
}

export class Rebalancer {
  private readonly policy: RebalancePolicy;
  private readonly history = new Map<string, CellHistory>();
  private running = false;
  /** Right cells with a co-location move in flight. */
  private readonly colocating = new Set<string>();

  constructor(
    private readonly host: RebalanceHost,
    config: RebalanceConfig,
  ) {
    this.policy = new RebalancePolicy(config);
  }

  /** One round (skipped while the previous one still runs: a scan or a split can be slow). */
  async tick(): Promise<void> {
    if (this.running) return;
    this.running = true;
    try {
      for (const r of [...this.host.replicas.values()]) {
        if (r.cellId === META_CELL_ID || !r.isLeader || r.frozen || !this.host.replicas.has(r.cellId)) continue;
        await this.consider(r);
      }
      this.balanceLeaders();
    } catch (e) {
      this.host.log.warn({ err: e }, 'rebalance round failed; the next one retries');
    } finally {
      this.running = false;
    }
  }

  /** This node's view of a cell it leads: size and keys from the usage counters, sampled load. */
  async stats(r: Replica): Promise<CellStats> {
    await r.data.usage.ensureLoaded();
    const { usage } = r.data.usage.readLoaded(null, Number.MAX_SAFE_INTEGER);
    let sizeBytes = 0;
    let keyCount = 0;
    for (const u of Object.values(usage)) {
      sizeBytes += u.bytes;
      keyCount += u.keys;
    }
    const h = this.history.get(r.cellId);
    const load = r.load.stats(this.host.clock.now());
    const lastSplitAtMs = Math.max(h?.lastSplitAtMs ?? 0, r.rangeChangedAtMs);
    return { sizeBytes, keyCount, load: { intervalMs: load.intervalMs, intervals: load.intervals }, lastSplitAtMs, lastLoadSplitAtMs: h?.lastLoadSplitAtMs ?? null };
  }

  private async consider(r: Replica): Promise<void> {
    const now = this.host.clock.now();
    const mine = await this.stats(r);
    const h = this.history.get(r.cellId) ?? { lastSplitAtMs: null, lastLoadSplitAtMs: null };
    const load = r.load.stats(now);
    const obs: CellObservation = {
      cellId: r.cellId,
      start: r.range.start,
      end: r.range.end,
      sizeBytes: mine.sizeBytes,
      keyCount: mine.keyCount,
      sizeSamples: null,
      load,
      // A range change seen by this replica (a split or merge it applied, or its opening) counts
      // as a split: a node that did not propose it has no history of it.
      lastSplitAtMs: Math.max(h.lastSplitAtMs ?? 0, r.rangeChangedAtMs),
      lastLoadSplitAtMs: h.lastLoadSplitAtMs,
      lastMergeAtMs: null,
    };
    let d = this.policy.decideCell(now, obs, null);
    if (d.kind === 'none' && d.reason === 'needs-size-samples') {
      const cuts = load.split.cuts.map((c) => c.splitKey);
      d = this.policy.decideCell(now, { ...obs, sizeSamples: await this.sizeSamples(r, mine.sizeBytes, cuts) }, null);
    }
    if (d.kind === 'none' && (d.reason === 'within-limits' || d.reason === 'no-neighbour')) {
      const right = await this.rightNeighbour(r);
      if (right !== null) d = this.policy.decideCell(now, obs, right.obs);
      if (d.kind === 'merge' && right !== null && !right.ready) {
        this.colocate(r, right.desc);
        return;
      }
    }
    if (d.kind === 'merge') {
      const res = await this.host.requestMerge(d.left, d.right);
      this.history.set(res.cell, { lastSplitAtMs: this.host.clock.now(), lastLoadSplitAtMs: h.lastLoadSplitAtMs });
      this.host.metrics.autoMerges.inc();
      this.host.log.info({ cell: d.left, absorbed: d.right, reason: d.reason, detail: d.detail }, 'automatic merge');
      return;
    }
    if (d.kind !== 'split') {
      if (d.reason !== 'within-limits' && d.reason !== 'no-neighbour') this.host.log.debug({ cell: r.cellId, reason: d.reason, detail: d.detail }, 'no split');
      return;
    }
    const epoch = r.epoch;
    const res = await this.host.requestSplit(r.cellId, d.splitKey);
    const at = this.host.clock.now();
    const next: CellHistory = { lastSplitAtMs: at, lastLoadSplitAtMs: d.reason === 'load' ? at : h.lastLoadSplitAtMs };
    this.history.set(res.left, next);
    this.history.set(res.right, next);
    r.load.reset();
    this.host.replicas.get(res.right)?.load.reset();
    this.host.metrics.autoSplits.inc({ reason: d.reason });
    this.host.log.info({ cell: r.cellId, newCell: res.right, epoch, reason: d.reason, detail: d.detail }, 'automatic split');
  }

  /**
   * The cell that starts where `r` ends (from the directory), observed by its leader, and
   * whether a merge could run now: both hosted here on the same voters. Null if none or unknown.
   */
  private async rightNeighbour(r: Replica): Promise<Neighbour | null> {
    const end = r.range.end;
    const dir = this.host.directory();
    if (end === null || dir === null) return null;
    const desc = dir.cells.find((c) => c.id !== META_CELL_ID && c.start === hexOf(end));
    if (desc === undefined || this.colocating.has(desc.id)) return null;
    const local = this.host.replicas.get(desc.id);
    if (local?.frozen) return null;
    let s: CellStats | null = null;
    if (local?.isLeader) s = await this.stats(local);
    for (const rep of desc.replicas) {
      if (s !== null || local?.isLeader) break;
      if (rep.role === 'voter') s = await this.host.observeRemote(desc.id, rep.node);
    }
    if (s === null || s.load === null) return null;
    const obs: CellObservation = {
      cellId: desc.id,
      start: bytesOfHex(desc.start),
      end: desc.end === null ? null : bytesOfHex(desc.end),
      sizeBytes: s.sizeBytes,
      keyCount: s.keyCount,
      sizeSamples: null,
      load: { ...s.load, split: { samples: 0, cuts: [], best: null, topKey: null } },
      lastSplitAtMs: s.lastSplitAtMs,
      lastLoadSplitAtMs: s.lastLoadSplitAtMs,
      lastMergeAtMs: null,
    };
    return { obs, desc, ready: local !== undefined && mergeRefusal(r, local) === null };
  }

  /**
   * Merge candidates on different nodes: moves one replica of the right cell onto the left
   * cell's node of the same AZ (one move per candidate at a time, in the background); the merge
   * runs in a later round once both cells share their voters.
   */
  private colocate(left: Replica, right: CellDescriptor): void {
    const dir = this.host.directory();
    const azOf = new Map<string, string>();
    for (const n of dir?.nodes ?? []) azOf.set(n.id, n.az);
    for (const rep of right.replicas) if (rep.az !== 'unknown') azOf.set(rep.node, rep.az);
    const rightVoters = right.replicas.filter((x) => x.role === 'voter').map((x) => x.node);
    if (isJoint(left.conf) || right.replicas.some((x) => x.role === 'learner')) return;
    for (const from of rightVoters) {
      if (left.conf.voters.includes(from)) continue;
      const az = azOf.get(from);
      const to = left.conf.voters.find((v) => azOf.get(v) === az && !rightVoters.includes(v));
      if (az === undefined || to === undefined) continue;
      this.colocating.add(right.id);
      this.host.metrics.colocationMoves.inc();
      this.host.log.info({ cell: right.id, from, to, nextTo: left.cellId }, 'merge candidate on other nodes: moving a replica next to its neighbour');
      void this.host
        .requestMove(right.id, from, to, rightVoters)
        .catch((e: unknown) => this.host.log.warn({ cell: right.id, from, to, err: (e as Error).message }, 'co-location move failed; a later round retries'))
        .finally(() => this.colocating.delete(right.id));
      return;
    }
  }

  /**
   * Leaders spread over the nodes: when this node leads at least two data cells more than the
   * node leading the fewest (as the replicas here see their leaders), it hands one cell to that
   * node. One transfer per round and the margin of two keep nodes from trading a cell back and
   * forth; the new leader must be a voter of the cell, so it holds the cell's data already.
   */
  /** Heard from within the liveness window, per the directory's heartbeats (unknown = not live). */
  private isLive(nodeId: string): boolean {
    const n = this.host.directory()?.nodes.find((x) => x.id === nodeId);
    return n !== undefined && this.host.clock.now() - n.lastHeartbeatMs < NODE_LIVENESS_MS;
  }

  private balanceLeaders(): void {
    const cells = [...this.host.replicas.values()].filter((r) => r.cellId !== META_CELL_ID);
    const me = this.host.nodeId;
    const led = new Map<string, number>();
    for (const r of cells) for (const v of r.conf.voters) if (!led.has(v)) led.set(v, 0);
    for (const r of cells) {
      const leader = r.raft.status().leader;
      if (leader !== null && led.has(leader)) led.set(leader, led.get(leader)! + 1);
    }
    const mine = led.get(me) ?? 0;
    for (const r of cells) {
      if (!r.isLeader || r.raft.status().leader !== me) continue;
      // Never to a draining node, nor to one the directory has not heard from lately (a dead
      // node would leave the cell transferring, refusing writes, until the transfer times out).
      // Nor to one this leader has not heard from within the check-quorum window, or that lags.
      const active = new Set(r.raft.recentlyActive());
      const fit = new Set(r.raft.replicationLag().filter(([id, lag]) => active.has(id) && lag <= 64).map(([id]) => id));
      const target = r.conf.voters.filter((v) => v !== me && this.host.isDraining?.(v) !== true && this.isLive(v) && fit.has(v)).sort((a, b) => led.get(a)! - led.get(b)! || (a < b ? -1 : 1))[0];
      if (target === undefined || mine - led.get(target)! < LEADER_MARGIN) continue;
      r.raft.transferLeadership(target);
      this.host.metrics.leaderTransfers.inc();
      this.host.log.info({ cell: r.cellId, to: target, led: Object.fromEntries(led) }, 'leader balance: transfer');
      this.host.schedulePump();
      return;
    }
  }

  /** Cumulative bytes and keys below evenly spaced keys of the cell, and below each load cut. */
  private async sizeSamples(r: Replica, sizeBytes: number, loadCuts: readonly Uint8Array[]): Promise<SizeSample[]> {
    await this.host.flushAll(false); // the scan reads LevelDB: applied data must be in it
    const step = Math.max(1, Math.floor(sizeBytes / SIZE_SAMPLES));
    const cuts = [...loadCuts].sort(compareBytes);
    const out: SizeSample[] = [];
    let bytes = 0;
    let keys = 0;
    let nextAt = step;
    let cut = 0;
    for await (const [k, v] of this.host.kv.iterator(dataRange(r.range.start, r.range.end))) {
      const ns = dataKeyToNs(k);
      while (cut < cuts.length && compareBytes(cuts[cut]!, ns) <= 0) out.push({ key: cuts[cut++]!, bytesBefore: bytes, keysBefore: keys });
      if (bytes >= nextAt && keys > 0) {
        out.push({ key: ns.slice(), bytesBefore: bytes, keysBefore: keys });
        nextAt = bytes + step;
      }
      // As the usage counters count: the key within its tenant plus the value.
      const sep = ns.indexOf(0);
      bytes += ns.length - sep - 1 + decodeStoredValue(v).value.length;
      keys++;
      if (keys >= MAX_SCAN_KEYS) break;
    }
    out.sort((a, b) => compareBytes(a.key, b.key));
    return out.filter((s, i) => i === 0 || compareBytes(out[i - 1]!.key, s.key) !== 0);
  }
}
