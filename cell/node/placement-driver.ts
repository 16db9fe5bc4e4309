// The placement driver: on the node that leads the meta cell only, every interval, it gathers
// the fleet (node records and heartbeats from the directory, each live node's admin `status`
// for leaders, memberships and sizes), asks the planner (cell/placement/placement-planner.ts)
// and carries out its decisions: a move is the admin `move` {cell, from, to} sent to the cell's
// leader (answered when the move is done), a leadership transfer the admin `transfer`. Moves
// run in the background; the planner sees them as in flight until they answer.

import { META_CELL_ID, NODE_LIVENESS_MS, type Directory } from '../../shared/directory.js';
import type { ConfState } from '../raft/types.js';
import {
  DEFAULT_PLACEMENT_CONFIG,
  planPlacement,
  type PlacementConfig,
  type PlacementDecision,
  type PlannerCell,
  type PlannerNode,
} from '../placement/placement-planner.js';
import type { NodeClock } from './clock.js';
import type { NodeConfig } from './config.js';
import type { Logger } from './log.js';
import type { Replica } from './replica.js';
import { maxQps } from '../placement/split-policy.js';

export interface PlacementHost {
  readonly nodeId: string;
  readonly clock: NodeClock;
  readonly log: Logger;
  readonly decisions: { inc(labels: { kind: string; reason: string }): void };
  isMetaLeader(): boolean;
  /** The meta replica's directory (this node leads the meta cell when the driver reads it). */
  directory(): Directory | null;
  /** One admin request (JSON) to a node, this one included; rejects when nobody answers. */
  requestAdmin(node: string, body: Record<string, unknown>, timeoutMs: number): Promise<Record<string, unknown>>;
}

export interface PlacementDriverConfig {
  readonly intervalMs: number;
  readonly planner: PlacementConfig;
  /** How long a move may take before the driver stops waiting (the move itself may go on). */
  readonly moveTimeoutMs: number;
  readonly statusTimeoutMs: number;
  /** A failed move of a cell is not retried sooner than this. */
  readonly failureBackoffMs: number;
  /** After a node answered that it does not know `move`, moves pause this long. */
  readonly unsupportedRecheckMs: number;
}

export function placementConfigFor(cfg: Pick<NodeConfig, 'placementIntervalMs' | 'deadNodeTimeoutMs' | 'placementMaxMoves' | 'placementMoveCooldownMs' | 'placementLoadGapQps'>): PlacementDriverConfig {
  return {
    intervalMs: cfg.placementIntervalMs,
    planner: {
      ...DEFAULT_PLACEMENT_CONFIG,
      deadNodeTimeoutMs: cfg.deadNodeTimeoutMs,
      liveMs: Math.min(NODE_LIVENESS_MS, cfg.deadNodeTimeoutMs),
      maxConcurrentMoves: cfg.placementMaxMoves,
      moveCooldownMs: cfg.placementMoveCooldownMs,
      // Leadership transfers for load are opt-in (0 = off): see README, The fleet.
      minQpsGap: cfg.placementLoadGapQps > 0 ? cfg.placementLoadGapQps : Number.POSITIVE_INFINITY,
    },
    moveTimeoutMs: 5 * 60_000,
    statusTimeoutMs: 1000,
    failureBackoffMs: 10_000,
    unsupportedRecheckMs: 60_000,
  };
}

/**
 * A replica's data size for the placement driver's status request, when its counters are
 * loaded, and on the leader the cell's sampled load (the highest weighted ops/s of the recent
 * intervals).
 */
export function replicaSize(r: Replica, nowMs: number): { sizeBytes?: number; qps?: number } {
  const qps = r.isLeader ? { qps: Math.round(maxQps(r.load.stats(nowMs))) } : {};
  try {
    const { usage } = r.data.usage.readLoaded(null, Number.MAX_SAFE_INTEGER);
    let sizeBytes = 0;
    for (const u of Object.values(usage)) sizeBytes += u.bytes;
    return { sizeBytes, ...qps };
  } catch {
    return qps; // not loaded yet: unknown, counted as 0 by the planner
  }
}

interface StatusCell {
  readonly cell: string;
  readonly role: string;
  readonly term: number;
  readonly confState?: ConfState;
  readonly sizeBytes?: number;
  readonly qps?: number;
}

export class PlacementDriver {
  private running = false;
  /** When this node began leading the meta cell: silence before it is not held against a node. */
  private leaderSinceMs: number | null = null;
  private readonly inFlight = new Map<string, number>();
  private readonly lastMovedAt = new Map<string, number>();
  private readonly failedAt = new Map<string, number>();
  private moveUnsupportedAt: number | null = null;

  constructor(
    private readonly host: PlacementHost,
    readonly config: PlacementDriverConfig,
  ) {}

  /** One round; skipped while the previous one still gathers. Returns what it decided. */
  async tick(): Promise<readonly PlacementDecision[]> {
    const h = this.host;
    if (!h.isMetaLeader()) {
      this.leaderSinceMs = null;
      return [];
    }
    if (this.running) return [];
    this.running = true;
    try {
      const now = h.clock.now();
      this.leaderSinceMs ??= now;
      const dir = h.directory();
      if (!dir || dir.cells.length === 0) return [];
      const nodes: PlannerNode[] = dir.nodes.map((n) => ({
        id: n.id,
        az: n.az,
        heartbeatAgeMs: now - Math.max(n.lastHeartbeatMs, this.leaderSinceMs!),
        draining: n.draining === true,
      }));
      const cells = await this.gatherCells(dir, nodes, now);
      if (this.moveUnsupportedAt !== null && now - this.moveUnsupportedAt >= this.config.unsupportedRecheckMs) this.moveUnsupportedAt = null;
      const plan = planPlacement({ nowMs: now, nodes, cells }, this.config.planner);
      for (const b of plan.blocked) h.log.debug({ ...b }, 'placement: blocked');
      const done: PlacementDecision[] = [];
      for (const d of plan.decisions) {
        if (d.kind === 'move' && this.moveUnsupportedAt !== null) continue;
        const leader = cells.find((c) => c.id === d.cell)?.leader;
        if (!leader) continue;
        h.log.info({ ...d, leader }, 'placement decision');
        h.decisions.inc({ kind: d.kind, reason: d.reason });
        done.push(d);
        if (d.kind === 'transfer-leader') this.transfer(leader, d.cell, d.to);
        else this.move(leader, d.cell, d.from, d.to, now);
      }
      return done;
    } catch (e) {
      h.log.warn({ err: e }, 'placement round failed; the next one retries');
      return [];
    } finally {
      this.running = false;
    }
  }

  /** Moves this driver still awaits (for tests and logs). */
  movesInFlight(): string[] {
    return [...this.inFlight.keys()];
  }

  private async gatherCells(dir: Directory, nodes: readonly PlannerNode[], now: number): Promise<PlannerCell[]> {
    const h = this.host;
    const live = nodes.filter((n) => n.heartbeatAgeMs < this.config.planner.liveMs || n.id === h.nodeId);
    const statuses = await Promise.all(
      live.map(async (n) => {
        const r = await h.requestAdmin(n.id, { op: 'status' }, this.config.statusTimeoutMs).catch(() => null);
        return r?.['ok'] === true && Array.isArray(r['cells']) ? { node: n.id, cells: r['cells'] as StatusCell[] } : null;
      }),
    );
    const leaderOf = (cell: string) => {
      let best: { node: string; st: StatusCell } | null = null;
      for (const s of statuses) {
        const st = s?.cells.find((c) => c.cell === cell);
        if (s && st?.role === 'leader' && (best === null || st.term > best.st.term)) best = { node: s.node, st };
      }
      return best;
    };
    const azOf = new Map(nodes.map((n) => [n.id, n.az] as const));
    const out: PlannerCell[] = [];
    const described = dir.cells.map((c) => ({ id: c.id, replicas: c.replicas }));
    // The meta cell has no descriptor: its members are its leader's (this node's) view.
    if (!described.some((c) => c.id === META_CELL_ID)) {
      const conf = leaderOf(META_CELL_ID)?.st.confState;
      if (conf) {
        described.unshift({
          id: META_CELL_ID,
          replicas: [
            ...conf.voters.map((node) => ({ node, az: azOf.get(node) ?? 'unknown', role: 'voter' as const })),
            ...conf.learners.map((node) => ({ node, az: azOf.get(node) ?? 'unknown', role: 'learner' as const })),
          ],
        });
      }
    }
    for (const c of described) {
      const lead = leaderOf(c.id);
      const conf = lead?.st.confState;
      const voters = c.replicas.filter((r) => r.role === 'voter').map((r) => r.node).sort();
      // The directory behind the leader's membership means a change is under way.
      const lagging = conf !== undefined && [...conf.voters].sort().join(',') !== voters.join(',');
      const failed = this.failedAt.get(c.id);
      out.push({
        id: c.id,
        replicas: c.replicas,
        leader: lead?.node ?? null,
        sizeBytes: lead?.st.sizeBytes ?? 0,
        qps: lead?.st.qps ?? 0,
        joint: conf !== undefined && (conf.votersOutgoing.length > 0 || conf.learnersNext.length > 0),
        moveInFlight: this.inFlight.has(c.id) || (conf?.learners.length ?? 0) > 0 || lagging || (failed !== undefined && now - failed < this.config.failureBackoffMs),
        lastMovedAtMs: this.lastMovedAt.get(c.id) ?? null,
      });
    }
    return out;
  }

  private transfer(leader: string, cell: string, to: string): void {
    void this.host
      .requestAdmin(leader, { op: 'transfer', cell, to }, this.config.statusTimeoutMs)
      .catch((e: unknown) => this.host.log.warn({ cell, to, err: (e as Error).message }, 'placement: leader transfer request failed'));
  }

  private move(leader: string, cell: string, from: string, to: string, now: number): void {
    const h = this.host;
    this.inFlight.set(cell, now);
    void h
      .requestAdmin(leader, { op: 'move', cell, from, to }, this.config.moveTimeoutMs)
      .then((r) => {
        const at = h.clock.now();
        if (r['ok'] === true) {
          this.lastMovedAt.set(cell, at);
          this.failedAt.delete(cell);
          h.log.info({ cell, from, to, ms: at - now }, 'placement: move done');
          return;
        }
        const message = String(r['message'] ?? '');
        if (r['code'] === 'INVALID_ARGUMENT' && /unknown admin op/.test(message)) {
          if (this.moveUnsupportedAt === null) h.log.warn({ cell, leader }, 'placement: nodes do not know the admin op `move` yet; moves pause (rechecked every minute)');
          this.moveUnsupportedAt = at;
          return;
        }
        this.failedAt.set(cell, at);
        this.lastMovedAt.set(cell, at); // a failed balance move is not retried at once either
        h.log.warn({ cell, from, to, code: r['code'], message }, 'placement: move failed');
      })
      .catch((e: unknown) => {
        this.failedAt.set(cell, h.clock.now());
        h.log.warn({ cell, from, to, err: (e as Error).message }, 'placement: move request failed (the move may still finish)');
      })
      .finally(() => this.inFlight.delete(cell));
  }
}
