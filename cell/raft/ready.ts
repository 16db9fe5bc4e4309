// The Ready / advance handshake: what the caller must persist, send and apply (the persistence
// contract is written on `Ready` in types.ts), and what the core may treat as done once the
// caller says so.

import { assert } from '../../shared/assert.js';
import { installSnapshot } from './follower.js';
import { maybeAutoLeave } from './membership.js';
import { bcastAppend, maybeCommit } from './replication.js';
import type { RaftState } from './state.js';
import type { HardState, Ready, SoftState } from './types.js';

export function hasReady(r: RaftState): boolean {
  if (r.outstanding !== null) return false;
  if (r.msgs.length > 0 || r.readStates.length > 0) return true;
  if (r.log.unstable.entries.length > 0 || r.log.unstable.snapshot !== null) return true;
  if (!sameHardState(hardState(r), r.prevHardState)) return true;
  if (!sameSoftState(softState(r), r.prevSoftState)) return true;
  return r.log.committed > applyFloor(r);
}

export function ready(r: RaftState): Ready {
  assert(r.outstanding === null, 'ready() called again before advance()');
  const hs = hardState(r);
  const ss = softState(r);
  const snapshot = r.log.unstable.snapshot;
  const entries = r.log.unstable.entries.slice();
  const committedEntries = r.log.nextCommitted(applyFloor(r), r.limits.maxCommittedBytesPerReady);
  const hardChanged = !sameHardState(hs, r.prevHardState);
  const rd: Ready = {
    softState: sameSoftState(ss, r.prevSoftState) ? null : ss,
    hardState: hardChanged ? hs : null,
    snapshot,
    entries,
    committedEntries,
    messages: r.msgs,
    readStates: r.readStates,
    termDurable: hs.term === r.prevHardState.term,
    mustSync:
      entries.length > 0 ||
      snapshot !== null ||
      (r.cfg.mutation !== 'noSyncOnVote' && (hs.term !== r.prevHardState.term || hs.vote !== r.prevHardState.vote)),
  };
  r.msgs = [];
  r.readStates = [];
  const last = entries.length > 0 ? entries[entries.length - 1]! : null;
  const lastCommitted = committedEntries.length > 0 ? committedEntries[committedEntries.length - 1]!.index : null;
  r.outstanding = {
    lastEntry: last ? { index: last.index, term: last.term } : null,
    snapshotIndex: snapshot ? snapshot.metadata.index : null,
    appliedTo: lastCommitted ?? (snapshot ? snapshot.metadata.index : null),
    hardState: rd.hardState,
    softState: rd.softState,
  };
  return rd;
}

export function advance(r: RaftState): void {
  const o = r.outstanding;
  assert(o !== null, 'advance() without ready()');
  r.outstanding = null;
  if (o.hardState) r.prevHardState = o.hardState;
  if (o.softState) r.prevSoftState = o.softState;
  if (o.snapshotIndex !== null) r.log.unstable.stableSnapTo(o.snapshotIndex);
  if (o.lastEntry) r.log.unstable.stableTo(o.lastEntry.index, o.lastEntry.term);
  if (o.appliedTo !== null) r.log.appliedTo(o.appliedTo);
  if (r.deferredSnapshot !== null) {
    const d = r.deferredSnapshot;
    r.deferredSnapshot = null;
    if (r.role !== 'leader') installSnapshot(r, d.snapshot, d.from);
  }
  if (r.role === 'leader' && o.lastEntry && o.lastEntry.term === r.term) {
    // Our own copy is durable now: it counts toward the quorum.
    const self = r.progress.get(r.id);
    const durable = r.cfg.mutation === 'leaderCountsUnsyncedSelf' ? r.log.lastIndex() : Math.min(o.lastEntry.index, r.log.stableLastIndex());
    if (self && self.maybeUpdate(durable)) {
      if (maybeCommit(r)) bcastAppend(r);
    }
  }
  maybeAutoLeave(r);
}

/** Everything up to here is applied, or handed out to be applied. */
function applyFloor(r: RaftState): number {
  const snap = r.log.unstable.snapshot;
  const inFlight = r.outstanding?.appliedTo ?? 0;
  return Math.max(r.log.applied, snap ? snap.metadata.index : 0, inFlight);
}

function hardState(r: RaftState): HardState {
  return { term: r.term, vote: r.vote, commit: r.log.committed };
}

function softState(r: RaftState): SoftState {
  return { leader: r.leader, role: r.role };
}

function sameHardState(a: HardState, b: HardState): boolean {
  return a.term === b.term && a.vote === b.vote && a.commit === b.commit;
}

function sameSoftState(a: SoftState, b: SoftState): boolean {
  return a.leader === b.leader && a.role === b.role;
}
