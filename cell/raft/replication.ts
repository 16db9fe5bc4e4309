// Leader replication: appending the leader's own entries, sending appends (pipelined within the
// inflight window) and streamed snapshots to followers, handling their answers, and advancing
// the commit index by counting entries of the current term.

import { assert } from '../../shared/assert.js';
import { entryBytes } from './log-util.js';
import type { Progress } from './progress.js';
import { committedIndex } from './quorum.js';
import { ackReadRound, startReadsAwaitingCommit } from './read-index.js';
import type { RaftState } from './state.js';
import { SnapshotUnavailableError } from './types.js';
import type { Entry, EntryKind, Message, NodeId, ProposeResult, Snapshot } from './types.js';

export function notLeader(r: RaftState): ProposeResult {
  return { ok: false, error: 'NOT_LEADER', leaderHint: r.leader };
}

/** Leader: appends a proposal of `kind` and replicates it, unless transferring or overloaded. */
export function proposeEntry(r: RaftState, kind: EntryKind, data: Uint8Array): ProposeResult {
  if (r.role !== 'leader') return notLeader(r);
  if (r.leadTransferee !== null) return { ok: false, error: 'TRANSFERRING', leaderHint: r.id };
  if (r.uncommittedBytes + data.length > r.limits.maxUncommittedBytes && r.uncommitted.length > 0) {
    return { ok: false, error: 'OVERLOADED', leaderHint: r.id };
  }
  const index = appendEntry(r, kind, data);
  bcastAppend(r);
  return { ok: true, index, term: r.term };
}

export function appendEntry(r: RaftState, kind: EntryKind, data: Uint8Array): number {
  const index = r.log.lastIndex() + 1;
  const e: Entry = { term: r.term, index, kind, data };
  r.log.append([e]);
  r.uncommitted.push({ index, bytes: entryBytes(e) });
  r.uncommittedBytes += entryBytes(e);
  // The leader counts its own copy only once it is durable (in advance()), so it may send
  // appends to followers while its own disk write is still in flight.
  return index;
}

/** Advances the commit index to what a quorum matches; returns whether it moved. */
export function maybeCommit(r: RaftState): boolean {
  const conf =
    r.cfg.mutation === 'jointCommitIncomingOnly'
      ? { ...r.conf, votersOutgoing: [] }
      : r.cfg.mutation === 'learnersInCommitQuorum'
        ? { ...r.conf, voters: [...r.conf.voters, ...r.conf.learners] }
        : r.conf;
  const mci = committedIndex(conf, (id) => r.progress.get(id)?.match ?? 0);
  let changed: boolean;
  if (r.cfg.mutation === 'commitPreviousTermByCount') {
    const before = r.log.committed;
    if (mci > before && mci !== Infinity) r.log.commitTo(mci);
    changed = r.log.committed > before;
  } else {
    changed = mci !== Infinity && r.log.maybeCommit(mci, r.term);
  }
  if (changed) onCommitAdvanced(r);
  return changed;
}

function onCommitAdvanced(r: RaftState): void {
  while (r.uncommitted.length > 0 && r.uncommitted[0]!.index <= r.log.committed) {
    r.uncommittedBytes -= r.uncommitted.shift()!.bytes;
  }
  startReadsAwaitingCommit(r);
}

/** Sends entries (or a snapshot) to `to`; returns whether a message was sent. */
export function sendAppend(r: RaftState, to: NodeId, sendIfEmpty: boolean): boolean {
  const pr = r.progress.get(to);
  if (!pr || to === r.id || pr.isPaused()) return false;
  const prevIndex = pr.next - 1;
  const prevTerm = r.log.term(prevIndex);
  const last = r.log.lastIndex();
  const ents = prevTerm === null ? null : r.log.slice(pr.next, last + 1, r.limits.maxMsgBytes);
  if (prevTerm === null || ents === null) return sendSnapshot(r, to, pr);
  if (ents.length === 0 && !sendIfEmpty) return false;
  r.send({ type: 'append', to, index: prevIndex, logTerm: prevTerm, entries: ents, commit: r.log.committed });
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

export function bcastAppend(r: RaftState): void {
  for (const id of r.progress.keys()) if (id !== r.id) sendAppend(r, id, true);
}

function sendSnapshot(r: RaftState, to: NodeId, pr: Progress): boolean {
  if (!pr.recentActive) return false;
  let snap: Snapshot;
  try {
    snap = r.cfg.storage.snapshot();
  } catch (e) {
    // Being built by the caller: the next heartbeat answer retries.
    if (e instanceof SnapshotUnavailableError) return false;
    throw e;
  }
  assert(snap.metadata.index > 0, 'a snapshot is needed but storage has none');
  pr.becomeSnapshot(snap);
  sendSnapshotChunk(r, to, pr);
  return true;
}

function sendSnapshotChunk(r: RaftState, to: NodeId, pr: Progress): void {
  const snap = pr.pendingSnapshot;
  if (!snap) return;
  const offset = pr.snapshotAcked;
  const data = snap.data.subarray(offset, offset + r.limits.snapshotChunkBytes);
  r.send({
    type: 'snapshot',
    to,
    snapshot: { metadata: snap.metadata, offset, totalBytes: snap.data.length, data },
  });
}

// ---------------------------------------------------------------- follower answers

export function handleAppendResp(r: RaftState, m: Message, pr: Progress): void {
  if (m.reject) {
    let hint = m.rejectHint;
    if (m.hintTerm > 0) hint = r.log.findConflictByTerm(m.rejectHint, m.hintTerm);
    if (pr.maybeDecrTo(m.index, hint)) {
      if (pr.state === 'replicate') pr.becomeProbe();
      sendAppend(r, m.from, true);
    }
    return;
  }
  const oldPaused = pr.isPaused();
  if (pr.maybeUpdate(m.index)) {
    if (pr.state === 'probe') {
      pr.becomeReplicate();
    } else if (pr.state === 'snapshot') {
      const snapIndex = pr.pendingSnapshot?.metadata.index ?? 0;
      if (pr.match >= snapIndex || pr.match + 1 >= r.log.firstIndex()) {
        pr.becomeProbe();
        pr.becomeReplicate();
      }
    } else {
      pr.inflights.freeLE(m.index);
    }
    if (maybeCommit(r)) {
      bcastAppend(r);
    } else if (oldPaused) {
      sendAppend(r, m.from, true);
    }
    while (sendAppend(r, m.from, false)) {
      // Fill the pipelining window.
    }
    if (m.from === r.leadTransferee && pr.match === r.log.lastIndex()) {
      r.send({ type: 'timeoutNow', to: m.from });
    }
  } else if (pr.state === 'snapshot' && pr.match + 1 >= r.log.firstIndex()) {
    // The follower caught up past the compaction point some other way.
    pr.becomeProbe();
    sendAppend(r, m.from, true);
  }
}

export function handleHeartbeatResp(r: RaftState, m: Message, pr: Progress): void {
  pr.probeSent = false;
  if (m.index > 0 && m.index < pr.match && pr.state !== 'snapshot') {
    // The follower lost entries it acknowledged: replicate again from what it has.
    pr.match = m.index;
    pr.becomeProbe();
  }
  if (pr.state === 'replicate' && pr.inflights.full()) pr.inflights.freeFirstOne();
  if (pr.state === 'snapshot') {
    if (!pr.snapshotAckedRecently) sendSnapshotChunk(r, m.from, pr);
    pr.snapshotAckedRecently = false;
  } else if (pr.match < r.log.lastIndex()) {
    sendAppend(r, m.from, true);
  }
  if (r.cfg.mutation === 'readAckAnyRound') ackReadRound(r, r.readOnly.lastContext(), m.from);
  else if (m.context !== '') ackReadRound(r, m.context, m.from);
  // A lost TimeoutNow would stall a transfer for an election timeout: resend it.
  if (m.from === r.leadTransferee && pr.match === r.log.lastIndex()) r.send({ type: 'timeoutNow', to: m.from });
}

export function handleSnapshotResp(r: RaftState, m: Message, pr: Progress): void {
  if (pr.state !== 'snapshot' || pr.pendingSnapshot?.metadata.index !== m.index) return;
  if (m.reject) {
    // The follower lost the transfer (e.g. restarted): start over from what it matches.
    pr.pendingSnapshot = null;
    pr.becomeProbe();
    sendAppend(r, m.from, true);
    return;
  }
  pr.snapshotAcked = m.rejectHint;
  pr.snapshotAckedRecently = true;
  if (pr.snapshotAcked < pr.pendingSnapshot.data.length) sendSnapshotChunk(r, m.from, pr);
}
