// Interaction scenarios (after etcd-io/raft's interaction tests), part 2: reads and elections.
//
// Same style as scenarios-replication.test.ts: each scenario is a function (mutation) =>
// outcome driving one exact message sequence through test/cell/raft/script.ts (the script alone
// decides delivery order, drops, duplicates, held messages, ticks and crashes), run once with
// mutation 'none' (the correct outcome, asserted precisely) and once with its bug class's
// mutant (the broken outcome, asserted to prove the script reaches the bug).
//
// Classes in this file:
//   3. ReadIndex confirmation (readAckAnyRound, readIndexBeforeOwnTermCommit);
//   4. pre-vote must not move terms (preVoteBumpsTerm, preCandidateBumpsTerm);
//   6. persistence of election state before its messages leave (noSyncOnVote; a voter that
//      crashes after persisting its vote, shown against voteTwiceInTerm).
// Classes 1, 2 and 5 are in scenarios-replication.test.ts.
//
// Notation in comments: `2/3` is the entry at index 2 of term 3; `a->b` a message from a to b.

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { HardState, Message, NodeId, RaftMutation, ReadState, Role } from '../../../cell/raft/types.js';
import { one, Script } from './script.js';

const touchesA = (m: Message) => m.from === 'a' || m.to === 'a';

/** Three voters with a leading term 2 and its no-op 2/2 committed everywhere. */
function leaderAInTerm2(mutation: RaftMutation, preVote: boolean): Script {
  const s = new Script({ ids: ['a', 'b', 'c'], mutation, preVote, checkQuorum: false });
  s.raft('a').campaign();
  s.stabilize();
  assert.equal(s.status('a').role, 'leader');
  return s;
}

// ---------------------------------------------------------------- 3. ReadIndex

interface StaleRoundOutcome {
  /** What a's state machine was told it may serve once the old round's answers arrived. */
  readStatesAfterOldAnswers: ReadState[];
  /** Where the write 'y' (committed by c in term 3, before the read) sits. */
  yCommittedAt: number;
  roleAtEnd: Role;
  readStatesAtEnd: ReadState[];
}

/**
 * a's heartbeat round is answered by b and c, but the answers are held in the network. Then c
 * wins term 3 with b and commits 'y'. Only now does a (still believing it leads term 2) get the
 * read 'r1', and only then do the old answers arrive: they say nothing about the time of r1.
 */
function answersOfAnEarlierRound(mutation: RaftMutation): StaleRoundOutcome {
  const s = leaderAInTerm2(mutation, false);
  s.tick('a'); // heartbeat round with no read attached (context '')
  s.deliver(...s.handle('a').messages);
  const oldAnswers = [...s.handle('b').messages, ...s.handle('c').messages]; // held
  s.raft('c').campaign();
  s.stabilize(touchesA); // c leads term 3 with b
  const yIndex = s.propose('c', 'y');
  s.stabilize(touchesA);
  assert.equal(s.status('c').commit, yIndex);
  // r1 arrives at a: it registers the read at its commit index 2 and starts a new round.
  assert.deepEqual(s.raft('a').readIndex('r1'), { ok: true });
  const newRound = s.handle('a').messages;
  s.deliver(...oldAnswers);
  const readStatesAfterOldAnswers = s.handle('a').readStates.slice();
  // The new round reaches b and c, which answer with term 3: a steps down.
  s.deliver(...newRound);
  s.deliver(...s.handle('b').messages, ...s.handle('c').messages);
  s.handle('a');
  return { readStatesAfterOldAnswers, yCommittedAt: yIndex, roleAtEnd: s.status('a').role, readStatesAtEnd: s.readStates('a') };
}

interface NewLeaderReadOutcome {
  /** The index x was committed at by the old leader (its client was told so). */
  xCommittedAt: number;
  /** b's commit index when the read arrived. */
  commitWhenReadArrived: number;
  readStates: ReadState[];
}

/**
 * a commits x (3/2) with b and c, but the append telling b "commit 3" is held. a is cut off;
 * b wins term 3 with c, and a read arrives at b before b's no-op 4/3 has committed.
 */
function readOnAFreshLeader(mutation: RaftMutation): NewLeaderReadOutcome {
  const s = leaderAInTerm2(mutation, false);
  const xIndex = s.propose('a', 'x');
  s.deliver(...s.handle('a').messages);
  s.deliver(...s.handle('b').messages, ...s.handle('c').messages);
  s.handle('a'); // a commits 3; its appends carrying commit 3 are dropped with a's links
  assert.equal(s.status('a').commit, xIndex);
  s.raft('b').campaign();
  s.deliver(...s.handle('b').messages.filter((m) => !touchesA(m)));
  s.deliver(...s.handle('c').messages);
  assert.equal(s.status('b').role, 'leader');
  const commitWhenReadArrived = s.status('b').commit;
  assert.deepEqual(s.raft('b').readIndex('r1'), { ok: true });
  s.stabilize(touchesA);
  return { xCommittedAt: xIndex, commitWhenReadArrived, readStates: s.readStates('b') };
}

describe('3. a ReadIndex read is confirmed only by a round it started, after an own-term commit', () => {
  test('earlier round: a correct leader ignores answers to a round begun before the read', () => {
    assert.deepEqual(answersOfAnEarlierRound('none'), {
      readStatesAfterOldAnswers: [],
      yCommittedAt: 4,
      roleAtEnd: 'follower',
      readStatesAtEnd: [],
    });
  });
  test('earlier round: readAckAnyRound serves r1 at index 2, missing y committed at 4', () => {
    assert.deepEqual(answersOfAnEarlierRound('readAckAnyRound'), {
      readStatesAfterOldAnswers: [{ index: 2, context: 'r1' }],
      yCommittedAt: 4,
      roleAtEnd: 'follower',
      readStatesAtEnd: [{ index: 2, context: 'r1' }],
    });
  });
  test('fresh leader: a correct leader serves the read only after its no-op commits', () => {
    assert.deepEqual(readOnAFreshLeader('none'), { xCommittedAt: 3, commitWhenReadArrived: 2, readStates: [{ index: 4, context: 'r1' }] });
  });
  test('fresh leader: readIndexBeforeOwnTermCommit serves the read at 2, missing x', () => {
    assert.deepEqual(readOnAFreshLeader('readIndexBeforeOwnTermCommit'), {
      xCommittedAt: 3,
      commitWhenReadArrived: 2,
      readStates: [{ index: 2, context: 'r1' }],
    });
  });
});

// ---------------------------------------------------------------- 4. pre-vote terms

interface PreVoteOutcome {
  /** Terms before and right after the pre-vote step under test (of the node named per scenario). */
  termBefore: number;
  termAfter: number;
  /** Whom that node follows right after. */
  leaderAfter: NodeId | null;
  /** The leader a after its next heartbeat round was answered. */
  aRoleAtEnd: Role;
}

/** c, cut off from a's heartbeats, pre-campaigns; its pre-vote request reaches b. */
function preVoteReceiver(mutation: RaftMutation): PreVoteOutcome {
  const s = leaderAInTerm2(mutation, true);
  s.tick('c', 10); // election timeout: c is a pre-candidate asking for term 3
  const request = one(s.handle('c').messages, 'preVote', 'b');
  const termBefore = s.status('b').term;
  // Without check-quorum leases b answers (and may grant: c's log is as long as b's).
  s.deliver(request);
  s.handle('b');
  const termAfter = s.status('b').term;
  const leaderAfter = s.status('b').leader;
  // a's next heartbeat reaches b; b's answer goes back to a.
  s.tick('a');
  s.deliver(one(s.handle('a').messages, 'heartbeat', 'b'));
  s.deliver(...s.handle('b').messages);
  s.handle('a');
  return { termBefore, termAfter, leaderAfter, aRoleAtEnd: s.status('a').role };
}

/** c, cut off from a's heartbeats, pre-campaigns; then a heartbeat of a reaches it. */
function preCandidate(mutation: RaftMutation): PreVoteOutcome {
  const s = leaderAInTerm2(mutation, true);
  const termBefore = s.status('c').term;
  s.tick('c', 10);
  const preVotes = s.handle('c').messages; // dropped: the partition still holds
  assert.equal(preVotes.length, 2);
  assert.equal(s.status('c').role, 'precandidate');
  const termAfter = s.status('c').term;
  // The partition heals: a's heartbeat reaches c, c answers a.
  s.tick('a');
  s.deliver(one(s.handle('a').messages, 'heartbeat', 'c'));
  const leaderAfter = s.status('c').leader;
  s.deliver(...s.handle('c').messages);
  s.handle('a');
  return { termBefore, termAfter, leaderAfter, aRoleAtEnd: s.status('a').role };
}

describe('4. pre-vote never changes a term', () => {
  test('receiver: a correct node keeps its term and its leader', () => {
    assert.deepEqual(preVoteReceiver('none'), { termBefore: 2, termAfter: 2, leaderAfter: 'a', aRoleAtEnd: 'leader' });
  });
  test('receiver: preVoteBumpsTerm moves b to term 3 and deposes a', () => {
    assert.deepEqual(preVoteReceiver('preVoteBumpsTerm'), { termBefore: 2, termAfter: 3, leaderAfter: null, aRoleAtEnd: 'follower' });
  });
  test('pre-candidate: a correct pre-candidate keeps its term and rejoins a', () => {
    assert.deepEqual(preCandidate('none'), { termBefore: 2, termAfter: 2, leaderAfter: 'a', aRoleAtEnd: 'leader' });
  });
  test('pre-candidate: preCandidateBumpsTerm moves c up a term and deposes a', () => {
    // The mutant also bumps a's term during a's own pre-campaign: a leads term 3 here.
    assert.deepEqual(preCandidate('preCandidateBumpsTerm'), { termBefore: 3, termAfter: 4, leaderAfter: null, aRoleAtEnd: 'follower' });
  });
});

// ---------------------------------------------------------------- 6. persisting votes

interface VoteSyncOutcome {
  /** The Ready in which b grants c's vote. */
  mustSync: boolean;
  hardState: HardState | null;
  grant: { type: string; to: NodeId; term: number; reject: boolean };
  /** After b crashed and a asked it for a vote in term 2. */
  bAnswerToA: 'grant' | 'reject';
  leadersOfTerm2: NodeId[];
}

/** b grants c's vote, the grant is delivered, c leads; b crashes; a asks b in term 2. */
function voteThenCrash(mutation: RaftMutation): VoteSyncOutcome {
  const s = new Script({ ids: ['a', 'b', 'c'], mutation, preVote: false, checkQuorum: false });
  s.raft('c').campaign();
  s.deliver(one(s.handle('c').messages, 'vote', 'b')); // c's request to a is held
  // b's Ready: only the hard state changed (term 2, vote c) and the grant must wait for it.
  // The script fsyncs it only when mustSync says so, like a real log writer.
  const rd = s.handle('b');
  const m = one(rd.messages, 'voteResp', 'c');
  s.deliver(m);
  s.handle('c');
  assert.equal(s.status('c').role, 'leader');
  s.crash('b');
  s.raft('a').campaign(); // a is still in term 1: it asks for term 2
  s.deliver(one(s.handle('a').messages, 'vote', 'b'));
  const answer = one(s.handle('b').messages, 'voteResp', 'a');
  s.deliver(answer);
  s.handle('a');
  return {
    mustSync: rd.mustSync,
    hardState: rd.hardState,
    grant: { type: m.type, to: m.to, term: m.term, reject: m.reject },
    bAnswerToA: answer.reject ? 'reject' : 'grant',
    leadersOfTerm2: s.leadersOf(2),
  };
}

interface CrashBeforeSendOutcome {
  /** b's term and vote after its restart. */
  restarted: { term: number; vote: NodeId | null };
  bAnswerToA: 'grant' | 'reject';
  /** b's answer to c's request, delivered a second time (a duplicate) after the restart. */
  bAnswerToC: 'grant' | 'reject';
  leadersOfTerm2: NodeId[];
}

/** b persists its vote for c and crashes before sending it; a, then c again, ask b in term 2. */
function voteCrashBeforeSend(mutation: RaftMutation): CrashBeforeSendOutcome {
  const s = new Script({ ids: ['a', 'b', 'c'], mutation, preVote: false, checkQuorum: false });
  s.raft('c').campaign();
  const requestToB = one(s.handle('c').messages, 'vote', 'b');
  s.deliver(requestToB);
  s.handle('b'); // persisted (fsynced: mustSync); the grant never leaves b
  s.crash('b');
  const st = s.status('b');
  // a asks for term 2: b must refuse, it may have promised c (it cannot know whether it did).
  s.raft('a').campaign();
  const aRequests = s.handle('a').messages;
  s.deliver(one(aRequests, 'vote', 'b'));
  const toA = one(s.handle('b').messages, 'voteResp', 'a');
  s.deliver(toA);
  s.deliver(one(aRequests, 'vote', 'c')); // c refuses: it voted for itself
  s.deliver(...s.handle('c').messages);
  s.handle('a');
  // The network duplicates c's request: b grants again (same candidate), c wins term 2.
  s.deliver(requestToB);
  const toC = one(s.handle('b').messages, 'voteResp', 'c');
  s.deliver(toC);
  s.handle('c');
  return {
    restarted: { term: st.term, vote: st.vote },
    bAnswerToA: toA.reject ? 'reject' : 'grant',
    bAnswerToC: toC.reject ? 'reject' : 'grant',
    leadersOfTerm2: s.leadersOf(2),
  };
}

describe('6. election state is durable before election messages leave', () => {
  const grant = { type: 'voteResp', to: 'c', term: 2, reject: false };
  const hardState = { term: 2, vote: 'c', commit: 1 };
  test('vote Ready: a correct node asks for an fsync, so the vote survives the crash', () => {
    assert.deepEqual(voteThenCrash('none'), { mustSync: true, hardState, grant, bAnswerToA: 'reject', leadersOfTerm2: ['c'] });
  });
  test('vote Ready: noSyncOnVote loses the vote in the crash and b votes again', () => {
    assert.deepEqual(voteThenCrash('noSyncOnVote'), { mustSync: false, hardState, grant, bAnswerToA: 'grant', leadersOfTerm2: ['a', 'c'] });
  });
  test('crash before send: a correct voter refuses a second candidate after its restart', () => {
    assert.deepEqual(voteCrashBeforeSend('none'), {
      restarted: { term: 2, vote: 'c' },
      bAnswerToA: 'reject',
      bAnswerToC: 'grant',
      leadersOfTerm2: ['c'],
    });
  });
  test('crash before send: voteTwiceInTerm grants a too, and term 2 has two leaders', () => {
    assert.deepEqual(voteCrashBeforeSend('voteTwiceInTerm'), {
      restarted: { term: 2, vote: 'c' },
      bAnswerToA: 'grant',
      bAnswerToC: 'grant',
      leadersOfTerm2: ['a', 'c'],
    });
  });
});
