// Real processes: a cell split through the admin API on a three-node cluster on LevelDB. The
// data stays in place, both halves serve reads and writes, versions keep increasing across the
// split, the directory learns both cells, a retried write stays at most once across the split,
// and a restarted node reopens both cells from its disk.
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


interface SplitReply {
  ok: boolean;
  left?: string;
  right?: string;
  index?: number;
  code?: string;
  message?: string;
}

test('a split at a key: both halves serve, versions increase across it, the directory and a restart follow', async () => {
  const before: Record<string, bigint> = {};
  for (const k of ['a', 'b', 'm', 'n', 'z']) before[k] = version((await c.client.put('t1', enc(k), enc(`${k}0`), { requestId: `pre-${k}` })).result);

  const leader = await c.leaderOf('c1');
  const splitKey = namespacedKey('t1', enc('m'));
  const reply = await c.launcher.adminRequest<SplitReply>(leader, { op: 'split', cell: 'c1', splitKey: hexOf(splitKey) }, 10_000);
  assert.equal(reply.ok, true, JSON.stringify(reply));
  const right = reply.right!;
  assert.match(right, /^c[a-z0-9-]+$/);

  // Every node hosts both halves, with the new ranges and epoch 2.
  await waitFor('both cells on every node', async () => {
    for (const n of c.nodes) {
      const st = await c.status(n.id);
      const l = st.cells.find((x) => x.cell === 'c1');
      const r = st.cells.find((x) => x.cell === right);
      const view = (x: unknown) => x as { start: string; end: string | null; epoch: number };
      if (!l || !r || view(l).end !== hexOf(splitKey) || view(r).start !== hexOf(splitKey) || view(l).epoch !== 2 || view(r).epoch !== 2) return false;
    }
    return true;
  });
  await waitFor('the directory lists both cells', async () => {
    const d = await c.client.directory(true);
    return d.cells.some((x) => x.id === right && x.start === hexOf(splitKey)) && d.cells.some((x) => x.id === 'c1' && x.end === hexOf(splitKey));
  });

  // Old data in place on both sides; new writes on both sides get higher versions.
  for (const k of ['a', 'b', 'm', 'n', 'z']) {
    const got = (await c.client.get('t1', enc(k))).result;
    assert.equal(got.status === 'ok' && dec(got.value), `${k}0`, k);
    const v = version((await c.client.put('t1', enc(k), enc(`${k}1`))).result);
    assert.ok(v > before[k]!, `${k}: version ${v} after the split is above ${before[k]} before it`);
  }
  // A write retried with its request id after the split applies at most once (the new cell got the dedupe table).
  const again = (await c.client.put('t1', enc('n'), enc('n-retry'), { requestId: 'pre-n' })).result;
  assert.equal(version(again), before['n'], 'the retry answered with the first result');
  const n = (await c.client.get('t1', enc('n'))).result;
  assert.equal(n.status === 'ok' && dec(n.value), 'n1');

  // A split at a key the cell no longer owns is refused, and changes nothing.
  const outside = await c.launcher.adminRequest<SplitReply>(await c.leaderOf('c1'), { op: 'split', cell: 'c1', splitKey: hexOf(namespacedKey('t1', enc('q'))) }, 10_000);
  assert.equal(outside.ok, false);
  assert.equal(outside.code, 'INVALID_ARGUMENT');
  // A second split of the left half: three cells; a scan routed by the old directory must learn it.
  const second = await c.launcher.adminRequest<SplitReply>(await c.leaderOf('c1'), { op: 'split', cell: 'c1', splitKey: hexOf(namespacedKey('t1', enc('b'))) }, 10_000);
  assert.equal(second.ok, true, JSON.stringify(second));

  // A scan across both cells sees every key once.
  const keys: string[] = [];
  let start: Uint8Array = new Uint8Array(0);
  for (;;) {
    const page = await c.client.scan('t1', start, null, 100);
    for (const it of page.items) keys.push(dec(it.key)!);
    if (page.resumeKey === null) break;
    start = page.resumeKey;
  }
  for (const k of ['a', 'b', 'm', 'n', 'z']) assert.equal(keys.filter((x) => x === k).length, 1, `${k} in ${keys.join(',')}`);

  // A restarted node reopens both cells from its disk.
  const victim = c.nodes.find((x) => x.id !== leader)!.id;
  await c.terminate(victim);
  await c.startNode(victim);
  await waitFor('the restarted node hosts both cells', async () => {
    const st = await c.status(victim);
    const view = (x: unknown) => x as { cell: string; epoch: number };
    return st.cells.some((x) => x.cell === right && view(x).epoch === 2) && st.cells.some((x) => x.cell === second.right);
  });
  const z = version((await c.client.put('t1', enc('z'), enc('z2'))).result);
  assert.ok(z > before['z']!);
});
