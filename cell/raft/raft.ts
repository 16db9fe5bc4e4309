// The Raft consensus core as a deterministic state machine (after etcd-io/raft): step, tick,
// propose, ready, advance. No I/O, timers or randomness of its own; see types.ts for the
// persistence contract the caller must follow when handling a Ready.
//
// RaftNode is the public face: it owns the node's state (state.ts) and routes calls and
// messages to the module of each path:
//   election.ts     ticks, campaigns, pre-vote, votes, check-quorum, leader transfer
//   replication.ts  leader: own proposals, appends and snapshots to followers, their answers, commit
//   follower.ts     follower: accepting appends, receiving and installing snapshots
//   read-index.ts   ReadIndex reads and the heartbeat rounds that confirm them
//   membership.ts   proposing and applying conf changes, leaving joint configurations
//   ready.ts        the Ready / advance handshake

import {
  handleVoteRequest,
  handleVoteResp,
  hup,
  tickElection,
  tickLeader,
  transferLeadership,
  TRANSFER_CONTEXT,
} from './election.js';
import { handleAppend, handleHeartbeat, handleSnapshotChunk } from './follower.js';
import { applyConfChange, proposeConfChange } from './membership.js';
import { leaderRead, readIndex } from './read-index.js';
import { advance, hasReady, ready } from './ready.js';
import { handleAppendResp, handleHeartbeatResp, handleSnapshotResp, proposeEntry } from './replication.js';
import { RaftState } from './state.js';
import type {
  ConfChange,
  ConfState,
  Message,
  NodeId,
  ProposeResult,
  RaftConfig,
  ReadIndexResult,
  Ready,
  Status,
} from './types.js';

export class RaftNode {
  readonly id: NodeId;
  /** Everything else about this node; shared with the path modules, never exposed. */
  private readonly r: RaftState;

  constructor(config: RaftConfig) {
    this.r = new RaftState(config);
    this.id = config.id;
  }

  // ---------------------------------------------------------------- public API

  tick(): void {
    if (this.r.role === 'leader') tickLeader(this.r);
    else tickElection(this.r);
  }

  propose(data: Uint8Array): ProposeResult {
    return proposeEntry(this.r, 'normal', data);
  }

  proposeConfChange(cc: ConfChange): ProposeResult {
    return proposeConfChange(this.r, cc);
  }

  readIndex(context: string): ReadIndexResult {
    return readIndex(this.r, context);
  }

  transferLeadership(to: NodeId): void {
    transferLeadership(this.r, to);
  }

  campaign(): void {
    hup(this.r, false);
  }

  reportUnreachable(to: NodeId): void {
    const pr = this.r.progress.get(to);
    if (this.r.role === 'leader' && pr && pr.state === 'replicate') pr.becomeProbe();
  }

  applyConfChange(cc: ConfChange): ConfState {
    return applyConfChange(this.r, cc);
  }

  status(): Status {
    const r = this.r;
    return {
      id: r.id,
      term: r.term,
      vote: r.vote,
      role: r.role,
      leader: r.leader,
      commit: r.log.committed,
      applied: r.log.applied,
      lastIndex: r.log.lastIndex(),
      confState: r.conf,
    };
  }

  /**
   * Leader: what it knows of every member, itself included (its own match counts only what is
   * durable); empty on other roles. For checks and metrics.
   */
  progress(): { readonly id: NodeId; readonly match: number; readonly next: number }[] {
    if (this.r.role !== 'leader') return [];
    const out: { id: NodeId; match: number; next: number }[] = [];
    for (const [id, pr] of this.r.progress) out.push({ id, match: pr.match, next: pr.next });
    return out;
  }

  /** Leader: the members heard from since the last check-quorum round (itself included); [] otherwise. */
  recentlyActive(): NodeId[] {
    if (this.r.role !== 'leader') return [];
    return [...this.r.progress].filter(([id, pr]) => id === this.r.id || pr.recentActive).map(([id]) => id);
  }

  /** Leader: how many entries each other replica's matched log is behind ours (metrics); [] otherwise. */
  replicationLag(): [NodeId, number][] {
    const last = this.r.log.lastIndex();
    return this.progress()
      .filter((p) => p.id !== this.id)
      .map((p) => [p.id, Math.max(0, last - p.match)]);
  }

  /** Leader: the index of every snapshot still being sent to a follower. */
  snapshotsInFlight(): number[] {
    const out: number[] = [];
    for (const [id, pr] of this.r.progress) if (id !== this.r.id && pr.state === 'snapshot' && pr.pendingSnapshot) out.push(pr.pendingSnapshot.metadata.index);
    return out;
  }

  /** Terms of the log in [lo, hi] (for invariant checks in tests); null where unavailable. */
  termAt(index: number): number | null {
    return this.r.log.term(index);
  }

  // ---------------------------------------------------------------- Ready / advance

  hasReady(): boolean {
    return hasReady(this.r);
  }

  ready(): Ready {
    return ready(this.r);
  }

  advance(): void {
    advance(this.r);
  }

  // ---------------------------------------------------------------- step

  step(m: Message): void {
    const r = this.r;
    if (m.to !== r.id || m.from === r.id) return;
    if (m.term > r.term) {
      if (m.type === 'vote' || m.type === 'preVote') {
        const force = m.context === TRANSFER_CONTEXT;
        const inLease =
          r.cfg.checkQuorum === true && r.leader !== null && r.electionElapsed < r.cfg.electionTicks;
        // A node that hears from a live leader ignores disruptive candidates (check-quorum).
        if (!force && inLease) return;
      }
      if (m.type === 'preVote' && r.cfg.mutation === 'preVoteBumpsTerm') {
        r.becomeFollower(m.term, null);
      } else if (m.type === 'preVote' || (m.type === 'preVoteResp' && !m.reject)) {
        // Pre-votes never change terms: a granted pre-vote is for a future term.
      } else if (m.type === 'append' || m.type === 'heartbeat' || m.type === 'snapshot') {
        r.becomeFollower(m.term, m.from);
      } else {
        r.becomeFollower(m.term, null);
      }
    } else if (
      m.term < r.term &&
      !(r.cfg.mutation === 'acceptStaleTermResponses' && (m.type === 'appendResp' || m.type === 'heartbeatResp')) &&
      !(r.cfg.mutation === 'staleVoteRequestGranted' && m.type === 'vote')
    ) {
      if (m.type === 'append' || m.type === 'heartbeat') {
        // Tell a stale leader (e.g. one that was paused) about the newer term.
        r.send({ type: 'appendResp', to: m.from });
      } else if (m.type === 'preVote') {
        r.send({ type: 'preVoteResp', to: m.from, reject: true });
      }
      return;
    }

    switch (m.type) {
      case 'preVote':
      case 'vote':
        handleVoteRequest(r, m);
        return;
      default:
        break;
    }
    switch (r.role) {
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

  private stepFollower(m: Message): void {
    const r = this.r;
    switch (m.type) {
      case 'append':
        r.electionElapsed = 0;
        r.leader = m.from;
        handleAppend(r, m);
        break;
      case 'heartbeat':
        r.electionElapsed = 0;
        r.leader = m.from;
        handleHeartbeat(r, m);
        break;
      case 'snapshot':
        r.electionElapsed = 0;
        r.leader = m.from;
        handleSnapshotChunk(r, m);
        break;
      case 'timeoutNow':
        if (r.promotable()) hup(r, true);
        break;
      case 'readIndexResp':
        r.readStates.push({ index: m.index, context: m.context });
        break;
      default:
        break;
    }
  }

  private stepCandidate(m: Message): void {
    switch (m.type) {
      case 'append':
      case 'heartbeat':
      case 'snapshot':
        this.r.becomeFollower(m.term, m.from);
        this.stepFollower(m);
        return;
      case 'preVoteResp':
      case 'voteResp':
        handleVoteResp(this.r, m);
        return;
      default:
        return;
    }
  }

  private stepLeader(m: Message): void {
    const r = this.r;
    if (m.type === 'readIndex') {
      const res = leaderRead(r, m.context, m.from);
      // Rejected remote reads are dropped; the asker times out and retries.
      void res;
      return;
    }
    const pr = r.progress.get(m.from);
    if (!pr) return;
    // An answer to an append, heartbeat or snapshot is a sign of life for check-quorum.
    switch (m.type) {
      case 'appendResp':
        pr.recentActive = true;
        handleAppendResp(r, m, pr);
        break;
      case 'heartbeatResp':
        pr.recentActive = true;
        handleHeartbeatResp(r, m, pr);
        break;
      case 'snapshotResp':
        pr.recentActive = true;
        handleSnapshotResp(r, m, pr);
        break;
      default:
        break;
    }
  }
}
