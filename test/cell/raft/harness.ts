// A minimal synchronous cluster for unit tests of the Raft core: messages are delivered in
// order until the cluster is quiet, links can be cut, and every Ready is handled by the
// persistence contract (persist, send, apply, advance).

import { decodeConfChange } from '../../../cell/raft/confchange.js';
import { MemoryStorage } from '../../../cell/raft/memory-storage.js';
import { RaftNode } from '../../../cell/raft/raft.js';
import type { ConfState, Entry, Message, NodeId, RaftConfig, ReadState } from '../../../cell/raft/types.js';

export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface TestNode {
  raft: RaftNode;
  storage: MemoryStorage;
  applied: Entry[];
  readStates: ReadState[];
  conf: ConfState;
  /** Data of the last snapshot this node installed from the leader. */
  restored: Uint8Array | null;
}

export type ConfigOverrides = Partial<Omit<RaftConfig, 'id' | 'storage' | 'random'>>;

export class TestCluster {
  readonly nodes = new Map<NodeId, TestNode>();
  private readonly cut = new Set<string>();
  readonly sent: Message[] = [];
  /** Messages matching this are dropped (in addition to cut links). */
  dropIf: (m: Message) => boolean = () => false;

  constructor(
    ids: NodeId[],
    private readonly overrides: ConfigOverrides = {},
    seed = 1,
  ) {
    const conf: ConfState = { voters: ids, learners: [], votersOutgoing: [], learnersNext: [], autoLeave: false };
    let s = seed;
    for (const id of ids) {
      const storage = new MemoryStorage();
      storage.bootstrap(conf);
      this.add(id, storage, s++);
    }
  }

  add(id: NodeId, storage: MemoryStorage, seed: number): TestNode {
    const raft = new RaftNode({
      id,
      storage,
      electionTicks: 10,
      heartbeatTicks: 1,
      random: mulberry32(seed),
      preVote: true,
      checkQuorum: true,
      ...this.overrides,
    });
    const node: TestNode = { raft, storage, applied: [], readStates: [], conf: storage.initialState().confState, restored: null };
    this.nodes.set(id, node);
    return node;
  }

  /** Adds a node with empty storage (it learns the configuration from the leader). */
  addEmpty(id: NodeId, seed = 99): TestNode {
    return this.add(id, new MemoryStorage(), seed);
  }

  node(id: NodeId): TestNode {
    const n = this.nodes.get(id);
    if (!n) throw new Error(`no node ${id}`);
    return n;
  }

  isolate(id: NodeId): void {
    for (const other of this.nodes.keys()) {
      if (other === id) continue;
      this.cut.add(`${id}>${other}`);
      this.cut.add(`${other}>${id}`);
    }
  }

  cutLink(from: NodeId, to: NodeId): void {
    this.cut.add(`${from}>${to}`);
  }

  heal(): void {
    this.cut.clear();
  }

  /** Handles every pending Ready and delivers messages until nothing moves (bounded). */
  settle(maxRounds = 1000): void {
    for (let round = 0; round < maxRounds; round++) {
      const inbox: Message[] = [];
      for (const n of this.nodes.values()) {
        if (!n.raft.hasReady()) continue;
        const rd = n.raft.ready();
        if (rd.snapshot) {
          n.storage.applySnapshot(rd.snapshot);
          n.conf = rd.snapshot.metadata.confState;
          n.restored = rd.snapshot.data;
        }
        n.storage.append(rd.entries);
        if (rd.hardState) n.storage.setHardState(rd.hardState);
        for (const m of rd.messages) {
          this.sent.push(m);
          if (!this.cut.has(`${m.from}>${m.to}`) && !this.dropIf(m)) inbox.push(m);
        }
        for (const e of rd.committedEntries) {
          if (e.kind === 'conf') n.conf = n.raft.applyConfChange(decodeConfChange(e.data));
          else if (e.data.length > 0) n.applied.push(e);
        }
        n.readStates.push(...rd.readStates);
        n.raft.advance();
      }
      if (inbox.length === 0) return;
      for (const m of inbox) this.nodes.get(m.to)?.raft.step(m);
    }
    throw new Error('cluster did not settle');
  }

  tick(n = 1): void {
    for (let i = 0; i < n; i++) {
      for (const node of this.nodes.values()) node.raft.tick();
      this.settle();
    }
  }

  leader(): NodeId | null {
    const leaders = [...this.nodes.values()].filter((n) => n.raft.status().role === 'leader');
    if (leaders.length === 0) return null;
    // With partitions a stale leader may linger; the highest term is the real one.
    leaders.sort((a, b) => b.raft.status().term - a.raft.status().term);
    return leaders[0]!.raft.id;
  }

  /** Ticks until some node leads (bounded). */
  elect(maxTicks = 200): NodeId {
    for (let i = 0; i < maxTicks; i++) {
      const l = this.leader();
      if (l !== null) return l;
      this.tick();
    }
    throw new Error('no leader elected');
  }

  propose(text: string): number {
    const l = this.leader();
    if (l === null) throw new Error('no leader');
    const r = this.node(l).raft.propose(new TextEncoder().encode(text));
    if (!r.ok) throw new Error(`propose failed: ${r.error}`);
    this.settle();
    return r.index;
  }

  /** Snapshots the node's applied state (the texts, as JSON) and compacts its log. */
  snapshotAndCompact(id: NodeId): void {
    const n = this.node(id);
    const applied = n.raft.status().applied;
    const data = new TextEncoder().encode(JSON.stringify(this.appliedTexts(id)));
    n.storage.createSnapshot(applied, n.conf, data);
    n.storage.compact(applied);
  }

  appliedTexts(id: NodeId): string[] {
    return this.node(id).applied.map((e) => new TextDecoder().decode(e.data));
  }
}
