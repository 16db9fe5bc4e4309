// Both front doors against a real cluster: JWT authentication and scopes, the NATS front door,
// tenant isolation over HTTP and NATS, admin/health/routing, trace context reaching the cells,
// and the gateway as a process (flags, ready line, SIGTERM).
import { test, before, after, describe } from 'node:test';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import assert from 'node:assert/strict';
import { headers as natsHeaders } from '@nats-io/transport-node';
import { CellCluster } from '../support/cell-cluster.js';
import type { Gateway } from '../../gateway/server.js';
import { decodeCellRequest } from '../../shared/codec/index.js';
import { AUDIENCE, ISSUER, makeKeys, mintToken, pctAll, raw, startTestGateway, te, type RawResponse, type TestKeys } from './support.js';

let c: CellCluster;
let gw: Gateway;
let keys: TestKeys;
let acme: string;
let globex: string;
let rw: string; // acme: kv:read kv:write
let admin: string;
let readOnly: string;

before(async () => {
  [c, keys] = await Promise.all([CellCluster.start(), makeKeys()]);
  gw = await startTestGateway(c.nats.url, keys);
  [acme, globex, admin, readOnly] = await Promise.all([
    mintToken(keys, { tenant: 'acme' }),
    mintToken(keys, { tenant: 'globex' }),
    mintToken(keys, { tenant: 'acme', scope: 'kv:admin' }),
    mintToken(keys, { tenant: 'acme', scope: 'kv:read' }),
  ]);
  rw = acme;
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
  return p;
}

async function valueOf(path: string, token = rw): Promise<string | null> {
  const r = await req('GET', path, { token });
  return r.status === 404 ? null : r.text();
}

type Reply = Record<string, unknown> & { ok: boolean; status: number };

async function nats(op: string, body: unknown, token: string | null = acme, extra: Record<string, string> = {}): Promise<Reply> {
  const h = natsHeaders();
  if (token !== null) h.set('Authorization', `Bearer ${token}`);
  for (const [k, v] of Object.entries(extra)) h.set(k, v);
  const payload = typeof body === 'string' ? te.encode(body) : te.encode(JSON.stringify(body));
  const m = await c.nc.request(`cellkv.api.v1.${op}`, payload, { timeout: 10_000, headers: h });
  return JSON.parse(new TextDecoder().decode(m.data)) as Reply;
}

const b64 = (b: Uint8Array | string) => Buffer.from(typeof b === 'string' ? te.encode(b) : b).toString('base64');
const http = (method: string, path: string, token: string, body?: string) => raw(gw.url, method, path, { authorization: `Bearer ${token}` }, body);

function assertError(r: Reply, status: number, code: string): void {
  assert.equal(r.ok, false, JSON.stringify(r));
  assert.equal(r.status, status, JSON.stringify(r));
  assert.equal(r['code'], code);
  assert.equal(typeof r['type'], 'string');
  assert.equal(typeof r['detail'], 'string');
}

test('get/put/delete/batch/scan over NATS with binary keys and values', async () => {
  const key = new Uint8Array([0x2f, 0, 0xff, 0x41]);
  const value = new Uint8Array([0xff, 0, 1, 2, 0x80]);
  const put = await nats('put', { key: b64(key), value: b64(value), ttl: 120, attrs: { kind: 'bin' } });
  assert.equal(put.ok, true, JSON.stringify(put));
  assert.equal(put.status, 201);
  const get = await nats('get', { key: b64(key) });
  assert.equal(get.status, 200);
  assert.deepEqual(new Uint8Array(Buffer.from(String(get['value']), 'base64')), value);
  assert.equal(get['version'], put['version']);
  assert.deepEqual(get['attrs'], { kind: 'bin' });
  assert.equal(typeof get['expiresAt'], 'number');
  // The HTTP door sees the same bytes (one core, one store).
  const viaHttp = await http('GET', `/v1/kv/${pctAll(key)}`, acme);
  assert.deepEqual(new Uint8Array(viaHttp.body), value);
  assert.equal(viaHttp.headers['etag'], `"${String(put['version'])}"`);

  const session = await nats('get', { key: b64(key), consistency: 'session', session: String(put['session']) });
  assert.equal(session.status, 200);
  const utf8 = await nats('put', { key: 'text/1', keyEncoding: 'utf8', value: 'plain', valueEncoding: 'utf8' });
  assert.equal(utf8.status, 201);
  const g2 = await nats('get', { key: 'text/1', keyEncoding: 'utf8', valueEncoding: 'utf8' });
  assert.equal(g2['value'], 'plain');

  const batch = await nats('batch', {
    ops: [
      { op: 'put', key: b64('nb/1'), value: b64(new Uint8Array([0, 1])) },
      { op: 'get', key: b64('nb/1') },
      { op: 'cas', key: b64('nb/1'), value: b64('x'), ifVersion: '1' },
    ],
  });
  assert.equal(batch.ok, true, JSON.stringify(batch));
  const results = batch['results'] as Record<string, unknown>[];
  assert.deepEqual(results.map((r) => r['status']), [201, 200, 412]);
  assert.equal(results[1]!['value'], b64(new Uint8Array([0, 1])));
  assert.equal(results[1]!['valueEncoding'], 'base64');

  const scan = await nats('scan', { prefix: b64('nb/') });
  const items = scan['items'] as { key: string }[];
  assert.deepEqual(items.map((i) => i.key), [b64('nb/1')]);

  const del = await nats('delete', { key: b64(key), idempotencyKey: 'del-1' });
  assert.equal(del.status, 204);
  assertError(await nats('get', { key: b64(key) }), 404, 'NOT_FOUND');
  assertError(await nats('delete', { key: b64(key) }), 404, 'NOT_FOUND');
});

test('NATS errors carry the same problem codes as HTTP', async () => {
  assertError(await nats('get', { key: b64('x') }, null), 401, 'UNAUTHENTICATED');
  assertError(await nats('get', { key: b64('x') }, 'bogus'), 401, 'UNAUTHENTICATED');
  const expired = await mintToken(keys, { expSecondsFromNow: -60 });
  assertError(await nats('get', { key: b64('x') }, expired), 401, 'UNAUTHENTICATED');
  const readOnly = await mintToken(keys, { scope: 'kv:read' });
  assertError(await nats('put', { key: b64('ro'), value: b64('x') }, readOnly), 403, 'PERMISSION_DENIED');
  assertError(await nats('nope', {}), 404, 'NOT_FOUND');
  assertError(await nats('get', '{not json'), 400, 'INVALID_ARGUMENT');
  assertError(await nats('get', { key: b64('x'), extra: 1 }), 400, 'INVALID_ARGUMENT');
  assertError(await nats('get', { key: 'not base64!' }), 400, 'INVALID_ARGUMENT');
  assertError(await nats('put', { key: b64('k'.repeat(4097)), value: b64('x') }), 400, 'INVALID_ARGUMENT');
  assertError(await nats('put', { key: b64('m'), value: b64('x'), ttl: -1 }), 400, 'INVALID_ARGUMENT');
  assertError(await nats('get', { key: b64('x'), consistency: 'eventual' }), 400, 'INVALID_ARGUMENT');
  assertError(await nats('scan', { cursor: '***' }), 400, 'INVALID_ARGUMENT');
  assertError(await nats('batch', { ops: Array.from({ length: 1001 }, () => ({ op: 'get', key: b64('x') })) }), 400, 'INVALID_ARGUMENT');
  const v = (await nats('put', { key: b64('ncas'), value: b64('a') }))['version'];
  const mismatch = await nats('put', { key: b64('ncas'), value: b64('b'), ifVersion: '1' });
  assertError(mismatch, 412, 'VERSION_MISMATCH');
  assert.equal(mismatch['currentVersion'], v);
  assertError(await nats('put', { key: b64('ncas'), value: b64('b'), ifAbsent: true }), 412, 'ALREADY_EXISTS');
  assert.equal((await nats('get', { key: b64('m') }))['code'], 'NOT_FOUND', 'rejected puts wrote nothing');
});

test('idempotency over NATS: header or field, applied once', async () => {
  const a = await nats('put', { key: b64('nidem'), value: b64('one') }, acme, { 'Idempotency-Key': 'n-1' });
  const b = await nats('put', { key: b64('nidem'), value: b64('two'), idempotencyKey: 'n-1' });
  assert.equal(a['version'], b['version']);
  assert.equal(Buffer.from(String((await nats('get', { key: b64('nidem') }))['value']), 'base64').toString(), 'one');
});

test('tenants are isolated over HTTP and NATS', async () => {
  // acme writes over HTTP and over NATS.
  assert.equal((await http('PUT', '/v1/kv/secret/h', acme, 'acme-http')).status, 201);
  const vn = await nats('put', { key: b64('secret/n'), value: b64('acme-nats') });
  assert.equal(vn.status, 201);
  for (const k of ['secret/h', 'secret/n']) {
    // globex cannot read, list, delete, CAS or batch-read them, over either door.
    assert.equal((await http('GET', `/v1/kv/${k}`, globex)).status, 404);
    assertError(await nats('get', { key: b64(k) }, globex), 404, 'NOT_FOUND');
    assert.equal((await http('DELETE', `/v1/kv/${k}`, globex)).status, 404);
    assertError(await nats('delete', { key: b64(k) }, globex), 404, 'NOT_FOUND');
    const cas = await raw(gw.url, 'PUT', `/v1/kv/${k}`, { authorization: `Bearer ${globex}`, 'if-match': `"${String(vn['version'])}"` }, 'x');
    assert.equal(cas.status, 412);
    const bget = await nats('batch', { ops: [{ op: 'get', key: b64(k) }] }, globex);
    assert.equal((bget['results'] as Record<string, unknown>[])[0]!['status'], 404);
  }
  const hs = await http('GET', '/v1/scan?prefix=secret/', globex);
  assert.deepEqual(hs.json<{ items: unknown[] }>().items, []);
  assert.deepEqual((await nats('scan', {}, globex))['items'], []);
  // An overwrite by globex creates globex's own key; acme's is untouched.
  assert.equal((await http('PUT', '/v1/kv/secret/h', globex, 'globex')).status, 201);
  assert.equal((await nats('put', { key: b64('secret/n'), value: b64('globex') }, globex)).status, 201);
  assert.equal((await http('GET', '/v1/kv/secret/h', acme)).text(), 'acme-http');
  assert.equal(Buffer.from(String((await nats('get', { key: b64('secret/n') }))['value']), 'base64').toString(), 'acme-nats');
  const as = await http('GET', '/v1/scan?prefix=secret/', acme);
  assert.deepEqual(as.json<{ items: { value: string }[] }>().items.map((i) => i.value), ['acme-http', 'acme-nats']);
});

test('the W3C trace context reaches the cell request', async () => {
  const seen: string[] = [];
  const sub = c.nc.subscribe('cellkv.node.>', {
    callback: (_e, m) => {
      try {
        seen.push(decodeCellRequest(m.data).traceparent + '|' + (m.headers?.get('traceparent') ?? ''));
      } catch {
        // not a cell request
      }
    },
  });
  await c.nc.flush();
  const traceId = '0af7651916cd43dd8448eb211c80319c';
  await raw(gw.url, 'GET', '/v1/kv/traced', { authorization: `Bearer ${acme}`, traceparent: `00-${traceId}-b7ad6b7169203331-01` });
  await nats('get', { key: b64('traced') }, acme, { traceparent: `00-${traceId}-c7ad6b7169203331-01` });
  await c.nc.flush();
  await new Promise((r) => setTimeout(r, 100));
  sub.unsubscribe();
  const ours = seen.filter((s) => s.includes(traceId));
  assert.equal(ours.length, 2, JSON.stringify(seen));
  for (const s of ours) {
    const [inBody, inHeader] = s.split('|');
    assert.match(inBody!, new RegExp(`^00-${traceId}-[0-9a-f]{16}-01$`));
    assert.equal(inHeader, inBody);
  }
});

describe('auth', () => {
  test('bad tokens are 401 UNAUTHENTICATED with WWW-Authenticate', async () => {
    const now = Math.floor(Date.now() / 1000);
    const header = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
    const payload = header({ tenant: 'acme', scope: 'kv:read kv:write', iss: 'https://auth.test.cellkv', aud: 'cellkv-api', exp: now + 600 });
    const { createHmac } = await import('node:crypto');
    const hsInput = `${header({ alg: 'HS256', kid: 'rsa-1' })}.${payload}`;
    const hsSig = createHmac('sha256', JSON.stringify(keys.rsa.publicJwk)).update(hsInput).digest('base64url');
    const tokens: [string, string | null][] = [
      ['missing', null],
      ['expired', await mintToken(keys, { expSecondsFromNow: -120 })],
      ['not yet valid', await mintToken(keys, { nbfSecondsFromNow: 600 })],
      ['wrong audience', await mintToken(keys, { aud: 'someone-else' })],
      ['wrong issuer', await mintToken(keys, { iss: 'https://evil.example' })],
      ['unknown kid', await mintToken(keys, { key: 'stranger', kid: 'nope-1' })],
      ['known kid, wrong key', await mintToken(keys, { key: 'stranger', kid: 'rsa-1' })],
      ['no exp', await mintToken(keys, { expSecondsFromNow: null })],
      ['missing tenant', await mintToken(keys, { tenant: null })],
      ['invalid tenant', await mintToken(keys, { tenant: 'Bad Tenant!' })],
      ['alg none', `${header({ alg: 'none' })}.${payload}.`],
      ['HS256 with the public key', `${hsInput}.${hsSig}`],
      ['garbage', 'not.a.jwt'],
      ['not bearer', 'basic'],
    ];
    for (const [name, token] of tokens) {
      const headers: Record<string, string> = token === 'basic' ? { authorization: 'Basic dXNlcjpwYXNz' } : {};
      const r = await req('GET', '/v1/kv/user/1', { token: token === 'basic' ? null : token, headers });
      assertProblem(r, 401, 'UNAUTHENTICATED');
      assert.match(String(r.headers['www-authenticate']), /^Bearer /, name);
    }
  });

  test('missing scopes are 403 PERMISSION_DENIED; scp arrays and ES256 work', async () => {
    assertProblem(await req('PUT', '/v1/kv/ro', { token: readOnly, body: 'x' }), 403, 'PERMISSION_DENIED');
    assertProblem(await req('DELETE', '/v1/kv/ro', { token: readOnly }), 403, 'PERMISSION_DENIED');
    const noScope = await mintToken(keys, { scope: null });
    assertProblem(await req('GET', '/v1/kv/ro', { token: noScope }), 403, 'PERMISSION_DENIED');
    assertProblem(await req('GET', '/v1/scan', { token: noScope }), 403, 'PERMISSION_DENIED');
    assertProblem(await req('GET', '/v1/admin/cells'), 403, 'PERMISSION_DENIED');
    const scp = await mintToken(keys, { scope: null, scp: ['kv:write', 'kv:read'], key: 'ec' });
    assert.equal((await req('PUT', '/v1/kv/ro', { token: scp, body: 'x' })).status, 201);
    assert.equal(await valueOf('/v1/kv/ro', scp), 'x');
  });
});

describe('admin, health, routing', () => {
  test('admin cells and nodes', async () => {
    const cells = await req('GET', '/v1/admin/cells', { token: admin });
    assert.equal(cells.status, 200, cells.text());
    const cj = cells.json<{ cells: { id: string; leader: string | null; replicas: unknown[] }[] }>();
    assert.equal(cj.cells[0]!.id, 'c1');
    assert.match(String(cj.cells[0]!.leader), /^n[123]$/);
    assert.equal(cj.cells[0]!.replicas.length, 3);
    const nodes = await req('GET', '/v1/admin/nodes', { token: admin });
    const nj = nodes.json<{ nodes: { id: string; az: string; live: boolean; lastHeartbeatMs: number }[] }>();
    assert.deepEqual(nj.nodes.map((n) => n.id).sort(), ['n1', 'n2', 'n3']);
    // Liveness is the meta cell's view (heartbeats every 2 s); under load one may lag.
    assert.ok(nj.nodes.every((n) => typeof n.live === 'boolean' && typeof n.lastHeartbeatMs === 'number' && /^az[123]$/.test(n.az)));
    assert.ok(nj.nodes.some((n) => n.live), JSON.stringify(nj));
  });

  test('healthz, readyz, metrics, 404 and 405', async () => {
    assert.equal((await req('GET', '/healthz', { token: null })).status, 200);
    const ready = await req('GET', '/readyz', { token: null });
    assert.equal(ready.status, 200);
    const m = await req('GET', '/metrics', { token: null });
    assert.equal(m.status, 200);
    assert.match(m.text(), /cellkv_gateway_http_requests_total\{route="kv",method="PUT",status="201"\} [1-9]/);
    assertProblem(await req('GET', '/v2/kv/x'), 404, 'NOT_FOUND');
    assertProblem(await req('GET', '/'), 404, 'NOT_FOUND');
    const p = assertProblem(await req('POST', '/v1/kv/x', { body: 'x' }), 405, 'METHOD_NOT_ALLOWED');
    assert.ok(p);
    assert.equal((await req('PATCH', '/v1/batch')).headers['allow'], 'POST');
    assertProblem(await req('DELETE', '/v1/scan'), 405, 'METHOD_NOT_ALLOWED');
  });

  test('traceparent: the caller trace id is kept and echoed', async () => {
    const tp = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
    const r = await req('GET', '/v1/kv/user/none', { headers: { traceparent: tp } });
    assert.equal(r.headers['x-trace-id'], '4bf92f3577b34da6a3ce929d0e0e4736');
    const fresh = await req('GET', '/v1/kv/user/none', { headers: { traceparent: 'garbage' } });
    assert.match(String(fresh.headers['x-trace-id']), /^[0-9a-f]{32}$/);
  });
});

test('the gateway process: flags, ready line, serving, clean SIGTERM', async () => {
  const main = fileURLToPath(new URL('../../gateway/main.ts', import.meta.url));
  const proc = spawn(process.execPath, ['--import', 'tsx', main, '--port', '0', '--nats', c.nats.url, '--jwks-file', keys.jwksFile, '--issuer', ISSUER, '--audience', AUDIENCE, '--max-value-bytes', '100'], {
    env: { ...process.env, CELLKV_LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  proc.stderr.on('data', (d: Buffer) => (out += d.toString()));
  try {
    const url = await new Promise<string>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`no ready line:\n${out}`)), 20_000);
      proc.stdout.on('data', (d: Buffer) => {
        out += d.toString();
        const m = /cellkv-gateway ready (http:\/\/127\.0\.0\.1:[0-9]+)/.exec(out);
        if (m) {
          clearTimeout(t);
          resolve(m[1]!);
        }
      });
      proc.once('exit', (code) => reject(new Error(`exited ${code}:\n${out}`)));
    });
    const auth = { authorization: `Bearer ${rw}` };
    assert.equal((await raw(url, 'PUT', '/v1/kv/proc', auth, 'from-process')).status, 201);
    assert.equal((await raw(url, 'GET', '/v1/kv/proc', auth)).text(), 'from-process');
    assert.equal((await raw(url, 'PUT', '/v1/kv/proc', auth, 'x'.repeat(101))).status, 413, '--max-value-bytes applies');
  } finally {
    const exited = new Promise<number | null>((r) => proc.once('exit', (code) => r(code)));
    proc.kill('SIGTERM');
    assert.equal(await exited, 0, out);
  }
});
