import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TestCluster } from './harness.js';

const enc = (s: string) => new TextEncoder().encode(s);

test('a follower rejects proposals with a leader hint', () => {
  const c = new TestCluster(['a', 'b', 'c']);
  const l = c.elect();
  const f = ['a', 'b', 'c'].find((x) => x !== l)!;
  const r = c.node(f).raft.propose(enc('nope'));
  assert.deepEqual(r, { ok: false, error: 'NOT_LEADER', leaderHint: l });
});

test('fast backtracking: a follower with a long divergent tail is repaired in few round trips', () => {
  const c = new TestCluster(['a', 'b', 'c'], {}, 7);
  const l1 = c.elect();
  c.propose('base');
  // The old leader, cut off, accumulates 200 uncommitted entries of its term.
  c.isolate(l1);
  for (let i = 0; i < 200; i++) c.node(l1).raft.propose(enc(`lost-${i}`));
  c.settle();
  const rest = ['a', 'b', 'c'].filter((x) => x !== l1);
  let l2: string | null = null;
  for (let i = 0; i < 200 && l2 === null; i++) {
    c.tick();
    l2 = rest.find((x) => c.node(x).raft.status().role === 'leader') ?? null;
  }
  assert.ok(l2);
  for (let i = 0; i < 5; i++) c.node(l2).raft.propose(enc(`new-${i}`));
  c.settle();
  c.heal();
  const before = c.sent.length;
  c.tick(5);
  const rejects = c.sent.slice(before).filter((m) => m.type === 'appendResp' && m.reject && m.from === l1);
  assert.ok(rejects.length <= 3, `took ${rejects.length} rejections`);
  assert.deepEqual(c.appliedTexts(l1), ['base', 'new-0', 'new-1', 'new-2', 'new-3', 'new-4']);
});

test('flow control: in-flight appends to a silent follower stay within the window', () => {
  const c = new TestCluster(['a', 'b', 'c'], { maxInflightMsgs: 4 });
  const l = c.elect();
  c.propose('warm');
  const f = ['a', 'b', 'c'].find((x) => x !== l)!;
  c.cutLink(f, l); // f receives but its acknowledgements are lost
  const before = c.sent.length;
  for (let i = 0; i < 50; i++) c.node(l).raft.propose(enc(`p${i}`));
  c.settle();
  const appends = c.sent.slice(before).filter((m) => m.type === 'append' && m.to === f && m.entries.length > 0);
  assert.ok(appends.length <= 4, `${appends.length} appends in flight`);
  c.heal();
  c.tick(3);
  assert.equal(c.appliedTexts(f).length, 51);
});

test('entries are batched into messages up to maxMsgBytes', () => {
  const c = new TestCluster(['a', 'b', 'c'], { maxMsgBytes: 300 });
  const l = c.elect();
  const f = ['a', 'b', 'c'].find((x) => x !== l)!;
  c.isolate(f);
  for (let i = 0; i < 40; i++) c.node(l).raft.propose(enc(`value-${i}`));
  c.settle();
  c.heal();
  const before = c.sent.length;
  c.tick(3);
  const appends = c.sent.slice(before).filter((m) => m.type === 'append' && m.to === f && m.entries.length > 0);
  assert.ok(appends.length >= 4, 'split by size');
  assert.ok(appends.every((m) => m.entries.length <= 10), 'no message exceeds the byte limit by much');
  assert.equal(c.appliedTexts(f).length, 40);
});

test('a leader does not commit by counting replicas of an earlier term (needs its own entry)', () => {
  const c = new TestCluster(['a', 'b', 'c', 'd', 'e'], { checkQuorum: false });
  const l1 = c.elect();
  c.propose('committed');
  // l1 replicates an entry to one follower only, then loses leadership.
  const [f1, ...others] = ['a', 'b', 'c', 'd', 'e'].filter((x) => x !== l1);
  for (const o of others) c.cutLink(l1, o);
  c.node(l1).raft.propose(enc('old-term'));
  c.settle();
  const idx = c.node(l1).raft.status().lastIndex;
  assert.equal(c.node(f1!).storage.lastIndex(), idx, 'follower has the entry');
  assert.ok(c.node(l1).raft.status().commit < idx, 'not committed yet');
  c.heal();
  c.isolate(l1);
  // f1 becomes leader (its log is the longest); the old-term entry commits only via its no-op.
  c.node(f1!).raft.campaign();
  c.settle();
  const l2 = [f1!, ...others].find((x) => c.node(x).raft.status().role === 'leader') ?? null;
  assert.equal(l2, f1);
  const st = c.node(l2!).raft.status();
  assert.ok(st.commit > idx, 'committed together with the new term no-op');
});
