// The HTTP API across cell boundaries that move, against a real cluster and gateway: a scan
// paginated with a cursor while the cell under it splits and then merges back sees every key
// exactly once; a non-atomic batch spans two cells; an atomic one that spans them is refused
// with what to do; a session token keeps read-your-writes across a split.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { CellCluster } from '../support/cell-cluster.js';
import { waitFor } from '../support/wait.js';
import type { Gateway } from '../../gateway/server.js';
import { hexOf } from '../../shared/directory.js';
import { namespacedKey } from '../../shared/keys.js';
import { makeKeys, mintToken, raw, startTestGateway, type RawResponse, type TestKeys } from './support.js';

let c: CellCluster;
let gw: Gateway;
let keys: TestKeys;
let token: string;

before(async () => {
  [c, keys] = await Promise.all([CellCluster.start(), makeKeys()]);
  gw = await startTestGateway(c.nats.url, keys);
  token = await mintToken(keys, { tenant: 'acme' });
});
after(async () => {
  await gw?.stop();
  await c?.stop();
  await keys?.cleanup();
});

const req = (method: string, path: string, body?: string, headers: Record<string, string> = {}): Promise<RawResponse> =>
  raw(gw.url, method, path, { authorization: `Bearer ${token}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...headers }, body);
const key = (i: number) => `r/${String(i).padStart(3, '0')}`;
const dataCells = async () => (await c.client.directory(true)).cells.filter((x) => x.id !== 'meta');

async function split(at: string): Promise<string> {
  const cell = (await dataCells()).find((x) => (x.start === '' || x.start <= hexOf(namespacedKey('acme', new TextEncoder().encode(at)))) && (x.end === null || hexOf(namespacedKey('acme', new TextEncoder().encode(at))) < x.end))!;
  const reply = await c.launcher.adminRequest<{ ok: boolean; right?: string; message?: string }>(await c.leaderOf(cell.id), { op: 'split', cell: cell.id, splitKey: hexOf(namespacedKey('acme', new TextEncoder().encode(at))) }, 10_000);
  assert.equal(reply.ok, true, JSON.stringify(reply));
  await waitFor('every node hosts the new cell', async () => {
    for (const n of c.nodes) if (!(await c.status(n.id)).cells.some((x) => x.cell === reply.right)) return false;
    return true;
  });
  await waitFor('the directory lists the new cell', async () => (await dataCells()).some((x) => x.id === reply.right));
  // Its first election is over (what is tested here is routing, not the election's length).
  await c.leaderOf(reply.right!);
  return reply.right!;
}

test('a paginated scan sees every key once while its cell splits and merges back under it', async () => {
  for (let i = 0; i < 60; i++) assert.equal((await req('PUT', `/v1/kv/${key(i)}`, `v${i}`)).status, 201);
  const seen: string[] = [];
  let cursor: string | null = null;
  for (let page = 0; page < 20; page++) {
    const q = new URLSearchParams({ prefix: 'r/', limit: '7', ...(cursor !== null ? { cursor } : {}) });
    const r = await req('GET', `/v1/scan?${q}`);
    assert.equal(r.status, 200, r.text());
    const body = r.json<{ items: { key: string; value: string }[]; cursor: string | null }>();
    for (const it of body.items) {
      seen.push(it.key);
      assert.equal(it.value, `v${Number(it.key.slice(2))}`);
    }
    cursor = body.cursor;
    // After the first page the cell splits ahead of the cursor; after the third the halves merge.
    if (page === 0) await split(key(30));
    if (page === 2) {
      const cells = await dataCells();
      const right = cells.find((x) => x.start === hexOf(namespacedKey('acme', new TextEncoder().encode(key(30)))))!;
      const left = cells.find((x) => x.end === right.start)!;
      const merged = await c.launcher.adminRequest<{ ok: boolean; message?: string }>(await c.leaderOf(left.id), { op: 'merge', left: left.id, right: right.id }, 40_000);
      assert.equal(merged.ok, true, JSON.stringify(merged));
    }
    if (cursor === null) break;
  }
  assert.equal(cursor, null, 'the scan finished');
  assert.deepEqual(seen, Array.from({ length: 60 }, (_, i) => key(i)), 'every key once, in order');
});

test('batches across two cells: per-op results when not atomic; atomic is refused and changes nothing', async () => {
  const right = await split('s/m');
  assert.ok((await dataCells()).some((x) => x.id === right));
  const ops = [
    { op: 'put', key: 's/a', value: 'left' },
    { op: 'put', key: 's/z', value: 'right' },
  ];
  const ok = await req('POST', '/v1/batch', JSON.stringify({ ops }));
  assert.equal(ok.status, 200, ok.text() + JSON.stringify(await dataCells()));
  assert.deepEqual(ok.json<{ results: { status: number }[] }>().results.map((x) => x.status), [201, 201]);
  const atomic = await req('POST', '/v1/batch', JSON.stringify({ atomic: true, ops: [{ op: 'put', key: 's/b', value: 'x' }, { op: 'put', key: 's/y', value: 'x' }] }));
  assert.equal(atomic.status, 400, atomic.text());
  assert.match(atomic.text(), /atomic batch spans 2 cells/);
  assert.equal((await req('GET', '/v1/kv/s/b')).status, 404, 'nothing of the refused atomic batch applied');
  assert.equal((await req('GET', '/v1/kv/s/y')).status, 404);
});

test('a session token keeps read-your-writes across a split of its cell', async () => {
  const put = await req('PUT', '/v1/kv/t/k', 'one');
  assert.equal(put.status, 201);
  const session = String(put.headers['x-kv-session']);
  assert.ok(session.length > 0);
  await split('t/k');
  const r = await req('GET', '/v1/kv/t/k?consistency=session', undefined, { 'x-kv-session': session });
  assert.equal(r.status, 200, r.text());
  assert.equal(r.text(), 'one');
});
