// The end of a whole-node simulation run: every replica of every cell reaches the same applied
// index, and then the same state (the cell's snapshot data, byte for byte).

import { buildSnapshotData } from '../../../cell/node/snapshots.js';
import { BinaryReader } from '../../../shared/codec/index.js';
import { fail } from '../invariants.js';
import type { SimNode } from './sim-node.js';

/** What the check needs from the run. */
export interface ConvergenceRun {
  readonly nodes: readonly SimNode[];
  /** Runs the simulation until `untilMs` or until `stop` holds. */
  run(untilMs: number, stop?: () => boolean): Promise<void>;
  /** Virtual time `ms` from now. */
  at(ms: number): number;
  record(e: unknown): void;
}

/** Bound on waiting for the replicas to settle. */
const SETTLE_BOUND_MS = 8000;

export class Convergence {
  constructor(private readonly sim: ConvergenceRun) {}

  /** Every replica of every cell ends at the same applied index with the same state. */
  async check(): Promise<void> {
    const settleBy = this.sim.at(SETTLE_BOUND_MS);
    const appliedNow = (): Map<string, number[]> | null => {
      if (this.sim.nodes.some((n) => n.node === null)) return null;
      const out = new Map<string, number[]>();
      for (const cellId of this.cellIds()) {
        const rs = this.hostsOf(cellId).map((n) => n.node!.replicas.get(cellId)!);
        if (2 * rs.length <= this.sim.nodes.length) fail('convergence', `cell ${cellId} has replicas on ${rs.length} of ${this.sim.nodes.length} nodes`);
        const commit = Math.max(...rs.map((r) => r.raft.status().commit));
        if (rs.some((r) => r.data.applied.index !== commit || r.raft.status().commit !== commit)) return null;
        out.set(cellId, rs.map((r) => r.data.applied.index));
      }
      return out;
    };
    // The meta cell takes a liveness heartbeat every 2 s: read every replica's state at one
    // moment, after the pumps went idle, and again if an entry was applied meanwhile.
    for (let attempt = 0; ; attempt++) {
      await this.sim.run(settleBy, () => appliedNow() !== null);
      const before = appliedNow();
      if (before === null) fail('convergence', 'replicas did not reach the same applied index');
      await this.sim.run(this.sim.at(50));
      const states = await this.readStates([...before.keys()]);
      const after = appliedNow();
      if (after === null || JSON.stringify([...after]) !== JSON.stringify([...before])) {
        if (attempt < 5) continue;
        fail('convergence', 'replicas kept applying while their states were compared');
      }
      for (const [cellId, perNode] of states) this.compareStates(cellId, perNode);
      return;
    }
  }

  /** The snapshot data (the canonical state) of every replica of `cellIds`, read concurrently. */
  /**
   * Every live cell any node hosts. A replica frozen for a merge is left out: its range's data
   * is the absorbing cell's (compared there) until the node retires it.
   */
  cellIds(): string[] {
    return [...new Set(this.sim.nodes.flatMap((n) => [...(n.node?.replicas.values() ?? [])].filter((r) => !r.frozen).map((r) => r.cellId)))].sort();
  }

  /** The up nodes hosting `cellId` live (a node that missed a split by snapshot lacks the new cell). */
  hostsOf(cellId: string): SimNode[] {
    return this.sim.nodes.filter((n) => n.node?.replicas.has(cellId) === true && !n.node.replicas.get(cellId)!.frozen);
  }

  private async readStates(cellIds: string[]): Promise<Map<string, Uint8Array[]>> {
    const out = new Map<string, Uint8Array[]>();
    let pending = cellIds.reduce((sum, id) => sum + this.hostsOf(id).length, 0);
    for (const cellId of cellIds) {
      const perNode: Uint8Array[] = [];
      out.set(cellId, perNode);
      this.hostsOf(cellId).forEach((n, i) => {
        const node = n.node!;
        const r = node.replicas.get(cellId)!;
        void node
          .flushAll(false)
          .then(() => buildSnapshotData(node.db.kv, cellId, r.range))
          .then((b) => {
            perNode[i] = b;
            pending--;
          }, (e: unknown) => this.sim.record(e));
      });
    }
    await this.sim.run(this.sim.at(500), () => pending === 0);
    if (pending !== 0) fail('convergence', 'could not read the replicas\' states');
    return out;
  }

  private compareStates(cellId: string, states: readonly Uint8Array[]): void {
    const hosts = this.hostsOf(cellId);
    const digests = states.map((b, i) => `${hosts[i]!.id}:${hashBytes(b)}`);
    if (new Set(states.map(hashBytes)).size === 1) return;
    const logs = hosts.map((n) => {
      const r = n.node!.replicas.get(cellId)!;
      return `${n.id}: applied ${r.data.applied.index}, log ${r.log.firstIndex()}..${r.log.lastIndex()}, snapshot ${r.log.snapshotMetadata().index}`;
    });
    fail('state-machine-safety', `cell ${cellId}: replicas at the same applied index differ: ${digests.join(' ')}; ${describeDifference(states)}; ${logs.join('; ')}`);
  }
}

/** The first pair in which the snapshot data of the replicas differ (for the failure message). */
function describeDifference(states: readonly Uint8Array[]): string {
  const decoded = states.map((b) => {
    const r = new BinaryReader(b);
    const n = r.varuint();
    const m = new Map<string, string>();
    for (let i = 0; i < n; i++) m.set(Buffer.from(r.bytes()).toString('hex'), Buffer.from(r.bytes()).toString('hex'));
    return m;
  });
  const keys = new Set(decoded.flatMap((m) => [...m.keys()]));
  for (const k of [...keys].sort()) {
    const vs = decoded.map((m) => m.get(k) ?? '-');
    if (new Set(vs).size > 1) return `first difference at key ${k}: ${vs.map((v) => v.slice(0, 120)).join(' | ')}`;
  }
  return 'no differing pair';
}

function hashBytes(b: Uint8Array): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < b.length; i++) h = Math.imul(h ^ b[i]!, 0x01000193);
  return (h >>> 0).toString(16);
}
