// The whole-node simulation (test/sim/node/): production CellNodes over a simulated disk,
// bus and clock. A CI budget of seeds must pass; a seed replays exactly; each node-layer
// mutant is caught within a bounded number of seeds; the disk model keeps its contract.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { FailureKind } from './invariants.js';
import { runNodeSeed } from './node/node-run.js';
import { NODE_MUTATIONS, nodeReplayCommand, type NodeMutation } from './node/node-cli.js';
import { Rng } from './rng.js';
import { SimDisk, SimulatedDiskError } from './node/sim-disk.js';
import { SimScheduler } from './node/scheduler.js';

/** Seeds every CI run checks (about 3 seeds/s on one core). */
const CI_NODE_SEEDS = 40;
/** Seeds a mutant may take to be caught. */
const MUTANT_BUDGET = 30;

/** How each mutant is expected to be caught (any of these kinds). */
const EXPECTED: Record<NodeMutation, readonly FailureKind[]> = {
  ackBeforeLogSync: ['commit-quorum', 'durability'],
  advanceBeforeLogSync: ['commit-quorum', 'durability'],
  readsBeforeApply: ['linearizability'],
  valueCacheNotInvalidated: ['state-machine-safety', 'linearizability'],
  dedupeWithoutData: ['state-machine-safety', 'linearizability'],
};

test(`node sim: seeds 1..${CI_NODE_SEEDS} pass every check`, async () => {
  const failures: string[] = [];
  let ops = 0;
  for (let seed = 1; seed <= CI_NODE_SEEDS; seed++) {
    const r = await runNodeSeed(seed);
    ops += r.stats.ops.ok;
    if (!r.ok) failures.push(`seed ${seed}: ${r.failure!.kind}: ${r.failure!.message.split('\n')[0]} (replay: ${nodeReplayCommand(seed, null)})`);
  }
  assert.deepEqual(failures, []);
  assert.ok(ops > CI_NODE_SEEDS * 50, `clients made progress (${ops} ops ok)`);
});

test('node sim: the same seed gives the same trace and history', async () => {
  const a = await runNodeSeed(7, { trace: 'hash' });
  const b = await runNodeSeed(7, { trace: 'hash' });
  assert.equal(a.fingerprint, b.fingerprint);
  assert.ok(a.stats.events > 1000);
  const c = await runNodeSeed(8, { trace: 'hash' });
  assert.notEqual(a.fingerprint, c.fingerprint);
});

describe('node sim: every node-layer mutant is caught', () => {
  for (const m of NODE_MUTATIONS) {
    test(m, async () => {
      for (let seed = 1; seed <= MUTANT_BUDGET; seed++) {
        const r = await runNodeSeed(seed, { mutations: [m], lincheckMaxSteps: 5_000_000 });
        if (r.ok) continue;
        assert.ok(EXPECTED[m].includes(r.failure!.kind), `seed ${seed}: caught as ${r.failure!.kind}, expected ${EXPECTED[m].join('/')}: ${r.failure!.message.slice(0, 300)}`);
        console.log(`# ${m}: caught by seed ${seed} as ${r.failure!.kind}`);
        return;
      }
      assert.fail(`${m} survived seeds 1..${MUTANT_BUDGET}`);
    });
  }
});

describe('the simulated disk', () => {
  const put = (k: number, v: number) => ({ type: 'put' as const, key: Uint8Array.of(k), value: Uint8Array.of(v) });
  async function drain(sched: SimScheduler): Promise<void> {
    await sched.runUntil(sched.now + 10_000, () => undefined);
  }

  test('a synced write makes every earlier write durable; power loss keeps only a prefix of the rest', async () => {
    for (let seed = 1; seed <= 20; seed++) {
      const sched = new SimScheduler();
      const disk = new SimDisk('n1', sched, new Rng(seed));
      const db = disk.open();
      void db.batch([put(1, 1)], false);
      void db.batch([put(2, 2)], true);
      void db.batch([put(3, 3)], false);
      void db.batch([put(4, 4)], false);
      await drain(sched);
      disk.crash(true);
      const after = disk.open();
      const got: (number | undefined)[] = [];
      for (const k of [1, 2, 3, 4]) {
        const p = after.get(Uint8Array.of(k));
        await drain(sched);
        got.push((await p)?.[0]);
      }
      assert.deepEqual(got.slice(0, 2), [1, 2], `seed ${seed}: synced prefix kept`);
      // Kept writes form a prefix: 4 without 3 would be a torn order.
      assert.ok(!(got[3] !== undefined && got[2] === undefined), `seed ${seed}: ${JSON.stringify(got)}`);
    }
  });

  test('a kill -9 keeps every completed write; a dead boot never completes anything', async () => {
    const sched = new SimScheduler();
    const disk = new SimDisk('n1', sched, new Rng(3));
    const db = disk.open();
    void db.batch([put(1, 1)], false);
    await drain(sched);
    disk.crash(false);
    let settled = false;
    void db.get(Uint8Array.of(1)).then(() => (settled = true));
    await drain(sched);
    assert.equal(settled, false);
    const p = disk.open().get(Uint8Array.of(1));
    await drain(sched);
    assert.equal((await p)?.[0], 1);
  });

  test('a failing fsync rejects with the simulated EIO', async () => {
    const sched = new SimScheduler();
    const disk = new SimDisk('n1', sched, new Rng(5));
    disk.faults = { slowRate: 0, slowMs: 0, fsyncFailRate: 1 };
    const p = disk.open().batch([put(1, 1)], true);
    p.catch(() => undefined);
    await drain(sched);
    await assert.rejects(p, SimulatedDiskError);
  });
});
