// The state of one RaftNode and the primitives every path needs (queueing a message, term and
// role resets, one Progress per member). Internal to cell/raft/: the paths themselves live in
// election.ts, replication.ts, read-index.ts, follower.ts, membership.ts and ready.ts as
// functions over this state, and RaftNode (raft.ts) is the only public face.

import { assert } from '../../shared/assert.js';
import { allMembers, isVoter } from './confchange.js';
import { Progress } from './progress.js';
import { RaftLog } from './raft-log.js';
import { ReadOnlyQueue } from './read-only.js';
import { SnapshotReceiver } from './snapshot-receiver.js';
import type { ConfState, HardState, Message, NodeId, RaftConfig, ReadState, Role, Snapshot, SoftState } from './types.js';

const DEFAULTS = {
  maxMsgBytes: 1 << 20,
  maxInflightMsgs: 256,
  maxInflightBytes: 32 << 20,
  maxUncommittedBytes: 64 << 20,
  maxCommittedBytesPerReady: 8 << 20,
  snapshotChunkBytes: 1 << 20,
  maxPendingReads: 4096,
};

export type Limits = typeof DEFAULTS;

/** What the Ready handed out by ready() covers; advance() applies it. */
export interface OutstandingReady {
  readonly lastEntry: { index: number; term: number } | null;
  readonly snapshotIndex: number | null;
  readonly appliedTo: number | null;
  readonly hardState: HardState | null;
  readonly softState: SoftState | null;
}

/**
 * @internal The mutable state of one RaftNode, shared by the modules of cell/raft/ that
 * implement its paths. Not part of the public API: only RaftNode creates and holds one, and
 * nothing outside cell/raft/ may import it.
 */
export class RaftState {
  readonly id: NodeId;
  readonly cfg: RaftConfig;
  readonly limits: Limits;
  readonly log: RaftLog;

  term = 0;
  vote: NodeId | null = null;
  role: Role = 'follower';
  leader: NodeId | null = null;
  conf: ConfState;
  progress = new Map<NodeId, Progress>();
  votes = new Map<NodeId, boolean>();

  electionElapsed = 0;
  heartbeatElapsed = 0;
  randomizedElectionTimeout = 0;

  leadTransferee: NodeId | null = null;
  /** Index of the last conf entry proposed by this leader; no new one until it is applied. */
  pendingConfIndex = 0;
  /** Sizes of this leader's proposals not yet committed, oldest first (bounded memory). */
  uncommitted: { index: number; bytes: number }[] = [];
  uncommittedBytes = 0;

  readonly readOnly: ReadOnlyQueue;
  /** Reads that arrived before this leader committed an entry of its own term. */
  readsBeforeCommit: { context: string; from: NodeId }[] = [];
  readonly snapshotReceiver = new SnapshotReceiver();
  /** A snapshot that completed while a Ready was outstanding; installed in advance(). */
  deferredSnapshot: { snapshot: Snapshot; from: NodeId } | null = null;

  msgs: Message[] = [];
  readStates: ReadState[] = [];
  prevHardState: HardState;
  prevSoftState: SoftState;
  outstanding: OutstandingReady | null = null;

  constructor(config: RaftConfig) {
    assert(config.heartbeatTicks > 0 && config.electionTicks > config.heartbeatTicks, 'bad tick settings');
    this.id = config.id;
    this.cfg = config;
    this.limits = {
      maxMsgBytes: config.maxMsgBytes ?? DEFAULTS.maxMsgBytes,
      maxInflightMsgs: config.maxInflightMsgs ?? DEFAULTS.maxInflightMsgs,
      maxInflightBytes: config.maxInflightBytes ?? DEFAULTS.maxInflightBytes,
      maxUncommittedBytes: config.maxUncommittedBytes ?? DEFAULTS.maxUncommittedBytes,
      maxCommittedBytesPerReady: config.maxCommittedBytesPerReady ?? DEFAULTS.maxCommittedBytesPerReady,
      snapshotChunkBytes: config.snapshotChunkBytes ?? DEFAULTS.snapshotChunkBytes,
      maxPendingReads: config.maxPendingReads ?? DEFAULTS.maxPendingReads,
    };
    this.readOnly = new ReadOnlyQueue(this.limits.maxPendingReads);
    const { hardState, confState } = config.storage.initialState();
    this.log = new RaftLog(config.storage, config.applied ?? 0);
    // The membership as of `applied` (conf changes up to it are not replayed), else storage's.
    this.conf = config.confState ?? confState;
    this.term = hardState.term;
    this.vote = hardState.vote;
    // Applied entries were committed even if the commit-only hard state write was lost.
    const commit = Math.max(hardState.commit, config.applied ?? 0);
    if (commit > 0) {
      assert(commit <= this.log.lastIndex(), 'commit (or applied) index beyond the stored log');
      this.log.commitTo(commit);
    }
    assert(this.log.applied <= this.log.committed, 'applied beyond commit on start');
    this.prevHardState = hardState;
    this.prevSoftState = { leader: null, role: 'follower' };
    this.syncProgress();
    this.becomeFollower(this.term, null);
  }

  /** Queues a message for the next Ready; unset fields take their neutral values. */
  send(m: Partial<Message> & Pick<Message, 'type' | 'to'>): void {
    this.msgs.push({
      from: this.id,
      term: this.term,
      logTerm: 0,
      index: 0,
      entries: [],
      commit: 0,
      reject: false,
      rejectHint: 0,
      hintTerm: 0,
      context: '',
      snapshot: null,
      ...m,
    });
  }

  /** Whether this node may campaign: a voter not in the middle of installing a snapshot. */
  promotable(): boolean {
    return isVoter(this.conf, this.id) && this.log.unstable.snapshot === null;
  }

  /** Enters `term` (dropping the vote if it changed) and forgets everything tied to a role. */
  reset(term: number): void {
    if (term !== this.term) {
      this.term = term;
      this.vote = null;
    }
    this.leader = null;
    this.electionElapsed = 0;
    this.heartbeatElapsed = 0;
    this.randomizedElectionTimeout =
      this.cfg.electionTicks + Math.floor(this.cfg.random() * this.cfg.electionTicks);
    this.leadTransferee = null;
    this.votes = new Map();
    this.readOnly.clear();
    this.readsBeforeCommit = [];
    this.uncommitted = [];
    this.uncommittedBytes = 0;
    const last = this.log.lastIndex();
    for (const [id, pr] of this.progress) {
      const fresh = new Progress(last + 1, this.limits.maxInflightMsgs, this.limits.maxInflightBytes);
      // Only what is durable here counts as our own match (see advance()).
      if (id === this.id) fresh.match = this.log.stableLastIndex();
      this.progress.set(id, fresh);
      void pr;
    }
  }

  becomeFollower(term: number, leader: NodeId | null): void {
    this.reset(term);
    this.role = 'follower';
    this.leader = leader;
  }

  /** Keeps one Progress per member of the configuration. */
  syncProgress(): void {
    const members = new Set(allMembers(this.conf));
    for (const id of this.progress.keys()) if (!members.has(id)) this.progress.delete(id);
    const last = this.log.lastIndex();
    for (const id of members) {
      if (this.progress.has(id)) continue;
      const pr = new Progress(last + 1, this.limits.maxInflightMsgs, this.limits.maxInflightBytes);
      if (id === this.id) pr.match = this.log.stableLastIndex();
      pr.recentActive = true;
      this.progress.set(id, pr);
    }
  }
}
