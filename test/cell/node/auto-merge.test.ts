// Real processes: automatic merges. With the size threshold and the merge cool-down scaled
// down, loading data splits the cell by size into several cells; deleting nearly every key then
// empties them, and they merge back (delete-aware: an emptied cell waits only the short delay)
// until one cell holds the keyspace. The keys left keep their values throughout.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { CellCluster } from '../../support/cell-cluster.js';
import { dec, enc, version } from '../../support/cell-ops.js';
import { waitFor } from '../../support/wait.js';

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
