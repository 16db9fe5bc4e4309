// Determinism: a seed is a complete description of a run. The same seed gives the same trace
// (every message, fault, role change and client op), in process and on a worker thread.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { runSeeds, type SeedSummary } from './pool.js';
import { runSeed } from './run.js';

test('same seed twice gives an identical trace hash', () => {
  for (const seed of [1, 7, 42]) {
    const a = runSeed(seed, { trace: 'hash' });
    const b = runSeed(seed, { trace: 'hash' });
    assert.equal(a.fingerprint, b.fingerprint, `seed ${seed} traced differently`);
    assert.equal(a.outcome, b.outcome);
    assert.deepEqual(a.history, b.history);
    assert.ok(Number(a.fingerprint.split('-')[2]) > 1000, 'the trace should record many events');
  }
});

test('different seeds give different runs', () => {
  const prints = new Set([1, 2, 3, 4].map((s) => runSeed(s, { trace: 'hash' }).fingerprint));
  assert.equal(prints.size, 4);
});

test('tracing does not perturb the run', () => {
  const off = runSeed(9);
  const on = runSeed(9, { trace: 'hash' });
  assert.equal(off.outcome, on.outcome);
  assert.deepEqual(off.history, on.history);
});

test('a seed replays identically with a mutation and a fault set', () => {
  const o = { mutation: 'ackBeforePersist', faults: ['crash', 'slowdisk'], trace: 'hash' } as const;
  const a = runSeed(3, o);
  const b = runSeed(3, o);
  assert.equal(a.fingerprint, b.fingerprint);
  assert.deepEqual(a.failure, b.failure);
});

test('a worker thread replays a seed exactly as the main thread runs it', async () => {
  const seeds = [5, 6];
  const remote: SeedSummary[] = [];
  await runSeeds(seeds, { trace: 'hash' }, 2, (s) => remote.push(s));
  for (const s of remote) {
    const local = runSeed(s.seed, { trace: 'hash' });
    assert.equal(s.fingerprint, local.fingerprint, `seed ${s.seed}`);
    assert.equal(s.outcome, local.outcome);
  }
});
