// Real processes: automatic merges. With the size threshold and the merge cool-down scaled
// down, loading data splits the cell by size into several cells; deleting nearly every key then
// empties them, and they merge back (delete-aware: an emptied cell waits only the short delay)
// until one cell holds the keyspace. The keys left keep their values throughout.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { CellCluster } from '../../support/cell-cluster.js';
import { dec, enc, version } from '../../support/cell-ops.js';
import { waitFor } from '../../support/wait.js';
import { namespacedKey } from '../../../shared/keys.js';

let c: CellCluster | null = null;
after(async () => {
  await c?.stop();
});

const key = (i: number) => enc(`k${String(i).padStart(5, '0')}`);
const dataCells = async (cl: CellCluster) => (await cl.client.directory(true)).cells.filter((x) => x.id !== 'meta');

test('deletes empty split cells and they merge back into one', async () => {
  c = await CellCluster.start({ extraArgs: ['--split-max-bytes', '49152', '--split-size-bytes', '24576', '--split-min-keys', '16', '--rebalance-interval-ms', '200', '--merge-cooldown-ms', '3000'] });
  const cl = c;
  const value = new Uint8Array(200).fill(97);
  const versions: bigint[] = [];
  await Promise.all(
    Array.from({ length: 16 }, async (_, w) => {
      for (let i = w; i < 800; i += 16) versions[i] = version((await cl.client.put('t1', key(i), value)).result);
    }),
  );
  await waitFor('at least three data cells', async () => (await dataCells(cl)).length >= 3, 30_000, 200);
  const most = (await dataCells(cl)).length;
  // Delete all but the last 10 keys (the directory routes each delete to its cell).
  await Promise.all(
    Array.from({ length: 16 }, async (_, w) => {
      for (let i = w; i < 790; i += 16) {
        const r = (await cl.client.delete('t1', key(i))).result;
        assert.equal(r.status, 'ok');
      }
    }),
  );
  await waitFor('the emptied cells merged back into one', async () => (await dataCells(cl)).length === 1, 90_000, 500);
  const [only] = await dataCells(cl);
  assert.equal(only!.start, '');
  assert.equal(only!.end, null);
  console.log(`# ${most} cells after loading, 1 after the deletes`);
  for (let i = 0; i < 800; i++) {
    const got = (await cl.client.get('t1', key(i))).result;
    assert.equal(got.status, 'ok');
    if (i < 790) assert.equal(got.status === 'ok' && got.found, false, `key ${i} was deleted`);
    else assert.equal(got.status === 'ok' && dec(got.value)?.length, 200, `key ${i} kept its value`);
  }
  for (let i = 790; i < 800; i++) {
    const v = version((await cl.client.put('t1', key(i), enc('again'))).result);
    assert.ok(v > versions[i]!, `key ${i}: version ${v} above ${versions[i]}`);
  }
});

test('merge candidates on different nodes: a replica moves next to its neighbour, then they merge', async () => {
  // Six nodes, placement off: the operator's move is the only one besides the rebalancer's.
  const cl = await CellCluster.start({ nodes: 6, extraArgs: ['--rebalance-interval-ms', '200', '--merge-cooldown-ms', '3000', '--placement-interval-ms', '0'] });
  try {
    for (const k of ['a', 'b', 'x', 'y']) version((await cl.client.put('t1', enc(k), enc(`${k}0`))).result);
    const leader = await cl.leaderOf('c1');
    const split = await cl.launcher.adminRequest<{ ok: boolean; right?: string }>(leader, { op: 'split', cell: 'c1', splitKey: Buffer.from(namespacedKey('t1', enc('m'))).toString('hex') }, 10_000);
    assert.equal(split.ok, true, JSON.stringify(split));
    const right = split.right!;
    const moved = await cl.launcher.adminRequest<{ ok: boolean; message?: string }>(await cl.leaderOf(right), { op: 'move', cell: right, from: 'n1', to: 'n4' }, 120_000);
    assert.equal(moved.ok, true, JSON.stringify(moved));
    // Both cells are tiny: the left leader moves the right cell's replica back next to it, then merges.
    await waitFor('the two cells merged back into one', async () => (await dataCells(cl)).length === 1, 90_000, 500);
    for (const k of ['a', 'b', 'x', 'y']) {
      const got = (await cl.client.get('t1', enc(k))).result;
      assert.equal(got.status === 'ok' && dec(got.value), `${k}0`, k);
    }
  } finally {
    await cl.stop();
  }
});
