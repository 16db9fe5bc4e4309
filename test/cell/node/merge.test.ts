// Real processes: a merge of two adjacent cells through the admin API on a three-node cluster on
// LevelDB, while a writer keeps writing to both sides. The left cell takes both ranges, the
// right one is retired everywhere (nodes and directory), data stays in place, versions keep
// increasing across the merge even where the absorbed cell's log was ahead, a write retried
// after the merge stays at most once, replicas agree, and a restart keeps the merged cell.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { CellCluster } from '../../support/cell-cluster.js';
import { dec, enc, version } from '../../support/cell-ops.js';
import { waitFor } from '../../support/wait.js';
import { hexOf } from '../../../shared/directory.js';
import { namespacedKey } from '../../../shared/keys.js';

let c: CellCluster;

before(async () => {
  c = await CellCluster.start();
});
after(async () => {
  await c?.stop();
});


interface Reply {
  ok: boolean;
  code?: string;
  message?: string;
  [k: string]: unknown;
}

type CellView = { cell: string; start: string; end: string | null; epoch: number; frozen?: boolean };

test('a merge under writes: the left cell takes both ranges, versions increase, the right cell is retired', async () => {
  const leader = await c.leaderOf('c1');
  const splitKey = namespacedKey('t1', enc('m'));
  const split = await c.launcher.adminRequest<Reply>(leader, { op: 'split', cell: 'c1', splitKey: hexOf(splitKey) }, 10_000);
  assert.equal(split.ok, true, JSON.stringify(split));
  const right = String(split['right']);
  await waitFor('the directory lists both cells', async () => (await c.client.directory(true)).cells.some((x) => x.id === right));

  // The right cell's log runs far ahead of the left one's: the merged cell's versions must still
  // be above every version the right cell gave.
  const before: Record<string, bigint> = {};
  for (let i = 0; i < 150; i++) before['n'] = version((await c.client.put('t1', enc('n'), enc(`n${i}`), { requestId: `pre-n-${i}` })).result);
  for (const k of ['a', 'b', 'x', 'z']) before[k] = version((await c.client.put('t1', enc(k), enc(`${k}0`), { requestId: `pre-${k}` })).result);

  // A writer per side keeps going through the merge; every acknowledged value must survive.
  const acked = new Map<string, string>();
  let writing = true;
  let failures = 0;
  const writer = async (key: string) => {
    for (let i = 0; writing; i++) {
      const value = `${key}-w${i}`;
      try {
        const r = (await c.client.put('t1', enc(key), enc(value))).result;
        if (r.status === 'ok') acked.set(key, value);
      } catch {
        failures++;
      }
    }
  };
  const writers = [writer('c'), writer('p')];

  const mergeAt = await c.leaderOf('c1');
  const t0 = Date.now();
  const merged = await c.launcher.adminRequest<Reply>(mergeAt, { op: 'merge', left: 'c1', right }, 40_000);
  const mergeMs = Date.now() - t0;
  assert.equal(merged.ok, true, JSON.stringify(merged));
  assert.equal(merged['cell'], 'c1');
  assert.equal(merged['absorbed'], right);
  console.log(`# merge took ${mergeMs} ms (freeze at ${String(merged['freezeIndex'])}, commit at ${String(merged['commitIndex'])}); writer attempts that failed: ${failures}`);

  await waitFor('every node: c1 covers everything, the right cell retired', async () => {
    for (const n of c.nodes) {
      const st = (await c.status(n.id)) as unknown as { cells: CellView[] };
      const l = st.cells.find((x) => x.cell === 'c1');
      if (!l || l.start !== '' || l.end !== null || st.cells.some((x) => x.cell === right)) return false;
    }
    return true;
  }, 30_000);
  await waitFor('the directory has c1 alone over the keyspace', async () => {
    const d = await c.client.directory(true);
    const data = d.cells.filter((x) => x.id !== 'meta');
    return data.length === 1 && data[0]!.id === 'c1' && data[0]!.end === null;
  });
  await new Promise((r) => setTimeout(r, 300));
  writing = false;
  await Promise.all(writers);

  // Every acknowledged write is there; old keys in place; new versions above the old ones.
  for (const [k, v] of acked) {
    const got = (await c.client.get('t1', enc(k))).result;
    assert.equal(got.status === 'ok' && dec(got.value), v, `acknowledged ${k}=${v}`);
  }
  for (const k of ['a', 'b', 'x', 'z', 'n']) {
    const got = (await c.client.get('t1', enc(k))).result;
    assert.equal(got.status === 'ok' && dec(got.value), k === 'n' ? 'n149' : `${k}0`, k);
    const v = version((await c.client.put('t1', enc(k), enc(`${k}1`))).result);
    assert.ok(v > before[k]!, `${k}: version ${v} after the merge is above ${before[k]} before it`);
  }
  // A write applied in the absorbed cell, retried after the merge: answered with its first result.
  const again = (await c.client.put('t1', enc('x'), enc('x-retry'), { requestId: 'pre-x' })).result;
  assert.equal(version(again), before['x'], 'the retry answered with the first result');

  // Replicas agree (data and usage counters).
  await waitFor('replicas of c1 agree', async () => {
    const ds = await Promise.all(c.nodes.map((n) => c.launcher.adminRequest<Reply>(n.id, { op: 'digest', cell: 'c1' }, 5000)));
    return ds.every((d) => d.ok && d['digest'] === ds[0]!['digest'] && d['applied'] === ds[0]!['applied']);
  });

  // Merging cells that are not neighbours is refused and changes nothing.
  const bad = await c.launcher.adminRequest<Reply>(mergeAt, { op: 'merge', left: 'c1', right: 'c1' }, 10_000);
  assert.equal(bad.ok, false);
  assert.equal(bad.code, 'INVALID_ARGUMENT');

  // A restart keeps the merged cell and does not bring the retired one back.
  const victim = c.nodes.find((x) => x.id !== mergeAt)!.id;
  await c.terminate(victim);
  await c.startNode(victim);
  await waitFor('the restarted node hosts the merged cell only', async () => {
    const st = (await c.status(victim)) as unknown as { cells: CellView[] };
    return st.cells.some((x) => x.cell === 'c1' && x.end === null) && !st.cells.some((x) => x.cell === right);
  });
  const z = version((await c.client.put('t1', enc('z'), enc('z2'))).result);
  assert.ok(z > before['z']!);
});
