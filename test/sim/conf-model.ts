// The membership a configuration change should produce, computed independently of
// cell/raft/confchange.ts (a check that reused the core's arithmetic would share its bugs).
// Joint consensus as the core implements it: any change enters a joint configuration whose
// outgoing half is the old voter set; an empty change leaves it.

import type { ConfChange, ConfState, NodeId } from '../../cell/raft/types.js';
import { fail } from './invariants.js';

function sorted(s: Iterable<NodeId>): NodeId[] {
  return [...s].sort();
}

/** The configuration after applying `cc` to `cs` (as a set comparison, order-free). */
export function expectedConf(cs: ConfState, cc: ConfChange): ConfState {
  if (cc.changes.length === 0) {
    // Leave joint: the incoming half alone decides; demoted voters become learners.
    const learners = new Set([...cs.learners, ...cs.learnersNext]);
    for (const v of cs.voters) learners.delete(v);
    return { voters: sorted(cs.voters), learners: sorted(learners), votersOutgoing: [], learnersNext: [], autoLeave: false };
  }
  const incoming = new Set(cs.voters);
  const learners = new Set(cs.learners);
  const learnersNext = new Set<NodeId>();
  for (const ch of cc.changes) {
    incoming.delete(ch.node);
    learners.delete(ch.node);
    learnersNext.delete(ch.node);
    if (ch.type === 'addVoter') incoming.add(ch.node);
    else if (ch.type === 'addLearner') (cs.voters.includes(ch.node) ? learnersNext : learners).add(ch.node);
  }
  return {
    voters: sorted(incoming),
    learners: sorted(learners),
    votersOutgoing: sorted(cs.voters),
    learnersNext: sorted(learnersNext),
    autoLeave: cc.autoLeave ?? true,
  };
}

function same(a: readonly NodeId[], b: readonly NodeId[]): boolean {
  const x = sorted(a);
  const y = sorted(b);
  return x.length === y.length && x.every((v, i) => v === y[i]);
}

function show(cs: ConfState): string {
  return `voters [${sorted(cs.voters).join(',')}] outgoing [${sorted(cs.votersOutgoing).join(',')}] learners [${sorted(cs.learners).join(',')}] next [${sorted(cs.learnersNext).join(',')}]`;
}

/** The core applied `cc` on `before` and reports `after`: it must be what joint consensus gives. */
export function checkConfChange(id: NodeId, index: number, before: ConfState, cc: ConfChange, after: ConfState): void {
  const want = expectedConf(before, cc);
  const ok =
    same(want.voters, after.voters) &&
    same(want.votersOutgoing, after.votersOutgoing) &&
    same(want.learners, after.learners) &&
    same(want.learnersNext, after.learnersNext);
  if (!ok) fail('membership', `${id} applied the conf change at ${index} (${JSON.stringify(cc.changes)}) as ${show(after)}, not ${show(want)}`);
}
