// Membership changes on a running node (the arithmetic is in confchange.ts): one proposal in
// flight at a time, applying a committed change, and leaving a joint configuration on its own.

import { applyConfChangeTo, encodeConfChange, isJoint, isVoter, validateConfChange } from './confchange.js';
import { bcastAppend, maybeCommit, notLeader, proposeEntry, sendAppend } from './replication.js';
import type { RaftState } from './state.js';
import type { ConfChange, ConfState, ProposeResult } from './types.js';

export function proposeConfChange(r: RaftState, cc: ConfChange): ProposeResult {
  if (r.role !== 'leader') return notLeader(r);
  if (r.pendingConfIndex > r.log.applied) {
    return { ok: false, error: 'CONF_CHANGE_PENDING', leaderHint: r.id };
  }
  if (validateConfChange(r.conf, cc) !== null) {
    return { ok: false, error: 'INVALID_CONF_CHANGE', leaderHint: r.id };
  }
  const res = proposeEntry(r, 'conf', encodeConfChange(cc));
  if (res.ok) r.pendingConfIndex = res.index;
  return res;
}

export function applyConfChange(r: RaftState, cc: ConfChange): ConfState {
  r.conf = applyConfChangeTo(r.conf, cc);
  r.syncProgress();
  if (r.role !== 'leader') return r.conf;
  if (!isVoter(r.conf, r.id)) {
    // Removed (or demoted) leader: step down so the remaining voters elect one of their own.
    // First tell them what is committed, this change included: a remaining voter that has the
    // entry but not the news would still count the removed nodes (it applies changes only once
    // committed) and, if they hold a longer log, could never win their votes.
    bcastAppend(r);
    r.becomeFollower(r.term, null);
    return r.conf;
  }
  if (r.leadTransferee !== null && !r.conf.voters.includes(r.leadTransferee)) {
    r.leadTransferee = null;
  }
  if (maybeCommit(r)) bcastAppend(r);
  else for (const id of r.progress.keys()) if (id !== r.id) sendAppend(r, id, false);
  return r.conf;
}

/** Leader: proposes leaving a joint configuration once the change that entered it is applied. */
export function maybeAutoLeave(r: RaftState): void {
  if (
    r.role === 'leader' &&
    isJoint(r.conf) &&
    r.conf.autoLeave &&
    r.pendingConfIndex <= r.log.applied &&
    r.leadTransferee === null
  ) {
    proposeConfChange(r, { changes: [] });
  }
}
