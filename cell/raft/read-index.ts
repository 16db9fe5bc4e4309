// The ReadIndex path: a read is served at the commit index the leader saw when it arrived,
// once a heartbeat round carrying the read's key confirms that this node was still the leader
// then (bookkeeping in read-only.ts). Followers forward reads to the leader. Heartbeats are
// sent from here because every heartbeat doubles as a confirmation round for pending reads.

import { allVoters, isVoter } from './confchange.js';
import type { RaftState } from './state.js';
import type { NodeId, ReadIndexResult } from './types.js';

/** RaftNode.readIndex: start a read on the leader, or forward it to the leader. */
export function readIndex(r: RaftState, context: string): ReadIndexResult {
  if (context === '') return { ok: false, error: 'INVALID_CONTEXT', leaderHint: r.leader };
  if (r.role === 'leader') return leaderRead(r, context, r.id);
  if (r.leader === null) return { ok: false, error: 'NO_LEADER', leaderHint: null };
  r.send({ type: 'readIndex', to: r.leader, context });
  return { ok: true };
}

/** Leader: registers a read by `from` (itself for local reads). */
export function leaderRead(r: RaftState, context: string, from: NodeId): ReadIndexResult {
  if (context === '') return { ok: false, error: 'INVALID_CONTEXT', leaderHint: r.id };
  // Pending reads are keyed by asker and context: a reused context must never be merged
  // into an older read (it would get that read's older index).
  const key = `${from}\u0000${context}`;
  if (r.readOnly.has(key) || r.readsBeforeCommit.some((p) => p.from === from && p.context === context)) {
    return { ok: false, error: 'INVALID_CONTEXT', leaderHint: r.id };
  }
  if (r.readOnly.full() || r.readsBeforeCommit.length >= r.limits.maxPendingReads) {
    return { ok: false, error: 'OVERLOADED', leaderHint: r.id };
  }
  if (r.log.term(r.log.committed) !== r.term && r.cfg.mutation !== 'readIndexBeforeOwnTermCommit') {
    // The commit index is only known to be current once an entry of this term commits.
    r.readsBeforeCommit.push({ context, from });
    return { ok: true };
  }
  const index = r.log.committed;
  const voterCount = r.cfg.mutation === 'readShortcutIncomingOnly' ? r.conf.voters.length : allVoters(r.conf).length;
  if (voterCount === 1 && isVoter(r.conf, r.id)) {
    releaseReads(r, [{ context, index, from }]);
    return { ok: true };
  }
  r.readOnly.add({ key, context, index, from, acks: new Map([[r.id, true]]) });
  bcastHeartbeat(r, key);
  return { ok: true };
}

/** Leader, after the commit index advanced: starts the reads that waited for an own-term commit. */
export function startReadsAwaitingCommit(r: RaftState): void {
  if (r.readsBeforeCommit.length > 0 && r.log.term(r.log.committed) === r.term) {
    const waiting = r.readsBeforeCommit;
    r.readsBeforeCommit = [];
    for (const w of waiting) leaderRead(r, w.context, w.from);
  }
}

/** Leader: `from` answered the heartbeat round of read `context`; releases what is confirmed. */
export function ackReadRound(r: RaftState, context: string, from: NodeId): void {
  releaseReads(r, r.readOnly.ack(context, from, r.conf));
}

function releaseReads(r: RaftState, reads: readonly { context: string; index: number; from: NodeId }[]): void {
  for (const p of reads) {
    if (p.from === r.id) r.readStates.push({ index: p.index, context: p.context });
    else r.send({ type: 'readIndexResp', to: p.from, index: p.index, context: p.context });
  }
}

/** Leader: a heartbeat to every follower, carrying `context` (a pending read's key, or ''). */
export function bcastHeartbeat(r: RaftState, context: string): void {
  for (const [id, pr] of r.progress) {
    if (id === r.id) continue;
    const commit = r.cfg.mutation === 'heartbeatCommitUnbounded' ? r.log.committed : Math.min(pr.match, r.log.committed);
    r.send({ type: 'heartbeat', to: id, commit, context });
  }
}
