// Elections: the election and heartbeat ticks, campaigning (with pre-vote), answering and
// counting votes, check-quorum (a leader that lost its quorum steps down) and leader transfer
// with TimeoutNow.

import { assert } from '../../shared/assert.js';
import { allVoters } from './confchange.js';
import { voteResult } from './quorum.js';
import { bcastHeartbeat } from './read-index.js';
import { appendEntry, bcastAppend, sendAppend } from './replication.js';
import type { RaftState } from './state.js';
import type { Message, NodeId } from './types.js';

const EMPTY = new Uint8Array(0);
/** The context of the vote requests of a transfer: they override check-quorum leases. */
export const TRANSFER_CONTEXT = 'transfer';

// ---------------------------------------------------------------- ticks

export function tickElection(r: RaftState): void {
  r.electionElapsed++;
  if (r.promotable() && r.electionElapsed >= r.randomizedElectionTimeout) {
    r.electionElapsed = 0;
    hup(r, false);
  }
}

export function tickLeader(r: RaftState): void {
  r.heartbeatElapsed++;
  r.electionElapsed++;
  if (r.electionElapsed >= r.cfg.electionTicks) {
    r.electionElapsed = 0;
    if (r.cfg.checkQuorum === true && !quorumActive(r)) {
      r.becomeFollower(r.term, null);
      return;
    }
    r.leadTransferee = null;
  }
  if (r.heartbeatElapsed >= r.cfg.heartbeatTicks) {
    r.heartbeatElapsed = 0;
    bcastHeartbeat(r, r.readOnly.lastContext());
  }
}

function quorumActive(r: RaftState): boolean {
  const active = new Map<NodeId, boolean>();
  for (const [id, pr] of r.progress) {
    active.set(id, id === r.id || pr.recentActive);
    if (id !== r.id) pr.recentActive = false;
  }
  return voteResult(r.conf, active) === 'won';
}

// ---------------------------------------------------------------- campaigning

/** Starts a campaign (a pre-vote round first when enabled, unless it is a transfer). */
export function hup(r: RaftState, transfer: boolean): void {
  if (r.role === 'leader' || !r.promotable()) return;
  if (hasUnappliedConfChanges(r)) return;
  startElection(r, r.cfg.preVote === true && !transfer ? 'preVote' : 'vote', transfer);
}

function hasUnappliedConfChanges(r: RaftState): boolean {
  if (r.log.committed <= r.log.applied) return false;
  const ents = r.log.slice(r.log.applied + 1, r.log.committed + 1, Infinity) ?? [];
  return ents.some((e) => e.kind === 'conf');
}

function startElection(r: RaftState, kind: 'preVote' | 'vote', transfer: boolean): void {
  if (kind === 'preVote') {
    if (r.cfg.mutation === 'preCandidateBumpsTerm') r.reset(r.term + 1);
    r.role = 'precandidate';
    r.leader = null;
    r.votes = new Map();
  } else {
    r.reset(r.term + 1);
    r.role = 'candidate';
    r.vote = r.id;
  }
  const voteTerm = kind === 'preVote' ? r.term + 1 : r.term;
  r.votes.set(r.id, true);
  if (voteResult(r.conf, r.votes) === 'won') {
    if (kind === 'preVote') startElection(r, 'vote', transfer);
    else becomeLeader(r);
    return;
  }
  for (const id of allVoters(r.conf)) {
    if (id === r.id) continue;
    r.send({
      type: kind,
      to: id,
      term: voteTerm,
      index: r.log.lastIndex(),
      logTerm: r.log.lastTerm(),
      context: transfer ? TRANSFER_CONTEXT : '',
    });
  }
}

function becomeLeader(r: RaftState): void {
  assert(r.role === 'candidate', 'only a candidate becomes leader');
  r.reset(r.term);
  r.role = 'leader';
  r.leader = r.id;
  for (const pr of r.progress.values()) pr.recentActive = true;
  // No conf change until everything this leader inherited is applied.
  r.pendingConfIndex = r.log.lastIndex();
  // The no-op commits the inherited tail: entries of earlier terms are never counted directly.
  appendEntry(r, 'normal', EMPTY);
  bcastAppend(r);
}

// ---------------------------------------------------------------- votes

export function handleVoteRequest(r: RaftState, m: Message): void {
  const canVote =
    r.vote === m.from ||
    (r.vote === null && r.leader === null) ||
    (m.type === 'preVote' && m.term > r.term) ||
    (r.cfg.mutation === 'voteTwiceInTerm' && m.type === 'vote' && r.role !== 'leader');
  const respType = m.type === 'vote' ? 'voteResp' : 'preVoteResp';
  if (canVote && r.log.isUpToDate(m.index, m.logTerm)) {
    // A pre-vote grant answers with the candidate's (future) term so it counts there.
    r.send({ type: respType, to: m.from, term: m.term });
    if (m.type === 'vote') {
      r.electionElapsed = 0;
      r.vote = m.from;
    }
  } else {
    r.send({ type: respType, to: m.from, reject: true });
  }
}

/** (Pre-)candidate: counts a vote answer of the current round. */
export function handleVoteResp(r: RaftState, m: Message): void {
  const myRespType = r.role === 'precandidate' ? 'preVoteResp' : 'voteResp';
  if (m.type !== myRespType) return;
  const voteTerm = r.role === 'precandidate' ? r.term + 1 : r.term;
  if (!m.reject && m.term !== voteTerm) return;
  r.votes.set(m.from, !m.reject);
  const conf = r.cfg.mutation === 'jointVoteIncomingOnly' ? { ...r.conf, votersOutgoing: [] } : r.conf;
  const result = voteResult(conf, r.votes);
  if (result === 'won') {
    if (r.role === 'precandidate') startElection(r, 'vote', false);
    else becomeLeader(r);
  } else if (result === 'lost') {
    r.becomeFollower(r.term, null);
  }
}

// ---------------------------------------------------------------- leader transfer

export function transferLeadership(r: RaftState, to: NodeId): void {
  if (r.role !== 'leader' || to === r.id || !r.conf.voters.includes(to)) return;
  const pr = r.progress.get(to);
  if (!pr || r.leadTransferee === to) return;
  r.leadTransferee = to;
  // The transfer is abandoned if it does not finish within an election timeout.
  r.electionElapsed = 0;
  if (pr.match === r.log.lastIndex()) r.send({ type: 'timeoutNow', to });
  else sendAppend(r, to, true);
}
