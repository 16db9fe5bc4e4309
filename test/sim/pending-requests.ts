// A node's side of client requests: proposals waiting for their log entry to apply and
// ReadIndex reads waiting for their read state. Everything here is volatile (lost in a crash;
// the client times out and retries with the same request id).

import { assert } from '../../shared/assert.js';
import type { Entry, NodeId, RaftNode } from '../../cell/raft/index.js';
import type { ClientReply, ClientRequest, ReplyBody } from './client-protocol.js';
import { encodeCommand, type ApplyOutcome, type KvStateMachine } from './kv-state-machine.js';
import type { Tracer } from './trace.js';

interface PendingProposal {
  readonly term: number;
  readonly req: ClientRequest;
}

interface PendingRead {
  readonly req: ClientRequest;
  index: number | null;
  readonly expires: number;
}

const MAX_PROPOSALS = 128;
export const MAX_READS = 64;
/** A read whose ReadState never comes (leader change drops it) is forgotten after this. */
const READ_TTL = 200;

export type LocalReads = 'off' | 'anyNode' | 'leaderOnly';

export class PendingRequests {
  /** By log index. */
  private readonly proposals = new Map<number, PendingProposal>();
  /** By ReadIndex context. */
  private readonly reads = new Map<string, PendingRead>();
  private readCounter = 0;

  constructor(
    private readonly id: NodeId,
    private readonly send: (reply: ClientReply) => void,
    private readonly trace: Tracer,
    /** Mutation: answer reads from local state without ReadIndex. */
    private readonly localReads: LocalReads,
    /** Called just before a read is asked of the core (the checks note when it arrived). */
    private readonly onReadIndex: (context: string) => void = () => undefined,
  ) {}

  proposalCount(): number {
    return this.proposals.size;
  }

  clear(): void {
    this.proposals.clear();
    this.reads.clear();
  }

  reply(req: ClientRequest, body: ReplyBody): void {
    this.send({ kind: 'reply', from: this.id, to: req.from, client: req.client, seq: req.seq, attempt: req.attempt, body });
  }

  handle(raft: RaftNode, sm: KvStateMachine, req: ClientRequest, now: number): void {
    if (req.cmd.op === 'get' && !req.viaLog) return this.read(raft, sm, req, now);
    // A retry of a request this leader already has in its log waits for that entry instead of
    // adding another copy: under a backlog, re-proposing on every timeout only deepens it.
    const st = raft.status();
    if (st.role === 'leader') {
      for (const p of this.proposals.values()) {
        if (p.term === st.term && p.req.client === req.client && p.req.seq === req.seq) return;
      }
    }
    if (this.proposals.size >= MAX_PROPOSALS) return this.reply(req, { type: 'rejected', error: 'OVERLOADED', leaderHint: null });
    const r = raft.propose(encodeCommand(req.cmd));
    if (!r.ok) return this.reply(req, { type: 'rejected', error: r.error, leaderHint: r.leaderHint });
    const old = this.proposals.get(r.index);
    if (old !== undefined) this.reply(old.req, { type: 'dropped' }); // its slot was overwritten
    this.proposals.set(r.index, { term: r.term, req });
    this.trace.event(now, () => `${this.id} proposed c${req.client}#${req.seq} ${req.cmd.op} ${req.cmd.key} at ${r.index} term ${r.term}`);
  }

  private read(raft: RaftNode, sm: KvStateMachine, req: ClientRequest, now: number): void {
    if (this.localReads === 'anyNode' || (this.localReads === 'leaderOnly' && raft.status().role === 'leader')) {
      return this.reply(req, { type: 'ok', output: sm.read(req.cmd.key) });
    }
    if (this.reads.size >= MAX_READS) return this.reply(req, { type: 'rejected', error: 'OVERLOADED', leaderHint: null });
    const ctx = `${this.id}/${req.client}/${req.seq}/${req.attempt}/${this.readCounter++}`;
    this.onReadIndex(ctx);
    const r = raft.readIndex(ctx);
    if (!r.ok) return this.reply(req, { type: 'rejected', error: r.error, leaderHint: r.leaderHint });
    this.reads.set(ctx, { req, index: null, expires: now + READ_TTL });
  }

  /**
   * Answers the proposals an applied entry decides: the one at its index (ours if the term
   * matches), and any later one of an older term (a newer leader's entry here means they can
   * never commit).
   */
  onApplied(e: Entry, outcome: ApplyOutcome): void {
    for (const [i, p] of this.proposals) {
      if (i === e.index) {
        this.proposals.delete(i);
        if (p.term !== e.term) {
          this.reply(p.req, { type: 'dropped' });
        } else if (outcome.kind === 'applied' || outcome.kind === 'duplicate') {
          assert(outcome.cmd.client === p.req.client && outcome.cmd.seq === p.req.seq, `entry ${i} is not the proposal`);
          this.reply(p.req, { type: 'ok', output: outcome.output });
        } else {
          this.reply(p.req, { type: 'dropped' });
        }
      } else if (i < e.index) {
        assert(false, `${this.id} proposal at ${i} was skipped by apply`);
      } else if (p.term < e.term) {
        this.proposals.delete(i);
        this.reply(p.req, { type: 'dropped' });
      }
    }
  }

  /** A snapshot covers these proposals: their fate is unknown here; the client's retry learns it. */
  onSnapshot(index: number): void {
    for (const [i, p] of this.proposals) {
      if (i > index) continue;
      this.proposals.delete(i);
      this.reply(p.req, { type: 'dropped' });
    }
  }

  onReadState(context: string, index: number): void {
    const p = this.reads.get(context);
    if (p !== undefined) p.index = index;
  }

  /** Answers every read whose index the state machine has reached. */
  serveReads(sm: KvStateMachine): void {
    for (const [ctx, p] of this.reads) {
      if (p.index === null || p.index > sm.applied) continue;
      this.reads.delete(ctx);
      this.reply(p.req, { type: 'ok', output: sm.read(p.req.cmd.key) });
    }
  }

  expireReads(now: number): void {
    for (const [ctx, p] of this.reads) if (p.expires <= now) this.reads.delete(ctx);
  }
}
