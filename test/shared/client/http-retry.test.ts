// Unit tests of CellkvHttpClient against a scripted node:http server: request encoding (binary
// keys, headers, query), response decoding, and the retry / idempotency rules.

import { strict as assert } from 'node:assert';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, beforeEach, describe, test } from 'node:test';
import { CellkvError, CellkvHttpClient, delayMs, retryPolicy, utf8 } from '../../../shared/client/index.js';

interface Seen {
  readonly method: string;
  readonly url: string;
  readonly headers: IncomingMessage['headers'];
  readonly body: Buffer;
}

type Handler = (req: Seen, res: ServerResponse) => void;

let server: Server;
let base = '';
let seen: Seen[] = [];
let script: Handler[] = [];

const problem = (res: ServerResponse, status: number, code: string, extra: Record<string, string> = {}, headers: Record<string, string> = {}) => {
  res.writeHead(status, { 'content-type': 'application/problem+json', ...headers });
  res.end(JSON.stringify({ type: 'x', title: 'x', status, code, detail: `${code} detail`, ...extra }));
};
const json = (res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) => {
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(JSON.stringify(body));
};
/** Cuts the connection without an answer (the request did arrive). */
const cut = (_req: Seen, res: ServerResponse) => res.socket?.destroy();

before(async () => {
  server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const s: Seen = { method: req.method ?? '', url: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks) };
      seen.push(s);
      const h = script.shift();
      if (h) h(s, res);
      else problem(res, 500, 'INTERNAL', {}, {});
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

after(async () => {
  server.closeAllConnections();
  await new Promise<void>((r) => server.close(() => r()));
});

beforeEach(() => {
  seen = [];
  script = [];
});

const fast = { retries: 3, baseDelayMs: 1, maxDelayMs: 5 };
const client = (extra: Partial<ConstructorParameters<typeof CellkvHttpClient>[0]> = {}) => new CellkvHttpClient({ url: base, token: 'tok', retries: fast, ...extra });

describe('requests and answers', () => {
  test('get: every key byte percent-encoded, metadata from headers, 404 is null', async () => {
    script = [
      (_r, res) => {
        res.writeHead(200, {
          'content-type': 'application/octet-stream',
          etag: '"18446744073709551615"',
          'x-kv-session': 'sess1',
          'x-kv-created-at': '10',
          'x-kv-updated-at': '20',
          'x-kv-expires-at': '30',
          'x-kv-attr-color': 'blue',
        });
        res.end(Buffer.from([0, 255, 1]));
      },
      (_r, res) => problem(res, 404, 'NOT_FOUND'),
    ];
    const kv = client();
    const r = await kv.get(new Uint8Array([0x2f, 0x00, 0xff, 0x25, 0x41]), { consistency: 'stale', maxStalenessMs: 500 });
    assert.ok(r);
    assert.deepEqual([...r.value], [0, 255, 1]);
    assert.equal(r.version, 18446744073709551615n);
    assert.deepEqual({ c: r.createdAt, u: r.updatedAt, e: r.expiresAt, s: r.session }, { c: 10, u: 20, e: 30, s: 'sess1' });
    assert.deepEqual(r.attrs, { color: 'blue' });
    assert.equal(seen[0]!.url, '/v1/kv/%2F%00%FF%25%41?consistency=stale&max_staleness=500');
    assert.equal(seen[0]!.headers['authorization'], 'Bearer tok');
    assert.equal(await kv.get('missing'), null);
    assert.equal(seen.length, 2, '404 is an answer, not retried');
  });

  test('put: CAS / attrs / ttl headers, session read', async () => {
    script = [(_r, res) => json(res, 200, { version: '42', created: false, session: 's' }), (_r, res) => problem(res, 412, 'VERSION_MISMATCH', { currentVersion: '41' })];
    const kv = client({ token: () => 'rotated' });
    const r = await kv.put('k', 'v', { ifMatch: 7n, ttlSeconds: 60, attrs: { owner: 'ml' } });
    assert.deepEqual(r, { version: 42n, created: false, session: 's' });
    const h = seen[0]!.headers;
    assert.equal(seen[0]!.url, '/v1/kv/%6B?ttl=60');
    assert.equal(h['if-match'], '"7"');
    assert.equal(h['x-kv-attr-owner'], 'ml');
    assert.equal(h['authorization'], 'Bearer rotated');
    assert.equal(seen[0]!.body.toString(), 'v');
    const e = await kv.put('k', 'v', { ifMatch: '7' }).catch((x: unknown) => x);
    assert.ok(e instanceof CellkvError);
    assert.equal(e.code, 'VERSION_MISMATCH');
    assert.equal(e.status, 412);
    assert.equal(e.currentVersion, 41n);
    assert.equal(seen.length, 2, '412 is not retried');
  });

  test('delete: 204 is deleted, 404 is deleted:false', async () => {
    script = [
      (_r, res) => {
        res.writeHead(204, { 'x-kv-session': 'd' });
        res.end();
      },
      (_r, res) => problem(res, 404, 'NOT_FOUND'),
    ];
    const kv = client();
    assert.deepEqual(await kv.delete('a', { ifMatch: 3n }), { deleted: true, session: 'd' });
    assert.equal(seen[0]!.headers['if-match'], '"3"');
    assert.deepEqual(await kv.delete('a'), { deleted: false, session: null });
  });

  test('batch: base64 body, per-op results and errors; reads carry no idempotency key', async () => {
    script = [
      (_r, res) =>
        json(res, 200, {
          results: [
            { op: 'get', status: 200, value: 'AP8=', valueEncoding: 'base64', version: '5', createdAt: 1, updatedAt: 2, expiresAt: null, attrs: {}, session: 's' },
            { op: 'put', status: 201, version: '6', created: true, session: 's' },
            { op: 'delete', status: 404, code: 'NOT_FOUND', detail: 'key not found' },
          ],
          session: 's',
          applied: null,
        }),
      (_r, res) => json(res, 200, { results: [{ op: 'get', status: 404, code: 'NOT_FOUND', detail: 'x' }], session: null }),
    ];
    const kv = client();
    const r = await kv.batch([{ op: 'get', key: 'a' }, { op: 'put', key: new Uint8Array([0xff]), value: 'v', ttlSeconds: 5 }, { op: 'delete', key: 'c', ifVersion: 9n }]);
    const body = JSON.parse(seen[0]!.body.toString()) as { ops: Record<string, unknown>[]; keyEncoding: string };
    assert.equal(body.keyEncoding, 'base64');
    assert.deepEqual(body.ops[1], { op: 'put', key: '/w==', value: 'dg==', ttl: 5 });
    assert.deepEqual(body.ops[2], { op: 'delete', key: 'Yw==', ifVersion: '9' });
    assert.ok(seen[0]!.headers['idempotency-key'], 'a write batch gets an idempotency key');
    const [g, p, d] = r.results;
    assert.ok(g?.ok && g.op === 'get');
    assert.deepEqual([...g.value], [0, 255]);
    assert.ok(p?.ok && p.op === 'put' && p.version === 6n && p.created);
    assert.ok(d && !d.ok && d.error.code === 'NOT_FOUND');
    await kv.batch([{ op: 'get', key: 'a' }]);
    assert.equal(seen[1]!.headers['idempotency-key'], undefined);
  });

  test('scan: follows cursors page by page; range bytes percent-encoded', async () => {
    const page = (keys: string[], cursor: string | null) => (_r: Seen, res: ServerResponse) =>
      json(res, 200, { items: keys.map((k) => ({ key: Buffer.from(k).toString('base64'), keyEncoding: 'base64', value: 'dg==', valueEncoding: 'base64', version: '1', createdAt: 0, updatedAt: 0, expiresAt: null, attrs: {} })), cursor, session: 's' });
    script = [page(['p1', 'p2'], 'CUR1'), page(['p3'], 'CUR2'), page([], null)];
    const keys: string[] = [];
    for await (const p of client().scan({ prefix: 'p', limit: 2 })) for (const it of p.items) keys.push(utf8(it.key));
    assert.deepEqual(keys, ['p1', 'p2', 'p3']);
    assert.equal(seen.length, 3);
    assert.equal(seen[0]!.url, '/v1/scan?prefix=%70&limit=2&encoding=base64');
    assert.match(seen[1]!.url, /&cursor=CUR1$/);
    assert.match(seen[2]!.url, /&cursor=CUR2$/);
  });

  test('bad input fails locally without a request', async () => {
    const kv = client();
    await assert.rejects(kv.get(''), (e: unknown) => e instanceof CellkvError && e.code === 'INVALID_ARGUMENT' && e.status === 0);
    await assert.rejects(kv.put('k', 'v', { ifMatch: 'abc' }), (e: unknown) => e instanceof CellkvError && e.code === 'INVALID_ARGUMENT');
    assert.equal(seen.length, 0);
  });
});

describe('retries', () => {
  test('reads retry 503 and cut connections, then succeed', async () => {
    const ok = (_r: Seen, res: ServerResponse) => {
      res.writeHead(200, { etag: '"1"' });
      res.end('v');
    };
    script = [(_r, res) => problem(res, 503, 'UNAVAILABLE', {}, { 'retry-after': '0' }), cut, ok];
    const r = await client().get('k');
    assert.equal(r && utf8(r.value), 'v');
    assert.equal(seen.length, 3);
  });

  test('writes reuse one generated idempotency key across retries', async () => {
    script = [(_r, res) => problem(res, 503, 'UNAVAILABLE'), (_r, res) => problem(res, 504, 'OUTCOME_UNKNOWN'), cut, (_r, res) => json(res, 201, { version: '9', created: true, session: 's' })];
    const r = await client().put('k', 'v');
    assert.equal(r.version, 9n);
    const keys = seen.map((s) => s.headers['idempotency-key']);
    assert.equal(keys.length, 4);
    assert.ok(keys[0] && keys.every((k) => k === keys[0]), `one key for all attempts: ${keys.join(',')}`);
    // A second logical write gets a different key.
    script = [(_r, res) => json(res, 200, { version: '10', created: false, session: 's' })];
    await client().put('k', 'v');
    assert.notEqual(seen[4]!.headers['idempotency-key'], keys[0]);
  });

  test('a caller-given idempotency key is used as is', async () => {
    script = [(_r, res) => problem(res, 503, 'UNAVAILABLE'), (_r, res) => { res.writeHead(204); res.end(); }];
    await client().delete('k', { idempotencyKey: 'my-key-1' });
    assert.deepEqual(seen.map((s) => s.headers['idempotency-key']), ['my-key-1', 'my-key-1']);
  });

  test('exhausted ambiguous write surfaces OUTCOME_UNKNOWN with its key', async () => {
    script = [cut, (_r, res) => problem(res, 504, 'OUTCOME_UNKNOWN'), (_r, res) => problem(res, 503, 'UNAVAILABLE')];
    const e = await client({ retries: { retries: 2, baseDelayMs: 1 } }).put('k', 'v').catch((x: unknown) => x);
    assert.ok(e instanceof CellkvError, String(e));
    assert.equal(e.code, 'OUTCOME_UNKNOWN');
    assert.equal(e.status, 504);
    assert.equal(e.attempts, 3);
    assert.equal(e.idempotencyKey, seen[0]!.headers['idempotency-key']);
    assert.match(e.detail, /retry with idempotencyKey/);
  });

  test('exhausted write that was never ambiguous keeps its real error', async () => {
    script = [(_r, res) => problem(res, 503, 'UNAVAILABLE'), (_r, res) => problem(res, 503, 'UNAVAILABLE')];
    const e = await client({ retries: 1 }).put('k', 'v').catch((x: unknown) => x);
    assert.ok(e instanceof CellkvError && e.code === 'UNAVAILABLE' && e.attempts === 2, String(e));
  });

  test('writes without an idempotency key are never retried', async () => {
    script = [(_r, res) => problem(res, 503, 'UNAVAILABLE', {}, { 'retry-after': '1' })];
    const kv = client({ autoIdempotencyKeys: false });
    const e1 = await kv.put('k', 'v').catch((x: unknown) => x);
    assert.ok(e1 instanceof CellkvError && e1.code === 'UNAVAILABLE' && e1.retryAfter === 1);
    assert.equal(seen.length, 1);
    assert.equal(seen[0]!.headers['idempotency-key'], undefined);
    // A cut connection leaves such a write's fate unknown.
    script = [cut];
    const e2 = await kv.put('k', 'v').catch((x: unknown) => x);
    assert.ok(e2 instanceof CellkvError && e2.code === 'OUTCOME_UNKNOWN' && e2.idempotencyKey === null, String(e2));
    assert.equal(seen.length, 2);
  });

  test('Retry-After is honored on 429; QUOTA_EXCEEDED is not retried', async () => {
    script = [(_r, res) => problem(res, 429, 'RATE_LIMITED', {}, { 'retry-after': '1' }), (_r, res) => { res.writeHead(200, { etag: '"1"' }); res.end('v'); }];
    const t0 = Date.now();
    await client().get('k');
    assert.ok(Date.now() - t0 >= 950, `waited ${Date.now() - t0}ms for Retry-After: 1`);
    script = [(_r, res) => problem(res, 429, 'QUOTA_EXCEEDED', {}, { 'retry-after': '1' })];
    await assert.rejects(client().put('k', 'v'), (e: unknown) => e instanceof CellkvError && e.code === 'QUOTA_EXCEEDED');
    assert.equal(seen.length, 3);
  });

  test('connection refused: retried, not ambiguous, ends UNAVAILABLE', async () => {
    const dead = createServer();
    await new Promise<void>((r) => dead.listen(0, '127.0.0.1', () => r()));
    const port = (dead.address() as AddressInfo).port;
    await new Promise<void>((r) => dead.close(() => r()));
    const kv = new CellkvHttpClient({ url: `http://127.0.0.1:${port}`, token: 't', retries: { retries: 2, baseDelayMs: 1 } });
    const e = await kv.put('k', 'v').catch((x: unknown) => x);
    assert.ok(e instanceof CellkvError && e.code === 'UNAVAILABLE' && e.status === 0 && e.attempts === 3, String(e));
    assert.match(e.detail, /ECONNREFUSED/);
  });

  test('an aborted call is CANCELLED and stops retrying', async () => {
    script = [(_r, res) => problem(res, 503, 'UNAVAILABLE', {}, { 'retry-after': '5' })];
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 50);
    const t0 = Date.now();
    await assert.rejects(client().get('k', { signal: ac.signal }), (e: unknown) => e instanceof CellkvError && e.code === 'CANCELLED');
    assert.ok(Date.now() - t0 < 2000);
  });

  test('backoff: exponential with jitter, capped; Retry-After capped', () => {
    const p = retryPolicy({ retries: 5, baseDelayMs: 100, maxDelayMs: 1000, maxRetryAfterMs: 3000 });
    assert.equal(delayMs(0, null, p, () => 0), 50);
    assert.equal(delayMs(0, null, p, () => 1), 100);
    assert.equal(delayMs(3, null, p, () => 1), 800);
    assert.equal(delayMs(9, null, p, () => 1), 1000);
    assert.equal(delayMs(0, 2, p, () => 0), 2000);
    assert.equal(delayMs(0, 3600, p, () => 0), 3000);
  });
});
