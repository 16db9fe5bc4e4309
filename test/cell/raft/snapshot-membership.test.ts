import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TestCluster } from './harness.js';

const dec = (b: Uint8Array) => new TextDecoder().decode(b);

test('a lagging follower is caught up by a chunked snapshot after compaction', () => {
  const c = new TestCluster(['a', 'b', 'c'], { snapshotChunkBytes: 64 });
  const l = c.elect();
  const f = ['a', 'b', 'c'].find((x) => x !== l)!;
  c.isolate(f);
  for (let i = 0; i < 30; i++) c.propose(`entry-${i}`);
  c.snapshotAndCompact(l);
  c.propose('after-snapshot');
  c.heal();
  c.tick(5);
  const chunks = c.sent.filter((m) => m.type === 'snapshot' && m.to === f);
  assert.ok(chunks.length > 3, `snapshot sent in ${chunks.length} chunks`);
  const restored = JSON.parse(dec(c.node(f).restored!)) as string[];
  assert.equal(restored.length, 30);
  assert.deepEqual(c.appliedTexts(f), ['after-snapshot']);
  assert.equal(c.node(f).storage.snapshot().metadata.index, c.node(l).storage.snapshot().metadata.index);
});

test('a lost snapshot chunk is resent and the transfer completes', () => {
  const c = new TestCluster(['a', 'b', 'c'], { snapshotChunkBytes: 32 });
  const l = c.elect();
  const f = ['a', 'b', 'c'].find((x) => x !== l)!;
  c.isolate(f);
  for (let i = 0; i < 20; i++) c.propose(`entry-${i}`);
  c.snapshotAndCompact(l);
  c.heal();
  let dropped = 0;
  c.dropIf = (m) => m.type === 'snapshot' && m.snapshot!.offset === 64 && dropped++ < 2;
  c.tick(10);
  assert.equal(dropped, 3);
  assert.equal(JSON.parse(dec(c.node(f).restored!)).length, 20);
});

test('a learner catches up, is promoted by joint consensus, and a voter is removed', () => {
  const c = new TestCluster(['a', 'b', 'c']);
  const l = c.elect();
  for (let i = 0; i < 5; i++) c.propose(`e${i}`);
  c.addEmpty('d');
  let r = c.node(l).raft.proposeConfChange({ changes: [{ type: 'addLearner', node: 'd' }] });
  assert.ok(r.ok);
  c.tick(5);
  assert.deepEqual(c.node(l).conf.learners, ['d']);
  assert.deepEqual(c.node(l).conf.votersOutgoing, [], 'auto-left the joint configuration');
  assert.deepEqual(c.appliedTexts('d'), ['e0', 'e1', 'e2', 'e3', 'e4']);
  // A learner never campaigns.
  c.node('d').raft.campaign();
  c.settle();
  assert.notEqual(c.node('d').raft.status().role, 'candidate');
  const victim = ['a', 'b', 'c'].find((x) => x !== l)!;
  r = c.node(l).raft.proposeConfChange({
    changes: [
      { type: 'addVoter', node: 'd' },
      { type: 'removeNode', node: victim },
    ],
  });
  assert.ok(r.ok);
  c.tick(5);
  const conf = c.node(l).conf;
  assert.deepEqual([...conf.voters].sort(), ['a', 'b', 'c', 'd'].filter((x) => x !== victim).sort());
  assert.deepEqual(conf.votersOutgoing, []);
  c.propose('new-config');
  assert.ok(c.appliedTexts('d').includes('new-config'));
});

test('removing the leader: it steps down and the rest elect a new one', () => {
  const c = new TestCluster(['a', 'b', 'c']);
  const l = c.elect();
  c.propose('x');
  const r = c.node(l).raft.proposeConfChange({ changes: [{ type: 'removeNode', node: l }] });
  assert.ok(r.ok);
  c.tick(3);
  assert.notEqual(c.node(l).raft.status().role, 'leader');
  c.nodes.delete(l);
  const l2 = c.elect();
  assert.notEqual(l2, l);
  assert.ok(!c.node(l2).conf.voters.includes(l));
  c.propose('y');
  assert.deepEqual(c.appliedTexts(l2), ['x', 'y']);
});

test('only one membership change at a time', () => {
  const c = new TestCluster(['a', 'b', 'c']);
  const l = c.elect();
  c.addEmpty('d');
  c.addEmpty('e', 100);
  const r1 = c.node(l).raft.proposeConfChange({ changes: [{ type: 'addLearner', node: 'd' }] });
  const r2 = c.node(l).raft.proposeConfChange({ changes: [{ type: 'addLearner', node: 'e' }] });
  assert.ok(r1.ok);
  assert.deepEqual(r2, { ok: false, error: 'CONF_CHANGE_PENDING', leaderHint: l });
  const bad = c.node(l).raft;
  c.tick(5);
  assert.equal(bad.proposeConfChange({ changes: [] }).ok, false, 'leave without joint is invalid');
});
