// Quotas, rate limits, usage and hot keys against a real cluster (nats-server + three cell node
// processes), a real in-process gateway and real JWTs; the admin CLI as a child process.
// One cluster for the file; each test uses its own tenant.
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { headers as natsHeaders } from '@nats-io/transport-node';
import { CellCluster } from '../support/cell-cluster.js';
import type { Gateway } from '../../gateway/server.js';
import { makeKeys, mintToken, raw, startTestGateway, te, type RawResponse, type TestKeys } from './support.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
let c: CellCluster;
let gw: Gateway;
let keys: TestKeys;
let admin: string;
const tokens = new Map<string, string>();

before(async () => {
  [c, keys] = await Promise.all([CellCluster.start(), makeKeys()]);
  gw = await startTestGateway(c.nats.url, keys, { quotaRefreshMs: 200, hotKeys: { threshold: 1, staleCacheMaxAgeMs: 5000 } });
  admin = await mintToken(keys, { tenant: 'ops', scope: 'kv:admin' });
  for (const t of ['q-crud', 'q-rate', 'q-keys', 'q-bytes', 'q-usage', 'q-hot']) tokens.set(t, await mintToken(keys, { tenant: t }));
});
after(async () => {
  await gw?.stop();
  await c?.stop();
  await keys?.cleanup();
});

function req(method: string, path: string, token: string | null, body?: string | Uint8Array, headers: Record<string, string> = {}): Promise<RawResponse> {
  return raw(gw.url, method, path, { ...(token !== null ? { authorization: `Bearer ${token}` } : {}), ...headers }, body);
}
const as = (tenant: string) => tokens.get(tenant)!;

function assertProblem(r: RawResponse, status: number, code: string): Record<string, unknown> {
  assert.equal(r.status, status, `expected ${status} ${code}, got ${r.status}: ${r.text()}`);
  assert.match(String(r.headers['content-type']), /^application\/problem\+json/);
  const p = r.json();
  assert.equal(p['code'], code);
  return p;
}

async function waitFor(what: string, fn: () => Promise<boolean>, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await fn().catch(() => false)) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${what}`);
}

async function nodeAdmin(node: string, body: unknown): Promise<Record<string, unknown>> {
  const m = await c.nc.request(`cellkv.admin.${node}`, te.encode(JSON.stringify(body)), { timeout: 2000 });
  return JSON.parse(new TextDecoder().decode(m.data)) as Record<string, unknown>;
}

async function usageOf(tenant: string): Promise<{ keys: number; bytes: number; complete: boolean }> {
  const r = await req('GET', `/v1/admin/tenants/${tenant}/usage`, admin);
  assert.equal(r.status, 200, r.text());
  return r.json<{ keys: number; bytes: number; complete: boolean }>();
}

function cli(args: readonly string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [join(ROOT, 'cli/bin.mjs'), ...args, '--nats', c.nats.url], { cwd: ROOT, timeout: 30_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : 1) : 0, stdout, stderr });
    });
  });
}

describe('tenant admin', () => {
  test('create, replace, read, list and delete records over HTTP', async () => {
    assertProblem(await req('GET', '/v1/admin/tenants/q-crud', admin), 404, 'NOT_FOUND');
    const created = await req('PUT', '/v1/admin/tenants/q-crud', admin, JSON.stringify({ maxKeys: 10, opsPerSec: 100 }));
    assert.equal(created.status, 201, created.text());
    assert.deepEqual(created.json(), { id: 'q-crud', maxKeys: 10, opsPerSec: 100 });
    const replaced = await req('PUT', '/v1/admin/tenants/q-crud', admin, JSON.stringify({ maxBytes: 1000, maxKeys: null }));
    assert.equal(replaced.status, 200, 'replacing is 200');
    assert.deepEqual((await req('GET', '/v1/admin/tenants/q-crud', admin)).json(), { id: 'q-crud', maxBytes: 1000 }, 'PUT replaces the whole record');
    const list = (await req('GET', '/v1/admin/tenants', admin)).json<{ tenants: { id: string }[] }>();
    assert.ok(list.tenants.some((t) => t.id === 'q-crud'));
    assert.equal((await req('DELETE', '/v1/admin/tenants/q-crud', admin)).status, 204);
    assertProblem(await req('DELETE', '/v1/admin/tenants/q-crud', admin), 404, 'NOT_FOUND');
    assertProblem(await req('GET', '/v1/admin/tenants/q-crud', admin), 404, 'NOT_FOUND');
  });

  test('kv:admin is required (403), a token is required (401), bad input is 400, wrong method 405', async () => {
    const rw = as('q-crud');
    for (const [m, p, body] of [
      ['GET', '/v1/admin/tenants', undefined],
      ['GET', '/v1/admin/tenants/q-crud', undefined],
      ['PUT', '/v1/admin/tenants/q-crud', '{"maxKeys":1}'],
      ['DELETE', '/v1/admin/tenants/q-crud', undefined],
      ['GET', '/v1/admin/tenants/q-crud/usage', undefined],
      ['GET', '/v1/admin/hot-keys', undefined],
    ] as const) {
      assertProblem(await req(m, p, rw, body), 403, 'PERMISSION_DENIED');
    }
    assertProblem(await req('GET', '/v1/admin/tenants', null), 401, 'UNAUTHENTICATED');
    const bad = ['{"maxKeys":-1}', '{"maxKeys":1.5}', '{"maxKeys":"10"}', '{"maxKeys":0}', '{"bogus":1}', '[]', 'not json', '{"opsPerSec":1e12}'];
    for (const body of bad) {
      const p = assertProblem(await req('PUT', '/v1/admin/tenants/q-crud', admin, body), 400, 'INVALID_ARGUMENT');
      assert.ok(String(p['detail']).length > 5, `a useful message for ${body}: ${String(p['detail'])}`);
    }
    assertProblem(await req('PUT', '/v1/admin/tenants/Not%20Valid', admin, '{}'), 400, 'INVALID_ARGUMENT');
    assertProblem(await req('GET', '/v1/admin/tenants/UPPER/usage', admin), 400, 'INVALID_ARGUMENT');
    assertProblem(await req('GET', '/v1/admin/tenants?x=1', admin), 400, 'INVALID_ARGUMENT');
    const post = await req('POST', '/v1/admin/tenants/q-crud', admin, '{}');
    assert.equal(post.status, 405);
    assert.match(String(post.headers['allow']), /PUT/);
    assertProblem(await req('GET', '/v1/admin/tenants/q-crud', admin), 404, 'NOT_FOUND');
  });

  test('the CLI: tenants set (merging), get, usage, list, delete', async () => {
    const set = await cli(['tenants', 'set', 'q-cli', '--max-keys', '7', '--ops-per-sec', '50']);
    assert.equal(set.code, 0, set.stderr);
    const change = await cli(['tenants', 'set', 'q-cli', '--max-bytes', '4096', '--ops-per-sec', 'none']);
    assert.equal(change.code, 0, change.stderr);
    const [get, usage, missing] = await Promise.all([
      cli(['tenants', 'get', 'q-cli', '--json']),
      cli(['tenants', 'usage', 'q-cli', '--json']),
      cli(['tenants', 'get', 'q-nobody']),
    ]);
    assert.deepEqual(JSON.parse(get.stdout), { id: 'q-cli', maxKeys: 7, maxBytes: 4096 }, 'set keeps what it was not told to change');
    assert.deepEqual({ ...JSON.parse(usage.stdout), cells: 0, cellsAnswered: 0 }, { tenant: 'q-cli', keys: 0, bytes: 0, cells: 0, cellsAnswered: 0, record: { id: 'q-cli', maxKeys: 7, maxBytes: 4096 } });
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /^cellkv: NOT_FOUND: tenant q-nobody/m);
    const del = await cli(['tenants', 'delete', 'q-cli']);
    assert.equal(del.code, 0, del.stderr);
    assertProblem(await req('GET', '/v1/admin/tenants/q-cli', admin), 404, 'NOT_FOUND');
  });
});

describe('rate limits', () => {
  test('past opsPerSec: 429 RATE_LIMITED with Retry-After on both doors; recovers after waiting', async () => {
    assert.equal((await req('PUT', '/v1/admin/tenants/q-rate', admin, JSON.stringify({ opsPerSec: 5 }))).status, 201);
    const t = as('q-rate');
    const answers = await Promise.all(Array.from({ length: 12 }, () => req('GET', '/v1/kv/r', t)));
    const limited = answers.filter((r) => r.status === 429);
    // The burst of 5 (plus what refills while the 12 requests are served) passes; the rest wait.
    assert.ok(answers.filter((r) => r.status === 404).length <= 6, 'about the burst passes');
    assert.ok(limited.length >= 6, `${limited.length} limited`);
    const p = assertProblem(limited[0]!, 429, 'RATE_LIMITED');
    assert.equal(limited[0]!.headers['retry-after'], '1');
    assert.equal(p['retryAfter'], 1);

    const h = natsHeaders();
    h.set('Authorization', `Bearer ${t}`);
    const m = await c.nc.request('cellkv.api.v1.get', te.encode(JSON.stringify({ key: Buffer.from('r').toString('base64') })), { timeout: 5000, headers: h });
    const reply = JSON.parse(new TextDecoder().decode(m.data)) as Record<string, unknown>;
    assert.equal(reply['status'], 429, JSON.stringify(reply));
    assert.equal(reply['code'], 'RATE_LIMITED');
    assert.equal(reply['retryAfter'], 1);

    await new Promise((r) => setTimeout(r, 1100));
    assert.equal((await req('PUT', '/v1/kv/r', t, 'v')).status, 201, 'tokens came back');
    await req('DELETE', '/v1/admin/tenants/q-rate', admin);
  });
});

describe('size quotas', () => {
  test('maxKeys: growth past it is refused and writes nothing; overwrites and deletes pass; a delete frees room', async () => {
    await req('PUT', '/v1/admin/tenants/q-keys', admin, JSON.stringify({ maxKeys: 3 }));
    const t = as('q-keys');
    for (const k of ['k1', 'k2', 'k3']) assert.equal((await req('PUT', `/v1/kv/${k}`, t, 'v')).status, 201);
    const over = await req('PUT', '/v1/kv/k4', t, 'v');
    const p = assertProblem(over, 429, 'QUOTA_EXCEEDED');
    assert.ok(Number(over.headers['retry-after']) >= 1);
    assert.match(String(p['detail']), /maxKeys 3/);
    assertProblem(await req('GET', '/v1/kv/k4', t), 404, 'NOT_FOUND');
    const batch = await req('POST', '/v1/batch', t, JSON.stringify({ ops: [{ op: 'put', key: 'k1', value: 'x' }, { op: 'put', key: 'k5', value: 'x' }] }));
    assertProblem(batch, 429, 'QUOTA_EXCEEDED');
    assert.equal((await req('GET', '/v1/kv/k1', t)).text(), 'v', 'the rejected batch wrote nothing');
    assert.equal((await req('PUT', '/v1/kv/k1', t, 'overwrite')).status, 200, 'an overwrite does not grow the key count');
    assert.equal((await req('DELETE', '/v1/kv/k2', t)).status, 204, 'deletes are always allowed');
    assert.equal((await req('PUT', '/v1/kv/k4', t, 'v')).status, 201, 'the delete made room');
    assertProblem(await req('PUT', '/v1/kv/k5', t, 'v'), 429, 'QUOTA_EXCEEDED');
    await waitFor('usage to settle at 3 keys', async () => (await usageOf('q-keys')).keys === 3);
  });

  test('maxBytes: key+value bytes; shrinking overwrites pass at the limit', async () => {
    await req('PUT', '/v1/admin/tenants/q-bytes', admin, JSON.stringify({ maxBytes: 100 }));
    const t = as('q-bytes');
    const v = (n: number) => 'x'.repeat(n);
    assert.equal((await req('PUT', '/v1/kv/a', t, v(40))).status, 201); // 41
    assert.equal((await req('PUT', '/v1/kv/b', t, v(40))).status, 201); // 82
    assertProblem(await req('PUT', '/v1/kv/c', t, v(30)), 429, 'QUOTA_EXCEEDED'); // would be 113
    assertProblem(await req('PUT', '/v1/kv/b', t, v(60)), 429, 'QUOTA_EXCEEDED'); // growing overwrite: 102
    assert.equal((await req('PUT', '/v1/kv/a', t, v(10))).status, 200, 'shrinking'); // 52
    assert.equal((await req('PUT', '/v1/kv/c', t, v(30))).status, 201); // 83
    assertProblem(await req('PUT', '/v1/kv/huge', t, v(200)), 429, 'QUOTA_EXCEEDED');
    await waitFor('usage to show 83 bytes', async () => {
      const u = await usageOf('q-bytes');
      return u.keys === 3 && u.bytes === 83 && u.complete;
    });
  });
});

describe('usage accounting', () => {
  test('put, overwrite, delete and TTL expiry; identical on every replica (usage and digest)', async () => {
    const t = as('q-usage');
    assert.equal((await req('PUT', '/v1/kv/a', t, '12345')).status, 201);
    assert.equal((await req('PUT', '/v1/kv/b', t, '1234567890')).status, 201);
    assert.deepEqual(await usageOf('q-usage').then((u) => [u.keys, u.bytes]), [2, 6 + 11]);
    assert.equal((await req('PUT', '/v1/kv/b', t, '123')).status, 200);
    assert.equal((await req('DELETE', '/v1/kv/a', t)).status, 204);
    assert.deepEqual(await usageOf('q-usage').then((u) => [u.keys, u.bytes]), [1, 4]);
    assert.equal((await req('PUT', '/v1/kv/tt?ttl=1', t, 'x')).status, 201);
    const u = await usageOf('q-usage');
    assert.deepEqual([u.keys, u.bytes], [2, 4 + 3], 'a key with a TTL counts while stored');
    assert.equal(u.complete, true);
    await waitFor('the expiry sweep to delete the key and its usage', async () => (await usageOf('q-usage')).keys === 1, 10_000);

    const nodes = c.nodes.map((n) => n.id);
    await waitFor('every replica to report the same usage', async () => {
      const all = await Promise.all(nodes.map((n) => nodeAdmin(n, { op: 'usage', tenants: ['q-usage'] })));
      return all.every((r) => JSON.stringify((r['cells'] as { usage: unknown }[])[0]!.usage) === JSON.stringify({ 'q-usage': { keys: 1, bytes: 4 } }));
    });
    await waitFor('identical digests (data and usage records) at one applied index', async () => {
      const d = await Promise.all(nodes.map((n) => nodeAdmin(n, { op: 'digest', cell: 'c1' })));
      return d.every((x) => x['ok'] === true && x['applied'] === d[0]!['applied'] && x['digest'] === d[0]!['digest']);
    });
    const bad = await nodeAdmin(nodes[0]!, { op: 'usage', tenants: ['NOPE'] });
    assert.equal(bad['code'], 'INVALID_ARGUMENT');
  });
});

describe('hot keys', () => {
  test('concurrent linearizable reads share cell reads and see the latest write; stale reads hit the cache with their age', async () => {
    const t = as('q-hot');
    assert.equal((await req('PUT', '/v1/kv/hot', t, 'v1')).status, 201);
    assert.equal((await req('PUT', '/v1/kv/hot', t, 'v2')).status, 200);
    const reads = await Promise.all(Array.from({ length: 40 }, () => req('GET', '/v1/kv/hot', t)));
    for (const r of reads) assert.equal(r.text(), 'v2', 'every read after the acknowledged write sees it');
    const metrics = await (await fetch(`${gw.url}/metrics`)).text();
    const shared = Number(/cellkv_gateway_hot_key_reads_total\{served_by="single_flight"\} (\d+)/.exec(metrics)?.[1] ?? 0);
    assert.ok(shared > 0, `single-flight shared reads (${shared})`);
    assert.match(metrics, /cellkv_gateway_hot_keys \d+/);

    const s1 = await req('GET', '/v1/kv/hot?consistency=stale', t);
    assert.equal(s1.status, 200);
    await new Promise((r) => setTimeout(r, 60));
    const s2 = await req('GET', '/v1/kv/hot?consistency=stale&max_staleness=4000', t);
    assert.equal(s2.text(), 'v2');
    const age1 = Number(s1.headers['x-kv-stale-age-ms']);
    const age2 = Number(s2.headers['x-kv-stale-age-ms']);
    assert.ok(age2 >= age1 + 50, `a cached answer reports its true age (${age1} then ${age2})`);
    const tight = await req('GET', '/v1/kv/hot?consistency=stale&max_staleness=10', t);
    assert.ok(Number(tight.headers['x-kv-stale-age-ms']) <= 10 || tight.status === 503, 'an entry older than max_staleness is not served');
    assert.match(await (await fetch(`${gw.url}/metrics`)).text(), /cellkv_gateway_hot_key_reads_total\{served_by="stale_cache"\} [1-9]/);

    const view = await req('GET', '/v1/admin/hot-keys?limit=5', admin);
    assert.equal(view.status, 200, view.text());
    const v = view.json<{ keys: { tenant: string; key: string; count: number; hot: boolean }[]; singleFlightShared: number }>();
    const top = v.keys.find((k) => k.tenant === 'q-hot' && k.key === Buffer.from('hot').toString('base64'));
    assert.ok(top && top.hot && top.count >= 40, JSON.stringify(v.keys));
    assert.ok(v.keys.length <= 5);
    assert.ok(v.singleFlightShared > 0);
  });
});
