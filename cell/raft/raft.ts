// The Raft consensus core as a deterministic state machine (after etcd-io/raft): step, tick,
// propose, ready, advance. No I/O, timers or randomness of its own; see types.ts for the
// persistence contract the caller must follow when handling a Ready.

import { assert } from './assert.js';
import {
  allMembers,
  allVoters,
  applyConfChangeTo,
  encodeConfChange,
  isJoint,
  isVoter,
  validateConfChange,
} from './confchange.js';
import { entryBytes } from './log-util.js';
import { Progress } from './progress.js';
import { committedIndex, voteResult } from './quorum.js';
import { RaftLog } from './raft-log.js';
import { ReadOnlyQueue } from './read-only.js';
import { SnapshotReceiver } from './snapshot-receiver.js';
import { SnapshotUnavailableError } from './types.js';
import type {
  ConfChange,
  ConfState,
  Entry,
  EntryKind,
  HardState,
  Message,
  NodeId,
  ProposeResult,
  RaftConfig,
  ReadIndexResult,
  ReadState,
  Ready,
  Role,
  Snapshot,
  SoftState,
  Status,
} from './types.js';

const EMPTY = new Uint8Array(0);
const TRANSFER_CONTEXT = 'transfer';

const DEFAULTS = {
  maxMsgBytes: 1 << 20,
  maxInflightMsgs: 256,
  maxInflightBytes: 32 << 20,
  maxUncommittedBytes: 64 << 20,
  maxCommittedBytesPerReady: 8 << 20,
  snapshotChunkBytes: 1 << 20,
  maxPendingReads: 4096,
};

type Limits = typeof DEFAULTS;

interface OutstandingReady {
  readonly lastEntry: { index: number; term: number } | null;
  readonly snapshotIndex: number | null;
  readonly appliedTo: number | null;
  readonly hardState: HardState | null;
  readonly softState: SoftState | null;
}

export class RaftNode {
  readonly id: NodeId;
  private readonly cfg: RaftConfig;
  private readonly limits: Limits;
  private readonly log: RaftLog;

  private term = 0;
  private vote: NodeId | null = null;
  private role: Role = 'follower';
  private leader: NodeId | null = null;
  private conf: ConfState;
  private progress = new Map<NodeId, Progress>();
  private votes = new Map<NodeId, boolean>();

  private electionElapsed = 0;
  private heartbeatElapsed = 0;
  private randomizedElectionTimeout = 0;

  private leadTransferee: NodeId | null = null;
  /** Index of the last conf entry proposed by this leader; no new one until it is applied. */
  private pendingConfIndex = 0;
  /** Sizes of this leader's proposals not yet committed, oldest first (bounded memory). */
  private uncommitted: { index: number; bytes: number }[] = [];
  private uncommittedBytes = 0;

  private readonly readOnly: ReadOnlyQueue;
  /** Reads that arrived before this leader committed an entry of its own term. */
  private readsBeforeCommit: { context: string; from: NodeId }[] = [];
  private readonly snapshotReceiver = new SnapshotReceiver();
  /** A snapshot that completed while a Ready was outstanding; installed in advance(). */
  private deferredSnapshot: { snapshot: Snapshot; from: NodeId } | null = null;

  private msgs: Message[] = [];
  private readStates: ReadState[] = [];
  private prevHardState: HardState;
  private prevSoftState: SoftState;
  private outstanding: OutstandingReady | null = null;

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

  // ---------------------------------------------------------------- public API

  tick(): void {
    if (this.role === 'leader') this.tickLeader();
    else this.tickElection();
  }

  propose(data: Uint8Array): ProposeResult {
    return this.proposeEntry('normal', data);
  }

  proposeConfChange(cc: ConfChange): ProposeResult {
    if (this.role !== 'leader') return this.notLeader();
    if (this.pendingConfIndex > this.log.applied) {
      return { ok: false, error: 'CONF_CHANGE_PENDING', leaderHint: this.id };
    }
    if (validateConfChange(this.conf, cc) !== null) {
      return { ok: false, error: 'INVALID_CONF_CHANGE', leaderHint: this.id };
    }
    const r = this.proposeEntry('conf', encodeConfChange(cc));
    if (r.ok) this.pendingConfIndex = r.index;
    return r;
  }

  readIndex(context: string): ReadIndexResult {
    if (context === '') return { ok: false, error: 'INVALID_CONTEXT', leaderHint: this.leader };
    if (this.role === 'leader') return this.leaderRead(context, this.id);
    if (this.leader === null) return { ok: false, error: 'NO_LEADER', leaderHint: null };
    this.send({ type: 'readIndex', to: this.leader, context });
    return { ok: true };
  }

  transferLeadership(to: NodeId): void {
    if (this.role !== 'leader' || to === this.id || !this.conf.voters.includes(to)) return;
    const pr = this.progress.get(to);
    if (!pr || this.leadTransferee === to) return;
    this.leadTransferee = to;
    // The transfer is abandoned if it does not finish within an election timeout.
    this.electionElapsed = 0;
    if (pr.match === this.log.lastIndex()) this.send({ type: 'timeoutNow', to });
    else this.sendAppend(to, true);
  }

  campaign(): void {
    this.hup(false);
  }

  reportUnreachable(to: NodeId): void {
    const pr = this.progress.get(to);
    if (this.role === 'leader' && pr && pr.state === 'replicate') pr.becomeProbe();
  }

  applyConfChange(cc: ConfChange): ConfState {
    this.conf = applyConfChangeTo(this.conf, cc);
    this.syncProgress();
    if (this.role !== 'leader') return this.conf;
    if (!isVoter(this.conf, this.id)) {
      // Removed (or demoted) leader: step down so the remaining voters elect one of their own.
      this.becomeFollower(this.term, null);
      return this.conf;
    }
    if (this.leadTransferee !== null && !this.conf.voters.includes(this.leadTransferee)) {
      this.leadTransferee = null;
    }
    if (this.maybeCommit()) this.bcastAppend();
    else for (const id of this.progress.keys()) if (id !== this.id) this.sendAppend(id, false);
    return this.conf;
  }

  status(): Status {
    return {
      id: this.id,
      term: this.term,
      vote: this.vote,
      role: this.role,
      leader: this.leader,
      commit: this.log.committed,
      applied: this.log.applied,
      lastIndex: this.log.lastIndex(),
      confState: this.conf,
    };
  }

  /** Leader: the index of every snapshot still being sent to a follower. */
  snapshotsInFlight(): number[] {
    const out: number[] = [];
    for (const [id, pr] of this.progress) if (id !== this.id && pr.state === 'snapshot' && pr.pendingSnapshot) out.push(pr.pendingSnapshot.metadata.index);
    return out;
  }

  /** Terms of the log in [lo, hi] (for invariant checks in tests); null where unavailable. */
  termAt(index: number): number | null {
    return this.log.term(index);
  }

  // ---------------------------------------------------------------- Ready / advance

  hasReady(): boolean {
    if (this.outstanding !== null) return false;
    if (this.msgs.length > 0 || this.readStates.length > 0) return true;
    if (this.log.unstable.entries.length > 0 || this.log.unstable.snapshot !== null) return true;
    if (!sameHardState(this.hardState(), this.prevHardState)) return true;
    if (!sameSoftState(this.softState(), this.prevSoftState)) return true;
    return this.log.committed > this.applyFloor();
  }

  ready(): Ready {
    assert(this.outstanding === null, 'ready() called again before advance()');
    const hs = this.hardState();
    const ss = this.softState();
    const snapshot = this.log.unstable.snapshot;
    const entries = this.log.unstable.entries.slice();
    const committedEntries = this.log.nextCommitted(this.applyFloor(), this.limits.maxCommittedBytesPerReady);
    const hardChanged = !sameHardState(hs, this.prevHardState);
    const rd: Ready = {
      softState: sameSoftState(ss, this.prevSoftState) ? null : ss,
      hardState: hardChanged ? hs : null,
      snapshot,
      entries,
      committedEntries,
      messages: this.msgs,
      readStates: this.readStates,
      mustSync:
        entries.length > 0 ||
        snapshot !== null ||
        hs.term !== this.prevHardState.term ||
        hs.vote !== this.prevHardState.vote,
    };
    this.msgs = [];
    this.readStates = [];
    const last = entries.length > 0 ? entries[entries.length - 1]! : null;
    const lastCommitted = committedEntries.length > 0 ? committedEntries[committedEntries.length - 1]!.index : null;
    this.outstanding = {
      lastEntry: last ? { index: last.index, term: last.term } : null,
      snapshotIndex: snapshot ? snapshot.metadata.index : null,
      appliedTo: lastCommitted ?? (snapshot ? snapshot.metadata.index : null),
      hardState: rd.hardState,
      softState: rd.softState,
    };
    return rd;
  }

  advance(): void {
    const o = this.outstanding;
    assert(o !== null, 'advance() without ready()');
    this.outstanding = null;
    if (o.hardState) this.prevHardState = o.hardState;
    if (o.softState) this.prevSoftState = o.softState;
    if (o.snapshotIndex !== null) this.log.unstable.stableSnapTo(o.snapshotIndex);
    if (o.lastEntry) this.log.unstable.stableTo(o.lastEntry.index, o.lastEntry.term);
    if (o.appliedTo !== null) this.log.appliedTo(o.appliedTo);
    if (this.deferredSnapshot !== null) {
      const d = this.deferredSnapshot;
      this.deferredSnapshot = null;
      if (this.role !== 'leader') this.installSnapshot(d.snapshot, d.from);
    }
    if (this.role === 'leader' && o.lastEntry && o.lastEntry.term === this.term) {
      // Our own copy is durable now: it counts toward the quorum.
      const self = this.progress.get(this.id);
      if (self && self.maybeUpdate(Math.min(o.lastEntry.index, this.log.stableLastIndex()))) {
        if (this.maybeCommit()) this.bcastAppend();
      }
    }
    this.maybeAutoLeave();
  }

  private applyFloor(): number {
    const snap = this.log.unstable.snapshot;
    const inFlight = this.outstanding?.appliedTo ?? 0;
    return Math.max(this.log.applied, snap ? snap.metadata.index : 0, inFlight);
  }

  private hardState(): HardState {
    return { term: this.term, vote: this.vote, commit: this.log.committed };
  }

  private softState(): SoftState {
    return { leader: this.leader, role: this.role };
  }

  // ---------------------------------------------------------------- step

  step(m: Message): void {
    if (m.to !== this.id || m.from === this.id) return;
    if (m.term > this.term) {
      if (m.type === 'vote' || m.type === 'preVote') {
        const force = m.context === TRANSFER_CONTEXT;
        const inLease =
          this.cfg.checkQuorum === true && this.leader !== null && this.electionElapsed < this.cfg.electionTicks;
        // A node that hears from a live leader ignores disruptive candidates (check-quorum).
        if (!force && inLease) return;
      }
      if (m.type === 'preVote' || (m.type === 'preVoteResp' && !m.reject)) {
        // Pre-votes never change terms: a granted pre-vote is for a future term.
      } else if (m.type === 'append' || m.type === 'heartbeat' || m.type === 'snapshot') {
        this.becomeFollower(m.term, m.from);
      } else {
        this.becomeFollower(m.term, null);
      }
    } else if (m.term < this.term) {
      if (m.type === 'append' || m.type === 'heartbeat') {
        // Tell a stale leader (e.g. one that was paused) about the newer term.
        this.send({ type: 'appendResp', to: m.from });
      } else if (m.type === 'preVote') {
        this.send({ type: 'preVoteResp', to: m.from, reject: true });
      }
      return;
    }

    switch (m.type) {
      case 'preVote':
      case 'vote':
        this.handleVoteRequest(m);
        return;
      default:
        break;
    }
    switch (this.role) {
      case 'leader':
        this.stepLeader(m);
        break;
      case 'candidate':
      case 'precandidate':
        this.stepCandidate(m);
        break;
      case 'follower':
        this.stepFollower(m);
        break;
    }
  }

  private handleVoteRequest(m: Message): void {
    const canVote =
      this.vote === m.from ||
      (this.vote === null && this.leader === null) ||
      (m.type === 'preVote' && m.term > this.term) ||
      (this.cfg.mutation === 'voteTwiceInTerm' && m.type === 'vote' && this.role !== 'leader');
    const respType = m.type === 'vote' ? 'voteResp' : 'preVoteResp';
    if (canVote && this.log.isUpToDate(m.index, m.logTerm)) {
      // A pre-vote grant answers with the candidate's (future) term so it counts there.
      this.send({ type: respType, to: m.from, term: m.term });
      if (m.type === 'vote') {
        this.electionElapsed = 0;
        this.vote = m.from;
      }
    } else {
      this.send({ type: respType, to: m.from, reject: true });
    }
  }

  private stepFollower(m: Message): void {
    switch (m.type) {
      case 'append':
        this.electionElapsed = 0;
        this.leader = m.from;
        this.handleAppend(m);
        break;
      case 'heartbeat':
        this.electionElapsed = 0;
        this.leader = m.from;
        this.log.commitTo(Math.min(m.commit, this.log.lastIndex()));
        // Our last index lets the leader notice a log that went backwards (a restored disk).
        this.send({ type: 'heartbeatResp', to: m.from, context: m.context, index: this.log.lastIndex() });
        break;
      case 'snapshot':
        this.electionElapsed = 0;
        this.leader = m.from;
        this.handleSnapshotChunk(m);
        break;
      case 'timeoutNow':
        if (this.promotable()) this.hup(true);
        break;
      case 'readIndexResp':
        this.readStates.push({ index: m.index, context: m.context });
        break;
      default:
        break;
    }
  }

  private stepCandidate(m: Message): void {
    const myRespType = this.role === 'precandidate' ? 'preVoteResp' : 'voteResp';
    switch (m.type) {
      case 'append':
      case 'heartbeat':
      case 'snapshot':
        this.becomeFollower(m.term, m.from);
        this.stepFollower(m);
        return;
      case 'preVoteResp':
      case 'voteResp': {
        if (m.type !== myRespType) return;
        const voteTerm = this.role === 'precandidate' ? this.term + 1 : this.term;
        if (!m.reject && m.term !== voteTerm) return;
        this.votes.set(m.from, !m.reject);
        const result = voteResult(this.conf, this.votes);
        if (result === 'won') {
          if (this.role === 'precandidate') this.startElection('vote', false);
          else this.becomeLeader();
        } else if (result === 'lost') {
          this.becomeFollower(this.term, null);
        }
        return;
      }
      default:
        return;
    }
  }

  // ---------------------------------------------------------------- follower replication

  private handleAppend(m: Message): void {
    if (m.index < this.log.committed) {
      this.send({ type: 'appendResp', to: m.from, index: this.log.committed });
      return;
    }
    const lastNew = this.log.maybeAppend(m.index, m.logTerm, m.commit, m.entries);
    if (lastNew !== null) {
      this.send({ type: 'appendResp', to: m.from, index: lastNew });
      return;
    }
    // Fast backtracking: point the leader at the last index whose term could match.
    const hintIndex = this.log.findConflictByTerm(Math.min(m.index, this.log.lastIndex()), m.logTerm);
    this.send({
      type: 'appendResp',
      to: m.from,
      index: m.index,
      reject: true,
      rejectHint: hintIndex,
      hintTerm: this.log.term(hintIndex) ?? 0,
    });
  }

  private handleSnapshotChunk(m: Message): void {
    const chunk = m.snapshot;
    if (chunk === null) return;
    if (chunk.metadata.index <= this.log.committed) {
      this.send({ type: 'appendResp', to: m.from, index: this.log.committed });
      return;
    }
    if (this.deferredSnapshot !== null) return; // one install at a time; the leader resends
    const out = this.snapshotReceiver.receive(chunk, m.from, m.term);
    if (out.kind !== 'complete') {
      this.send({
        type: 'snapshotResp',
        to: m.from,
        index: chunk.metadata.index,
        reject: out.kind === 'rejected',
        rejectHint: out.received,
      });
      return;
    }
    if (this.outstanding !== null) {
      // The caller is applying a Ready whose committed entries the snapshot may cover (a conf
      // change applied twice would corrupt the membership): install once it has advanced.
      this.deferredSnapshot = { snapshot: out.snapshot, from: m.from };
      return;
    }
    this.installSnapshot(out.snapshot, m.from);
  }

  private installSnapshot(snap: Snapshot, from: NodeId): void {
    const installed = this.restore(snap);
    this.send({ type: 'appendResp', to: from, index: installed ? this.log.lastIndex() : this.log.committed });
  }

  private restore(snap: Snapshot): boolean {
    const { index, term } = snap.metadata;
    if (index <= this.log.committed) return false;
    if (this.log.matchTerm(index, term)) {
      // We already hold the entries the snapshot covers: just learn that they are committed.
      this.log.commitTo(index);
      return false;
    }
    this.log.restore(snap);
    this.conf = snap.metadata.confState;
    this.syncProgress();
    return true;
  }

  // ---------------------------------------------------------------- leader

  private stepLeader(m: Message): void {
    if (m.type === 'readIndex') {
      const r = this.leaderRead(m.context, m.from);
      // Rejected remote reads are dropped; the asker times out and retries.
      void r;
      return;
    }
    const pr = this.progress.get(m.from);
    if (!pr) return;
    switch (m.type) {
      case 'appendResp':
        pr.recentActive = true;
        this.handleAppendResp(m, pr);
        break;
      case 'heartbeatResp':
        pr.recentActive = true;
        pr.probeSent = false;
        if (m.index > 0 && m.index < pr.match && pr.state !== 'snapshot') {
          // The follower lost entries it acknowledged: replicate again from what it has.
          pr.match = m.index;
          pr.becomeProbe();
        }
        if (pr.state === 'replicate' && pr.inflights.full()) pr.inflights.freeFirstOne();
        if (pr.state === 'snapshot') {
          if (!pr.snapshotAckedRecently) this.sendSnapshotChunk(m.from, pr);
          pr.snapshotAckedRecently = false;
        } else if (pr.match < this.log.lastIndex()) {
          this.sendAppend(m.from, true);
        }
        if (m.context !== '') this.releaseReads(this.readOnly.ack(m.context, m.from, this.conf));
        // A lost TimeoutNow would stall a transfer for an election timeout: resend it.
        if (m.from === this.leadTransferee && pr.match === this.log.lastIndex()) this.send({ type: 'timeoutNow', to: m.from });
        break;
      case 'snapshotResp':
        pr.recentActive = true;
        if (pr.state !== 'snapshot' || pr.pendingSnapshot?.metadata.index !== m.index) return;
        if (m.reject) {
          // The follower lost the transfer (e.g. restarted): start over from what it matches.
          pr.pendingSnapshot = null;
          pr.becomeProbe();
          this.sendAppend(m.from, true);
          return;
        }
        pr.snapshotAcked = m.rejectHint;
        pr.snapshotAckedRecently = true;
        if (pr.snapshotAcked < pr.pendingSnapshot.data.length) this.sendSnapshotChunk(m.from, pr);
        break;
      default:
        break;
    }
  }

  private handleAppendResp(m: Message, pr: Progress): void {
    if (m.reject) {
      let hint = m.rejectHint;
      if (m.hintTerm > 0) hint = this.log.findConflictByTerm(m.rejectHint, m.hintTerm);
      if (pr.maybeDecrTo(m.index, hint)) {
        if (pr.state === 'replicate') pr.becomeProbe();
        this.sendAppend(m.from, true);
      }
      return;
    }
    const oldPaused = pr.isPaused();
    if (pr.maybeUpdate(m.index)) {
      if (pr.state === 'probe') {
        pr.becomeReplicate();
      } else if (pr.state === 'snapshot') {
        const snapIndex = pr.pendingSnapshot?.metadata.index ?? 0;
        if (pr.match >= snapIndex || pr.match + 1 >= this.log.firstIndex()) {
          pr.becomeProbe();
          pr.becomeReplicate();
        }
      } else {
        pr.inflights.freeLE(m.index);
      }
      if (this.maybeCommit()) {
        this.bcastAppend();
      } else if (oldPaused) {
        this.sendAppend(m.from, true);
      }
      while (this.sendAppend(m.from, false)) {
        // Fill the pipelining window.
      }
      if (m.from === this.leadTransferee && pr.match === this.log.lastIndex()) {
        this.send({ type: 'timeoutNow', to: m.from });
      }
    } else if (pr.state === 'snapshot' && pr.match + 1 >= this.log.firstIndex()) {
      // The follower caught up past the compaction point some other way.
      pr.becomeProbe();
      this.sendAppend(m.from, true);
    }
  }

  private leaderRead(context: string, from: NodeId): ReadIndexResult {
    if (context === '') return { ok: false, error: 'INVALID_CONTEXT', leaderHint: this.id };
    // Pending reads are keyed by asker and context: a reused context must never be merged
    // into an older read (it would get that read's older index).
    const key = `${from}\u0000${context}`;
    if (this.readOnly.has(key) || this.readsBeforeCommit.some((r) => r.from === from && r.context === context)) {
      return { ok: false, error: 'INVALID_CONTEXT', leaderHint: this.id };
    }
    if (this.readOnly.full() || this.readsBeforeCommit.length >= this.limits.maxPendingReads) {
      return { ok: false, error: 'OVERLOADED', leaderHint: this.id };
    }
    if (this.log.term(this.log.committed) !== this.term) {
      // The commit index is only known to be current once an entry of this term commits.
      this.readsBeforeCommit.push({ context, from });
      return { ok: true };
    }
    const index = this.log.committed;
    if (allVoters(this.conf).length === 1 && isVoter(this.conf, this.id)) {
      this.releaseReads([{ context, index, from }]);
      return { ok: true };
    }
    this.readOnly.add({ key, context, index, from, acks: new Map([[this.id, true]]) });
    this.bcastHeartbeat(key);
    return { ok: true };
  }

  private releaseReads(reads: readonly { context: string; index: number; from: NodeId }[]): void {
    for (const r of reads) {
      if (r.from === this.id) this.readStates.push({ index: r.index, context: r.context });
      else this.send({ type: 'readIndexResp', to: r.from, index: r.index, context: r.context });
    }
  }

  private proposeEntry(kind: EntryKind, data: Uint8Array): ProposeResult {
    if (this.role !== 'leader') return this.notLeader();
    if (this.leadTransferee !== null) return { ok: false, error: 'TRANSFERRING', leaderHint: this.id };
    if (this.uncommittedBytes + data.length > this.limits.maxUncommittedBytes && this.uncommitted.length > 0) {
      return { ok: false, error: 'OVERLOADED', leaderHint: this.id };
    }
    const index = this.appendEntry(kind, data);
    this.bcastAppend();
    return { ok: true, index, term: this.term };
  }

  private appendEntry(kind: EntryKind, data: Uint8Array): number {
    const index = this.log.lastIndex() + 1;
    const e: Entry = { term: this.term, index, kind, data };
    this.log.append([e]);
    this.uncommitted.push({ index, bytes: entryBytes(e) });
    this.uncommittedBytes += entryBytes(e);
    // The leader counts its own copy only once it is durable (in advance()), so it may send
    // appends to followers while its own disk write is still in flight.
    return index;
  }

  private notLeader(): ProposeResult {
    return { ok: false, error: 'NOT_LEADER', leaderHint: this.leader };
  }

  private maybeCommit(): boolean {
    const mci = committedIndex(this.conf, (id) => this.progress.get(id)?.match ?? 0);
    let changed: boolean;
    if (this.cfg.mutation === 'commitPreviousTermByCount') {
      const before = this.log.committed;
      if (mci > before && mci !== Infinity) this.log.commitTo(mci);
      changed = this.log.committed > before;
    } else {
      changed = mci !== Infinity && this.log.maybeCommit(mci, this.term);
    }
    if (changed) this.onCommitAdvanced();
    return changed;
  }

  private onCommitAdvanced(): void {
    while (this.uncommitted.length > 0 && this.uncommitted[0]!.index <= this.log.committed) {
      this.uncommittedBytes -= this.uncommitted.shift()!.bytes;
    }
    if (this.readsBeforeCommit.length > 0 && this.log.term(this.log.committed) === this.term) {
      const waiting = this.readsBeforeCommit;
      this.readsBeforeCommit = [];
      for (const r of waiting) this.leaderRead(r.context, r.from);
    }
  }

  private maybeAutoLeave(): void {
    if (
      this.role === 'leader' &&
      isJoint(this.conf) &&
      this.conf.autoLeave &&
      this.pendingConfIndex <= this.log.applied &&
      this.leadTransferee === null
    ) {
      this.proposeConfChange({ changes: [] });
    }
  }

  /** Sends entries (or a snapshot) to `to`; returns whether a message was sent. */
  private sendAppend(to: NodeId, sendIfEmpty: boolean): boolean {
    const pr = this.progress.get(to);
    if (!pr || to === this.id || pr.isPaused()) return false;
    const prevIndex = pr.next - 1;
    const prevTerm = this.log.term(prevIndex);
    const last = this.log.lastIndex();
    const ents = prevTerm === null ? null : this.log.slice(pr.next, last + 1, this.limits.maxMsgBytes);
    if (prevTerm === null || ents === null) return this.sendSnapshot(to, pr);
    if (ents.length === 0 && !sendIfEmpty) return false;
    this.send({ type: 'append', to, index: prevIndex, logTerm: prevTerm, entries: ents, commit: this.log.committed });
    if (ents.length > 0) {
      const lastSent = ents[ents.length - 1]!.index;
      if (pr.state === 'replicate') {
        pr.next = lastSent + 1;
        pr.inflights.add(lastSent, ents.reduce((n, e) => n + entryBytes(e), 0));
      } else {
        pr.probeSent = true;
      }
    } else if (pr.state === 'probe') {
      pr.probeSent = true;
    }
    return true;
  }

  private sendSnapshot(to: NodeId, pr: Progress): boolean {
    if (!pr.recentActive) return false;
    let snap: Snapshot;
    try {
      snap = this.cfg.storage.snapshot();
    } catch (e) {
      // Being built by the caller: the next heartbeat answer retries.
      if (e instanceof SnapshotUnavailableError) return false;
      throw e;
    }
    assert(snap.metadata.index > 0, 'a snapshot is needed but storage has none');
    pr.becomeSnapshot(snap);
    this.sendSnapshotChunk(to, pr);
    return true;
  }

  private sendSnapshotChunk(to: NodeId, pr: Progress): void {
    const snap = pr.pendingSnapshot;
    if (!snap) return;
    const offset = pr.snapshotAcked;
    const data = snap.data.subarray(offset, offset + this.limits.snapshotChunkBytes);
    this.send({
      type: 'snapshot',
      to,
      snapshot: { metadata: snap.metadata, offset, totalBytes: snap.data.length, data },
    });
  }

  private bcastAppend(): void {
    for (const id of this.progress.keys()) if (id !== this.id) this.sendAppend(id, true);
  }

  private bcastHeartbeat(context: string): void {
    for (const [id, pr] of this.progress) {
      if (id === this.id) continue;
      this.send({ type: 'heartbeat', to: id, commit: Math.min(pr.match, this.log.committed), context });
    }
  }

  // ---------------------------------------------------------------- ticks and roles

  private tickElection(): void {
    this.electionElapsed++;
    if (this.promotable() && this.electionElapsed >= this.randomizedElectionTimeout) {
      this.electionElapsed = 0;
      this.hup(false);
    }
  }

  private tickLeader(): void {
    this.heartbeatElapsed++;
    this.electionElapsed++;
    if (this.electionElapsed >= this.cfg.electionTicks) {
      this.electionElapsed = 0;
      if (this.cfg.checkQuorum === true && !this.quorumActive()) {
        this.becomeFollower(this.term, null);
        return;
      }
      this.leadTransferee = null;
    }
    if (this.heartbeatElapsed >= this.cfg.heartbeatTicks) {
      this.heartbeatElapsed = 0;
      this.bcastHeartbeat(this.readOnly.lastContext());
    }
  }

  private quorumActive(): boolean {
    const active = new Map<NodeId, boolean>();
    for (const [id, pr] of this.progress) {
      active.set(id, id === this.id || pr.recentActive);
      if (id !== this.id) pr.recentActive = false;
    }
    return voteResult(this.conf, active) === 'won';
  }

  private promotable(): boolean {
    return isVoter(this.conf, this.id) && this.log.unstable.snapshot === null;
  }

  private hup(transfer: boolean): void {
    if (this.role === 'leader' || !this.promotable()) return;
    if (this.hasUnappliedConfChanges()) return;
    this.startElection(this.cfg.preVote === true && !transfer ? 'preVote' : 'vote', transfer);
  }

  private hasUnappliedConfChanges(): boolean {
    if (this.log.committed <= this.log.applied) return false;
    const ents = this.log.slice(this.log.applied + 1, this.log.committed + 1, Infinity) ?? [];
    return ents.some((e) => e.kind === 'conf');
  }

  private startElection(kind: 'preVote' | 'vote', transfer: boolean): void {
    if (kind === 'preVote') {
      this.role = 'precandidate';
      this.leader = null;
      this.votes = new Map();
    } else {
      this.reset(this.term + 1);
      this.role = 'candidate';
      this.vote = this.id;
    }
    const voteTerm = kind === 'preVote' ? this.term + 1 : this.term;
    this.votes.set(this.id, true);
    if (voteResult(this.conf, this.votes) === 'won') {
      if (kind === 'preVote') this.startElection('vote', transfer);
      else this.becomeLeader();
      return;
    }
    for (const id of allVoters(this.conf)) {
      if (id === this.id) continue;
      this.send({
        type: kind,
        to: id,
        term: voteTerm,
        index: this.log.lastIndex(),
        logTerm: this.log.lastTerm(),
        context: transfer ? TRANSFER_CONTEXT : '',
      });
    }
  }

  private reset(term: number): void {
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

  private becomeFollower(term: number, leader: NodeId | null): void {
    this.reset(term);
    this.role = 'follower';
    this.leader = leader;
  }

  private becomeLeader(): void {
    assert(this.role === 'candidate', 'only a candidate becomes leader');
    this.reset(this.term);
    this.role = 'leader';
    this.leader = this.id;
    for (const pr of this.progress.values()) pr.recentActive = true;
    // No conf change until everything this leader inherited is applied.
    this.pendingConfIndex = this.log.lastIndex();
    // The no-op commits the inherited tail: entries of earlier terms are never counted directly.
    this.appendEntry('normal', EMPTY);
    this.bcastAppend();
  }

  /** Keeps one Progress per member of the configuration. */
  private syncProgress(): void {
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

  private send(m: Partial<Message> & Pick<Message, 'type' | 'to'>): void {
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
}

function sameHardState(a: HardState, b: HardState): boolean {
  return a.term === b.term && a.vote === b.vote && a.commit === b.commit;
}

function sameSoftState(a: SoftState, b: SoftState): boolean {
  return a.leader === b.leader && a.role === b.role;
}
