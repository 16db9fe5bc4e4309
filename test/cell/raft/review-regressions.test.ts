// Regressions for findings of a review of the core: each failed before its fix.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RaftNode } from '../../../cell/raft/raft.js';
import { MemoryStorage } from '../../../cell/raft/memory-storage.js';
import { encodeConfChange, decodeConfChange } from '../../../cell/raft/confchange.js';
import type { ConfState, Message } from '../../../cell/raft/types.js';
import { TestCluster } from './harness.js';

const base = { logTerm: 0, index: 0, entries: [], commit: 0, reject: false, rejectHint: 0, hintTerm: 0, context: '', snapshot: null };
const msg = (m: Partial<Message> & Pick<Message, 'type' | 'from' | 'to' | 'term'>): Message => ({ ...base, ...m }) as Message;
const enc = (s: string) => new TextEncoder().encode(s);
const conf: ConfState = { voters: ['a', 'b', 'c'], learners: [], votersOutgoing: [], learnersNext: [], autoLeave: false };

test('a snapshot completing between ready() and advance() is installed after advance (no conf change applied twice)', () => {
  const st = new MemoryStorage();
  st.bootstrap(conf);
  const b = new RaftNode({ id: 'b', storage: st, electionTicks: 10, heartbeatTicks: 1, random: () => 0.5, preVote: true, checkQuorum: true });
  b.step(msg({ type: 'append', from: 'a', to: 'b', term: 2, index: 1, logTerm: 1, commit: 2,
    entries: [{ term: 2, index: 2, kind: 'conf', data: encodeConfChange({ changes: [{ type: 'addLearner', node: 'd' }] }) }] }));
  const rd = b.ready();
  assert.equal(rd.committedEntries.length, 1);
  st.append(rd.entries);
  if (rd.hardState) st.setHardState(rd.hardState);
  const snapConf: ConfState = { voters: ['a', 'b', 'c'], learners: ['d'], votersOutgoing: [], learnersNext: [], autoLeave: false };
  const data = enc('state@10');
  b.step(msg({ type: 'snapshot', from: 'a', to: 'b', term: 2,
    snapshot: { metadata: { index: 10, term: 2, confState: snapConf }, offset: 0, totalBytes: data.length, data } }));
  b.applyConfChange(decodeConfChange(rd.committedEntries[0]!.data));
  b.advance();
  const rd2 = b.ready();
  assert.deepEqual(rd2.snapshot?.metadata.confState, snapConf);
  st.applySnapshot(rd2.snapshot!);
  b.advance();
  assert.deepEqual(b.status().confState, snapConf);
  b.step(msg({ type: 'append', from: 'a', to: 'b', term: 2, index: 10, logTerm: 2, commit: 11,
    entries: [{ term: 2, index: 11, kind: 'conf', data: encodeConfChange({ changes: [{ type: 'addVoter', node: 'd' }] }) }] }));
  const rd3 = b.ready();
  assert.doesNotThrow(() => b.applyConfChange(decodeConfChange(rd3.committedEntries[0]!.data)));
});

test('chunks of two transfers of the same snapshot index from different leaders are never spliced', () => {
  const st = new MemoryStorage();
  st.bootstrap(conf);
  const b = new RaftNode({ id: 'b', storage: st, electionTicks: 10, heartbeatTicks: 1, random: () => 0.5 });
  const meta = { index: 50, term: 2, confState: conf };
  const fromA = enc('{"k1":"v1","k2":"v2"}');
  const fromC = enc('{"k2":"v2","k1":"v1","k3":"zz"}');
  b.step(msg({ type: 'snapshot', from: 'a', to: 'b', term: 2, snapshot: { metadata: meta, offset: 0, totalBytes: fromA.length, data: fromA.subarray(0, 10) } }));
  b.step(msg({ type: 'snapshot', from: 'c', to: 'b', term: 3, snapshot: { metadata: meta, offset: 0, totalBytes: fromC.length, data: fromC.subarray(0, 10) } }));
  b.step(msg({ type: 'snapshot', from: 'c', to: 'b', term: 3, snapshot: { metadata: meta, offset: 10, totalBytes: fromC.length, data: fromC.subarray(10) } }));
  const rd = b.ready();
  assert.equal(new TextDecoder().decode(rd.snapshot!.data), new TextDecoder().decode(fromC));
});

test('a reused read context is refused instead of merged into an older pending read', () => {
  const c = new TestCluster(['a', 'b', 'c']);
  const l = c.elect();
  c.propose('x');
  c.dropIf = (m) => m.type === 'heartbeatResp';
  assert.deepEqual(c.node(l).raft.readIndex('ctx-1'), { ok: true });
  c.settle();
  c.propose('y');
  // Merging it would hand the new read the index the first read saw, before y.
  assert.deepEqual(c.node(l).raft.readIndex('ctx-1'), { ok: false, error: 'INVALID_CONTEXT', leaderHint: l });
  assert.deepEqual(c.node(l).raft.readIndex(''), { ok: false, error: 'INVALID_CONTEXT', leaderHint: l });
  c.dropIf = () => false;
  c.tick(2);
  assert.equal(c.node(l).readStates.length, 1);
});

test('restart with applied past a conf change takes the membership as of applied', () => {
  const st = new MemoryStorage();
  st.bootstrap(conf);
  st.append([
    { term: 2, index: 2, kind: 'conf', data: encodeConfChange({ changes: [{ type: 'addVoter', node: 'd' }, { type: 'removeNode', node: 'c' }] }) },
    { term: 2, index: 3, kind: 'conf', data: encodeConfChange({ changes: [] }) },
  ]);
  st.setHardState({ term: 2, vote: null, commit: 3 });
  const appliedConf: ConfState = { voters: ['a', 'b', 'd'], learners: [], votersOutgoing: [], learnersNext: [], autoLeave: false };
  const a = new RaftNode({ id: 'a', storage: st, electionTicks: 10, heartbeatTicks: 1, random: () => 0.5, applied: 3, confState: appliedConf });
  assert.deepEqual([...a.status().confState.voters].sort(), ['a', 'b', 'd']);
});

test('restart with applied beyond the persisted commit index starts (applied entries were committed)', () => {
  const st = new MemoryStorage();
  st.bootstrap(conf);
  st.append([{ term: 2, index: 2, kind: 'normal', data: new Uint8Array(1) }]);
  st.setHardState({ term: 2, vote: 'a', commit: 1 });
  const b = new RaftNode({ id: 'b', storage: st, electionTicks: 10, heartbeatTicks: 1, random: () => 0.5, applied: 2 });
  assert.equal(b.status().commit, 2);
});
