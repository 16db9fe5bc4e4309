// Checks of the core's paths, as an omniscient observer sees them (the simulation knows every
// node's durable state): a leader is elected by the votes of a majority of every half of its
// configuration, it commits only what a majority of every half durably holds, and it answers a
// read only after a heartbeat round that started after the read arrived, at an index no lower
// than anything committed anywhere by then. Each check sees its bug class directly, without
// waiting for the bug to corrupt data a client reads.
//
// The majority arithmetic is written again here on purpose: a check that used the core's
// quorum code would share its bugs.

import type { ConfState, NodeId } from '../../cell/raft/types.js';
import { fail } from './invariants.js';

/** Whether `has` holds for a majority of `voters` (an empty half is no constraint). */
function majority(voters: readonly NodeId[], has: (id: NodeId) => boolean): boolean {
  if (voters.length === 0) return true;
  let n = 0;
  for (const v of voters) if (has(v)) n++;
  return n * 2 > voters.length;
}

function halves(conf: ConfState): { name: string; voters: readonly NodeId[] }[] {
  const out = [{ name: 'incoming', voters: conf.voters }];
  if (conf.votersOutgoing.length > 0) out.push({ name: 'outgoing', voters: conf.votersOutgoing });
  return out;
}

function describe(voters: readonly NodeId[], has: (id: NodeId) => boolean): string {
  return voters.map((v) => `${v}${has(v) ? '+' : '-'}`).join(' ');
}

export class QuorumChecker {
  /** node -> term -> the candidate it granted its vote to (sent only once durable; see NodeHost). */
  private readonly votes = new Map<NodeId, Map<number, NodeId>>();
  checks = 0;

  /** `id` sent a vote grant for `vote` in `term`. */
  onGrant(id: NodeId, term: number, vote: NodeId): void {
    let m = this.votes.get(id);
    if (m === undefined) {
      m = new Map();
      this.votes.set(id, m);
    }
    m.set(term, vote);
  }

  /** A leader of `term` was granted votes by a majority of each half of its configuration. */
  onBecameLeader(id: NodeId, term: number, conf: ConfState): void {
    this.checks++;
    const voted = (v: NodeId): boolean => v === id || this.votes.get(v)?.get(term) === id;
    for (const h of halves(conf)) {
      if (!majority(h.voters, voted)) {
        fail('vote-quorum', `${id} became leader of term ${term} without the votes of a majority of the ${h.name} voters (${describe(h.voters, voted)})`);
      }
    }
  }

  /**
   * A leader's commit index moved to `index` (an entry of `term`): a majority of each half of its
   * configuration must hold that entry on stable storage.
   */
  onLeaderCommit(id: NodeId, index: number, term: number, conf: ConfState, durablyHas: (node: NodeId) => boolean): void {
    this.checks++;
    for (const h of halves(conf)) {
      if (!majority(h.voters, durablyHas)) {
        fail('commit-quorum', `leader ${id} committed index ${index} (term ${term}) held durably by no majority of the ${h.name} voters (${describe(h.voters, durablyHas)})`);
      }
    }
  }
}

/** At most this many reads are remembered per leader (oldest forgotten first). */
const MAX_TRACKED_READS = 4096;
/** Terms whose heartbeat answers are remembered. */
const TRACKED_TERMS = 4;

interface Arrival {
  readonly seq: number;
  /** The highest commit index any node had when the read arrived. */
  readonly maxCommit: number;
  readonly term: number;
  readonly conf: ConfState;
}

/**
 * One node's ReadIndex bookkeeping as seen from outside the core: when each read arrived
 * while it was leader, the highest commit index anyone knew then, and which heartbeat rounds
 * (identified by the read key they carry) each follower answered, per term.
 */
export class LeaderReadTracker {
  private seq = 0;
  /**
   * Read key -> its arrivals, oldest first. The network may deliver a read twice; the core
   * refuses the copy while the first is pending and takes it as a new read once it is answered,
   * which the answer (seen only at the next Ready) does not tell: so copies queue here, answers
   * take the oldest, and a heartbeat answer carrying the key counts for the newest (lenient
   * only for duplicated reads).
   */
  private readonly arrivals = new Map<string, Arrival[]>();
  private tracked = 0;
  /** term -> follower -> the newest arrival sequence number of a round it answered. */
  private readonly acked = new Map<number, Map<NodeId, number>>();
  checks = 0;

  constructor(private readonly id: NodeId) {}

  static key(from: NodeId, context: string): string {
    return `${from}\u0000${context}`;
  }

  /** A read from `from` reached this node while it was leader of `term` in `conf`. */
  onArrival(from: NodeId, context: string, term: number, conf: ConfState, maxCommit: number): void {
    const key = LeaderReadTracker.key(from, context);
    if (this.tracked >= MAX_TRACKED_READS) {
      const oldest = this.arrivals.keys().next();
      if (!oldest.done) {
        this.tracked -= this.arrivals.get(oldest.value)!.length;
        this.arrivals.delete(oldest.value);
      }
    }
    // Reads of an earlier term are never answered (the core forgets them on a term change).
    const list = (this.arrivals.get(key) ?? []).filter((a) => a.term === term);
    this.tracked -= (this.arrivals.get(key)?.length ?? 0) - list.length;
    list.push({ seq: ++this.seq, maxCommit, term, conf });
    this.arrivals.set(key, list);
    this.tracked++;
  }

  /** `from` answered a heartbeat carrying `context` in `term`. */
  onHeartbeatResp(from: NodeId, context: string, term: number): void {
    const list = this.arrivals.get(context);
    const a = list?.[list.length - 1];
    if (a === undefined || a.term !== term) return; // a round of no read, or of another term
    let m = this.acked.get(term);
    if (m === undefined) {
      m = new Map();
      this.acked.set(term, m);
      for (const t of this.acked.keys()) if (t <= term - TRACKED_TERMS) this.acked.delete(t);
    }
    if ((m.get(from) ?? 0) < a.seq) m.set(from, a.seq);
  }

  /**
   * The leader answered read (`from`, `context`) with `index`: in `releaseTerm` when known (a
   * readIndexResp carries it). `conf` is its configuration now; `termAt` reads its log.
   */
  onRelease(from: NodeId, context: string, index: number, releaseTerm: number | null, conf: ConfState, termAt: (i: number) => number | null): void {
    const key = LeaderReadTracker.key(from, context);
    const list = this.arrivals.get(key);
    const a = list?.shift();
    if (a === undefined) return; // arrived in an earlier incarnation or was forgotten
    this.tracked--;
    if (list!.length === 0) this.arrivals.delete(key);
    this.checks++;
    if (releaseTerm !== null && releaseTerm !== a.term) {
      fail('read-index', `${this.id} answered read ${context} in term ${releaseTerm}, which arrived in term ${a.term}`);
    }
    if (index < a.maxCommit) {
      fail('read-index', `${this.id} (leader of term ${a.term}) answered read ${context} at index ${index}, below index ${a.maxCommit} committed before it arrived`);
    }
    const t = termAt(index);
    if (t !== null && t !== a.term) {
      fail('read-index', `${this.id} answered read ${context} at index ${index} of term ${t} before committing an entry of its term ${a.term}`);
    }
    const acks = this.acked.get(a.term);
    const confirmed = (v: NodeId): boolean => v === this.id || (acks?.get(v) ?? 0) >= a.seq;
    // The configuration may change between arrival and answer: either one's quorum will do.
    const ok = (cs: ConfState): boolean => halves(cs).every((h) => majority(h.voters, confirmed));
    if (!ok(conf) && !ok(a.conf)) {
      const h = halves(conf).find((x) => !majority(x.voters, confirmed))!;
      fail('read-index', `${this.id} answered read ${context} without a heartbeat round started after it arrived answered by a majority of the ${h.name} voters (${describe(h.voters, confirmed)})`);
    }
  }

  clear(): void {
    this.arrivals.clear();
    this.tracked = 0;
    this.acked.clear();
  }
}
