// Real processes: automatic splits. With the size threshold scaled down, loading data makes
// the cell split by size (more than once), every key stays readable with its value, and
// versions keep increasing, and leaders spread over the nodes; with the load threshold scaled down, a sustained load on a range
// splits it by load while a cold cell of the same size does not split.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { CellCluster } from '../../support/cell-cluster.js';
import { dec, enc, version } from '../../support/cell-ops.js';
import { waitFor } from '../../support/wait.js';

const clusters: CellCluster[] = [];
after(async () => {
  await Promise.all(clusters.map((c) => c.stop()));
});


async function metric(c: CellCluster, name: string): Promise<number> {
  let sum = 0;
  for (const n of c.nodes) {
    const text = await (await fetch(n.metricsUrl.replace(/\/?$/, '/metrics'))).text();
    for (const line of text.split('\n')) if (line.startsWith(name)) sum += Number(line.split(' ').pop());
  }
  return sum;
}

const key = (i: number) => enc(`k${String(i).padStart(5, '0')}`);

test('loading data splits a cell by size, again and again; every key keeps its value', async () => {
  const c = await CellCluster.start({ extraArgs: ['--split-max-bytes', '49152', '--split-size-bytes', '24576', '--split-min-keys', '16', '--rebalance-interval-ms', '200'] });
  clusters.push(c);
  const value = new Uint8Array(200).fill(97);
  const versions: bigint[] = [];
  for (let round = 0; round < 4; round++) {
    await Promise.all(
      Array.from({ length: 16 }, async (_, w) => {
        for (let i = round * 200 + w; i < (round + 1) * 200; i += 16) versions[i] = version((await c.client.put('t1', key(i), value)).result);
      }),
    );
  }
  // 800 keys of ~206 bytes (~165 KB) over a 48 KiB threshold: several size splits.
  await waitFor('at least three data cells', async () => (await c.client.directory(true)).cells.filter((x) => x.id !== 'meta').length >= 3, 30_000, 200);
  assert.ok((await metric(c, 'cellkv_cell_auto_splits_total{reason="size"}')) >= 2, 'size splits counted');
  // The halves start led by one node; leader balance spreads them over the nodes.
  await waitFor('data-cell leaders on at least two nodes', async () => {
    const d = await c.client.directory(true);
    const leaders = new Set(d.cells.filter((x) => x.id !== 'meta').map((x) => d.leaders[x.id]));
    return leaders.size >= 2;
  }, 30_000, 200);
  const cells = (await c.client.directory(true)).cells.filter((x) => x.id !== 'meta');
  // The cells tile the keyspace: sorted by start, each ends where the next starts.
  const sorted = [...cells].sort((a, b) => (a.start < b.start ? -1 : 1));
  assert.equal(sorted[0]!.start, '');
  assert.equal(sorted.at(-1)!.end, null);
  for (let i = 1; i < sorted.length; i++) assert.equal(sorted[i]!.start, sorted[i - 1]!.end, 'no gap, no overlap');
  for (let i = 0; i < 800; i += 37) {
    const got = (await c.client.get('t1', key(i))).result;
    assert.equal(got.status === 'ok' && got.found && dec(got.value)?.length, 200, `key ${i}`);
    const v = version((await c.client.put('t1', key(i), enc('again'))).result);
    assert.ok(v > versions[i]!, `key ${i}: version ${v} above ${versions[i]}`);
  }
});

test('a sustained load on one range splits it by load; a cold cell does not split', async () => {
  // No half of a split may be smaller than 1/16 of the size threshold: 400 keys of ~106 bytes
  // (~42 KB) under a 256 KiB threshold give halves above the 16 KiB minimum, and no size split.
  const c = await CellCluster.start({ extraArgs: ['--split-load-qps', '150', '--split-min-keys', '8', '--split-max-bytes', '262144', '--split-size-bytes', '131072', '--rebalance-interval-ms', '250'] });
  clusters.push(c);
  const value = new Uint8Array(100).fill(98);
  for (let i = 0; i < 400; i += 8) await Promise.all(Array.from({ length: 8 }, (_, j) => c.client.put('t1', key(i + j), value)));
  // Reads spread over keys 100..299 at well above 150/s for longer than the sustain window.
  let stop = false;
  const readers = Array.from({ length: 8 }, async (_, w) => {
    let i = w;
    while (!stop) {
      await c.client.get('t1', key(100 + (i % 200)));
      i += 8;
    }
  });
  try {
    await waitFor('a load split', async () => (await metric(c, 'cellkv_cell_auto_splits_total{reason="load"}')) >= 1, 40_000);
  } finally {
    stop = true;
    await Promise.all(readers);
  }
  const cells = (await c.client.directory(true)).cells.filter((x) => x.id !== 'meta');
  assert.ok(cells.length >= 2);
  // The cut falls inside the loaded range (between keys 100 and 299).
  const cut = cells.map((x) => x.start).filter((s) => s !== '').map((h) => dec(new Uint8Array(Buffer.from(h, 'hex')))!);
  assert.ok(cut.some((k) => k > 't1\u0000k00100' && k < 't1\u0000k00300'), `cuts ${cut.join(',')}`);
  assert.equal(await metric(c, 'cellkv_cell_auto_splits_total{reason="size"}'), 0);
});
