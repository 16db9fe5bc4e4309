// Which nodes host a cell, as the running nodes report it: replica moves change the members
// (n1 <-> n4 in az1), so faults and checks resolve "the cell's nodes" from the nodes' admin
// `status` (confState), never from a fixed node list.

import type { CellStatus, ChaosCluster } from './cluster.js';

/** One replica in a node's `status` answer (the fields the harness reads). */
export interface ReplicaStatus extends CellStatus {
  readonly confState?: {
    readonly voters: readonly string[];
    readonly learners: readonly string[];
    readonly votersOutgoing: readonly string[];
    readonly learnersNext: readonly string[];
  };
  readonly frozen?: boolean;
  readonly dataApplied?: number;
}

export interface CellView {
  readonly cell: string;
  /** The node leading the cell with the highest term; null when none answers as leader. */
  readonly leader: string | null;
  /** Voters (sorted), incoming and outgoing while joint. */
  readonly voters: readonly string[];
  readonly learners: readonly string[];
  readonly joint: boolean;
  /** Voters and learners: the nodes that must converge. */
  readonly members: readonly string[];
  /** Every node reporting a replica of the cell (a removed one may linger until it is destroyed). */
  readonly hosts: readonly string[];
  readonly reports: ReadonlyMap<string, ReplicaStatus>;
}

/** Every running node's replicas (null for a node that does not answer). */
export async function allStatus(c: ChaosCluster, timeoutMs = 800): Promise<Map<string, ReplicaStatus[] | null>> {
  const ids = c.nodeIds;
  const sts = await Promise.all(ids.map((id) => (c.isUp(id) ? c.status(id, timeoutMs) : Promise.resolve(null))));
  return new Map(ids.map((id, i) => [id, sts[i] as ReplicaStatus[] | null]));
}

/**
 * The cell's membership from the most authoritative report: the leader with the highest term,
 * else the report with the highest epoch (every applied membership change bumps it). Null
 * when no node reports the cell.
 */
export function viewOf(cell: string, all: ReadonlyMap<string, ReplicaStatus[] | null>): CellView | null {
  const reports = new Map<string, ReplicaStatus>();
  for (const [id, cells] of all) {
    const r = cells?.find((x) => x.cell === cell);
    if (r) reports.set(id, r);
  }
  if (reports.size === 0) return null;
  let leader: string | null = null;
  let best: [string, ReplicaStatus] | null = null;
  for (const [id, r] of reports) {
    if (r.role === 'leader' && (leader === null || r.term > reports.get(leader)!.term)) leader = id;
    if (!best || (r.epoch ?? 0) > (best[1].epoch ?? 0) || ((r.epoch ?? 0) === (best[1].epoch ?? 0) && r.commit > best[1].commit)) best = [id, r];
  }
  const conf = (leader !== null ? reports.get(leader)! : best![1]).confState;
  const voters = conf ? [...new Set([...conf.voters, ...conf.votersOutgoing])].sort() : [...reports.keys()].sort();
  const learners = conf ? [...new Set([...conf.learners, ...conf.learnersNext])].filter((n) => !voters.includes(n)).sort() : [];
  const joint = (conf?.votersOutgoing.length ?? 0) > 0;
  return { cell, leader, voters, learners, joint, members: [...voters, ...learners].sort(), hosts: [...reports.keys()].sort(), reports };
}

export async function cellView(c: ChaosCluster, cell: string, timeoutMs = 800): Promise<CellView | null> {
  return viewOf(cell, await allStatus(c, timeoutMs));
}

/** The cell's view once it has a leader (bounded wait); the last view seen otherwise. */
export async function cellViewWithLeader(c: ChaosCluster, cell: string, boundMs = 3000): Promise<CellView | null> {
  const until = Date.now() + boundMs;
  let v: CellView | null = null;
  for (;;) {
    v = await cellView(c, cell);
    if (v?.leader || Date.now() >= until) return v;
    await new Promise((r) => setTimeout(r, 100));
  }
}
