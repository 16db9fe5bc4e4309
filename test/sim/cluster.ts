// The simulated cluster: node hosts, the Raft network, the client network and the safety
// checker, advanced one tick at a time. Faults are applied from outside (nemesis.ts).

import { assert } from '../../shared/assert.js';
import type { ConfState, Message, NodeId, Status } from '../../cell/raft/types.js';
import type { ClientMsg, ClientReply, ClientRequest } from './client-protocol.js';
import { InvariantChecker } from './invariants.js';
import { QuorumChecker } from './path-invariants.js';
import { SimNetwork } from './network.js';
import { NodeHost, type HostOptions } from './node-host.js';
import type { Rng } from './rng.js';
import type { Tracer } from './trace.js';

/** Per-link bound on messages in flight; a full link drops (counted in network stats). */
const RAFT_LINK_CAPACITY = 256;
const CLIENT_LINK_CAPACITY = 64;
/** Hard bound on nodes ever created in one run (initial plus added by membership changes). */
export const MAX_NODES = 12;

export interface DiskConditions {
  /** Probability that a Ready takes more than zero ticks to persist. */
  readonly slowRate: number;
  readonly maxDelay: number;
}

export class Cluster {
  readonly net: SimNetwork<Message>;
  readonly clientNet: SimNetwork<ClientMsg>;
  readonly checker = new InvariantChecker();
  readonly quorum = new QuorumChecker();
  /** The highest commit index any node has had (updated after every node's turn). */
  private maxCommit = 0;
  /** `${from}>${to}@${term}` -> highest index acknowledged (see HostEnv.noteAck). */
  private readonly acks = new Map<string, number>();
  /** Set by the nemesis: see HostEnv.electionCrashRate. */
  electionCrashRate = 0;
  /** Set by the nemesis: a node crashed at an election crash point. */
  onSelfCrash: (id: NodeId) => void = () => undefined;
  private readonly hosts = new Map<NodeId, NodeHost>();
  private readonly rngTurns: Rng;
  private readonly rngDisk: Rng;
  private nextNodeNumber: number;
  private clock = 0;
  disk: DiskConditions = { slowRate: 0, maxDelay: 0 };
  /** Client replies due at the current tick, handed to the clients by run.ts. */
  private replies: ClientReply[] = [];

  constructor(
    private readonly rng: Rng,
    readonly trace: Tracer,
    private readonly hostOpts: HostOptions,
    initialSize: number,
  ) {
    assert(initialSize >= 1 && initialSize <= 7, `cluster size ${initialSize}`);
    this.net = new SimNetwork<Message>(rng.fork('net'), RAFT_LINK_CAPACITY);
    this.clientNet = new SimNetwork<ClientMsg>(rng.fork('client-net'), CLIENT_LINK_CAPACITY);
    this.rngTurns = rng.fork('turns');
    this.rngDisk = rng.fork('disk');
    const voters = Array.from({ length: initialSize }, (_, i) => `n${i + 1}`);
    this.nextNodeNumber = initialSize + 1;
    const conf: ConfState = { voters, learners: [], votersOutgoing: [], learnersNext: [], autoLeave: false };
    for (const id of voters) this.createHost(id, conf).start();
  }

  get now(): number {
    return this.clock;
  }

  private createHost(id: NodeId, bootstrap: ConfState | null): NodeHost {
    assert(!this.hosts.has(id), `node ${id} exists`);
    assert(this.hosts.size < MAX_NODES, 'too many nodes');
    const host = new NodeHost(
      id,
      this.hostOpts,
      {
        trace: this.trace,
        checker: this.checker,
        quorum: this.quorum,
        maxCommitKnown: () => this.maxCommit,
        durablyHas: (node, index, term) => this.durablyHas(node, index, term),
        durableTerm: (node) => this.hosts.get(node)?.storage.hardStateNow().term ?? 0,
        noteAck: (from, to, term, index) => {
          const k = `${from}>${to}@${term}`;
          if ((this.acks.get(k) ?? 0) < index) this.acks.set(k, index);
        },
        ackedInTerm: (from, to, term) => this.acks.get(`${from}>${to}@${term}`) ?? 0,
        electionCrashRate: () => this.electionCrashRate,
        onSelfCrash: (crashed) => this.onSelfCrash(crashed),
        now: () => this.clock,
        sendRaft: (m) => this.net.send(m, this.clock),
        sendClient: (r) => {
          this.clientNet.send(r, this.clock);
        },
        persistDelay: () => this.persistDelay(),
      },
      this.rng.fork(`host-${id}`),
      bootstrap,
    );
    this.hosts.set(id, host);
    return host;
  }

  private durablyHas(node: NodeId, index: number, term: number): boolean {
    const h = this.hosts.get(node);
    if (h === undefined) return false;
    const s = h.storage;
    if (s.snapshot().metadata.index >= index) return true;
    return s.lastIndex() >= index && s.term(index) === term;
  }

  private persistDelay(): number {
    if (!this.rngDisk.chance(this.disk.slowRate)) return 0;
    return this.rngDisk.range(1, Math.max(1, this.disk.maxDelay));
  }

  /** A new node with empty storage; it learns the configuration from the leader's snapshot. */
  addNode(): NodeId {
    const id = `n${this.nextNodeNumber++}`;
    this.createHost(id, null).start();
    this.trace.event(this.clock, () => `cluster: new node ${id} (empty storage)`);
    return id;
  }

  host(id: NodeId): NodeHost {
    const h = this.hosts.get(id);
    assert(h !== undefined, `no node ${id}`);
    return h;
  }

  /** Nodes not retired, up or down, in creation order. */
  memberIds(): NodeId[] {
    return [...this.hosts.values()].filter((h) => !h.retired).map((h) => h.id);
  }

  liveIds(): NodeId[] {
    return [...this.hosts.values()].filter((h) => h.alive).map((h) => h.id);
  }

  downIds(): NodeId[] {
    return [...this.hosts.values()].filter((h) => !h.alive && !h.retired).map((h) => h.id);
  }

  allHosts(): NodeHost[] {
    return [...this.hosts.values()];
  }

  crash(id: NodeId): void {
    this.host(id).crash();
  }

  restart(id: NodeId): void {
    this.host(id).start();
  }

  /** Shuts a removed node down for good and forgets its traffic. */
  retire(id: NodeId): void {
    this.host(id).retire();
    this.net.forget(id);
    this.trace.event(this.clock, () => `cluster: retired ${id}`);
  }

  /** The live leader with the highest term, if any. */
  leader(): { id: NodeId; status: Status } | null {
    let best: { id: NodeId; status: Status } | null = null;
    for (const h of this.hosts.values()) {
      const st = h.status();
      if (st === null || st.role !== 'leader') continue;
      if (best === null || st.term > best.status.term) best = { id: h.id, status: st };
    }
    return best;
  }

  /** The configuration applied by the most advanced live node (the one clients care about). */
  latestConf(): ConfState | null {
    let best: NodeHost | null = null;
    for (const h of this.hosts.values()) if (h.alive && (best === null || h.applied() > best.applied())) best = h;
    return best === null ? null : best.confState();
  }

  sendRequest(req: ClientRequest): void {
    this.clientNet.send(req, this.clock);
  }

  /** Replies delivered during the last step. */
  takeReplies(): ClientReply[] {
    const r = this.replies;
    this.replies = [];
    return r;
  }

  /** Starts the next tick; faults and clients act between this and runTick(). */
  beginTick(): number {
    this.clock++;
    return this.clock;
  }

  /** Deliveries due now, then every live node's turn in random order. */
  runTick(): void {
    const now = this.clock;
    for (const m of this.net.deliverDue(now)) {
      const h = this.hosts.get(m.to);
      if (h !== undefined) h.deliver(m);
    }
    for (const m of this.clientNet.deliverDue(now)) {
      if (m.kind === 'reply') {
        this.replies.push(m);
        continue;
      }
      const h = this.hosts.get(m.to);
      if (h !== undefined) h.request(m);
    }
    const order = this.rngTurns.shuffle(this.liveIds());
    for (const id of order) {
      const h = this.host(id);
      h.turn(now);
      const c = h.status()?.commit ?? 0;
      if (c > this.maxCommit) this.maxCommit = c;
    }
  }
}
