// Raft's safety properties, checked incrementally as the simulation runs (cheap enough for
// every step): election safety, log matching of committed prefixes, leader completeness and
// state machine safety. A violation throws SimFailure at once, so the trace ends at the bug.

import type { Entry, HardState, NodeId } from '../../cell/raft/types.js';
import { entryHash } from './kv-state-machine.js';

export type FailureKind =
  | 'election-safety'
  | 'log-matching'
  | 'leader-completeness'
  | 'state-machine-safety'
  | 'durability'
  | 'commit-index'
  | 'commit-quorum'
  | 'match-index'
  | 'membership'
  | 'vote-quorum'
  | 'read-index'
  | 'term-safety'
  | 'liveness'
  | 'convergence'
  | 'linearizability'
  | 'lincheck-unknown'
  | 'exception';

export class SimFailure extends Error {
  constructor(
    readonly kind: FailureKind,
    message: string,
  ) {
    super(message);
  }
}

export function fail(kind: FailureKind, message: string): never {
  throw new SimFailure(kind, message);
}

interface CommittedEntry {
  readonly term: number;
  readonly hash: number;
  /** A term at (or after) which the entry was known committed: its commit term is <= this. */
  detectTerm: number;
  readonly by: NodeId;
}

interface AppliedEntry {
  /** Null when only a snapshot covering this index was seen, not the entry itself. */
  readonly hash: number | null;
  readonly digest: number;
  readonly by: NodeId;
}

/** The log of one node as the checks read it (core view or stable storage). */
export interface LogView {
  /** Term at index, or null when compacted or beyond the log. */
  termAt(index: number): number | null;
  lastIndex(): number;
}

/** What a node told others, remembered across its crashes (the others remember it). */
export interface Promises {
  ackTerm: number;
  ackIndex: number;
  voteTerm: number;
  voteFor: NodeId | null;
  /** Highest term of any message implying the sender is in that term. */
  sentTerm: number;
  sentType: string;
  /** Highest term this node asked votes in. */
  campaignTerm: number;
}

export function noPromises(): Promises {
  return { ackTerm: 0, ackIndex: 0, voteTerm: 0, voteFor: null, sentTerm: 0, sentType: '', campaignTerm: 0 };
}

export class InvariantChecker {
  private readonly leaders = new Map<number, NodeId>();
  private readonly committed: (CommittedEntry | undefined)[] = [];
  /** Term of the entry at each index some node's volatile commit index has covered. */
  private readonly commitTerms: ({ term: number; by: NodeId } | undefined)[] = [];
  private readonly applied: (AppliedEntry | undefined)[] = [];
  private maxCommitted = 0;
  checks = 0;
  /** Off only in the test showing that two leaders in a term are caught without it. */
  voteCheck = true;
  /** Off only in the test showing that a lost acknowledged write is caught downstream too. */
  ackCheck = true;
  /** Diagnostics: a leader's durable commit index landing on an older term's entry. */
  oldTermCommits = 0;
  /** Diagnostics: entries of divergent suffixes overwritten, and the longest such suffix. */
  truncatedEntries = 0;
  longestTruncation = 0;

  /** Election safety: at most one leader per term, ever (across crashes and restarts). */
  onLeader(id: NodeId, term: number): void {
    this.checks++;
    const prev = this.leaders.get(term);
    if (prev === undefined) this.leaders.set(term, id);
    else if (prev !== id) fail('election-safety', `two leaders in term ${term}: ${prev} and ${id}`);
  }

  leaderTermCount(): number {
    return this.leaders.size;
  }

  leaderOf(term: number): NodeId | undefined {
    return this.leaders.get(term);
  }

  /** A node's durable term never goes back, and its vote never changes within a term. */
  onHardState(id: NodeId, prev: HardState, next: HardState): void {
    this.checks++;
    if (next.term < prev.term) fail('durability', `${id} persisted term ${next.term} after ${prev.term}`);
    if (this.voteCheck && next.term === prev.term && prev.vote !== null && next.vote !== prev.vote) {
      fail('election-safety', `${id} changed its vote in term ${next.term} from ${prev.vote} to ${String(next.vote)}`);
    }
  }

  /**
   * The persistence contract seen from outside: what a node acknowledged or voted before a
   * crash must still be in its stable storage when it restarts (a lost acknowledged write).
   */
  onRestart(id: NodeId, promised: Promises, durable: HardState, lastIndex: number): void {
    this.checks++;
    if (!this.ackCheck) return;
    // Anything a node said in a term (other than pre-votes and forwarded reads) tells others it
    // is in that term: after a restart it must not be in an earlier one.
    if (promised.sentTerm > durable.term) {
      fail('durability', `${id} restarted in term ${durable.term} but had sent ${promised.sentType} in term ${promised.sentTerm}`);
    }
    // A vote request carries the candidate's own vote: it must be durable before it leaves.
    if (this.voteCheck && promised.campaignTerm > 0 && promised.campaignTerm === durable.term && durable.vote !== id) {
      fail('durability', `${id} campaigned in term ${durable.term} but restarted with vote ${String(durable.vote)}`);
    }
    if (promised.ackTerm > durable.term || promised.voteTerm > durable.term) {
      fail('durability', `${id} restarted in term ${durable.term} but had answered in term ${Math.max(promised.ackTerm, promised.voteTerm)}`);
    }
    if (promised.ackTerm === durable.term && lastIndex < promised.ackIndex) {
      fail('durability', `${id} acknowledged index ${promised.ackIndex} in term ${durable.term} but restarted with its log ending at ${lastIndex}`);
    }
    if (promised.voteTerm === durable.term && promised.voteFor !== null && durable.vote !== promised.voteFor) {
      fail('durability', `${id} voted for ${promised.voteFor} in term ${durable.term} but restarted with vote ${String(durable.vote)}`);
    }
  }

  /**
   * A node's volatile commit index covers `index` whose entry has `term` in its log: every
   * node must agree on that entry, whether or not the commit index was persisted yet. A
   * follower that commits past what the leader verified fails here at once.
   */
  onCommitIndex(id: NodeId, index: number, term: number): void {
    this.checks++;
    const prev = this.commitTerms[index];
    if (prev === undefined) {
      this.commitTerms[index] = { term, by: id };
    } else if (prev.term !== term) {
      fail('commit-index', `${id}'s commit index covers index ${index} of term ${term}, but ${prev.by} committed term ${prev.term} there`);
    }
    const durable = this.committed[index];
    if (durable !== undefined && durable.term !== term) {
      fail('commit-index', `${id}'s commit index covers index ${index} of term ${term}, but ${durable.by} durably committed term ${durable.term} there`);
    }
  }

  /** Never truncate a durable log below its durable commit index. */
  onAppend(id: NodeId, firstNew: number, durableCommit: number): void {
    this.checks++;
    if (firstNew <= durableCommit) {
      fail('log-matching', `${id} overwrote committed index ${firstNew} (its durable commit is ${durableCommit})`);
    }
  }

  /**
   * Records (or compares) the committed entries of one node's durable log, indices from..to.
   * Two nodes committing different entries at an index breaks log matching.
   */
  onCommitted(id: NodeId, e: Entry, nodeTerm: number): void {
    this.checks++;
    const hash = entryHash(e);
    const prev = this.committed[e.index];
    const seen = this.commitTerms[e.index];
    if (seen !== undefined && seen.term !== e.term) {
      fail('log-matching', `committed index ${e.index} differs: ${seen.by}'s commit index covered term ${seen.term}, ${id} has term ${e.term}`);
    }
    if (prev === undefined) {
      this.committed[e.index] = { term: e.term, hash, detectTerm: nodeTerm, by: id };
      if (e.index > this.maxCommitted) this.maxCommitted = e.index;
      return;
    }
    if (prev.term !== e.term || prev.hash !== hash) {
      fail(
        'log-matching',
        `committed index ${e.index} differs: ${prev.by} has term ${prev.term}, ${id} has term ${e.term}` +
          (prev.term === e.term ? ' (same term, different data)' : ''),
      );
    }
    if (nodeTerm < prev.detectTerm) prev.detectTerm = nodeTerm;
  }

  /** Leader completeness: a new leader of `term` holds every entry committed in earlier terms. */
  onBecameLeader(id: NodeId, term: number, log: LogView): void {
    this.checks++;
    const last = log.lastIndex();
    for (let i = 1; i <= this.maxCommitted; i++) {
      const c = this.committed[i];
      if (c === undefined || c.detectTerm >= term) continue;
      if (i > last) {
        fail('leader-completeness', `leader ${id} of term ${term} lacks committed index ${i} (its log ends at ${last})`);
      }
      const t = log.termAt(i);
      if (t === null) continue; // compacted into its snapshot; state machine safety covers it
      if (t !== c.term) {
        fail('leader-completeness', `leader ${id} of term ${term} has term ${t} at committed index ${i}, not ${c.term}`);
      }
    }
  }

  /** State machine safety: every node applies the same entry at each index. */
  onApplied(id: NodeId, e: Entry, digestAfter: number): void {
    this.checks++;
    const hash = entryHash(e);
    const prev = this.applied[e.index];
    if (prev === undefined) {
      this.applied[e.index] = { hash, digest: digestAfter, by: id };
      return;
    }
    if ((prev.hash !== null && prev.hash !== hash) || prev.digest !== digestAfter) {
      fail('state-machine-safety', `${id} applied a different entry at index ${e.index} (term ${e.term}) than ${prev.by}`);
    }
  }

  /** A snapshot restored at `index` must hold the state every other node had there. */
  onSnapshotState(id: NodeId, index: number, digest: number): void {
    this.checks++;
    if (index === 0) return;
    const prev = this.applied[index];
    if (prev === undefined) {
      this.applied[index] = { hash: null, digest, by: id };
      return;
    }
    if (prev.digest !== digest) {
      fail('state-machine-safety', `${id} restored a snapshot at index ${index} whose state differs from ${prev.by}'s`);
    }
  }

  /** Digest of the state after applying `index`, if any node got there. */
  digestAt(index: number): number | undefined {
    return this.applied[index]?.digest;
  }

  highestCommitted(): number {
    return this.maxCommitted;
  }
}
