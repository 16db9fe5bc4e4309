// Unit tests of the gateway without a cluster: batch grouping across cells, multi-cell scans,
// error mapping (internal codes never leak, timeouts, outcome unknown), load shedding, and the
// small codecs (session tokens, percent-decoding, base64, traceparent).
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import type { Hono } from 'hono';
import { TokenVerifier } from '../../gateway/auth.js';
import { groupByCell } from '../../gateway/batch.js';
import { GatewayCore, readOptions, requestIdFor } from '../../gateway/core.js';
import { decodeBase64, decodeBase64Url, decodePathBytes, QueryParams } from '../../gateway/encoding.js';
import { createHttpApp } from '../../gateway/http/app.js';
import type { GatewayEnv } from '../../gateway/http/context.js';
import { InflightLimiter } from '../../gateway/limits.js';
import { silentLogger } from '../../gateway/log.js';
import { GatewayMetrics } from '../../gateway/metrics.js';
import { NO_SESSION, SessionTokens } from '../../gateway/session.js';
import { GatewayTracing, parseTraceparent, runWithTrace, startTrace } from '../../gateway/tracing.js';
import { KvError } from '../../shared/errors.js';
import { namespacedKey } from '../../shared/keys.js';
import { FakeCells } from './fake-cells.js';
import { AUDIENCE, ISSUER, makeKeys, mintToken, te, type TestKeys } from './support.js';

let keys: TestKeys;
let verifier: TokenVerifier;
let token: string;

before(async () => {
  keys = await makeKeys();
  verifier = await TokenVerifier.create({ jwksFile: keys.jwksFile, issuer: ISSUER, audience: AUDIENCE, tenantClaim: 'tenant' });
  token = await mintToken(keys, { tenant: 'acme' });
});
after(async () => keys?.cleanup());

/** Cells split inside tenant acme's range at key "m": c1 holds a..l, c2 holds m..z. */
const split = () => new FakeCells([namespacedKey('acme', te.encode('m'))]);

function app(cells: FakeCells, o: { requestTimeoutMs?: number; maxInflight?: number } = {}): { app: Hono<GatewayEnv>; metrics: GatewayMetrics } {
  const metrics = new GatewayMetrics();
  const core = new GatewayCore(cells, { maxValueBytes: 1024, requestTimeoutMs: o.requestTimeoutMs ?? 2000 });
  const a = createHttpApp({
    core,
    verifier,
    limiter: new InflightLimiter(o.maxInflight ?? 100, 'http', metrics),
    metrics,
    log: silentLogger(),
    maxBatchBytes: 1 << 20,
    health: () => ({ nats: true, ready: true }),
  });
  return { app: a, metrics };
}

const call = (a: Hono<GatewayEnv>, method: string, path: string, body?: string, headers: Record<string, string> = {}) =>
  a.request(path, { method, headers: { authorization: `Bearer ${token}`, ...headers }, ...(body !== undefined ? { body } : {}) });

async function problemOf(r: Response): Promise<{ code: string; status: number; detail: string }> {
  assert.match(r.headers.get('content-type') ?? '', /problem\+json/);
  return (await r.json()) as { code: string; status: number; detail: string };
}

describe('batches across cells', () => {
  test('groupByCell groups in order; atomic across cells is INVALID_ARGUMENT', () => {
    const cells = split();
    const keysOf = (...ks: string[]) => ks.map((k) => te.encode(k));
    const groups = groupByCell(cells.dir, 'acme', keysOf('a', 'x', 'b', 'y'), false);
    assert.deepEqual(groups.map((g) => [g.cell.id, g.indexes]), [['c1', [0, 2]], ['c2', [1, 3]]]);
    assert.equal(groupByCell(cells.dir, 'acme', keysOf('a', 'b'), true).length, 1);
    assert.throws(
      () => groupByCell(cells.dir, 'acme', keysOf('a', 'x'), true),
      (e: unknown) => e instanceof KvError && e.code === 'INVALID_ARGUMENT' && /atomic batch spans 2 cells \(c1, c2\)/.test(e.message),
    );
    // Another tenant's keys all fall after acme's range, in c2.
    assert.equal(groupByCell(cells.dir, 'zeta', keysOf('a', 'x'), true)[0]!.cell.id, 'c2');
    assert.throws(() => groupByCell({ cells: [], nodes: [] }, 'acme', keysOf('a'), false), (e: unknown) => e instanceof KvError && e.code === 'UNAVAILABLE');
  });

  test('HTTP: atomic batch across cells is 400 and sends nothing', async () => {
    const cells = split();
    const { app: a } = app(cells);
    const r = await call(a, 'POST', '/v1/batch', JSON.stringify({ atomic: true, ops: [{ op: 'put', key: 'a', value: '1' }, { op: 'put', key: 'x', value: '2' }] }));
    assert.equal(r.status, 400);
    const p = await problemOf(r);
    assert.equal(p.code, 'INVALID_ARGUMENT');
    assert.match(p.detail, /atomic/);
    assert.equal(cells.calls.length, 0);
    assert.equal(cells.data.size, 0);
  });

  test('HTTP: non-atomic batch runs per cell, results in op order; a failing cell fails only its ops', async () => {
    const cells = split();
    const { app: a } = app(cells);
    const ops = [{ op: 'put', key: 'a', value: '1' }, { op: 'put', key: 'x', value: '2' }, { op: 'get', key: 'a' }];
    const r = await call(a, 'POST', '/v1/batch', JSON.stringify({ ops }));
    assert.equal(r.status, 200);
    const j = (await r.json()) as { results: { status: number; value?: string; session?: string }[]; session: string | null };
    assert.deepEqual(j.results.map((x) => x.status), [201, 201, 200]);
    assert.equal(j.results[2]!.value, '1');
    assert.equal(j.session, null, 'no single session token for a multi-cell batch');
    assert.notEqual(j.results[0]!.session, j.results[1]!.session);
    assert.deepEqual(cells.calls.map((c) => c.cellId).sort(), ['c1', 'c2']);

    cells.fault = (c) => (c.cellId === 'c2' ? new KvError('UNAVAILABLE', 'cell c2 down') : null);
    const r2 = await call(a, 'POST', '/v1/batch', JSON.stringify({ ops }));
    const j2 = (await r2.json()) as { results: { status: number; code?: string }[] };
    assert.deepEqual(j2.results.map((x) => x.status), [200, 503, 200]);
    assert.equal(j2.results[1]!.code, 'UNAVAILABLE');
  });
});

describe('scans across cells', () => {
  test('pages walk cells in order; a page full at a cell boundary still has a cursor', async () => {
    const cells = split();
    const { app: a } = app(cells);
    for (const k of ['a', 'b', 'c', 'm', 'n', 'z']) assert.equal((await call(a, 'PUT', `/v1/kv/${k}`, k)).status, 201);
    // c1 holds exactly three keys: a page of three ends at the boundary.
    const p1 = (await (await call(a, 'GET', '/v1/scan?limit=3')).json()) as { items: { key: string }[]; cursor: string };
    assert.deepEqual(p1.items.map((i) => i.key), ['a', 'b', 'c']);
    assert.equal(Buffer.from(p1.cursor, 'base64url').toString(), 'm');
    const p2 = (await (await call(a, 'GET', `/v1/scan?limit=3&cursor=${p1.cursor}`)).json()) as { items: { key: string }[]; cursor: string | null };
    assert.deepEqual(p2.items.map((i) => i.key), ['m', 'n', 'z']);
    assert.equal(p2.cursor, null);
    const all = (await (await call(a, 'GET', '/v1/scan?start=b&end=n')).json()) as { items: { key: string }[] };
    assert.deepEqual(all.items.map((i) => i.key), ['b', 'c', 'm']);
  });
});

describe('error mapping', () => {
  for (const code of ['NOT_LEADER', 'WRONG_RANGE', 'OVERLOADED'] as const) {
    test(`${code} never leaks: 503 UNAVAILABLE with Retry-After`, async () => {
      const cells = split();
      cells.fault = () => new KvError(code, 'internal routing trouble');
      const r = await call(app(cells).app, 'GET', '/v1/kv/a');
      assert.equal(r.status, 503);
      assert.equal(r.headers.get('retry-after'), '1');
      assert.equal((await problemOf(r)).code, 'UNAVAILABLE');
    });
  }

  test('OUTCOME_UNKNOWN is 504; a write past the deadline is 504, a read 503', async () => {
    const cells = split();
    const { app: a } = app(cells, { requestTimeoutMs: 150 });
    cells.fault = () => new KvError('OUTCOME_UNKNOWN', 'maybe');
    const r = await call(a, 'PUT', '/v1/kv/a', 'v');
    assert.equal(r.status, 504);
    assert.equal((await problemOf(r)).code, 'OUTCOME_UNKNOWN');
    cells.fault = () => 'hang';
    const w = await call(a, 'PUT', '/v1/kv/a', 'v');
    assert.equal(w.status, 504);
    assert.equal((await problemOf(w)).code, 'OUTCOME_UNKNOWN');
    const g = await call(a, 'GET', '/v1/kv/a');
    assert.equal(g.status, 503);
    assert.equal(g.headers.get('retry-after'), '1');
    cells.releaseHung();
  });

  test('a cell INTERNAL error is a 500 problem, not a crash', async () => {
    const cells = split();
    cells.fault = () => new KvError('INTERNAL', 'boom');
    const r = await call(app(cells).app, 'GET', '/v1/kv/a');
    assert.equal(r.status, 500);
    assert.equal((await problemOf(r)).code, 'INTERNAL');
  });

  test('past the in-flight bound requests are shed with 503 + Retry-After', async () => {
    const cells = split();
    const { app: a, metrics } = app(cells, { maxInflight: 1 });
    cells.fault = () => 'hang';
    const slow = call(a, 'GET', '/v1/kv/a');
    await new Promise((r) => setTimeout(r, 20));
    const shed = await call(a, 'GET', '/v1/kv/b');
    assert.equal(shed.status, 503);
    assert.equal(shed.headers.get('retry-after'), '1');
    assert.match((await problemOf(shed)).detail, /in flight/);
    assert.match(await metrics.registry.metrics(), /cellkv_gateway_shed_total\{door="http"\} 1/);
    cells.releaseHung();
    assert.equal((await slow).status, 503);
    cells.fault = () => null;
    assert.equal((await call(a, 'GET', '/v1/kv/b')).status, 404, 'the slot was released');
  });
});

describe('codecs', () => {
  test('session tokens round-trip, are validated and authenticated; they only count for their own cell', () => {
    const tokens = new SessionTokens(te.encode('shared-secret'));
    const t = { cellId: 'c1', epoch: 3, index: 18446744073709551615n };
    const s = tokens.encode(t);
    assert.deepEqual(tokens.decode(s), t);
    assert.deepEqual(new SessionTokens(te.encode('shared-secret')).decode(s), t, 'gateways sharing the secret agree');
    assert.deepEqual(new SessionTokens(te.encode('other')).decode(s), NO_SESSION, 'a token we cannot vouch for is linearizable');
    const payload = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
    const forged = `${payload({ v: 1, c: 'c1', e: 3, i: '999999999' })}.${s.split('.')[1]}`;
    assert.deepEqual(tokens.decode(forged), NO_SESSION, 'a forged index is never trusted');
    const mac = s.split('.')[1];
    for (const bad of ['', 'x', '!!!', s + '.x', `${payload({ v: 2, c: 'c1', e: 1, i: '1' })}.${mac}`, `${payload({ v: 1, c: 'c1', e: 1, i: '-1' })}.${mac}`, `${s.split('.')[0]}.AA`, 'a'.repeat(600)]) {
      assert.throws(() => tokens.decode(bad), (e: unknown) => e instanceof KvError && e.code === 'INVALID_ARGUMENT', bad);
    }
    const cell = { id: 'c1', start: '', end: null, epoch: 3, replicas: [] };
    assert.deepEqual(readOptions(cell, { consistency: 'session', token: t, maxStalenessMs: 0 }), { consistency: 'session', sessionIndex: t.index });
    assert.deepEqual(readOptions({ ...cell, epoch: 4 }, { consistency: 'session', token: t, maxStalenessMs: 0 }), { consistency: 'linearizable' });
    assert.deepEqual(readOptions({ ...cell, id: 'c2' }, { consistency: 'session', token: t, maxStalenessMs: 0 }), { consistency: 'linearizable' });
    assert.deepEqual(readOptions(cell, { consistency: 'session', token: NO_SESSION, maxStalenessMs: 0 }), { consistency: 'linearizable' });
  });

  test('paths and queries decode to exact bytes; malformed escapes are rejected', () => {
    assert.deepEqual([...decodePathBytes('a%2Fb/%00%ff+')], [0x61, 0x2f, 0x62, 0x2f, 0, 0xff, 0x2b]);
    for (const bad of ['%', '%G0', '%0', 'a b', 'a#b', 'é', 'a"b', 'a\\b']) assert.throws(() => decodePathBytes(bad), KvError, bad);
    const q = QueryParams.parse('prefix=a+b%FF&limit=5');
    assert.deepEqual([...q.bytes('prefix')!], [0x61, 0x20, 0x62, 0xff]);
    assert.equal(q.text('limit'), '5');
    assert.throws(() => q.only(['prefix']), KvError);
    assert.throws(() => QueryParams.parse('a=1&a=2'), KvError);
    assert.throws(() => QueryParams.parse('a=%zz'), KvError);
  });

  test('base64 is strict', () => {
    assert.deepEqual([...decodeBase64('AP8=', 'v')], [0, 0xff]);
    assert.deepEqual([...decodeBase64('AP8', 'v')], [0, 0xff]);
    for (const bad of ['AP9=', 'A', 'AP8==', '-_8=', 'AP 8', 'AP8=x']) assert.throws(() => decodeBase64(bad, 'v'), KvError, bad);
    assert.deepEqual([...decodeBase64Url('AP8', 'c')], [0, 0xff]);
    assert.throws(() => decodeBase64Url('AP8=', 'c'), KvError);
  });

  test('request ids for Idempotency-Key are per tenant and per operation, and fit the cell limit', () => {
    const a = requestIdFor('acme', 'k1', ['put', te.encode('x')])!;
    assert.ok(a.length <= 128);
    assert.equal(a, requestIdFor('acme', 'k1', ['put', te.encode('x')]));
    assert.notEqual(a, requestIdFor('globex', 'k1', ['put', te.encode('x')]));
    assert.notEqual(a, requestIdFor('acme', 'k1', ['put', te.encode('y')]));
    assert.equal(requestIdFor('acme', null, []), undefined);
  });

  test('traceparent: parsed, continued, and handed to the cell client with each request', async () => {
    assert.equal(parseTraceparent('00-00000000000000000000000000000000-00f067aa0ba902b7-01'), null);
    assert.equal(parseTraceparent('01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01'), null);
    const t = startTrace('00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01');
    assert.equal(t.traceId, '4bf92f3577b34da6a3ce929d0e0e4736');
    assert.notEqual(t.spanId, '00f067aa0ba902b7');
    // CellClient encodes RequestOptions.traceparent into the request and a NATS header itself
    // (test/gateway/front-doors.test.ts checks both on the wire).
    const cells = split();
    const port = new GatewayTracing().wrapAccess(cells).port();
    await runWithTrace(t, () => port.request('acme', [{ op: 'get', key: te.encode('k') }], { requestId: 'r' }));
    assert.equal(cells.calls[0]!.opts.traceparent, t.traceparent);
    assert.equal(cells.calls[0]!.opts.requestId, 'r');
    await port.request('acme', [{ op: 'get', key: te.encode('k') }]);
    assert.equal(cells.calls[1]!.opts.traceparent, undefined, 'no trace outside a request');
  });
});
