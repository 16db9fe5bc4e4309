// Interaction scenarios (after etcd-io/raft's interaction tests), part 1: commitment.
//
// Each scenario is a function (mutation) => outcome that drives one exact message sequence
// through RaftNodes built by test/cell/raft/script.ts: the script alone decides which message is
// delivered, in which order, which is dropped, duplicated or held back, when a node ticks and
// when it crashes. Every scenario runs twice: with mutation 'none' the correct outcome is
// asserted precisely, and with the bug class's mutant (RaftConfig.mutation, see RaftMutation in
// cell/raft/types.ts) the broken outcome is asserted, which proves the script reaches the bug.
//
// Classes in this file:
//   1. a follower's commit index passing what it verified against the leader
//      (heartbeatCommitUnbounded, followerCommitOnReject);
//   2. commitment and elections in joint consensus (jointCommitIncomingOnly, jointVoteIncomingOnly);
//   5. stale, duplicated or reordered append responses at the leader (acceptStaleTermResponses,
//      plus a same-term reorder/duplicate scenario a correct leader must absorb).
// Classes 3, 4 and 6 (ReadIndex, pre-vote terms, persistence of votes) are in
// scenarios-election-read.test.ts.
//
// Notation in comments: `2/3` is the entry at index 2 of term 3; `a->b` a message from a to b.

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { ConfState, Message, NodeId, RaftMutation } from '../../../cell/raft/types.js';
import { all, one, Script } from './script.js';

const touches = (id: NodeId) => (m: Message) => m.from === id || m.to === id;

// ---------------------------------------------------------------- 1. follower commit index

/**
 * Shared opening of class 1: a is leader of term 2 but none of its appends leave it, so it
 * holds an uncommitted tail 2/2 3/2 ('x'). With a cut off, b wins term 3 (no-op 2/3), then c
 * wins term 4 (no-op 3/4) and commits 'y' (4/4) on {b, c}. Then a's links come back. (Two
 * terms after a's, so that c's first probe to a starts at 2/3, which a does not hold.)
 */
function divergentFormerLeader(mutation: RaftMutation): Script {
  const s = new Script({ ids: ['a', 'b', 'c'], mutation, preVote: false, checkQuorum: false });
  s.raft('a').campaign();
  s.stabilize((m) => m.from === 'a' && m.type === 'append'); // a leads term 2; its no-op 2/2 goes nowhere
  s.propose('a', 'x'); // 3/2, only on a
  s.handle('a');
  s.raft('b').campaign();
  s.stabilize(touches('a')); // b leads term 3 with c
  s.raft('c').campaign();
  s.stabilize(touches('a')); // c leads term 4 with b
  s.propose('c', 'y');
  s.stabilize(touches('a'));
  assert.equal(s.log('a'), '1/1 2/2 3/2');
  assert.equal(s.log('c'), '1/1 2/3 3/4 4/4');
  assert.equal(s.status('c').commit, 4);
  return s;
}

interface FollowerCommitOutcome {
  /** a's commit index right after the message under test. */
  commitAfter: number;
  /** What a handed to its state machine by then. */
  appliedAfter: string[];
  /** a's log and applied texts once everything is delivered, and the leader's log. */
  finalLog: string;
  finalApplied: string[];
  leaderLog: string;
  /** What the leader c believes a matches at the end. */
  leaderMatchOfA: number;
}

function finishFollowerCommit(s: Script, pending: readonly Message[]): FollowerCommitOutcome {
  const commitAfter = s.status('a').commit;
  const appliedAfter = s.appliedTexts('a');
  s.deliver(...pending);
  s.stabilize();
  const leaderMatchOfA = s.raft('c').progress().find((p) => p.id === 'a')?.match ?? -1;
  return { commitAfter, appliedAfter, finalLog: s.log('a'), finalApplied: s.appliedTexts('a'), leaderLog: s.log('c'), leaderMatchOfA };
}

/** c's first heartbeat reaches a before any append that would repair a's log. */
function heartbeatBeforeRepair(mutation: RaftMutation): FollowerCommitOutcome {
  const s = divergentFormerLeader(mutation);
  // c ticks: heartbeats to a and b. The one to a must carry min(match(a) = 0, commit 4) = 0.
  s.tick('c');
  const hb = one(s.handle('c').messages, 'heartbeat', 'a');
  // a learns term 4, follows c and takes the heartbeat's commit (bounded by its last index 3).
  s.deliver(hb);
  return finishFollowerCommit(s, s.handle('a').messages);
}

/** a rejects c's probe (prev 2/3 does not match its 2/2); the probe carries commit 4. */
function rejectedProbe(mutation: RaftMutation): FollowerCommitOutcome {
  const s = divergentFormerLeader(mutation);
  s.tick('c');
  s.deliver(one(s.handle('c').messages, 'heartbeat', 'a'));
  // a's heartbeat answer makes c probe it: c->a append prev 2/3 [3/4 4/4] commit 4.
  s.deliver(one(s.handle('a').messages, 'heartbeatResp', 'c'));
  const probe = one(s.handle('c').messages, 'append', 'a');
  assert.deepEqual([probe.index, probe.logTerm, probe.commit], [2, 3, 4]);
  // a rejects: a rejection verifies nothing, so its commit index must not move.
  s.deliver(probe);
  const answer = s.handle('a').messages;
  assert.equal(one(answer, 'appendResp', 'c').reject, true);
  return finishFollowerCommit(s, answer);
}

describe('1. a follower commits only what it verified matches the leader', () => {
  const repaired: FollowerCommitOutcome = {
    commitAfter: 1,
    appliedAfter: [],
    finalLog: '1/1 2/3 3/4 4/4',
    finalApplied: ['y'],
    leaderLog: '1/1 2/3 3/4 4/4',
    leaderMatchOfA: 4,
  };
  // The divergent 2/2 3/2 ('x') becomes committed on a. The repair then never happens: c's
  // probe (prev 2/3) lands below a's commit index, a answers "I match up to 3", c believes it
  // and takes a's later rejections for stale ones: a stays diverged for good.
  const diverged: FollowerCommitOutcome = {
    commitAfter: 3,
    appliedAfter: ['x'],
    finalLog: '1/1 2/2 3/2',
    finalApplied: ['x'],
    leaderLog: '1/1 2/3 3/4 4/4',
    leaderMatchOfA: 3,
  };

  test('heartbeat before the repair: a correct leader sends commit min(match, commit)', () => {
    assert.deepEqual(heartbeatBeforeRepair('none'), repaired);
  });
  test('heartbeat before the repair: heartbeatCommitUnbounded commits a divergent tail', () => {
    assert.deepEqual(heartbeatBeforeRepair('heartbeatCommitUnbounded'), diverged);
  });
  test('rejected probe: a correct follower keeps its commit index', () => {
    assert.deepEqual(rejectedProbe('none'), repaired);
  });
  test('rejected probe: followerCommitOnReject commits a divergent tail', () => {
    assert.deepEqual(rejectedProbe('followerCommitOnReject'), diverged);
  });
});

// ---------------------------------------------------------------- 2. joint consensus

/**
 * Joint configuration swapping c for d: outgoing {a, b, c}, incoming {a, b, d}. Every node is
 * bootstrapped in it (as if the entering entry had been applied), with autoLeave off so the
 * scenarios stay in it.
 */
const SWAP_C_FOR_D: ConfState = {
  voters: ['a', 'b', 'd'],
  votersOutgoing: ['a', 'b', 'c'],
  learners: [],
  learnersNext: [],
  autoLeave: false,
};

interface JointCommitOutcome {
  /** a's commit index once only d acknowledged 'x'. */
  commitWithIncomingOnly: number;
  appliedWithIncomingOnly: string[];
  holders: NodeId[];
  /** a's commit index once c (outgoing) acknowledged it too. */
  commitWithBoth: number;
}

/** 'x' reaches a majority of the incoming half ({a, d}) but only a of the outgoing half. */
function jointCommit(mutation: RaftMutation): JointCommitOutcome {
  const s = new Script({ ids: ['a', 'b', 'c', 'd'], mutation, preVote: false, checkQuorum: false, conf: SWAP_C_FOR_D });
  s.raft('a').campaign();
  s.stabilize(); // a leads term 2 with both halves; its no-op 2/2 commits everywhere
  assert.equal(s.status('a').commit, 2);
  s.propose('a', 'x'); // 3/2
  const appends = s.handle('a').messages; // a persisted 3/2: it counts itself
  // Only d gets it; the appends to b and c are held.
  s.deliver(one(appends, 'append', 'd'));
  s.deliver(one(s.handle('d').messages, 'appendResp', 'a'));
  s.handle('a');
  const commitWithIncomingOnly = s.status('a').commit;
  const appliedWithIncomingOnly = s.appliedTexts('a');
  const holders = s.holders(3, 2);
  // Now the held append reaches c: {a, c} is a majority of the outgoing half as well.
  s.deliver(one(appends, 'append', 'c'));
  s.deliver(one(s.handle('c').messages, 'appendResp', 'a'));
  s.handle('a');
  return { commitWithIncomingOnly, appliedWithIncomingOnly, holders, commitWithBoth: s.status('a').commit };
}

interface JointVoteOutcome {
  /** a's role once d's grant (a majority of the incoming half with a's own) is counted. */
  roleAfterIncomingGrant: string;
  /** a's role once b and c (a majority of the outgoing half) refused. */
  roleAtEnd: string;
  leadersOfTerm2: NodeId[];
}

/** Term 2: the outgoing half's majority {b, c} already voted for c; a wins only incoming votes. */
function jointVote(mutation: RaftMutation): JointVoteOutcome {
  const s = new Script({ ids: ['a', 'b', 'c', 'd'], mutation, preVote: false, checkQuorum: false, conf: SWAP_C_FOR_D });
  // c campaigns in term 2; only its request to b is delivered, and b grants it.
  s.raft('c').campaign();
  s.deliver(one(s.handle('c').messages, 'vote', 'b'));
  s.deliver(one(s.handle('b').messages, 'voteResp', 'c'));
  s.handle('c');
  assert.equal(s.status('c').role, 'candidate'); // {b, c} of the outgoing half, nothing incoming
  // a campaigns in term 2 too. d grants first: incoming {a, d} is a majority, outgoing {a} is not.
  s.raft('a').campaign();
  const requests = s.handle('a').messages;
  s.deliver(one(requests, 'vote', 'd'));
  s.deliver(one(s.handle('d').messages, 'voteResp', 'a'));
  const roleAfterIncomingGrant = s.status('a').role;
  // b (voted c) and c (voted itself) refuse: a has lost the outgoing half.
  s.deliver(one(requests, 'vote', 'b'), one(requests, 'vote', 'c'));
  const refusals = [...s.handle('b').messages, ...s.handle('c').messages];
  assert.deepEqual(all(refusals, 'voteResp', 'a').map((m) => m.reject), [true, true]);
  s.deliver(...refusals);
  return { roleAfterIncomingGrant, roleAtEnd: s.status('a').role, leadersOfTerm2: s.leadersOf(2) };
}

describe('2. joint consensus needs a majority of both halves', () => {
  test('commit: a correct leader waits for the outgoing half', () => {
    assert.deepEqual(jointCommit('none'), {
      commitWithIncomingOnly: 2,
      appliedWithIncomingOnly: [],
      holders: ['a', 'd'],
      commitWithBoth: 3,
    });
  });
  test('commit: jointCommitIncomingOnly commits x held by one outgoing voter', () => {
    assert.deepEqual(jointCommit('jointCommitIncomingOnly'), {
      commitWithIncomingOnly: 3,
      appliedWithIncomingOnly: ['x'],
      holders: ['a', 'd'],
      commitWithBoth: 3,
    });
  });
  test('vote: a correct candidate loses without the outgoing half', () => {
    assert.deepEqual(jointVote('none'), { roleAfterIncomingGrant: 'candidate', roleAtEnd: 'follower', leadersOfTerm2: [] });
  });
  test('vote: jointVoteIncomingOnly leads term 2 with only incoming votes', () => {
    assert.deepEqual(jointVote('jointVoteIncomingOnly'), { roleAfterIncomingGrant: 'leader', roleAtEnd: 'leader', leadersOfTerm2: ['a'] });
  });
});

// ---------------------------------------------------------------- 5. stale and reordered answers

interface StaleResponseOutcome {
  /** a's commit index right after c's term-2 answer "I match 3" arrived in term 3. */
  commitAfterStaleResp: number;
  /** Who holds a's entry 3/3 at that moment. */
  holdersOf3in3: NodeId[];
  /** Once the term-3 appends are delivered and answered. */
  finalCommit: number;
  finalHoldersOf3in3: NodeId[];
}

function staleTermResponse(mutation: RaftMutation): StaleResponseOutcome {
  const s = new Script({ ids: ['a', 'b', 'c'], mutation, preVote: false, checkQuorum: false });
  s.raft('a').campaign();
  s.stabilize(); // a leads term 2, no-op 2/2 everywhere
  // a proposes x (3/2) and sends the appends before its own write (allowed by the contract);
  // only c's is delivered, and c's answer "match 3" (term 2) is held in the network.
  s.propose('a', 'x');
  const sent = s.handleUnpersisted('a');
  s.deliver(one(sent, 'append', 'c'));
  const staleResp = one(s.handle('c').messages, 'appendResp', 'a');
  assert.deepEqual([staleResp.term, staleResp.index], [2, 3]);
  // a crashes before persisting 3/2: it restarts with 1/1 2/2.
  s.crash('a');
  assert.equal(s.log('a'), '1/1 2/2');
  // a wins term 3 with b's vote (c refuses: its log 3/2 is longer) and appends its no-op 3/3.
  s.raft('a').campaign();
  s.deliver(...s.handle('a').messages);
  s.deliver(...s.handle('b').messages, ...s.handle('c').messages);
  const term3Appends = s.handle('a').messages; // held for now
  assert.equal(s.status('a').role, 'leader');
  assert.equal(s.log('a'), '1/1 2/2 3/3');
  // The held term-2 answer arrives. Its index 3 meant 3/2, which a no longer has.
  s.deliver(staleResp);
  s.handle('a');
  const commitAfterStaleResp = s.status('a').commit;
  const holdersOf3in3 = s.holders(3, 3);
  s.deliver(...term3Appends);
  s.stabilize();
  return { commitAfterStaleResp, holdersOf3in3, finalCommit: s.status('a').commit, finalHoldersOf3in3: s.holders(3, 3) };
}

interface ReorderOutcome {
  /** After x, y, z filled b's window of 3: did w get an append to b? */
  wSentBeforeAnswers: boolean;
  commitAfterFirst: number;
  commitAfterAll: number;
  /** a's progress after all of b's answers. */
  progress: { id: NodeId; match: number; next: number }[];
  /** prev index and entries of what a sent b after the answers. */
  sentToB: string[];
}

/** Same term, b's answers arrive reordered and duplicated: 5, 3, 5, 4. c's appends are held. */
function reorderedDuplicates(mutation: RaftMutation): ReorderOutcome {
  const s = new Script({ ids: ['a', 'b', 'c'], mutation, preVote: false, checkQuorum: false, maxInflightMsgs: 3 });
  s.raft('a').campaign();
  s.stabilize(); // a leads term 2, no-op 2/2 everywhere, b and c in replicate state
  const appends: Message[] = [];
  for (const text of ['x', 'y', 'z']) {
    s.propose('a', text); // 3/2, 4/2, 5/2: one append each, b's window is now full
    appends.push(...s.handle('a').messages);
  }
  s.propose('a', 'w'); // 6/2
  const wSentBeforeAnswers = all(s.handle('a').messages, 'append', 'b').length > 0;
  s.deliver(...all(appends, 'append', 'b'));
  const [ack3, ack4, ack5] = all(s.handle('b').messages, 'appendResp', 'a');
  assert.deepEqual([ack3!.index, ack4!.index, ack5!.index], [3, 4, 5]);
  const sentToB: string[] = [];
  const note = (msgs: readonly Message[]) => {
    for (const m of all(msgs, 'append', 'b')) sentToB.push(`prev ${m.index} [${m.entries.map((e) => e.index).join(' ')}] c${m.commit}`);
  };
  s.deliver(ack5!);
  note(s.handle('a').messages);
  const commitAfterFirst = s.status('a').commit;
  s.deliver(ack3!, ack5!, ack4!);
  note(s.handle('a').messages);
  const progress = s.raft('a').progress().filter((p) => p.id !== 'a').sort((p, q) => p.id.localeCompare(q.id));
  return { wSentBeforeAnswers, commitAfterFirst, commitAfterAll: s.status('a').commit, progress, sentToB };
}

describe('5. a leader counts only answers that match its current log', () => {
  test('stale term: a correct leader ignores a term-2 answer in term 3', () => {
    assert.deepEqual(staleTermResponse('none'), {
      commitAfterStaleResp: 1,
      holdersOf3in3: ['a'],
      finalCommit: 3,
      finalHoldersOf3in3: ['a', 'b', 'c'],
    });
  });
  test('stale term: acceptStaleTermResponses commits 3/3 held by a alone', () => {
    const out = staleTermResponse('acceptStaleTermResponses');
    assert.equal(out.commitAfterStaleResp, 3);
    assert.deepEqual(out.holdersOf3in3, ['a']);
  });
  test('same term: reordered and duplicated answers keep commit and progress exact', () => {
    assert.deepEqual(reorderedDuplicates('none'), {
      wSentBeforeAnswers: false,
      commitAfterFirst: 5,
      commitAfterAll: 5,
      // c never answered x, y, z: match 2, next 6 (its window of 3 is still full).
      progress: [
        { id: 'b', match: 5, next: 7 },
        { id: 'c', match: 2, next: 6 },
      ],
      // Answer 5 frees b's window: w goes out at once, with the commit index 5. Answers 3, 5
      // (again) and 4 change nothing and send nothing.
      sentToB: ['prev 5 [6] c5'],
    });
  });
});
