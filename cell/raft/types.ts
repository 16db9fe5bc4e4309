// Public types of the Raft core. The core is a pure state machine (see raft.ts): it owns no
// timers, no I/O and no randomness; the caller feeds it ticks, messages and proposals and
// takes its output as a `Ready`.

export type NodeId = string;

export type Role = 'follower' | 'precandidate' | 'candidate' | 'leader';

/** 'normal' carries application data (empty data = the leader's no-op); 'conf' a ConfChange. */
export type EntryKind = 'normal' | 'conf';

export interface Entry {
  readonly term: number;
  readonly index: number;
  readonly kind: EntryKind;
  readonly data: Uint8Array;
}

/** Must be durable before any message produced in the same Ready is sent. */
export interface HardState {
  readonly term: number;
  readonly vote: NodeId | null;
  readonly commit: number;
}

/**
 * Membership. In joint consensus `votersOutgoing` is non-empty and decisions need a majority
 * of both `voters` (incoming) and `votersOutgoing`. `learnersNext` are outgoing voters that
 * become learners when the joint configuration is left.
 */
export interface ConfState {
  readonly voters: readonly NodeId[];
  readonly learners: readonly NodeId[];
  readonly votersOutgoing: readonly NodeId[];
  readonly learnersNext: readonly NodeId[];
  /** When true the leader proposes the leave-joint entry by itself once the joint one applies. */
  readonly autoLeave: boolean;
}

export interface ConfChangeSingle {
  readonly type: 'addVoter' | 'addLearner' | 'removeNode';
  readonly node: NodeId;
}

/**
 * A membership change. Any change enters joint consensus (an empty `changes` list leaves it).
 * `autoLeave` (default true) has the leader leave the joint configuration on its own.
 */
export interface ConfChange {
  readonly changes: readonly ConfChangeSingle[];
  readonly autoLeave?: boolean;
}

export interface SnapshotMetadata {
  readonly index: number;
  readonly term: number;
  readonly confState: ConfState;
}

export interface Snapshot {
  readonly metadata: SnapshotMetadata;
  readonly data: Uint8Array;
}

/** One piece of a snapshot on the wire; the leader sends the next chunk once this one is acked. */
export interface SnapshotChunk {
  readonly metadata: SnapshotMetadata;
  readonly offset: number;
  readonly totalBytes: number;
  readonly data: Uint8Array;
}

export type MessageType =
  | 'preVote'
  | 'preVoteResp'
  | 'vote'
  | 'voteResp'
  | 'append'
  | 'appendResp'
  | 'heartbeat'
  | 'heartbeatResp'
  | 'snapshot'
  | 'snapshotResp'
  | 'timeoutNow'
  | 'readIndex'
  | 'readIndexResp';

export interface Message {
  readonly type: MessageType;
  readonly from: NodeId;
  readonly to: NodeId;
  readonly term: number;
  /** append: term of the entry at `index`; votes: last log term of the candidate. */
  readonly logTerm: number;
  /**
   * append: index of the entry preceding `entries`; appendResp: last index matched (or the
   * rejected index); votes: last log index; snapshotResp: the snapshot's index; readIndexResp:
   * the read index.
   */
  readonly index: number;
  readonly entries: readonly Entry[];
  readonly commit: number;
  readonly reject: boolean;
  /**
   * appendResp rejections: the follower's hint of where the logs may match (fast backtracking);
   * snapshotResp: bytes of the snapshot received so far.
   */
  readonly rejectHint: number;
  /** appendResp rejections: the term of the follower's entry at rejectHint (0 if none). */
  readonly hintTerm: number;
  /** heartbeat(Resp) and readIndex(Resp): the read request this round confirms. */
  readonly context: string;
  readonly snapshot: SnapshotChunk | null;
}

/** A linearizable read may be served once the state machine has applied `index`. */
export interface ReadState {
  readonly index: number;
  readonly context: string;
}

export interface SoftState {
  readonly leader: NodeId | null;
  readonly role: Role;
}

/**
 * The batch of work the caller must do, in this order (the persistence contract):
 *  1. if `snapshot` is set, persist it (replacing the log up to its index);
 *  2. append `entries` to stable storage, truncating any stored entries at or after
 *     `entries[0].index`, and persist `hardState` if set; fsync when `mustSync`;
 *  3. only then send `messages` (a vote or an append acknowledgement must never leave a node
 *     before the state it promises is durable) — except those for which
 *     `maySendEarly(rd, m)` holds, which a caller may send at once to overlap the leader's
 *     disk write with the followers' (the leader counts its own entries only after advance());
 *  4. apply `committedEntries` in order (they are already durable on a quorum);
 *  5. serve `readStates` once applied >= their index;
 *  6. call `advance()`.
 */
export interface Ready {
  readonly softState: SoftState | null;
  readonly hardState: HardState | null;
  readonly snapshot: Snapshot | null;
  readonly entries: readonly Entry[];
  readonly committedEntries: readonly Entry[];
  readonly messages: readonly Message[];
  readonly readStates: readonly ReadState[];
  readonly mustSync: boolean;
  /**
   * Whether this Ready's term is already durable, so the messages `maySendBeforePersist`
   * allows may leave before it is persisted. False when the Ready moves to a new term: a lone
   * voter wins its election inside one Ready, and appends of a term its disk does not have
   * yet could, after a crash and a second win of the same term, give two different entries
   * the same index and term.
   */
  readonly termDurable: boolean;
}

/**
 * Stable storage as the core reads it. The caller writes to it while handling a Ready; the
 * core only reads. Indices are 1-based; index 0 with term 0 is the empty log's sentinel.
 */
export interface RaftStorage {
  initialState(): { hardState: HardState; confState: ConfState };
  /** Entries in [lo, hi), at least one if lo < hi, stopping before `maxBytes` is exceeded. */
  entries(lo: number, hi: number, maxBytes: number): Entry[];
  /** Term of the entry at `index`; throws CompactedError below firstIndex()-1. */
  term(index: number): number;
  /** Index of the first entry still available (snapshot index + 1). */
  firstIndex(): number;
  lastIndex(): number;
  /**
   * The most recent snapshot (for sending to a lagging follower). May throw
   * SnapshotUnavailableError while one is being built; the core retries later.
   */
  snapshot(): Snapshot;
}

/**
 * Test-only: deliberately broken variants the simulation must catch (mutation testing). Each is
 * a one-line change of a kind found in the bug histories of Raft implementations:
 * - voteTwiceInTerm: grants a second vote in a term;
 * - commitPreviousTermByCount: commits an earlier term's entry by counting replicas (Figure 8);
 * - followerCommitOnReject: a follower that rejects an append still takes its commit index;
 * - heartbeatCommitUnbounded: heartbeats carry the leader's commit, not min(match, commit);
 * - jointCommitIncomingOnly / jointVoteIncomingOnly: joint consensus counts only the incoming half;
 * - readIndexBeforeOwnTermCommit: a new leader serves reads before committing in its term;
 * - readAckAnyRound: any heartbeat answer confirms the newest pending read;
 * - preVoteBumpsTerm: a pre-vote request moves the receiver to the candidate's term;
 * - preCandidateBumpsTerm: a pre-candidate enters a new term before winning the pre-vote;
 * - acceptStaleTermResponses: a leader counts append/heartbeat answers of an older term;
 * - noSyncOnVote: a Ready that changes only term or vote does not ask for an fsync;
 * - staleVoteRequestGranted: a vote request of an older term is answered, not dropped;
 * - leaderCountsUnsyncedSelf: a leader counts its own entries before they are durable;
 * - learnersInCommitQuorum: learners count toward the commit majority;
 * - readShortcutIncomingOnly: a leader alone in the incoming half serves reads unconfirmed.
 */
export type RaftMutation =
  | 'none'
  | 'voteTwiceInTerm'
  | 'commitPreviousTermByCount'
  | 'followerCommitOnReject'
  | 'heartbeatCommitUnbounded'
  | 'jointCommitIncomingOnly'
  | 'jointVoteIncomingOnly'
  | 'readIndexBeforeOwnTermCommit'
  | 'readAckAnyRound'
  | 'preVoteBumpsTerm'
  | 'preCandidateBumpsTerm'
  | 'acceptStaleTermResponses'
  | 'noSyncOnVote'
  | 'staleVoteRequestGranted'
  | 'leaderCountsUnsyncedSelf'
  | 'learnersInCommitQuorum'
  | 'readShortcutIncomingOnly';

export interface RaftConfig {
  readonly id: NodeId;
  readonly storage: RaftStorage;
  /** Ticks without hearing from a leader before a follower campaigns (randomized in [e, 2e)). */
  readonly electionTicks: number;
  readonly heartbeatTicks: number;
  /** Injected randomness in [0, 1); the core has none of its own. */
  readonly random: () => number;
  /** The last index the caller has applied (on restart), so committed entries are not replayed. */
  readonly applied?: number;
  /**
   * The membership as of `applied`. Required when `applied` is past the storage snapshot and
   * conf changes were applied since: they are not replayed, so storage's would be stale.
   */
  readonly confState?: ConfState;
  readonly preVote?: boolean;
  readonly checkQuorum?: boolean;
  /** Max bytes of entries in one append message. */
  readonly maxMsgBytes?: number;
  /** Max append messages in flight to one follower (pipelining window). */
  readonly maxInflightMsgs?: number;
  /** Max bytes of entries in flight to one follower. */
  readonly maxInflightBytes?: number;
  /** Max bytes of proposed-but-uncommitted entries on the leader; proposals past it are dropped. */
  readonly maxUncommittedBytes?: number;
  /** Max bytes of committed entries handed out in one Ready. */
  readonly maxCommittedBytesPerReady?: number;
  readonly snapshotChunkBytes?: number;
  /** Max pending ReadIndex requests on the leader; past it they are rejected. */
  readonly maxPendingReads?: number;
  readonly mutation?: RaftMutation;
}

export type ProposeError =
  | 'NOT_LEADER'
  | 'TRANSFERRING'
  | 'OVERLOADED'
  | 'CONF_CHANGE_PENDING'
  | 'INVALID_CONF_CHANGE';

export type ProposeResult =
  | { readonly ok: true; readonly index: number; readonly term: number }
  | { readonly ok: false; readonly error: ProposeError; readonly leaderHint: NodeId | null };

export type ReadIndexResult =
  | { readonly ok: true }
  | {
      readonly ok: false;
      /** INVALID_CONTEXT: empty, or already pending (contexts must be unique per asker). */
      readonly error: 'NO_LEADER' | 'OVERLOADED' | 'INVALID_CONTEXT';
      readonly leaderHint: NodeId | null;
    };

export interface Status {
  readonly id: NodeId;
  readonly term: number;
  readonly vote: NodeId | null;
  readonly role: Role;
  readonly leader: NodeId | null;
  readonly commit: number;
  readonly applied: number;
  readonly lastIndex: number;
  readonly confState: ConfState;
}

export class CompactedError extends Error {
  readonly code = 'RAFT_COMPACTED';
  constructor(index: number) {
    super(`raft log index ${index} is compacted; send a snapshot instead`);
  }
}

export class UnavailableError extends Error {
  readonly code = 'RAFT_UNAVAILABLE';
  constructor(index: number) {
    super(`raft log index ${index} is not yet available`);
  }
}

export class SnapshotUnavailableError extends Error {
  readonly code = 'RAFT_SNAPSHOT_UNAVAILABLE';
  constructor() {
    super('snapshot is being built; retry shortly');
  }
}

/**
 * Messages that promise nothing about the sender's durable state: a leader's appends,
 * heartbeats, snapshot chunks and transfer orders, and ReadIndex traffic. Votes, vote
 * requests (the candidate's own vote) and acknowledgements must wait for persistence.
 */
export function maySendEarly(rd: Ready, m: Message): boolean {
  return rd.termDurable && maySendBeforePersist(m);
}

/** The message types that promise nothing about the sender's disk (see maySendEarly). */
export function maySendBeforePersist(m: Message): boolean {
  switch (m.type) {
    case 'append':
    case 'heartbeat':
    case 'snapshot':
    case 'timeoutNow':
    case 'readIndex':
    case 'readIndexResp':
      return true;
    default:
      return false;
  }
}
