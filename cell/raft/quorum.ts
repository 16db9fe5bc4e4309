// Majority arithmetic for simple and joint configurations.

import type { ConfState, NodeId } from './types.js';

export type VoteResult = 'won' | 'lost' | 'pending';

/** The highest index acknowledged by a majority of `voters` (Infinity for an empty set). */
function majorityIndex(voters: readonly NodeId[], matchOf: (id: NodeId) => number): number {
  if (voters.length === 0) return Infinity;
  const m = voters.map(matchOf).sort((a, b) => b - a);
  return m[Math.floor(voters.length / 2)]!;
}

/** In joint consensus an index is committed only when both halves have it on a majority. */
export function committedIndex(cs: ConfState, matchOf: (id: NodeId) => number): number {
  return Math.min(majorityIndex(cs.voters, matchOf), majorityIndex(cs.votersOutgoing, matchOf));
}

function majorityVote(voters: readonly NodeId[], votes: ReadonlyMap<NodeId, boolean>): VoteResult {
  if (voters.length === 0) return 'won';
  let yes = 0;
  let missing = 0;
  for (const id of voters) {
    const v = votes.get(id);
    if (v === undefined) missing++;
    else if (v) yes++;
  }
  const need = Math.floor(voters.length / 2) + 1;
  if (yes >= need) return 'won';
  if (yes + missing >= need) return 'pending';
  return 'lost';
}

export function voteResult(cs: ConfState, votes: ReadonlyMap<NodeId, boolean>): VoteResult {
  const a = majorityVote(cs.voters, votes);
  const b = majorityVote(cs.votersOutgoing, votes);
  if (a === 'won' && b === 'won') return 'won';
  if (a === 'lost' || b === 'lost') return 'lost';
  return 'pending';
}
