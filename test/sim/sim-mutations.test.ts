// Mutation tests: deliberately broken Raft variants the simulation must catch, so it can never
// silently go blind. Each runs seeds in order until one fails and checks what caught it.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { SimMutation } from './config.js';
import type { FailureKind } from './invariants.js';
import type { FaultType } from './nemesis.js';
import { runSeed, type RunOptions } from './run.js';

/** At most this many seeds per mutation (each caught well within it; see the report). */
const SEED_BUDGET = 200;

interface MutationCase {
  readonly mutation: SimMutation;
  readonly why: string;
  /** The fault mix that provokes it (a seed-chosen mix catches it too, just more slowly). */
  readonly faults?: readonly FaultType[];
  readonly voteCheck?: boolean;
  readonly ackCheck?: boolean;
  readonly expect: readonly FailureKind[];
  /** Other kinds this mutation may legitimately cause; seeds failing so are passed over. */
  readonly alsoCaughtAs?: readonly FailureKind[];
  /** Seeds to search when this case needs more than SEED_BUDGET. */
  readonly budget?: number;
}

const SAFETY_OF_COMMITTED: readonly FailureKind[] = [
  'state-machine-safety',
  'log-matching',
  'leader-completeness',
  'linearizability',
  'commit-index',
  'commit-quorum',
];

const CASES: readonly MutationCase[] = [
  {
    mutation: 'voteTwiceInTerm',
    why: 'a node that votes twice in one term',
    expect: ['election-safety'],
  },
  {
    mutation: 'voteTwiceInTerm',
    why: 'a node that votes twice in one term, caught as two leaders in a term (durable-vote check off)',
    voteCheck: false,
    expect: ['election-safety'],
  },
  {
    mutation: 'commitPreviousTermByCount',
    why: 'a leader that commits an earlier term\'s entry by counting replicas (Figure 8)',
    faults: ['partition', 'crash', 'drop', 'delay'],
    expect: SAFETY_OF_COMMITTED,
  },
  {
    mutation: 'ackBeforePersist',
    why: 'a follower that acknowledges before persisting: an acknowledged write is lost in a crash',
    faults: ['crash', 'slowdisk'],
    expect: ['durability'],
  },
  {
    mutation: 'ackBeforePersist',
    why: 'acknowledging before persisting, caught downstream (lost-write check off)',
    faults: ['crash', 'slowdisk'],
    ackCheck: false,
    // A lost vote can also elect two leaders in a term. A leader whose follower lost entries it
    // acknowledged can also stall for good (its match index is wrong): a liveness failure,
    // which counts as caught but is not what this case is after, so the search goes on.
    expect: [...SAFETY_OF_COMMITTED, 'election-safety', 'vote-quorum'],
    alsoCaughtAs: ['liveness'],
    // The leader re-replicates a follower that lost acknowledged entries, so only a second
    // fault turns the lost acknowledgement into a visible safety violation (seed 349).
    budget: 600,
  },
  // The six classes of classic Raft bugs of issue 14, each with mutants of the core (or of the
  // driver's persistence order) and the check that sees it first.
  {
    mutation: 'heartbeatCommitUnbounded',
    why: 'class 1: heartbeats carry the leader\'s whole commit index, so a follower with a divergent tail commits it',
    expect: ['commit-index', ...SAFETY_OF_COMMITTED],
  },
  {
    mutation: 'followerCommitOnReject',
    why: 'class 1: a follower that rejects an append (its log does not match) still takes the leader\'s commit index',
    expect: ['commit-index', ...SAFETY_OF_COMMITTED],
  },
  {
    mutation: 'jointCommitIncomingOnly',
    why: 'class 2: in joint consensus the leader commits with a majority of the incoming voters only',
    faults: ['membership', 'partition', 'crash', 'delay'],
    expect: ['commit-quorum', ...SAFETY_OF_COMMITTED],
  },
  {
    mutation: 'jointVoteIncomingOnly',
    why: 'class 2: in joint consensus an election is won with a majority of the incoming voters only',
    faults: ['membership', 'partition', 'crash', 'delay'],
    expect: ['vote-quorum', 'election-safety', ...SAFETY_OF_COMMITTED],
  },
  {
    mutation: 'readIndexBeforeOwnTermCommit',
    why: 'class 3: a new leader answers reads before an entry of its term commits',
    expect: ['read-index', 'linearizability'],
  },
  {
    mutation: 'readAckAnyRound',
    why: 'class 3: any heartbeat answer, even to a round sent before the read arrived, confirms the newest read',
    expect: ['read-index', 'linearizability'],
  },
  {
    mutation: 'preVoteBumpsTerm',
    why: 'class 4: a pre-vote request moves its receiver to the candidate\'s term',
    expect: ['term-safety'],
  },
  {
    mutation: 'preCandidateBumpsTerm',
    why: 'class 4: a pre-candidate enters a new term before it has won the pre-vote',
    expect: ['term-safety'],
  },
  {
    mutation: 'acceptStaleTermResponses',
    why: 'class 5: a leader counts append and heartbeat answers of an earlier term',
    faults: ['replay', 'partition', 'crash', 'drop'],
    expect: ['match-index', ...SAFETY_OF_COMMITTED],
  },
  {
    mutation: 'noSyncOnVote',
    why: 'class 6: a Ready that changes only the term or the vote asks for no fsync (a crash loses the vote)',
    expect: ['durability', 'election-safety'],
  },
  {
    mutation: 'voteRespBeforePersist',
    why: 'class 6: a vote grant leaves the node before the vote is durable',
    expect: ['durability', 'election-safety'],
  },
  {
    mutation: 'voteBeforePersist',
    why: 'class 6: vote requests leave the candidate before its own vote (and term) are durable',
    expect: ['durability', 'election-safety'],
  },
  {
    mutation: 'staleVoteRequestGranted',
    why: 'class 4: a vote request of an older term is answered (the voter may vote twice in that term)',
    expect: ['term-safety', 'election-safety'],
  },
  {
    mutation: 'leaderCountsUnsyncedSelf',
    why: 'class 6: a leader counts entries it is still writing as its own durable copy',
    faults: ['crash', 'slowdisk'],
    expect: ['commit-quorum', ...SAFETY_OF_COMMITTED],
  },
  {
    mutation: 'learnersInCommitQuorum',
    why: 'class 2: learners count toward the commit majority (too small with an even voter set)',
    faults: ['membership', 'partition', 'crash', 'delay'],
    expect: ['commit-quorum', ...SAFETY_OF_COMMITTED],
  },
  {
    mutation: 'readShortcutIncomingOnly',
    why: 'class 3: a leader alone in the incoming half of a joint configuration answers reads with no round',
    faults: ['membership', 'partition', 'crash', 'delay'],
    expect: ['read-index', 'linearizability'],
  },
  {
    mutation: 'staleReads',
    why: 'reads served from any replica\'s local state, without ReadIndex (only the history shows it)',
    expect: ['linearizability'],
  },
  {
    mutation: 'leaderLocalReads',
    why: 'reads served locally by whoever believes it is leader (a deposed leader answers stale)',
    faults: ['partition'],
    expect: ['linearizability'],
  },
];

for (const c of CASES) {
  test(`mutation ${c.mutation} is caught: ${c.why}`, (t) => {
    const options: RunOptions = {
      mutation: c.mutation,
      ...(c.faults === undefined ? {} : { faults: c.faults }),
      ...(c.voteCheck === undefined ? {} : { voteCheck: c.voteCheck }),
      ...(c.ackCheck === undefined ? {} : { ackCheck: c.ackCheck }),
    };
    const budget = c.budget ?? SEED_BUDGET;
    for (let seed = 1; seed <= budget; seed++) {
      const r = runSeed(seed, options);
      if (r.ok) continue;
      const f = r.failure!;
      if (c.alsoCaughtAs?.includes(f.kind)) continue;
      assert.ok(c.expect.includes(f.kind), `seed ${seed} failed, but as ${f.kind} (expected ${c.expect.join(' / ')}): ${f.message}`);
      if (c.voteCheck === false) assert.match(f.message, /two leaders in term/);
      t.diagnostic(`caught by seed ${seed} (${seed} seeds) as ${f.kind}: ${f.message.split('\n')[0]}`);
      return;
    }
    assert.fail(`mutation ${c.mutation} survived ${budget} seeds: the simulation is blind to it`);
  });
}

test('the unmutated core passes the seeds the mutation tests use first', () => {
  for (const faults of [undefined, ['partition', 'crash', 'drop', 'delay'], ['crash', 'slowdisk']] as const) {
    for (let seed = 1; seed <= 5; seed++) {
      const r = runSeed(seed, faults === undefined ? {} : { faults });
      assert.ok(r.ok, `seed ${seed} (${faults?.join(',') ?? 'mix'}) failed: ${r.failure?.kind}: ${r.failure?.message}`);
    }
  }
});
