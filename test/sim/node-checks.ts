// The checks of the core's paths on one simulated node (see path-invariants.ts for the
// cluster-wide ones): what stepping a message, a tick and a commit may change, which reads may
// be answered, and what must be durable before a message leaves. NodeHost calls them at those
// points; they only observe, never change what the node does.

import type { MemoryStorage, RaftNode } from '../../cell/raft/index.js';
import type { HardState, Message, NodeId } from '../../cell/raft/types.js';
import { fail, type InvariantChecker } from './invariants.js';
import { LeaderReadTracker, type QuorumChecker } from './path-invariants.js';

/** What the checks need to know of the rest of the cluster. */
export interface CheckEnv {
  readonly checker: InvariantChecker;
  readonly quorum: QuorumChecker;
  /** The highest commit index any node has had so far. */
  maxCommitKnown(): number;
  /** Whether `node`'s stable storage holds the entry (index, term), or a snapshot covering it. */
  durablyHas(node: NodeId, index: number, term: number): boolean;
  /** The term on `node`'s stable storage. */
  durableTerm(node: NodeId): number;
  /** The highest index `from` acknowledged to `to` in `term` (0 if none). */
  ackedInTerm(from: NodeId, to: NodeId, term: number): number;
}

export class NodeChecks {
  /** Commit index up to which this incarnation's commit index was checked against the others. */
  private checkedVolatileCommit = 0;
  /** The leader term and commit index last checked for a durable quorum. */
  private leaderCommitSeen = { term: -1, commit: 0 };
  private readonly reads: LeaderReadTracker;
  /** `candidate@term` of the vote requests that arrived while this node was at most in that term. */
  private readonly voteRequestsInTerm = new Set<string>();

  constructor(
    private readonly id: NodeId,
    private readonly env: CheckEnv,
    private readonly storage: MemoryStorage,
    /** The node's hard state as of its last synced write. */
    private readonly synced: () => HardState,
  ) {
    this.reads = new LeaderReadTracker(id);
  }

  /** A (re)start from stable storage whose snapshot is at `snapshotIndex`. */
  onStart(snapshotIndex: number): void {
    this.checkedVolatileCommit = snapshotIndex;
    this.leaderCommitSeen = { term: -1, commit: 0 };
  }

  onCrash(): void {
    this.reads.clear();
  }

  /** Ticks the core: starting a pre-vote must not change the term. */
  tick(raft: RaftNode): void {
    const before = raft.status();
    raft.tick();
    const after = raft.status();
    if (after.role === 'precandidate' && after.term !== before.term) {
      fail('term-safety', `${this.id} changed its term from ${before.term} to ${after.term} by starting a pre-vote`);
    }
  }

  /** A readIndexResp leaves the leader: the read it answers is checked. */
  onRemoteReadAnswered(raft: RaftNode, m: Message): void {
    this.reads.onRelease(m.to, m.context, m.index, m.term, raft.status().confState, (i) => raft.termAt(i));
  }

  /** A read state of this node's own read came out of a Ready. */
  onLocalReadAnswered(raft: RaftNode, context: string, index: number): void {
    this.reads.onRelease(this.id, context, index, null, raft.status().confState, (i) => raft.termAt(i));
  }

  /** Steps one message, watching what the core does with pre-votes and read traffic. */
  step(raft: RaftNode, m: Message): void {
    const watchTerm = m.type === 'preVote' || (m.type === 'preVoteResp' && !m.reject);
    const isVoteTraffic = m.type === 'vote' || m.type === 'voteResp';
    const needStatus = watchTerm || isVoteTraffic || m.type === 'readIndex' || m.type === 'heartbeatResp' || m.type === 'appendResp' || m.type === 'snapshotResp';
    const st = needStatus ? raft.status() : null;
    // A vote may be granted only to a request of the voter's own term at the time it arrives.
    if (m.type === 'vote' && m.term >= st!.term) this.voteRequestsInTerm.add(`${m.from}@${m.term}`);
    if (st !== null && st.role === 'leader') {
      if (m.type === 'readIndex' && m.term <= st.term) this.reads.onArrival(m.from, m.context, st.term, st.confState, this.env.maxCommitKnown());
      else if (m.type === 'heartbeatResp' && m.term === st.term && m.context !== '') this.reads.onHeartbeatResp(m.from, m.context, m.term);
    }
    raft.step(m);
    if (isVoteTraffic && m.term < st!.term) {
      // A message of an older term changes nothing about elections (it is dropped).
      const now = raft.status();
      if (now.term !== st!.term || now.vote !== st!.vote) {
        fail('term-safety', `${this.id} (term ${st!.term}, vote ${String(st!.vote)}) moved to term ${now.term}, vote ${String(now.vote)} on a ${m.type} of older term ${m.term} from ${m.from}`);
      }
    }
    if (st !== null && st.role === 'leader' && (m.type === 'heartbeatResp' || m.type === 'appendResp' || m.type === 'snapshotResp')) this.checkMatches(raft);
    if (watchTerm) {
      const now = raft.status();
      // A pre-vote is for a future term: asking, granting or being granted one changes no term,
      // except that a pre-candidate whose pre-vote was won starts the real election.
      const wonPreVote = m.type === 'preVoteResp' && st!.role === 'precandidate' && (now.role === 'candidate' || now.role === 'leader') && now.term === st!.term + 1;
      const term = now.term;
      if (term !== st!.term && !wonPreVote) fail('term-safety', `${this.id} moved from term ${st!.term} to ${term} on a ${m.reject ? 'rejected ' : ''}${m.type} from ${m.from} (term ${m.term})`);
    }
  }

  /** A client read is about to be asked of the core here. */
  onLocalRead(raft: RaftNode, context: string): void {
    const st = raft.status();
    if (st.role === 'leader') this.reads.onArrival(this.id, context, st.term, st.confState, this.env.maxCommitKnown());
  }

  /**
   * After every turn: this node's commit index agrees with everyone's on the entries it covers,
   * and a leader's commit index only moves to entries a durable quorum holds.
   */
  observeCommit(raft: RaftNode): void {
    const st = raft.status();
    for (let i = this.checkedVolatileCommit + 1; i <= st.commit; i++) {
      const t = raft.termAt(i);
      if (t !== null) this.env.checker.onCommitIndex(this.id, i, t);
    }
    if (st.commit > this.checkedVolatileCommit) this.checkedVolatileCommit = st.commit;
    if (st.role !== 'leader') return;
    const seen = this.leaderCommitSeen;
    if (seen.term !== st.term) {
      // What it inherited was committed by earlier leaders: only its own advances are checked.
      this.leaderCommitSeen = { term: st.term, commit: st.commit };
      return;
    }
    if (st.commit <= seen.commit) return;
    seen.commit = st.commit;
    const term = raft.termAt(st.commit);
    if (term === null) return;
    // Raft §5.4.2: a leader commits by counting replicas only entries of its own term.
    if (term !== st.term) fail('commit-quorum', `leader ${this.id} of term ${st.term} moved its commit index to ${st.commit}, an entry of term ${term}`);
    this.env.quorum.onLeaderCommit(this.id, st.commit, term, st.confState, (n) => this.env.durablyHas(n, st.commit, term));
  }

  /**
   * A leader's match index for a follower is a claim about the follower's disk: unless the
   * follower has since moved to a newer term (whose leader may truncate it), it durably holds
   * the leader's entry there.
   */
  private checkMatches(raft: RaftNode): void {
    if (!this.env.checker.ackCheck) return;
    const st = raft.status();
    for (const p of raft.progress()) {
      if (p.id === this.id) {
        // The leader counts its own copy only once it is on stable storage.
        if (p.match > this.storage.lastIndex() && this.storage.snapshot().metadata.index < p.match) {
          fail('commit-quorum', `leader ${this.id} of term ${st.term} counts its own match ${p.match}, but its stable log ends at ${this.storage.lastIndex()}`);
        }
        continue;
      }
      // Only an acknowledgement sent in this leader's term may raise its match index (an older
      // term's answer speaks of another log, however it was delayed, duplicated or reordered).
      const acked = this.env.ackedInTerm(p.id, this.id, st.term);
      if (p.match > acked) {
        fail('match-index', `leader ${this.id} of term ${st.term} has match ${p.match} for ${p.id}, which acknowledged at most ${acked} in this term`);
      }
      if (p.match === 0 || this.env.durableTerm(p.id) > st.term) continue;
      const t = raft.termAt(p.match);
      if (t === null || this.env.durablyHas(p.id, p.match, t)) continue;
      fail('commit-quorum', `leader ${this.id} of term ${st.term} believes ${p.id} matches index ${p.match} (term ${t}), which ${p.id} does not hold durably`);
    }
  }

  /**
   * What a message promises must already be on stable storage when it leaves: a vote request
   * the candidate's own vote, a vote grant the vote, an acknowledgement the entries.
   */
  beforeSend(m: Message): void {
    if (m.type === 'voteResp' && !m.reject) {
      this.env.quorum.onGrant(this.id, m.term, m.to);
      if (!this.voteRequestsInTerm.has(`${m.to}@${m.term}`)) {
        fail('election-safety', `${this.id} granted a vote in term ${m.term} to ${m.to}, whose vote request of that term reached it only while it was in a later term`);
      }
    }
    if (m.type !== 'vote' && m.type !== 'voteResp' && m.type !== 'appendResp') return;
    if (!this.env.checker.ackCheck || !this.env.checker.voteCheck) return;
    const hs = this.synced();
    if (m.type === 'vote' && !this.votedDurably(m.term, this.id)) {
      fail('durability', `${this.id} asked for votes in term ${m.term} before its own vote was durable (synced: term ${hs.term}, vote ${String(hs.vote)})`);
    }
    if (m.type === 'voteResp' && !m.reject) {
      if (!this.votedDurably(m.term, m.to)) {
        fail('durability', `${this.id} granted its vote in term ${m.term} to ${m.to} before it was durable (synced: term ${hs.term}, vote ${String(hs.vote)})`);
      }
    }
    // An acknowledgement speaks for its term: one queued before the node moved on to a newer
    // leader that truncated the entry is still sound (Raft's commitment argument covers it).
    if (m.type === 'appendResp' && !m.reject && hs.term === m.term && m.index > this.storage.lastIndex()) {
      fail('durability', `${this.id} acknowledged index ${m.index} in term ${m.term} with its stable log ending at ${this.storage.lastIndex()}`);
    }
  }

  /** Whether the synced hard state binds this node to `vote` in `term` (or to a later term). */
  private votedDurably(term: number, vote: NodeId): boolean {
    const hs = this.synced();
    return hs.term > term || (hs.term === term && hs.vote === vote);
  }
}
