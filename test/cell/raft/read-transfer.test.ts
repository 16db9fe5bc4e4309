import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TestCluster } from './harness.js';

test('ReadIndex on the leader is confirmed by a heartbeat round', () => {
  const c = new TestCluster(['a', 'b', 'c']);
  const l = c.elect();
  c.propose('x');
  const r = c.node(l).raft.readIndex('r1');
  assert.deepEqual(r, { ok: true });
  c.settle();
  const rs = c.node(l).readStates;
  assert.equal(rs.length, 1);
  assert.equal(rs[0]!.context, 'r1');
  assert.equal(rs[0]!.index, c.node(l).raft.status().commit);
});

test('ReadIndex on a follower goes through the leader', () => {
  const c = new TestCluster(['a', 'b', 'c']);
  const l = c.elect();
  c.propose('x');
  const f = ['a', 'b', 'c'].find((x) => x !== l)!;
  c.node(f).raft.readIndex('f1');
  c.settle();
  assert.equal(c.node(f).readStates.length, 1);
  assert.ok(c.node(f).readStates[0]!.index >= 2);
});

test('an isolated leader cannot confirm a read', () => {
  const c = new TestCluster(['a', 'b', 'c']);
  const l = c.elect();
  c.propose('x');
  c.isolate(l);
  c.node(l).raft.readIndex('stale?');
  c.tick(5);
  assert.equal(c.node(l).readStates.length, 0);
});

test('a follower without a known leader refuses reads at once', () => {
  const c = new TestCluster(['a', 'b', 'c']);
  const r = c.node('a').raft.readIndex('early');
  assert.deepEqual(r, { ok: false, error: 'NO_LEADER', leaderHint: null });
});

test('leader transfer hands leadership to a caught-up follower', () => {
  const c = new TestCluster(['a', 'b', 'c']);
  const l = c.elect();
  c.propose('x');
  const target = ['a', 'b', 'c'].find((x) => x !== l)!;
  c.node(l).raft.transferLeadership(target);
  c.settle();
  assert.equal(c.leader(), target);
  assert.equal(c.node(l).raft.status().role, 'follower');
  c.propose('y');
  for (const id of ['a', 'b', 'c']) assert.deepEqual(c.appliedTexts(id), ['x', 'y']);
});

test('leader transfer to a lagging follower catches it up first', () => {
  const c = new TestCluster(['a', 'b', 'c']);
  const l = c.elect();
  const target = ['a', 'b', 'c'].find((x) => x !== l)!;
  c.isolate(target);
  for (let i = 0; i < 10; i++) c.propose(`e${i}`);
  c.heal();
  c.node(l).raft.transferLeadership(target);
  // Proposals are refused while the transfer is in progress.
  const r = c.node(l).raft.propose(new Uint8Array([1]));
  assert.equal(r.ok, false);
  c.settle();
  c.tick(2);
  assert.equal(c.leader(), target);
});
