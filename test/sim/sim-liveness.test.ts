// Liveness after faults heal: a leader within a bound, every client op and pending proposal
// resolved, replicas converged. These tests check that those checks pass on healthy runs and
// fire when the cluster is broken on purpose after the heal (so they cannot go blind).

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { runSeed } from './run.js';

test('after heal, runs end with a leader, no pending ops and converged replicas', () => {
  for (const seed of [11, 12, 13]) {
    const r = runSeed(seed, { faults: ['partition', 'crash', 'drop', 'membership'] });
    assert.ok(r.ok, `seed ${seed}: ${r.failure?.kind}: ${r.failure?.message}`);
    // Every op ended: nothing is left in flight (complete null only for timeouts).
    assert.ok(r.history.length > 50);
    assert.ok(r.stats.ops.ok > r.stats.ops.unknown, 'most ops should succeed');
  }
});

test('a majority left down after heal is reported as a liveness failure', () => {
  const r = runSeed(21, { sabotage: 'crash-majority' });
  assert.equal(r.failure?.kind, 'liveness');
  assert.match(r.failure!.message, /no leader/);
});

test('a network left fully partitioned after heal is reported as a liveness failure', () => {
  const r = runSeed(22, { sabotage: 'isolate-all' });
  assert.equal(r.failure?.kind, 'liveness');
});

test('ops still in flight at the end are recorded as unknown, never dropped', () => {
  const r = runSeed(23, { faults: ['crash', 'partition'] });
  assert.ok(r.ok, r.failure?.message);
  for (const h of r.history) {
    if (h.outcome === 'unknown') assert.equal(h.complete, null);
    else assert.ok(h.complete !== null && h.complete >= h.invoke);
    if (h.outcome === 'ok') assert.ok(h.output !== undefined, 'an ok op has an output');
  }
});
