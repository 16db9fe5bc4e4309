// Unit tests of the simulation's own parts: PRNG, network, KV state machine, safety checker.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Entry } from '../../cell/raft/types.js';
import { InvariantChecker, SimFailure } from './invariants.js';
import { encodeCommand, KvStateMachine, type KvCommand } from './kv-state-machine.js';
import { CALM, SimNetwork } from './network.js';
import { Rng } from './rng.js';

test('rng: same seed, same stream; forks are independent and stable', () => {
  const a = new Rng(7);
  const b = new Rng(7);
  const xs = Array.from({ length: 100 }, () => a.u32());
  assert.deepEqual(xs, Array.from({ length: 100 }, () => b.u32()));
  assert.notDeepEqual(xs.slice(0, 5), Array.from({ length: 5 }, () => new Rng(8).u32()));
  const r = new Rng(1);
  for (let i = 0; i < 1000; i++) {
    const x = r.next();
    assert.ok(x >= 0 && x < 1);
    const n = r.range(3, 5);
    assert.ok(n >= 3 && n <= 5);
  }
  assert.equal(new Rng(3).fork('net').u32(), new Rng(3).fork('net').u32());
  assert.notEqual(new Rng(3).fork('net').u32(), new Rng(3).fork('disk').u32());
});

interface M {
  readonly from: string;
  readonly to: string;
  readonly n: number;
}

test('network: FIFO per link without reordering, delays in range', () => {
  const net = new SimNetwork<M>(new Rng(1), 100);
  net.setConditions({ ...CALM, minDelay: 1, maxDelay: 5 });
  for (let i = 0; i < 50; i++) net.send({ from: 'a', to: 'b', n: i }, 0);
  const got: number[] = [];
  for (let t = 1; t <= 20; t++) for (const m of net.deliverDue(t)) got.push(m.n);
  assert.deepEqual(got, Array.from({ length: 50 }, (_, i) => i));
  assert.equal(net.inFlightCount(), 0);
});

test('network: symmetric, one-way and bridge partitions', () => {
  const net = new SimNetwork<M>(new Rng(1), 100);
  net.partition(['a'], ['b', 'c']);
  assert.ok(net.isBlocked('a', 'b') && net.isBlocked('c', 'a') && !net.isBlocked('b', 'c'));
  net.heal();
  net.oneWay(['a'], ['b']);
  assert.ok(net.isBlocked('a', 'b') && !net.isBlocked('b', 'a'));
  net.heal();
  net.bridge(['a'], ['c'], 'b');
  assert.ok(net.isBlocked('a', 'c') && net.isBlocked('c', 'a'));
  assert.ok(!net.isBlocked('a', 'b') && !net.isBlocked('b', 'c') && !net.isBlocked('c', 'b'));
  // A message already in flight is lost if its link is cut before delivery.
  net.heal();
  net.send({ from: 'a', to: 'c', n: 1 }, 0);
  net.partition(['a'], ['c']);
  const delivered = [1, 2, 3].flatMap((t) => net.deliverDue(t));
  assert.equal(delivered.length, 0);
  assert.equal(net.stats.partitioned, 1);
});

test('network: a full link drops (bounded queue), duplicates are counted', () => {
  const net = new SimNetwork<M>(new Rng(2), 3);
  for (let i = 0; i < 10; i++) net.send({ from: 'a', to: 'b', n: i }, 0);
  assert.equal(net.inFlightCount(), 3);
  assert.equal(net.stats.overflowed, 7);
  const dup = new SimNetwork<M>(new Rng(2), 1000);
  dup.setConditions({ ...CALM, dupRate: 0.5 });
  for (let i = 0; i < 100; i++) dup.send({ from: 'a', to: 'b', n: i }, 0);
  assert.ok(dup.stats.duplicated > 20 && dup.inFlightCount() === 100 + dup.stats.duplicated);
});

function entry(index: number, cmd: KvCommand | null, term = 1): Entry {
  return { index, term, kind: 'normal', data: cmd === null ? new Uint8Array(0) : encodeCommand(cmd) };
}

test('kv: versions are log indices, a retried write applies once, stale requests are ignored', () => {
  const sm = KvStateMachine.fromSnapshot(new Uint8Array(0), 1);
  const put = { client: 1, seq: 1, op: 'put', key: 'k', value: 'a' } as const;
  assert.deepEqual(sm.applyEntry(entry(2, put)), { kind: 'applied', cmd: put, output: { version: '2' } });
  assert.deepEqual(sm.applyEntry(entry(3, put)), { kind: 'duplicate', cmd: put, output: { version: '2' } });
  assert.deepEqual(sm.read('k'), { found: true, value: 'a', version: '2' });
  sm.applyEntry(entry(4, null)); // the leader's no-op
  const cas = { client: 1, seq: 2, op: 'cas', key: 'k', value: 'b', ifVersion: '2' } as const;
  assert.deepEqual(sm.applyEntry(entry(5, cas)), { kind: 'applied', cmd: cas, output: { swapped: true, version: '5' } });
  const badCas = { client: 2, seq: 1, op: 'cas', key: 'k', value: 'c', ifVersion: '2' } as const;
  assert.deepEqual(sm.applyEntry(entry(6, badCas)), { kind: 'applied', cmd: badCas, output: { swapped: false, currentVersion: '5' } });
  const del = { client: 2, seq: 2, op: 'delete', key: 'k' } as const;
  assert.deepEqual(sm.applyEntry(entry(7, del)), { kind: 'applied', cmd: del, output: { existed: true } });
  assert.equal(sm.applyEntry(entry(8, put)).kind, 'stale'); // client 1 already moved past seq 1
  const again = { client: 3, seq: 1, op: 'put', key: 'k', value: 'd' } as const;
  assert.deepEqual(sm.applyEntry(entry(9, again)), { kind: 'applied', cmd: again, output: { version: '9' } });
  assert.throws(() => sm.applyEntry(entry(11, put)), /apply gap/);
});

test('kv: snapshot round trip keeps data, sessions and digest', () => {
  const sm = KvStateMachine.fromSnapshot(new Uint8Array(0), 1);
  sm.applyEntry(entry(2, { client: 1, seq: 1, op: 'put', key: 'x', value: 'v' }));
  sm.applyEntry(entry(3, { client: 2, seq: 4, op: 'put', key: 'y', value: 'w' }));
  const copy = KvStateMachine.fromSnapshot(sm.toSnapshot(), 3);
  assert.equal(copy.digest, sm.digest);
  assert.deepEqual(copy.read('y'), sm.read('y'));
  assert.deepEqual(copy.toSnapshot(), sm.toSnapshot());
  // The session survived: the retry is answered from it, not applied again.
  assert.equal(copy.applyEntry(entry(4, { client: 2, seq: 4, op: 'put', key: 'y', value: 'w' })).kind, 'duplicate');
});

test('invariants: each check fires on the violation it guards', () => {
  const c = new InvariantChecker();
  c.onLeader('n1', 3);
  c.onLeader('n1', 3);
  assert.throws(() => c.onLeader('n2', 3), (e: unknown) => e instanceof SimFailure && e.kind === 'election-safety');
  assert.throws(
    () => c.onHardState('n1', { term: 4, vote: 'n1', commit: 0 }, { term: 4, vote: 'n2', commit: 0 }),
    (e: unknown) => e instanceof SimFailure && e.kind === 'election-safety',
  );
  assert.throws(() => c.onHardState('n1', { term: 4, vote: null, commit: 0 }, { term: 3, vote: null, commit: 0 }), /persisted term 3/);
  c.onCommitted('n1', entry(2, null, 1), 1);
  c.onCommitted('n2', entry(2, null, 1), 2);
  assert.throws(() => c.onCommitted('n3', entry(2, null, 2), 2), (e: unknown) => e instanceof SimFailure && e.kind === 'log-matching');
  const log = (terms: number[]) => ({ termAt: (i: number) => terms[i] ?? null, lastIndex: () => terms.length - 1 });
  c.onBecameLeader('n2', 2, log([0, 1, 1])); // has (2, term 1)
  c.onBecameLeader('n1', 1, log([0, 1])); // the entry was committed no earlier than term 1: not checked
  assert.throws(() => c.onBecameLeader('n3', 3, log([0, 1, 2])), (e: unknown) => e instanceof SimFailure && e.kind === 'leader-completeness');
  assert.throws(() => c.onBecameLeader('n3', 3, log([0, 1])), /lacks committed index 2/);
  c.onApplied('n1', entry(2, null, 1), 11);
  c.onApplied('n2', entry(2, null, 1), 11);
  assert.throws(() => c.onApplied('n3', entry(2, null, 2), 12), (e: unknown) => e instanceof SimFailure && e.kind === 'state-machine-safety');
  assert.throws(() => c.onSnapshotState('n3', 2, 99), (e: unknown) => e instanceof SimFailure && e.kind === 'state-machine-safety');
});
