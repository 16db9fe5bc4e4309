// Membership changes by joint consensus: entering a joint configuration (old and new voter
// sets must both agree) and leaving it. Pure functions over ConfState.

import type { ConfChange, ConfState, NodeId } from './types.js';

export class ConfChangeError extends Error {
  readonly code = 'INVALID_CONF_CHANGE';
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

// Conf changes are rare and small; JSON keeps them readable in traces.
export function encodeConfChange(cc: ConfChange): Uint8Array {
  return encoder.encode(JSON.stringify({ changes: cc.changes, autoLeave: cc.autoLeave ?? true }));
}

export function decodeConfChange(data: Uint8Array): ConfChange {
  const v = JSON.parse(decoder.decode(data)) as ConfChange;
  if (!Array.isArray(v.changes)) throw new ConfChangeError('malformed conf change');
  return v;
}

export function isJoint(cs: ConfState): boolean {
  return cs.votersOutgoing.length > 0;
}

/** Every node that has a vote in the current configuration. */
export function allVoters(cs: ConfState): NodeId[] {
  return [...new Set([...cs.voters, ...cs.votersOutgoing])];
}

/** Every member: voters of both halves and learners. */
export function allMembers(cs: ConfState): NodeId[] {
  return [...new Set([...cs.voters, ...cs.votersOutgoing, ...cs.learners, ...cs.learnersNext])];
}

export function isVoter(cs: ConfState, id: NodeId): boolean {
  return cs.voters.includes(id) || cs.votersOutgoing.includes(id);
}

/** Checks whether `cc` may be applied on top of `cs`; returns the reason when it may not. */
export function validateConfChange(cs: ConfState, cc: ConfChange): string | null {
  if (cc.changes.length === 0) return isJoint(cs) ? null : 'not in a joint configuration';
  if (isJoint(cs)) return 'already in a joint configuration; leave it first';
  try {
    enterJoint(cs, cc);
    return null;
  } catch (e) {
    return (e as Error).message;
  }
}

function enterJoint(cs: ConfState, cc: ConfChange): ConfState {
  const incoming = new Set(cs.voters);
  const learners = new Set(cs.learners);
  const learnersNext = new Set<NodeId>();
  for (const ch of cc.changes) {
    switch (ch.type) {
      case 'addVoter':
        incoming.add(ch.node);
        learners.delete(ch.node);
        learnersNext.delete(ch.node);
        break;
      case 'addLearner':
        incoming.delete(ch.node);
        // An outgoing voter keeps its vote in the old half until the joint config is left.
        if (cs.voters.includes(ch.node)) learnersNext.add(ch.node);
        else learners.add(ch.node);
        break;
      case 'removeNode':
        incoming.delete(ch.node);
        learners.delete(ch.node);
        learnersNext.delete(ch.node);
        break;
    }
  }
  if (incoming.size === 0) throw new ConfChangeError('a configuration needs at least one voter');
  return {
    voters: [...incoming].sort(),
    learners: [...learners].sort(),
    votersOutgoing: [...cs.voters],
    learnersNext: [...learnersNext].sort(),
    autoLeave: cc.autoLeave ?? true,
  };
}

function leaveJoint(cs: ConfState): ConfState {
  return {
    voters: [...cs.voters],
    learners: [...new Set([...cs.learners, ...cs.learnersNext])].sort(),
    votersOutgoing: [],
    learnersNext: [],
    autoLeave: false,
  };
}

/** The configuration after applying `cc` to `cs`. Throws ConfChangeError when invalid. */
export function applyConfChangeTo(cs: ConfState, cc: ConfChange): ConfState {
  const why = validateConfChange(cs, cc);
  if (why !== null) throw new ConfChangeError(why);
  return cc.changes.length === 0 ? leaveJoint(cs) : enterJoint(cs, cc);
}
