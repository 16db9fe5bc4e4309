// Property-based fuzzing of the HTTP layer (fast-check) against a real cluster: random methods,
// raw paths, headers, query strings and bodies. Invariants: never a 5xx (a healthy cluster
// gives no 503/504 either), every error is a problem+json with a stable code and matching
// status, the gateway keeps serving, and a rejected request never changes stored data.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { CellCluster } from '../support/cell-cluster.js';
import type { Gateway } from '../../gateway/server.js';
import { ERROR_CODES } from '../../shared/errors.js';
import { makeKeys, mintToken, raw, startTestGateway, type TestKeys } from './support.js';

const TENANT = 'fuzz';
let c: CellCluster;
let gw: Gateway;
let keys: TestKeys;
let tokens: string[] = [];

before(async () => {
  [c, keys] = await Promise.all([CellCluster.start(), makeKeys()]);
  gw = await startTestGateway(c.nats.url, keys, { maxValueBytes: 4096, maxBatchBytes: 64 * 1024 });
  tokens = await Promise.all([
    mintToken(keys, { tenant: TENANT, scope: 'kv:read kv:write kv:admin' }),
    mintToken(keys, { tenant: TENANT, scope: 'kv:read kv:write' }),
    mintToken(keys, { tenant: TENANT, scope: 'kv:read' }),
    mintToken(keys, { tenant: TENANT, expSecondsFromNow: -100 }),
    mintToken(keys, { tenant: TENANT, aud: 'other' }),
  ]);
  // Known data the fuzzer may hit (valid writes may change it; rejected ones must not).
  for (const k of ['a', 'b', 'dir/x', '\u0000', 'a/b']) await c.client.put(TENANT, new TextEncoder().encode(k), new TextEncoder().encode(`seed-${k}`));
});
after(async () => {
  await gw?.stop();
  await c?.stop();
  await keys?.cleanup();
});

/** Every stored key of the fuzz tenant with its version and value. */
async function snapshot(): Promise<string> {
  const { items } = await c.client.scan(TENANT, new Uint8Array(0), null, 1000);
  return items.map((i) => `${Buffer.from(i.key).toString('hex')}=${i.meta.version}:${Buffer.from(i.value ?? []).toString('hex')}`).join(',');
}

const printable = fc.string({ unit: fc.constantFrom(...'abcAZ09-._~!$&\'()*+,;=:@/%?#[]{}|\\^`"<>'.split('')), maxLength: 24 });
const pctByte = fc.integer({ min: 0, max: 255 }).map((b) => `%${b.toString(16).padStart(2, '0')}`);
const keySeg = fc.oneof(
  fc.constantFrom('a', 'b', 'dir/x', '%00', 'a%2Fb', 'a/b', '%FF', '..', '.', '%2e%2e', 'x/../a', ''),
  fc.array(fc.oneof(pctByte, printable, fc.constantFrom('%', '%G', '%4', '/')), { maxLength: 5 }).map((p) => p.join('')),
  fc.constant('k'.repeat(4097)),
);
const route = fc.oneof(
  { weight: 6, arbitrary: keySeg.map((k) => `/v1/kv/${k}`) },
  { weight: 2, arbitrary: fc.constant('/v1/batch') },
  { weight: 2, arbitrary: fc.constant('/v1/scan') },
  { weight: 1, arbitrary: fc.constantFrom('/v1/admin/cells', '/v1/admin/nodes', '/healthz', '/readyz', '/', '/v1', '/v1/kv', '/v2/kv/a', '//v1/kv/a') },
  { weight: 1, arbitrary: printable.map((s) => `/${s}`) },
);
const qValue = fc.oneof(
  fc.constantFrom('', '0', '1', '-1', '60', '1.5', '99999999999', 'true', 'false', 'linearizable', 'session', 'stale', 'eventual', 'base64', 'utf8', 'YQ', '***'),
  fc.array(fc.oneof(pctByte, printable), { maxLength: 4 }).map((p) => p.join('')),
);
const qName = fc.constantFrom('ttl', 'consistency', 'max_staleness', 'prefix', 'start', 'end', 'limit', 'cursor', 'keys_only', 'encoding', 'bogus');
const queryString = fc.array(fc.tuple(qName, qValue), { maxLength: 4 }).map((ps) => (ps.length ? `?${ps.map(([k, v]) => `${k}=${v}`).join('&')}` : ''));
const headerValue = fc.string({ unit: fc.constantFrom(...' !"#*/0123456789:=ABCWaxyz-_'.split('')), maxLength: 30 });
const headers = fc.record(
  {
    'if-match': fc.oneof(headerValue, fc.constantFrom('"1"', '*', 'W/"1"', '"18446744073709551616"')),
    'if-none-match': fc.oneof(headerValue, fc.constant('*')),
    'idempotency-key': headerValue,
    'x-kv-session': headerValue,
    'x-kv-attr-color': headerValue,
    'x-kv-attr-Bad_Name!': headerValue,
    'content-type': fc.constantFrom('application/json', 'text/plain', 'application/octet-stream'),
    traceparent: fc.oneof(headerValue, fc.constant('00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01')),
  },
  { requiredKeys: [] },
);
const batchOp = fc.record(
  {
    op: fc.constantFrom('get', 'put', 'delete', 'cas', 'merge'),
    key: fc.oneof(fc.constantFrom('a', 'b', 'dir/x', 'YQ==', '%%'), fc.string({ maxLength: 8 })),
    value: fc.oneof(fc.string({ maxLength: 16 }), fc.constant('x'.repeat(5000))),
    ttl: fc.oneof(fc.integer({ min: -5, max: 100 }), fc.double()),
    ifVersion: fc.oneof(fc.constantFrom('1', '0', 'abc', '-1'), fc.bigInt({ min: 0n, max: 1n << 65n }).map(String)),
    ifAbsent: fc.boolean(),
    keyEncoding: fc.constantFrom('utf8', 'base64', 'hex'),
    valueEncoding: fc.constantFrom('utf8', 'base64'),
    attrs: fc.dictionary(fc.string({ maxLength: 5 }), fc.string({ maxLength: 5 }), { maxKeys: 3 }),
  },
  { requiredKeys: ['op'] },
);
const body = fc.oneof(
  fc.constant(undefined),
  fc.uint8Array({ maxLength: 64 }),
  fc.constant('x'.repeat(5000)),
  fc.record({ ops: fc.array(batchOp, { maxLength: 6 }), atomic: fc.boolean() }, { requiredKeys: [] }).map((o) => JSON.stringify(o)),
  fc.jsonValue({ maxDepth: 2 }).map((j) => JSON.stringify(j)),
  fc.string({ maxLength: 40 }),
);
const hostile = fc.record({
  method: fc.constantFrom('GET', 'PUT', 'DELETE', 'POST', 'HEAD', 'PATCH', 'OPTIONS'),
  path: route,
  query: queryString,
  token: fc.integer({ min: -1, max: 4 }),
  headers,
  body,
});
// Mostly well-formed requests, so that the fuzzer also writes and reads for real.
const poolKey = fc.constantFrom('a', 'b', 'dir/x', '%00', 'a%2Fb', 'new', 'n%FF');
const plausible = fc.oneof(
  fc.record({
    method: fc.constantFrom('GET', 'PUT', 'DELETE'),
    path: poolKey.map((k) => `/v1/kv/${k}`),
    query: fc.constantFrom('', '', '?ttl=60', '?consistency=stale', '?ttl=0'),
    token: fc.constantFrom(0, 1, 1, 2),
    headers: fc.oneof(
      { weight: 3, arbitrary: fc.constant({}) },
      { weight: 1, arbitrary: fc.record({ 'if-match': fc.constantFrom('"1"', '"abc"'), 'if-none-match': fc.constant('*'), 'x-kv-attr-color': fc.constantFrom('red', '') }, { requiredKeys: [] }) },
    ),
    body: fc.oneof({ weight: 5, arbitrary: fc.uint8Array({ maxLength: 32 }) }, { weight: 1, arbitrary: fc.constant('x'.repeat(5000)) }),
  }),
  fc.record({
    method: fc.constant('POST'),
    path: fc.constant('/v1/batch'),
    query: fc.constant(''),
    token: fc.constantFrom(0, 1, 2),
    headers: fc.constant({ 'content-type': 'application/json' }),
    body: fc
      .record({
        ops: fc.array(
          fc.record({
            op: fc.constantFrom('get', 'put', 'delete', 'cas'),
            key: fc.constantFrom('a', 'b', 'dir/x', 'new'),
            value: fc.string({ maxLength: 8 }),
            ifVersion: fc.constantFrom('1', '0'),
          }, { requiredKeys: ['op', 'key'] }),
          { minLength: 1, maxLength: 5 },
        ),
        atomic: fc.boolean(),
      })
      .map((o) => JSON.stringify(o)),
  }),
  fc.record({
    method: fc.constant('GET'),
    path: fc.constant('/v1/scan'),
    query: fc.constantFrom('', '?prefix=a', '?start=a&end=z&limit=2', '?keys_only=true', '?limit=0'),
    token: fc.constantFrom(0, 1, 2),
    headers: fc.constant({}),
    body: fc.constant(undefined),
  }),
);
const request = fc.oneof({ weight: 1, arbitrary: hostile }, { weight: 1, arbitrary: plausible });

const CODES = new Set<string>([...ERROR_CODES, 'METHOD_NOT_ALLOWED']);

test('random HTTP requests: no 5xx, problem+json errors, rejected requests change nothing', async () => {
  let before = await snapshot();
  const statuses = new Map<number, number>();
  await fc.assert(
    fc.asyncProperty(request, async (r) => {
      const h: Record<string, string> = { ...r.headers };
      if (r.token >= 0) h['authorization'] = `Bearer ${tokens[r.token]}`;
      const res = await raw(gw.url, r.method, r.path + r.query, h, r.body);
      statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
      const what = `${r.method} ${r.path}${r.query} -> ${res.status} ${res.text().slice(0, 300)}`;
      assert.ok(res.status >= 200 && res.status < 500, `server error: ${what}`);
      if (res.status >= 400 && r.method !== 'HEAD') {
        assert.match(String(res.headers['content-type']), /^application\/problem\+json/, what);
        const p = res.json();
        assert.ok(CODES.has(String(p['code'])), what);
        assert.equal(p['status'], res.status, what);
      }
      const after = await snapshot();
      if (res.status >= 400) assert.equal(after, before, `a rejected request changed data: ${what}`);
      before = after;
    }),
    { numRuns: Number(process.env['CELLKV_FUZZ_RUNS'] ?? 250), interruptAfterTimeLimit: Number(process.env['CELLKV_FUZZ_MS'] ?? 25_000) },
  );
  // The property is only meaningful if both outcomes happened often.
  const ok = [...statuses].filter(([s]) => s < 300).reduce((n, [, k]) => n + k, 0);
  const rejected = [...statuses].filter(([s]) => s >= 400).reduce((n, [, k]) => n + k, 0);
  assert.ok(ok > 10 && rejected > 50, JSON.stringify([...statuses]));
  if (process.env['CELLKV_FUZZ_VERBOSE']) console.log(JSON.stringify([...statuses].sort()));
  // Still alive and serving.
  assert.equal((await raw(gw.url, 'GET', '/healthz')).status, 200);
  assert.equal((await raw(gw.url, 'GET', '/readyz')).status, 200);
});
