// Replica placement over the fleet: which replica moves where, and which leaderships move, decided
// from a snapshot of nodes and cells (cell/placement/README.md, "Placement"). Pure: no I/O, no
// clock (ages and times come in), deterministic (ties break by id). The meta leader's
// PlacementDriver (cell/node/placement-driver.ts) feeds it and carries out what it returns.

export type MoveReason = 'dead-node' | 'drain' | 'balance';

export interface PlannerNode {
  readonly id: string;
  readonly az: string;
  /** Since the last heartbeat (the driver counts from when it began leading, if that is later). */
  readonly heartbeatAgeMs: number;
  readonly draining: boolean;
}

export interface PlannerReplica {
  readonly node: string;
  readonly az: string;
  readonly role: 'voter' | 'learner';
}

export interface PlannerCell {
  readonly id: string;
  readonly replicas: readonly PlannerReplica[];
  /** null: no leader known (nothing can be moved or transferred then). */
  readonly leader: string | null;
  readonly sizeBytes: number;
  readonly qps: number;
  /** The leader's membership is joint (a change is half done). */
  readonly joint: boolean;
  /** A move of this cell is running (a learner is catching up, or the driver awaits one). */
  readonly moveInFlight: boolean;
  /** When a move of this cell last finished (null: never, as far as the caller knows). */
  readonly lastMovedAtMs: number | null;
}

export interface PlacementConfig {
  /** A node silent this long is dead: its replicas are re-created elsewhere in its AZ. */
  readonly deadNodeTimeoutMs: number;
  /** A node silent this long is not a target for anything (shared/directory.ts NODE_LIVENESS_MS). */
  readonly liveMs: number;
  /** Balance moves happen only while two nodes of one AZ differ by at least this many replicas. */
  readonly balanceMargin: number;
  /** ...and, with counts within the margin, bytes only when they differ by this share of the AZ's mean... */
  readonly bytesMarginRatio: number;
  /** ...and by at least this many bytes (tiny cells are not worth a move). */
  readonly minBytesGap: number;
  /** Moves running at once, in-flight ones included (1: one move at a time, fleet-wide). */
  readonly maxConcurrentMoves: number;
  /** Leadership transfers planned per round. */
  readonly maxLeaderTransfers: number;
  /** A cell moved less than this long ago is not moved again for balance (hysteresis). */
  readonly moveCooldownMs: number;
  /** Leaderships move for load only while two leaders' led load differs by this share of the hotter... */
  readonly loadMarginRatio: number;
  /** ...and by at least this many weighted ops/s. */
  readonly minQpsGap: number;
}

export const DEFAULT_PLACEMENT_CONFIG: PlacementConfig = {
  deadNodeTimeoutMs: 30_000,
  liveMs: 10_000,
  balanceMargin: 2,
  bytesMarginRatio: 0.25,
  minBytesGap: 64 * 1024 * 1024,
  maxConcurrentMoves: 1,
  maxLeaderTransfers: 4,
  moveCooldownMs: 60_000,
  loadMarginRatio: 0.5,
  minQpsGap: 500,
};

export interface MoveDecision {
  readonly kind: 'move';
  readonly cell: string;
  readonly from: string;
  readonly to: string;
  readonly reason: MoveReason;
}

export interface TransferLeaderDecision {
  readonly kind: 'transfer-leader';
  readonly cell: string;
  readonly from: string;
  readonly to: string;
  readonly reason: 'drain' | 'before-move' | 'load';
}

export type PlacementDecision = MoveDecision | TransferLeaderDecision;

/** Work the planner saw but could not plan, for the driver's log (never acted upon). */
export interface BlockedWork {
  readonly cell: string;
  readonly node: string;
  readonly reason: 'no-target-in-az' | 'no-leader' | 'joint' | 'move-in-flight' | 'no-other-voter';
}

export interface PlacementPlan {
  /** In order: leadership transfers first, then moves (dead-node, then drain, then balance). */
  readonly decisions: readonly PlacementDecision[];
  readonly blocked: readonly BlockedWork[];
}

export interface PlacementInput {
  readonly nowMs: number;
  readonly nodes: readonly PlannerNode[];
  readonly cells: readonly PlannerCell[];
}

interface NodeLoad {
  replicas: number;
  bytes: number;
  leads: number;
  /** Sum of the sampled load (weighted ops/s) of the cells this node leads. */
  leadQps: number;
}

export function planPlacement(input: PlacementInput, cfg: PlacementConfig = DEFAULT_PLACEMENT_CONFIG): PlacementPlan {
  const nodes = [...input.nodes].sort((a, b) => cmp(a.id, b.id));
  const cells = [...input.cells].sort((a, b) => cmp(a.id, b.id));
  const byId = new Map(nodes.map((n) => [n.id, n] as const));
  const isLive = (id: string) => {
    const n = byId.get(id);
    return n !== undefined && n.heartbeatAgeMs < cfg.liveMs;
  };
  const isDead = (id: string) => {
    const n = byId.get(id);
    // A replica on a node the directory does not know is as good as dead: nothing heartbeats for it.
    return n === undefined || n.heartbeatAgeMs >= cfg.deadNodeTimeoutMs;
  };
  const isDraining = (id: string) => byId.get(id)?.draining === true;
  const usable = (id: string) => isLive(id) && !isDraining(id);

  const load = new Map<string, NodeLoad>(nodes.map((n) => [n.id, { replicas: 0, bytes: 0, leads: 0, leadQps: 0 }] as const));
  for (const c of cells) {
    for (const r of c.replicas) {
      const l = load.get(r.node);
      if (l) {
        l.replicas++;
        l.bytes += c.sizeBytes;
      }
    }
    if (c.leader !== null) {
      const l = load.get(c.leader);
      if (l) {
        l.leads++;
        l.leadQps += c.qps;
      }
    }
  }

  const transfers: TransferLeaderDecision[] = [];
  const moves: MoveDecision[] = [];
  const blocked: BlockedWork[] = [];
  /** Cells with a decision this round: one decision per cell. */
  const decided = new Set<string>();
  /** Nodes that are a move's source or target this round: one move per node. */
  const busy = new Set<string>();
  const inFlight = cells.filter((c) => c.moveInFlight).length;
  let moveBudget = Math.max(0, cfg.maxConcurrentMoves - inFlight);

  const transfer = (c: PlannerCell, reason: TransferLeaderDecision['reason']): boolean => {
    if (transfers.length >= cfg.maxLeaderTransfers || c.leader === null) return false;
    const from = c.leader;
    const to = c.replicas
      .filter((r) => r.role === 'voter' && r.node !== from && usable(r.node))
      .map((r) => r.node)
      .sort((a, b) => (load.get(a)?.leads ?? 0) - (load.get(b)?.leads ?? 0) || cmp(a, b))[0];
    if (to === undefined) {
      blocked.push({ cell: c.id, node: from, reason: 'no-other-voter' });
      return false;
    }
    transfers.push({ kind: 'transfer-leader', cell: c.id, from, to, reason });
    decided.add(c.id);
    load.get(from)!.leads--;
    const tl = load.get(to);
    if (tl) tl.leads++;
    return true;
  };

  /** Whether a move of `c` may be planned now; records why not for repairs. */
  const movable = (c: PlannerCell, node: string, record: boolean): boolean => {
    const why: BlockedWork['reason'] | null = c.moveInFlight ? 'move-in-flight' : c.joint || c.replicas.some((r) => r.role === 'learner') ? 'joint' : c.leader === null ? 'no-leader' : null;
    if (why !== null && record) blocked.push({ cell: c.id, node, reason: why });
    return why === null && !decided.has(c.id);
  };

  /** The best node of `az` to receive a replica of `c`: usable, not hosting it, fewest replicas then bytes. */
  const targetFor = (c: PlannerCell, az: string): string | undefined =>
    nodes
      .filter((n) => n.az === az && usable(n.id) && !busy.has(n.id) && !c.replicas.some((r) => r.node === n.id))
      .map((n) => n.id)
      .sort((a, b) => load.get(a)!.replicas - load.get(b)!.replicas || load.get(a)!.bytes - load.get(b)!.bytes || cmp(a, b))[0];

  const plan = (c: PlannerCell, from: string, to: string, reason: MoveReason): void => {
    moves.push({ kind: 'move', cell: c.id, from, to, reason });
    decided.add(c.id);
    busy.add(from);
    busy.add(to);
    moveBudget--;
    const fl = load.get(from);
    if (fl) {
      fl.replicas--;
      fl.bytes -= c.sizeBytes;
    }
    const tl = load.get(to)!;
    tl.replicas++;
    tl.bytes += c.sizeBytes;
  };

  // 1. A draining node leads nothing: its leaderships go to voters elsewhere.
  for (const c of cells) {
    if (c.leader !== null && isDraining(c.leader) && !c.joint && !decided.has(c.id)) transfer(c, 'drain');
  }

  // 2. Repairs: replicas on dead nodes, then on draining ones, re-created in the same AZ.
  for (const reason of ['dead-node', 'drain'] as const) {
    for (const c of cells) {
      for (const r of c.replicas) {
        const due = reason === 'dead-node' ? isDead(r.node) : !isDead(r.node) && isDraining(r.node);
        if (!due || decided.has(c.id)) continue;
        if (!movable(c, r.node, true)) continue;
        if (moveBudget <= 0 || busy.has(r.node)) continue;
        // The leader cannot be the replica taken away: hand its leadership over first.
        if (c.leader === r.node) {
          transfer(c, 'before-move');
          continue;
        }
        const to = targetFor(c, r.az);
        if (to === undefined) {
          blocked.push({ cell: c.id, node: r.node, reason: 'no-target-in-az' });
          continue;
        }
        plan(c, r.node, to, reason);
      }
    }
  }

  // 3. Balance within each AZ, among usable nodes only, once nothing needs repair there.
  const azs = [...new Set(nodes.map((n) => n.az))].sort(cmp);
  for (const az of azs) {
    if (moveBudget <= 0) break;
    const needsRepair = cells.some((c) => c.replicas.some((r) => r.az === az && (isDead(r.node) || isDraining(r.node))));
    if (needsRepair) continue;
    const members = nodes.filter((n) => n.az === az && usable(n.id) && !busy.has(n.id)).map((n) => n.id);
    if (members.length < 2) continue;
    const move = balanceMove(az, members, cells, load, cfg, input.nowMs, (c, node) => movable(c, node, false));
    if (move === null) continue;
    const c = cells.find((x) => x.id === move.cell)!;
    if (c.leader === move.from) {
      transfer(c, 'before-move');
      continue;
    }
    plan(c, move.from, move.to, 'balance');
  }

  // 4. Load: the leader does a cell's work (writes, linearizable reads), so load is balanced by
  //    moving leaderships, not data: from the node leading the most load to a voter leading
  //    clearly less, and only to one leading fewer cells (the count-based leader balance of
  //    the cell leaders would otherwise hand it back).
  if (transfers.length < cfg.maxLeaderTransfers) {
    const t = loadTransfer(cells, load, cfg, decided, usable);
    if (t !== null) {
      const c = cells.find((x) => x.id === t.cell)!;
      transfers.push({ kind: 'transfer-leader', cell: c.id, from: t.from, to: t.to, reason: 'load' });
      decided.add(c.id);
    }
  }

  return { decisions: [...transfers, ...moves], blocked };
}

/**
 * One leadership transfer that evens out led load, or null: the hottest leader hands over the
 * cell that brings it and the receiving voter nearest to even, when their led load differs by at
 * least `loadMarginRatio` of the hotter one and `minQpsGap`, and the receiver leads fewer cells.
 */
function loadTransfer(
  cells: readonly PlannerCell[],
  load: ReadonlyMap<string, NodeLoad>,
  cfg: PlacementConfig,
  decided: ReadonlySet<string>,
  usable: (id: string) => boolean,
): { cell: string; from: string; to: string } | null {
  const leaders = [...load.entries()].filter(([id, l]) => l.leads > 0 && usable(id)).sort((a, b) => b[1].leadQps - a[1].leadQps || cmp(a[0], b[0]));
  for (const [from, fl] of leaders) {
    let best: { cell: string; to: string; score: number } | null = null;
    for (const c of cells) {
      if (c.leader !== from || c.joint || c.moveInFlight || decided.has(c.id) || c.qps <= 0) continue;
      for (const r of c.replicas) {
        const tl = load.get(r.node);
        if (r.role !== 'voter' || r.node === from || tl === undefined || !usable(r.node) || tl.leads >= fl.leads) continue;
        const gap = fl.leadQps - tl.leadQps;
        if (gap < cfg.minQpsGap || gap < cfg.loadMarginRatio * fl.leadQps || c.qps >= gap) continue;
        const score = Math.abs(gap - 2 * c.qps);
        if (best === null || score < best.score || (score === best.score && cmp(c.id, best.cell) < 0)) best = { cell: c.id, to: r.node, score };
      }
    }
    if (best !== null) return { cell: best.cell, from, to: best.to };
  }
  return null;
}

/**
 * One balancing move within an AZ, or null. By count first: from the node with most replicas to
 * the one with fewest when they differ by at least the margin (a move narrows the gap by two, so
 * a margin of two can never flip it back). Then by bytes, only between nodes whose counts differ
 * by one (the move swaps the counts, never widening them) and only with a cell smaller than the
 * gap, so every move lowers the sum of squares of the bytes: moves stop.
 */
function balanceMove(
  az: string,
  members: readonly string[],
  cells: readonly PlannerCell[],
  load: ReadonlyMap<string, NodeLoad>,
  cfg: PlacementConfig,
  nowMs: number,
  movable: (c: PlannerCell, node: string) => boolean,
): { cell: string; from: string; to: string } | null {
  const cooled = (c: PlannerCell) => c.lastMovedAtMs === null || nowMs - c.lastMovedAtMs >= cfg.moveCooldownMs;
  const onNode = (node: string, other: string) =>
    cells.filter((c) => c.replicas.some((r) => r.node === node && r.az === az) && !c.replicas.some((r) => r.node === other) && cooled(c) && movable(c, node));
  // Not the leader first (no transfer needed), then smallest (cheapest to copy), least busy, id.
  const pick = (cands: PlannerCell[], from: string) =>
    cands.sort((a, b) => Number(a.leader === from) - Number(b.leader === from) || a.sizeBytes - b.sizeBytes || a.qps - b.qps || cmp(a.id, b.id))[0];

  const byCount = [...members].sort((a, b) => load.get(b)!.replicas - load.get(a)!.replicas || cmp(a, b));
  const most = byCount[0]!;
  const fewest = byCount[byCount.length - 1]!;
  if (load.get(most)!.replicas - load.get(fewest)!.replicas >= cfg.balanceMargin) {
    // The fullest node's cells in order; the emptiest node that does not host one receives it.
    for (const from of byCount) {
      if (load.get(from)!.replicas - load.get(fewest)!.replicas < cfg.balanceMargin) break;
      for (const to of [...byCount].reverse()) {
        if (load.get(from)!.replicas - load.get(to)!.replicas < cfg.balanceMargin) break;
        const c = pick(onNode(from, to), from);
        if (c) return { cell: c.id, from, to };
      }
    }
    return null;
  }

  const mean = members.reduce((s, id) => s + load.get(id)!.bytes, 0) / members.length;
  const gapNeeded = Math.max(cfg.minBytesGap, cfg.bytesMarginRatio * mean);
  const byBytes = [...members].sort((a, b) => load.get(b)!.bytes - load.get(a)!.bytes || cmp(a, b));
  for (const from of byBytes) {
    for (const to of [...byBytes].reverse()) {
      const gap = load.get(from)!.bytes - load.get(to)!.bytes;
      if (gap < gapNeeded) break;
      if (load.get(from)!.replicas - load.get(to)!.replicas !== 1) continue;
      const cands = onNode(from, to).filter((c) => c.sizeBytes > 0 && c.sizeBytes < gap);
      // The cell that brings the two nearest to even.
      const c = cands.sort((a, b) => Math.abs(gap - 2 * a.sizeBytes) - Math.abs(gap - 2 * b.sizeBytes) || Number(a.leader === from) - Number(b.leader === from) || cmp(a.id, b.id))[0];
      if (c) return { cell: c.id, from, to };
    }
  }
  return null;
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
