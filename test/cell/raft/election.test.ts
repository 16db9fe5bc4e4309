import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TestCluster } from './harness.js';

test('three nodes elect exactly one leader and replicate', () => {
  const c = new TestCluster(['a', 'b', 'c']);
  const l = c.elect();
  const leaders = [...c.nodes.values()].filter((n) => n.raft.status().role === 'leader');
  assert.equal(leaders.length, 1);
  c.propose('x');
  c.propose('y');
  for (const id of ['a', 'b', 'c']) assert.deepEqual(c.appliedTexts(id), ['x', 'y'], id);
  // The no-op of the election is the first entry of the leader's term.
  assert.equal(c.node(l).storage.entries(2, 3, Infinity)[0]!.data.length, 0);
});

test('a node grants one vote per term', () => {
  const c = new TestCluster(['a', 'b', 'c']);
  c.elect();
  const votes = c.sent.filter((m) => m.type === 'voteResp' && !m.reject);
  const seen = new Set<string>();
  for (const v of votes) {
    const key = `${v.from}@${v.term}`;
    assert.ok(!seen.has(key), `second vote by ${key}`);
    seen.add(key);
  }
});

test('pre-vote: a partitioned node does not inflate its term or disrupt the leader', () => {
  const c = new TestCluster(['a', 'b', 'c']);
  const l = c.elect();
  const term = c.node(l).raft.status().term;
  const other = ['a', 'b', 'c'].find((x) => x !== l)!;
  c.isolate(other);
  c.tick(100);
  assert.equal(c.node(other).raft.status().term, term, 'isolated node kept its term');
  c.heal();
  c.tick(5);
  assert.equal(c.leader(), l);
  assert.equal(c.node(l).raft.status().term, term);
});

test('check-quorum: a leader cut off from the majority steps down', () => {
  const c = new TestCluster(['a', 'b', 'c']);
  const l = c.elect();
  c.isolate(l);
  c.tick(25);
  assert.notEqual(c.node(l).raft.status().role, 'leader');
  c.heal();
  const l2 = c.elect();
  c.propose('after');
  assert.deepEqual(c.appliedTexts(l2), ['after']);
});

test('check-quorum: a follower that hears from a live leader ignores vote requests', () => {
  const c = new TestCluster(['a', 'b', 'c']);
  const l = c.elect();
  const f = ['a', 'b', 'c'].find((x) => x !== l)!;
  const term = c.node(f).raft.status().term;
  c.node(f).raft.step({
    type: 'vote', from: 'z', to: f, term: term + 5, logTerm: 100, index: 100, entries: [], commit: 0,
    reject: false, rejectHint: 0, hintTerm: 0, context: '', snapshot: null,
  });
  assert.equal(c.node(f).raft.status().term, term, 'term unchanged while in lease');
});

test('without pre-vote a rejoining node with a higher term forces a new election', () => {
  const c = new TestCluster(['a', 'b', 'c'], { preVote: false, checkQuorum: false });
  const l = c.elect();
  const other = ['a', 'b', 'c'].find((x) => x !== l)!;
  c.isolate(other);
  c.tick(60);
  assert.ok(c.node(other).raft.status().term > c.node(l).raft.status().term);
  c.heal();
  c.tick(60);
  c.elect();
  const terms = new Set([...c.nodes.values()].map((n) => n.raft.status().term));
  assert.equal(terms.size, 1, 'all nodes converge on one term');
});

test('a stale leader learns the newer term and steps down', () => {
  const c = new TestCluster(['a', 'b', 'c'], { checkQuorum: false });
  const l = c.elect();
  c.isolate(l);
  const rest = ['a', 'b', 'c'].filter((x) => x !== l);
  for (let i = 0; i < 100 && !rest.some((x) => c.node(x).raft.status().role === 'leader'); i++) c.tick();
  assert.equal(c.node(l).raft.status().role, 'leader', 'stale leader still thinks it leads');
  c.heal();
  c.tick(3);
  assert.notEqual(c.node(l).raft.status().role, 'leader');
});
