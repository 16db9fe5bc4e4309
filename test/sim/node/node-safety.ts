// Safety of the whole-node simulation, checked after every event: one leader per term and
// cell, an index once committed holds the same entry on every node, and what any node calls
// committed is on the disks of a majority (read off the simulated disks).

import { fail } from '../invariants.js';
import type { SimNode } from './sim-node.js';

export class NodeSafety {
  /** Distinct committed entries seen (a run statistic). */
  commits = 0;
  private nodes: readonly SimNode[] = [];
  /** `${cell}@${term}` -> its leader. */
  private readonly leaders = new Map<string, string>();
  /** cell -> index -> term of the committed entry there. */
  private readonly committed = new Map<string, Map<number, number>>();
  /** `${node}/${cell}` -> highest index already compared. */
  private readonly checkedCommit = new Map<string, number>();
  /** cell -> highest commit index already found durable on a majority. */
  private readonly durableChecked = new Map<string, number>();
  /** cell -> the commit index it was first seen with (its given start). */
  private readonly cellBase = new Map<string, number>();

  /** Safety after every event. */
  afterEvent(nodes: readonly SimNode[]): void {
    this.nodes = nodes;
    this.checkCommitDurable();
    for (const n of this.nodes) {
      const node = n.node;
      if (node === null) continue;
      for (const r of node.replicas.values()) {
        const st = r.raft.status();
        if (st.role === 'leader') {
          const k = `${r.cellId}@${st.term}`;
          const prev = this.leaders.get(k);
          if (prev === undefined) this.leaders.set(k, n.id);
          else if (prev !== n.id) fail('election-safety', `cell ${r.cellId}: ${prev} and ${n.id} both led term ${st.term}`);
        }
        this.checkCommitted(n.id, r.cellId, st.commit, (i) => r.raft.termAt(i));
      }
    }
  }

  /**
   * What any node calls committed is on the disks of a majority, for sure: a crash of every
   * node right now (power loss) could not lose it. The disks are read directly, so this sees
   * an acknowledgement or a leader's own count made before the fsync it stands for.
   */
  private checkCommitDurable(): void {
    const best = new Map<string, { index: number; term: number; node: string }>();
    for (const n of this.nodes) {
      if (n.node === null) continue;
      for (const r of n.node.replicas.values()) {
        const c = r.raft.status().commit;
        const t = r.raft.termAt(c);
        const b = best.get(r.cellId);
        // A cell's first index is given, not replicated: the bootstrap configuration (index 1),
        // or the split entry a new cell starts from, written by every replica for itself.
        if (!this.cellBase.has(r.cellId)) this.cellBase.set(r.cellId, c);
        if (t !== null && c > this.cellBase.get(r.cellId)! && (b === undefined || c > b.index)) best.set(r.cellId, { index: c, term: t, node: n.id });
      }
    }
    for (const [cellId, b] of best) {
      if (b.index <= (this.durableChecked.get(cellId) ?? 0)) continue;
      const holders = this.nodes.filter((n) => n.durablyHolds(cellId, b.index, b.term)).map((n) => n.id);
      if (2 * holders.length <= this.nodes.length) {
        fail('commit-quorum', `cell ${cellId}: ${b.node} has index ${b.index} (term ${b.term}) committed, but only [${holders.join(',')}] hold it durably`);
      }
      this.durableChecked.set(cellId, b.index);
    }
  }

  /** A committed index holds one entry forever, on every node. */
  private checkCommitted(node: string, cellId: string, commit: number, termAt: (i: number) => number | null): void {
    const key = `${node}/${cellId}`;
    let map = this.committed.get(cellId);
    if (!map) this.committed.set(cellId, (map = new Map()));
    const from = Math.max(1, (this.checkedCommit.get(key) ?? 0) + 1, commit - 256);
    for (let i = from; i <= commit; i++) {
      const t = termAt(i);
      if (t === null) continue;
      const known = map.get(i);
      if (known === undefined) {
        map.set(i, t);
        this.commits++;
      } else if (known !== t) {
        fail('log-matching', `cell ${cellId} index ${i}: committed in term ${known}, ${node} holds term ${t} there`);
      }
    }
    if (commit > (this.checkedCommit.get(key) ?? 0)) this.checkedCommit.set(key, commit);
  }
}
