// A scripting harness for interaction-style scenarios of the Raft core (after etcd-io/raft's
// interaction tests): nothing is delivered unless the script says so. Each node is a RaftNode
// over its own MemoryStorage; `handle` takes a node's Ready and follows the persistence
// contract (types.ts), returning the Ready so the script can deliver its messages in any order,
// drop, duplicate or hold them. `crash` rebuilds a node from what its storage holds, losing
// every unpersisted entry and any hard state written without an fsync (`mustSync` false).

import { decodeConfChange } from '../../../cell/raft/confchange.js';
import { MemoryStorage } from '../../../cell/raft/memory-storage.js';
import { RaftNode } from '../../../cell/raft/raft.js';
import {
  maySendEarly,
  type ConfState,
  type Entry,
  type HardState,
  type Message,
  type MessageType,
  type NodeId,
  type RaftMutation,
  type Ready,
  type ReadState,
  type Status,
} from '../../../cell/raft/types.js';

export interface ScriptOptions {
  readonly ids: readonly NodeId[];
  readonly mutation: RaftMutation;
  readonly preVote: boolean;
  readonly checkQuorum: boolean;
  /** The bootstrapped membership (a joint one for joint-consensus scenarios); default: all voters. */
  readonly conf?: ConfState;
  /** The leader's pipelining window per follower (core default when unset). */
  readonly maxInflightMsgs?: number;
}

interface ScriptNode {
  raft: RaftNode;
  readonly storage: MemoryStorage;
  /** The hard state an fsync made durable; a crash rolls storage back to it. */
  syncedHardState: HardState;
  /** Data entries handed out as committed since the last (re)start. */
  applied: Entry[];
  readStates: ReadState[];
}

const NO_READY: Ready = {
  softState: null,
  hardState: null,
  snapshot: null,
  entries: [],
  committedEntries: [],
  messages: [],
  readStates: [],
  mustSync: false,
  termDurable: true,
};

/** Bound on `stabilize` rounds: a script that never quiesces is a bug in the script. */
const MAX_STABILIZE_ROUNDS = 100;

export class Script {
  private readonly nodes = new Map<NodeId, ScriptNode>();

  constructor(private readonly opts: ScriptOptions) {
    const conf = opts.conf ?? { voters: [...opts.ids], learners: [], votersOutgoing: [], learnersNext: [], autoLeave: false };
    for (const id of opts.ids) {
      const storage = new MemoryStorage();
      storage.bootstrap(conf);
      this.nodes.set(id, { raft: this.build(id, storage), storage, syncedHardState: storage.hardStateNow(), applied: [], readStates: [] });
    }
  }

  private build(id: NodeId, storage: MemoryStorage): RaftNode {
    return new RaftNode({
      id,
      storage,
      electionTicks: 10,
      heartbeatTicks: 1,
      // Fixed: every randomized election timeout is exactly electionTicks.
      random: () => 0,
      preVote: this.opts.preVote,
      checkQuorum: this.opts.checkQuorum,
      mutation: this.opts.mutation,
      maxInflightMsgs: this.opts.maxInflightMsgs,
    });
  }

  private get(id: NodeId): ScriptNode {
    const n = this.nodes.get(id);
    if (!n) throw new Error(`script: no node ${id}`);
    return n;
  }

  raft(id: NodeId): RaftNode {
    return this.get(id).raft;
  }

  status(id: NodeId): Status {
    return this.get(id).raft.status();
  }

  /** The node's log as `index/term` pairs from `from` (default 1), e.g. '1/1 2/2 3/2'. */
  log(id: NodeId, from = 1): string {
    const r = this.get(id).raft;
    const out: string[] = [];
    for (let i = from; i <= r.status().lastIndex; i++) out.push(`${i}/${r.termAt(i) ?? '?'}`);
    return out.join(' ');
  }

  /** The nodes whose log holds the entry (`index`, `term`). */
  holders(index: number, term: number): NodeId[] {
    return [...this.nodes.keys()].filter((id) => this.get(id).raft.termAt(index) === term);
  }

  /** The nodes that currently lead in `term` (two would break election safety). */
  leadersOf(term: number): NodeId[] {
    return [...this.nodes.keys()].filter((id) => {
      const st = this.get(id).raft.status();
      return st.role === 'leader' && st.term === term;
    });
  }

  /** Texts of the data entries the node handed to its state machine since it (re)started. */
  appliedTexts(id: NodeId): string[] {
    return this.get(id).applied.map((e) => new TextDecoder().decode(e.data));
  }

  readStates(id: NodeId): ReadState[] {
    return this.get(id).readStates;
  }

  propose(id: NodeId, text: string): number {
    const res = this.get(id).raft.propose(new TextEncoder().encode(text));
    if (!res.ok) throw new Error(`script: propose on ${id} failed: ${res.error}`);
    return res.index;
  }

  tick(id: NodeId, n = 1): void {
    for (let i = 0; i < n; i++) this.get(id).raft.tick();
  }

  /**
   * Handles the node's Ready by the contract: persist the snapshot, entries and hard state
   * (fsynced when mustSync), apply committed entries, record read states, advance. Returns the
   * Ready; its messages are the script's to deliver (they may all be sent now).
   */
  handle(id: NodeId): Ready {
    const n = this.get(id);
    if (!n.raft.hasReady()) return NO_READY;
    const rd = n.raft.ready();
    if (rd.snapshot) n.storage.applySnapshot(rd.snapshot);
    n.storage.append(rd.entries);
    if (rd.hardState) n.storage.setHardState(rd.hardState);
    if (rd.mustSync) n.syncedHardState = n.storage.hardStateNow();
    for (const e of rd.committedEntries) {
      if (e.kind === 'conf') n.raft.applyConfChange(decodeConfChange(e.data));
      else if (e.data.length > 0) n.applied.push(e);
    }
    n.readStates.push(...rd.readStates);
    n.raft.advance();
    return rd;
  }

  /**
   * Takes the node's Ready but persists nothing: returns only the messages the contract lets a
   * node send before its write is durable. Use it to crash a node mid-write.
   */
  handleUnpersisted(id: NodeId): Message[] {
    const n = this.get(id);
    if (!n.raft.hasReady()) return [];
    const rd = n.raft.ready();
    return rd.messages.filter((m) => maySendEarly(rd, m));
  }

  /** Steps each message into its recipient, in the given order. */
  deliver(...msgs: readonly Message[]): void {
    for (const m of msgs) this.get(m.to).raft.step(m);
  }

  /**
   * Handles Readys and delivers every message (except those `drop` matches) until no node has
   * anything left; for the uninteresting stretches of a script. Returns the dropped messages.
   */
  stabilize(drop: (m: Message) => boolean = () => false): Message[] {
    const dropped: Message[] = [];
    for (let round = 0; round < MAX_STABILIZE_ROUNDS; round++) {
      const inbox: Message[] = [];
      for (const id of this.nodes.keys()) {
        for (const m of this.handle(id).messages) (drop(m) ? dropped : inbox).push(m);
      }
      if (inbox.length === 0) return dropped;
      this.deliver(...inbox);
    }
    throw new Error(`script: no quiescence after ${MAX_STABILIZE_ROUNDS} rounds`);
  }

  /**
   * The node stops and restarts from its storage: unpersisted entries, an outstanding Ready
   * and hard state written without an fsync are lost; its state machine is rebuilt.
   */
  crash(id: NodeId): void {
    const n = this.get(id);
    n.storage.setHardState(n.syncedHardState);
    n.raft = this.build(id, n.storage);
    n.applied = [];
    n.readStates = [];
  }
}

/** The single message of `type` to `to` in `msgs` (throws unless there is exactly one). */
export function one(msgs: readonly Message[], type: MessageType, to: NodeId): Message {
  const found = msgs.filter((m) => m.type === type && m.to === to);
  if (found.length !== 1) {
    throw new Error(`script: expected one ${type} to ${to}, found ${found.length} in [${msgs.map(trace).join(', ')}]`);
  }
  return found[0]!;
}

/** Every message in `msgs` of `type` (to anyone, or to `to`). */
export function all(msgs: readonly Message[], type: MessageType, to?: NodeId): Message[] {
  return msgs.filter((m) => m.type === type && (to === undefined || m.to === to));
}

/** A short trace form of a message, for failure output: `a->b append t2 i1/1 c1 [2/2]`. */
export function trace(m: Message): string {
  const ents = m.entries.length > 0 ? ` [${m.entries.map((e) => `${e.index}/${e.term}`).join(' ')}]` : '';
  const rej = m.reject ? ' reject' : '';
  return `${m.from}->${m.to} ${m.type} t${m.term} i${m.index}/${m.logTerm} c${m.commit}${ents}${rej}`;
}
