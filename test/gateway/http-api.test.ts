// The HTTP data API against a real cluster (nats-server + three cell nodes) and a real
// in-process gateway with real JWTs: kv routes, scans, batches, binary keys, malformed input.
// Auth, admin, health and the NATS door are in front-doors.test.ts.
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { CellCluster } from '../support/cell-cluster.js';
import type { Gateway } from '../../gateway/server.js';
import { makeKeys, mintToken, pctAll, raw, startTestGateway, te, type RawResponse, type TestKeys } from './support.js';

let c: CellCluster;
let gw: Gateway;
let keys: TestKeys;
let rw: string; // acme: kv:read kv:write
let admin: string;
let readOnly: string;

before(async () => {
  [c, keys] = await Promise.all([CellCluster.start(), makeKeys()]);
  gw = await startTestGateway(c.nats.url, keys, { maxValueBytes: 64 * 1024 });
  [rw, admin, readOnly] = await Promise.all([
    mintToken(keys, { tenant: 'acme' }),
    mintToken(keys, { tenant: 'acme', scope: 'kv:admin' }),
    mintToken(keys, { tenant: 'acme', scope: 'kv:read' }),
  ]);
});
after(async () => {
  await gw?.stop();
  await c?.stop();
  await keys?.cleanup();
});

function req(method: string, path: string, o: { token?: string | null; headers?: Record<string, string>; body?: Uint8Array | string } = {}): Promise<RawResponse> {
  const headers: Record<string, string> = { ...(o.headers ?? {}) };
  const token = o.token === undefined ? rw : o.token;
  if (token !== null) headers['authorization'] = `Bearer ${token}`;
  return raw(gw.url, method, path, headers, o.body);
}

function assertProblem(r: RawResponse, status: number, code: string): Record<string, unknown> {
  assert.equal(r.status, status, `expected ${status} ${code}, got ${r.status}: ${r.text()}`);
  assert.match(String(r.headers['content-type']), /^application\/problem\+json/);
  const p = r.json();
  assert.equal(p['code'], code);
  assert.equal(p['status'], status);
  assert.equal(typeof p['type'], 'string');
  assert.equal(typeof p['title'], 'string');
  assert.equal(typeof p['detail'], 'string');
  return p;
}

async function valueOf(path: string, token = rw): Promise<string | null> {
  const r = await req('GET', path, { token });
  if (r.status === 404) return null;
  assert.equal(r.status, 200, r.text());
  return r.text();
}

describe('kv routes', () => {
  test('put, get, overwrite, delete with ETag, session, attrs and TTL', async () => {
    const put = await req('PUT', '/v1/kv/user/1?ttl=3600', { headers: { 'x-kv-attr-color': 'blue', 'X-KV-Attr-Owner': 'team a' }, body: 'hello' });
    assert.equal(put.status, 201, put.text());
    const pj = put.json<{ version: string; session: string; created: boolean }>();
    assert.match(pj.version, /^[0-9]+$/);
    assert.equal(put.headers['etag'], `"${pj.version}"`);
    assert.equal(put.headers['x-kv-session'], pj.session);
    const get = await req('GET', '/v1/kv/user/1');
    assert.equal(get.status, 200);
    assert.equal(get.text(), 'hello');
    assert.equal(get.headers['content-type'], 'application/octet-stream');
    assert.equal(get.headers['etag'], `"${pj.version}"`);
    assert.equal(get.headers['x-kv-attr-color'], 'blue');
    assert.equal(get.headers['x-kv-attr-owner'], 'team a');
    const exp = Number(get.headers['x-kv-expires-at']);
    assert.ok(exp > Date.now() + 3500_000 && exp <= Date.now() + 3600_000, `expires-at ${exp}`);
    assert.ok(typeof get.headers['x-kv-session'] === 'string');
    const head = await req('HEAD', '/v1/kv/user/1');
    assert.equal(head.status, 200);
    assert.equal(head.body.length, 0);

    const over = await req('PUT', '/v1/kv/user/1', { body: 'world' });
    assert.equal(over.status, 200);
    assert.ok(BigInt(over.json<{ version: string }>().version) > BigInt(pj.version));
    const after = await req('GET', '/v1/kv/user/1');
    assert.equal(after.text(), 'world');
    assert.equal(after.headers['x-kv-expires-at'], undefined, 'an overwrite without ttl clears the expiry');
    assert.equal(after.headers['x-kv-attr-color'], undefined, 'attributes are replaced by the write');

    const del = await req('DELETE', '/v1/kv/user/1');
    assert.equal(del.status, 204);
    assert.ok(del.headers['x-kv-session']);
    assertProblem(await req('GET', '/v1/kv/user/1'), 404, 'NOT_FOUND');
    assertProblem(await req('DELETE', '/v1/kv/user/1'), 404, 'NOT_FOUND');
  });

  test('empty value and a value at the size limit round-trip', async () => {
    assert.equal((await req('PUT', '/v1/kv/empty', { body: '' })).status, 201);
    assert.equal(await valueOf('/v1/kv/empty'), '');
    const big = new Uint8Array(64 * 1024).map((_, i) => i % 251);
    assert.equal((await req('PUT', '/v1/kv/big', { body: big })).status, 201);
    const got = await req('GET', '/v1/kv/big');
    assert.deepEqual(new Uint8Array(got.body), big);
  });

  test('binary keys: /, %2F, %00, %FF, dot segments and + are distinct key bytes', async () => {
    const cases: [string, Uint8Array][] = [
      ['/v1/kv/a/b', te.encode('a/b')],
      ['/v1/kv/a%2Fb', te.encode('a/b')], // the same bytes as a literal slash
      ['/v1/kv/%00%FF%2F', new Uint8Array([0, 0xff, 0x2f])],
      ['/v1/kv/x/../y', te.encode('x/../y')],
      ['/v1/kv/%2e%2e', te.encode('..')],
      ['/v1/kv/a+b', te.encode('a+b')],
      ['/v1/kv/%E2%82%AC', te.encode('€')],
    ];
    for (const [i, [path]] of cases.entries()) {
      const r = await req('PUT', path, { body: `v${i}` });
      assert.ok(r.status === 200 || r.status === 201, `${path}: ${r.status} ${r.text()}`);
    }
    for (const [i, [path, bytes]] of cases.entries()) {
      // Read back through the fully percent-encoded form of the bytes: the same key.
      const last = cases.map(([, b], j) => [b, j] as const).filter(([b]) => Buffer.compare(b, bytes) === 0).pop()![1];
      assert.equal(await valueOf(`/v1/kv/${pctAll(bytes)}`), `v${last}`, path);
      if (last === i) assert.equal(await valueOf(path), `v${i}`);
    }
    // A 4096-byte binary key is fine; 4097 bytes is not.
    const k4096 = new Uint8Array(4096).fill(0xff);
    assert.equal((await req('PUT', `/v1/kv/${pctAll(k4096)}`, { body: 'max' })).status, 201);
    assert.equal(await valueOf(`/v1/kv/${pctAll(k4096)}`), 'max');
  });

  test('If-Match CAS, If-None-Match create-only, 412 carries the current version', async () => {
    const v1 = (await req('PUT', '/v1/kv/cas', { body: 'a' })).json<{ version: string }>().version;
    const ok = await req('PUT', '/v1/kv/cas', { headers: { 'if-match': `"${v1}"` }, body: 'b' });
    assert.equal(ok.status, 200);
    const v2 = ok.json<{ version: string }>().version;
    const stale = await req('PUT', '/v1/kv/cas', { headers: { 'if-match': `"${v1}"` }, body: 'x' });
    const p = assertProblem(stale, 412, 'VERSION_MISMATCH');
    assert.equal(p['currentVersion'], v2);
    assert.equal(stale.headers['etag'], `"${v2}"`);
    const exists = await req('PUT', '/v1/kv/cas', { headers: { 'if-none-match': '*' }, body: 'x' });
    assert.equal(assertProblem(exists, 412, 'ALREADY_EXISTS')['currentVersion'], v2);
    assert.equal(await valueOf('/v1/kv/cas'), 'b');
    assert.equal((await req('PUT', '/v1/kv/cas-new', { headers: { 'if-none-match': '*' }, body: 'n' })).status, 201);
    const absent = await req('PUT', '/v1/kv/cas-absent', { headers: { 'if-match': '"5"' }, body: 'x' });
    assert.equal(assertProblem(absent, 412, 'VERSION_MISMATCH')['currentVersion'], null);
    assert.equal(await valueOf('/v1/kv/cas-absent'), null);
    assertProblem(await req('DELETE', '/v1/kv/cas', { headers: { 'if-match': `"${v1}"` } }), 412, 'VERSION_MISMATCH');
    assert.equal((await req('DELETE', '/v1/kv/cas', { headers: { 'if-match': `"${v2}"` } })).status, 204);
  });

  test('Idempotency-Key: a retried PUT applies at most once', async () => {
    const h = { 'idempotency-key': 'order-42-attempt' };
    const first = await req('PUT', '/v1/kv/idem', { headers: h, body: 'first' });
    const retry = await req('PUT', '/v1/kv/idem', { headers: h, body: 'second' });
    assert.equal(first.status, 201);
    assert.equal(retry.json<{ version: string }>().version, first.json<{ version: string }>().version);
    assert.equal(await valueOf('/v1/kv/idem'), 'first');
    // The same key from another tenant is another request altogether.
    const other = await mintToken(keys, { tenant: 'globex' });
    assert.equal((await req('PUT', '/v1/kv/idem', { token: other, headers: h, body: 'globex' })).status, 201);
    assert.equal(await valueOf('/v1/kv/idem', other), 'globex');
    assert.equal(await valueOf('/v1/kv/idem'), 'first');
  });

  test('read consistency: session token, stale with age, linearizable; bad values are 400', async () => {
    const put = await req('PUT', '/v1/kv/consistent', { body: 'v' });
    const session = put.json<{ session: string }>().session;
    const s = await req('GET', '/v1/kv/consistent?consistency=session', { headers: { 'x-kv-session': session } });
    assert.equal(s.status, 200);
    assert.equal(s.text(), 'v');
    const st = await req('GET', '/v1/kv/consistent?consistency=stale&max_staleness=5000');
    assert.equal(st.status, 200);
    assert.match(String(st.headers['x-kv-stale-age-ms']), /^[0-9]+$/);
    assert.equal((await req('GET', '/v1/kv/consistent?consistency=linearizable')).status, 200);
    // A forged index (MAC no longer matches) is not trusted: a prompt linearizable read, no wait.
    const [payload, mac] = session.split('.');
    const claims = JSON.parse(Buffer.from(payload!, 'base64url').toString()) as Record<string, unknown>;
    const forged = `${Buffer.from(JSON.stringify({ ...claims, i: '99999999999' })).toString('base64url')}.${mac}`;
    const t0 = Date.now();
    const f = await req('GET', '/v1/kv/consistent?consistency=session', { headers: { 'x-kv-session': forged } });
    assert.equal(f.status, 200);
    assert.ok(Date.now() - t0 < 1000);
    assertProblem(await req('GET', '/v1/kv/consistent?consistency=eventual'), 400, 'INVALID_ARGUMENT');
    assertProblem(await req('GET', '/v1/kv/consistent?consistency=session', { headers: { 'x-kv-session': 'not-a-token' } }), 400, 'INVALID_ARGUMENT');
    assertProblem(await req('GET', '/v1/kv/consistent?max_staleness=10'), 400, 'INVALID_ARGUMENT');
    assertProblem(await req('GET', '/v1/kv/consistent?consistency=stale&max_staleness=-1'), 400, 'INVALID_ARGUMENT');
    assertProblem(await req('GET', '/v1/kv/consistent?bogus=1'), 400, 'INVALID_ARGUMENT');
  });
});

describe('malformed input is a 4xx and writes nothing', () => {
  const bad: [string, string, Record<string, string>, string, number, string][] = [
    ['oversized key', `/v1/kv/${'k'.repeat(4097)}`, {}, 'v', 400, 'INVALID_ARGUMENT'],
    ['empty key', '/v1/kv/', {}, 'v', 400, 'INVALID_ARGUMENT'],
    ['bad percent-encoding', '/v1/kv/bad%G1', {}, 'v', 400, 'INVALID_ARGUMENT'],
    ['truncated percent', '/v1/kv/bad%F', {}, 'v', 400, 'INVALID_ARGUMENT'],
    ['ttl zero', '/v1/kv/m1?ttl=0', {}, 'v', 400, 'INVALID_ARGUMENT'],
    ['ttl negative', '/v1/kv/m1?ttl=-5', {}, 'v', 400, 'INVALID_ARGUMENT'],
    ['ttl fraction', '/v1/kv/m1?ttl=1.5', {}, 'v', 400, 'INVALID_ARGUMENT'],
    ['ttl text', '/v1/kv/m1?ttl=soon', {}, 'v', 400, 'INVALID_ARGUMENT'],
    ['ttl too big', '/v1/kv/m1?ttl=999999999999', {}, 'v', 400, 'INVALID_ARGUMENT'],
    ['ttl twice', '/v1/kv/m1?ttl=5&ttl=6', {}, 'v', 400, 'INVALID_ARGUMENT'],
    ['If-Match unquoted', '/v1/kv/m1', { 'if-match': '5' }, 'v', 400, 'INVALID_ARGUMENT'],
    ['If-Match weak', '/v1/kv/m1', { 'if-match': 'W/"5"' }, 'v', 400, 'INVALID_ARGUMENT'],
    ['If-Match star', '/v1/kv/m1', { 'if-match': '*' }, 'v', 400, 'INVALID_ARGUMENT'],
    ['If-Match list', '/v1/kv/m1', { 'if-match': '"1", "2"' }, 'v', 400, 'INVALID_ARGUMENT'],
    ['If-Match > u64', '/v1/kv/m1', { 'if-match': '"18446744073709551616"' }, 'v', 400, 'INVALID_ARGUMENT'],
    ['If-None-Match etag', '/v1/kv/m1', { 'if-none-match': '"1"' }, 'v', 400, 'INVALID_ARGUMENT'],
    ['both preconditions', '/v1/kv/m1', { 'if-match': '"1"', 'if-none-match': '*' }, 'v', 400, 'INVALID_ARGUMENT'],
    ['attr name', '/v1/kv/m1', { 'x-kv-attr-bad.name': 'x' }, 'v', 400, 'INVALID_ARGUMENT'],
    ['attr value too long', '/v1/kv/m1', { 'x-kv-attr-a': 'x'.repeat(1025) }, 'v', 400, 'INVALID_ARGUMENT'],
    ['idempotency key too long', '/v1/kv/m1', { 'idempotency-key': 'k'.repeat(256) }, 'v', 400, 'INVALID_ARGUMENT'],
    ['oversized value', '/v1/kv/m1', {}, 'x'.repeat(64 * 1024 + 1), 413, 'PAYLOAD_TOO_LARGE'],
  ];
  for (const [name, path, headers, body, status, code] of bad) {
    test(name, async () => {
      assertProblem(await req('PUT', path, { headers, body }), status, code);
    });
  }

  test('requests the HTTP parser rejects still get a problem document', async () => {
    const port = gw.port;
    const send = (text: string) =>
      new Promise<string>((resolve, reject) => {
        const sock = connect(port, '127.0.0.1', () => sock.end(text));
        let out = '';
        sock.on('data', (d: Buffer) => (out += d.toString('latin1')));
        sock.on('end', () => resolve(out));
        sock.on('error', reject);
      });
    for (const bad of ['GET /v1/kv/a HTTP/1.1\r\nHost: x\r\nno colon here\r\n\r\n', 'GET /v1/kv/a\\b HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n']) {
      const res = await send(bad);
      assert.match(res, /^HTTP\/1\.1 400 /);
      assert.match(res, /content-type: application\/problem\+json/i);
      assert.match(res, /"code":"INVALID_ARGUMENT"/);
    }
  });

  test('too many attribute headers', async () => {
    const headers: Record<string, string> = {};
    for (let i = 0; i < 17; i++) headers[`x-kv-attr-a${i}`] = 'v';
    assertProblem(await req('PUT', '/v1/kv/m1', { headers, body: 'v' }), 400, 'INVALID_ARGUMENT');
  });

  test('oversized chunked body is refused while streaming', async () => {
    const r = await req('PUT', '/v1/kv/m1', { headers: { 'transfer-encoding': 'chunked' }, body: 'y'.repeat(200 * 1024) });
    assertProblem(r, 413, 'PAYLOAD_TOO_LARGE');
  });

  test('none of the rejected writes above stored anything', async () => {
    assert.equal(await valueOf('/v1/kv/m1'), null);
    const scan = await req('GET', '/v1/scan?prefix=m1');
    assert.deepEqual(scan.json<{ items: unknown[] }>().items, []);
  });
});

describe('scan', () => {
  test('prefix, start/end, pagination with cursor, keys_only, encoding', async () => {
    for (const k of ['s/a', 's/b', 's/c', 's/d', 's/e', 't/a']) assert.ok((await req('PUT', `/v1/kv/${k}`, { body: `v-${k}` })).status < 300);
    await req('PUT', '/v1/kv/s%2F%FF', { body: new Uint8Array([0xfe]) });
    const all = await req('GET', '/v1/scan?prefix=s/');
    const items = all.json<{ items: { key: string; keyEncoding: string; value: string; valueEncoding: string; version: string }[]; cursor: null }>().items;
    assert.deepEqual(items.map((i) => i.key), ['s/a', 's/b', 's/c', 's/d', 's/e', Buffer.from([0x73, 0x2f, 0xff]).toString('base64')]);
    assert.equal(items[5]!.keyEncoding, 'base64');
    assert.equal(items[5]!.valueEncoding, 'base64');
    assert.equal(items[0]!.value, 'v-s/a');

    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const r = await req('GET', `/v1/scan?start=s/&end=s0&limit=2${cursor ? `&cursor=${cursor}` : ''}`);
      assert.equal(r.status, 200, r.text());
      const j = r.json<{ items: { key: string }[]; cursor: string | null }>();
      seen.push(...j.items.map((i) => i.key));
      cursor = j.cursor;
      pages++;
    } while (cursor && pages < 10);
    assert.equal(pages, 3);
    assert.equal(seen.length, 6);

    const ko = await req('GET', '/v1/scan?prefix=s/&keys_only=true&limit=1');
    const kj = ko.json<{ items: Record<string, unknown>[]; cursor: string }>();
    assert.equal(kj.items.length, 1);
    assert.equal(kj.items[0]!['value'], undefined);
    assert.equal(typeof kj.cursor, 'string');
    const b64 = await req('GET', '/v1/scan?prefix=t/&encoding=base64');
    assert.equal(b64.json<{ items: { key: string }[] }>().items[0]!.key, Buffer.from('t/a').toString('base64'));
  });

  test('a page of large values ends at the byte budget (a reply must fit one NATS message) and the cursor goes on', async () => {
    const value = new Uint8Array(60 * 1024).fill(7);
    for (let i = 0; i < 12; i++) assert.ok((await req('PUT', `/v1/kv/big/${String(i).padStart(2, '0')}`, { body: value })).status < 300);
    const first = (await req('GET', '/v1/scan?prefix=big/&limit=100')).json<{ items: { key: string; value: string }[]; cursor: string | null }>();
    assert.ok(first.items.length >= 1 && first.items.length < 12, `first page had ${first.items.length} items`);
    assert.equal(typeof first.cursor, 'string', 'a short page still has a cursor');
    const keys = first.items.map((i) => i.key);
    let cursor = first.cursor;
    for (let pages = 0; cursor && pages < 20; pages++) {
      const j = (await req('GET', `/v1/scan?prefix=big/&limit=100&cursor=${cursor}`)).json<{ items: { key: string }[]; cursor: string | null }>();
      keys.push(...j.items.map((i) => i.key));
      cursor = j.cursor;
    }
    assert.deepEqual(keys, Array.from({ length: 12 }, (_, i) => `big/${String(i).padStart(2, '0')}`));
    assert.equal(first.items[0]!.value.length, 60 * 1024, 'values are whole (UTF-8 text here)');
  });

  test('bad scan parameters are 400', async () => {
    const cases = [
      '/v1/scan?limit=0',
      '/v1/scan?limit=1001',
      '/v1/scan?limit=ten',
      '/v1/scan?cursor=***',
      '/v1/scan?cursor=',
      `/v1/scan?prefix=s/&cursor=${Buffer.from('zzz').toString('base64url')}`,
      '/v1/scan?prefix=a&start=b',
      '/v1/scan?start=b&end=a',
      '/v1/scan?keys_only=maybe',
      '/v1/scan?consistency=strong',
      '/v1/scan?encoding=hex',
      `/v1/scan?prefix=${'p'.repeat(4097)}`,
      '/v1/scan?unknown=1',
    ];
    for (const path of cases) assertProblem(await req('GET', path), 400, 'INVALID_ARGUMENT');
  });
});

describe('batch', () => {
  const post = (body: unknown, o: { token?: string; headers?: Record<string, string> } = {}) =>
    req('POST', '/v1/batch', { token: o.token ?? rw, headers: { 'content-type': 'application/json', ...(o.headers ?? {}) }, body: typeof body === 'string' ? body : JSON.stringify(body) });

  test('per-op results; binary via base64; cas; atomic all-or-nothing', async () => {
    const binKey = new Uint8Array([0, 0xfe, 0x2f, 0]);
    const bin = Buffer.from(binKey).toString('base64');
    const r = await post({
      ops: [
        { op: 'put', key: 'b/1', value: 'one', ttl: 60 },
        { op: 'put', key: bin, keyEncoding: 'base64', value: Buffer.from([1, 2, 0xff]).toString('base64'), valueEncoding: 'base64' },
        { op: 'get', key: 'b/1' },
        { op: 'get', key: 'b/missing' },
        { op: 'delete', key: 'b/missing' },
        { op: 'cas', key: 'b/1', value: 'x', ifVersion: '1' },
      ],
    });
    assert.equal(r.status, 200, r.text());
    const res = r.json<{ results: Record<string, unknown>[]; session: string }>().results;
    assert.deepEqual(res.map((x) => x['status']), [201, 201, 200, 404, 404, 412]);
    assert.equal(res[2]!['value'], 'one');
    assert.equal(typeof res[2]!['expiresAt'], 'number');
    assert.equal(res[3]!['code'], 'NOT_FOUND');
    assert.equal(res[5]!['code'], 'VERSION_MISMATCH');
    assert.equal(res[5]!['currentVersion'], res[0]!['version']);
    assert.deepEqual(new Uint8Array((await req('GET', `/v1/kv/${pctAll(binKey)}`)).body), new Uint8Array([1, 2, 0xff]));

    const v = String(res[0]!['version']);
    const atomicFail = await post({ atomic: true, ops: [{ op: 'put', key: 'b/atomic', value: 'a' }, { op: 'cas', key: 'b/1', value: 'z', ifVersion: '1' }] });
    const aj = atomicFail.json<{ applied: boolean; results: Record<string, unknown>[] }>();
    assert.equal(aj.applied, false);
    assert.equal(await valueOf('/v1/kv/b/atomic'), null, 'atomic: nothing applied');
    const atomicOk = await post({ atomic: true, ops: [{ op: 'put', key: 'b/atomic', value: 'a' }, { op: 'cas', key: 'b/1', value: 'z', ifVersion: v }] });
    assert.equal(atomicOk.json<{ applied: boolean }>().applied, true);
    assert.equal(await valueOf('/v1/kv/b/atomic'), 'a');
    assert.equal(await valueOf('/v1/kv/b/1'), 'z');
  });

  test('malformed batches are 400 and write nothing', async () => {
    const ops1001 = Array.from({ length: 1001 }, (_, i) => ({ op: 'put', key: `bad/${i}`, value: 'x' }));
    const cases: unknown[] = [
      { ops: ops1001 },
      { ops: [] },
      { ops: [{ op: 'put', key: 'bad/a', value: 'x' }, { op: 'put', key: '!!!', keyEncoding: 'base64', value: 'x' }] },
      { ops: [{ op: 'put', key: 'bad/a', value: '%%%', valueEncoding: 'base64' }] },
      { ops: [{ op: 'put', key: 'bad/a', value: 'x' }, { op: 'put', key: 'k'.repeat(4097), value: 'x' }] },
      { ops: [{ op: 'put', key: 'bad/a', value: 'x', ttl: 0 }] },
      { ops: [{ op: 'put', key: 'bad/a', value: 'x', ttl: 1.5 }] },
      { ops: [{ op: 'put', key: 'bad/a', value: 'x' }, { op: 'cas', key: 'bad/b', value: 'x' }] },
      { ops: [{ op: 'put', key: 'bad/a', value: 'x', ifVersion: 'abc' }] },
      { ops: [{ op: 'put', key: 'bad/a', value: 'x' }, { op: 'get', key: 'bad/a', value: 'x' }] },
      { ops: [{ op: 'put', key: 'bad/a', value: 'x' }, { op: 'merge', key: 'bad/a' }] },
      { ops: [{ op: 'put', key: 'bad/a', value: 'x', extra: true }] },
      { ops: [{ op: 'put', key: 'bad/a', value: 'x' }], atomic: 'yes' },
      { ops: [{ op: 'put', key: 'bad/a', value: 'x' }], session: 'garbage' },
      { ops: [{ op: 'put', key: 'bad/a', value: 'x', attrs: { 'Bad Name': 'x' } }] },
      { ops: [{ op: 'put', key: 'bad/a', value: '\ud800' }] },
      { ops: 'nope' },
      [1, 2, 3],
      '{"ops": [',
      'null',
    ];
    for (const body of cases) assertProblem(await post(body), 400, 'INVALID_ARGUMENT');
    assert.equal(await valueOf('/v1/kv/bad/a'), null);
    assert.equal(await valueOf('/v1/kv/bad/0'), null);
  });

  test('scopes: reads need kv:read, writes kv:write', async () => {
    assert.equal((await post({ ops: [{ op: 'get', key: 'b/1' }] }, { token: readOnly })).status, 200);
    assertProblem(await post({ ops: [{ op: 'put', key: 'b/ro', value: 'x' }] }, { token: readOnly }), 403, 'PERMISSION_DENIED');
    assertProblem(await post({ ops: [{ op: 'get', key: 'b/1' }] }, { token: admin }), 403, 'PERMISSION_DENIED');
    assert.equal(await valueOf('/v1/kv/b/ro'), null);
  });
});
