// Follower replication: accepting the leader's appends (with a fast-backtracking hint when the
// logs do not match) and receiving, deferring and installing streamed snapshots.

import type { RaftState } from './state.js';
import type { Message, NodeId, Snapshot } from './types.js';

export function handleAppend(r: RaftState, m: Message): void {
  if (m.index < r.log.committed) {
    r.send({ type: 'appendResp', to: m.from, index: r.log.committed });
    return;
  }
  const lastNew = r.log.maybeAppend(m.index, m.logTerm, m.commit, m.entries);
  if (lastNew !== null) {
    r.send({ type: 'appendResp', to: m.from, index: lastNew });
    return;
  }
  if (r.cfg.mutation === 'followerCommitOnReject') r.log.commitTo(Math.min(m.commit, r.log.lastIndex()));
  // Fast backtracking: point the leader at the last index whose term could match.
  const hintIndex = r.log.findConflictByTerm(Math.min(m.index, r.log.lastIndex()), m.logTerm);
  r.send({
    type: 'appendResp',
    to: m.from,
    index: m.index,
    reject: true,
    rejectHint: hintIndex,
    hintTerm: r.log.term(hintIndex) ?? 0,
  });
}

export function handleHeartbeat(r: RaftState, m: Message): void {
  r.log.commitTo(Math.min(m.commit, r.log.lastIndex()));
  // Our last index lets the leader notice a log that went backwards (a restored disk).
  r.send({ type: 'heartbeatResp', to: m.from, context: m.context, index: r.log.lastIndex() });
}

export function handleSnapshotChunk(r: RaftState, m: Message): void {
  const chunk = m.snapshot;
  if (chunk === null) return;
  if (chunk.metadata.index <= r.log.committed) {
    r.send({ type: 'appendResp', to: m.from, index: r.log.committed });
    return;
  }
  if (r.deferredSnapshot !== null) return; // one install at a time; the leader resends
  const out = r.snapshotReceiver.receive(chunk, m.from, m.term);
  if (out.kind !== 'complete') {
    r.send({
      type: 'snapshotResp',
      to: m.from,
      index: chunk.metadata.index,
      reject: out.kind === 'rejected',
      rejectHint: out.received,
    });
    return;
  }
  if (r.outstanding !== null) {
    // The caller is applying a Ready whose committed entries the snapshot may cover (a conf
    // change applied twice would corrupt the membership): install once it has advanced.
    r.deferredSnapshot = { snapshot: out.snapshot, from: m.from };
    return;
  }
  installSnapshot(r, out.snapshot, m.from);
}

export function installSnapshot(r: RaftState, snap: Snapshot, from: NodeId): void {
  const installed = restore(r, snap);
  r.send({ type: 'appendResp', to: from, index: installed ? r.log.lastIndex() : r.log.committed });
}

function restore(r: RaftState, snap: Snapshot): boolean {
  const { index, term } = snap.metadata;
  if (index <= r.log.committed) return false;
  if (r.log.matchTerm(index, term)) {
    // We already hold the entries the snapshot covers: just learn that they are committed.
    r.log.commitTo(index);
    return false;
  }
  r.log.restore(snap);
  r.conf = snap.metadata.confState;
  r.syncProgress();
  return true;
}
