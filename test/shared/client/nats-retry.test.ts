// Unit tests of CellkvNatsClient against a real nats-server with a scripted responder on the
// front-door subjects: body encoding, the Authorization header, problem replies, retries with
// one idempotency key, no-responders and timeouts.

import { strict as assert } from 'node:assert';
import { after, before, beforeEach, describe, test } from 'node:test';
import { connect, type Msg, type NatsConnection, type Subscription } from '@nats-io/transport-node';
import { CellkvError, CellkvNatsClient, utf8 } from '../../../shared/client/index.js';
import { startNatsServer, type NatsServer } from '../../support/nats-server.js';

interface Seen {
  readonly subject: string;
  readonly auth: string | undefined;
  readonly body: Record<string, unknown>;
}

type Reply = Record<string, unknown> | 'silent';

let nats: NatsServer;
let responderConn: NatsConnection;
let sub: Subscription | null = null;
let seen: Seen[] = [];
let script: Reply[] = [];

const enc = new TextEncoder();
const fast = { retries: 3, baseDelayMs: 1, maxDelayMs: 5 };

function serve(): void {
  sub = responderConn.subscribe('cellkv.api.v1.>', {
    queue: 'cellkv-gateways',
    callback: (_e, m: Msg) => {
      seen.push({ subject: m.subject, auth: m.headers?.get('Authorization'), body: JSON.parse(new TextDecoder().decode(m.data)) as Record<string, unknown> });
      const r = script.shift() ?? { ok: false, status: 500, code: 'INTERNAL', detail: 'unscripted' };
      if (r !== 'silent') m.respond(enc.encode(JSON.stringify(r)));
    },
  });
}

before(async () => {
  nats = await startNatsServer();
  responderConn = await connect({ servers: nats.url });
});

after(async () => {
  await responderConn?.close().catch(() => undefined);
  await nats?.stop();
});

beforeEach(async () => {
  seen = [];
  script = [];
  if (!sub) serve();
  await responderConn.flush();
});

const unavailable = { ok: false, type: 'x', title: 'x', status: 503, code: 'UNAVAILABLE', detail: 'try later' };

describe('CellkvNatsClient', () => {
  test('get/put/delete/scan bodies and answers', async () => {
    const kv = new CellkvNatsClient({ servers: nats.url, token: 'jwt', retries: fast });
    try {
      script = [
        { ok: true, status: 201, version: '7', created: true, session: 's1' },
        { ok: true, status: 200, value: 'AP8=', valueEncoding: 'base64', version: '7', createdAt: 1, updatedAt: 2, expiresAt: 3, attrs: { a: 'b' }, session: 's2' },
        { ok: false, status: 404, code: 'NOT_FOUND', detail: 'key not found' },
        { ok: true, status: 204, session: 's3' },
        { ok: true, status: 200, items: [{ key: 'aw==', keyEncoding: 'base64', version: '1', createdAt: 0, updatedAt: 0, expiresAt: null, attrs: {} }], cursor: 'C', session: 's' },
        { ok: true, status: 200, items: [], cursor: null, session: 's' },
      ];
      const p = await kv.put(new Uint8Array([1, 2]), new Uint8Array([0xff]), { ttlSeconds: 9, ifNoneMatch: true });
      assert.deepEqual(p, { version: 7n, created: true, session: 's1' });
      const g = await kv.get('k', { session: 's1' });
      assert.ok(g);
      assert.deepEqual([...g.value], [0, 255]);
      assert.deepEqual({ v: g.version, e: g.expiresAt, a: g.attrs }, { v: 7n, e: 3, a: { a: 'b' } });
      assert.equal(await kv.get('nope'), null);
      assert.deepEqual(await kv.delete('k'), { deleted: true, session: 's3' });
      const keys: string[] = [];
      for await (const page of kv.scan({ prefix: 'k', keysOnly: true })) for (const it of page.items) keys.push(utf8(it.key));
      assert.deepEqual(keys, ['k']);

      assert.deepEqual(seen.map((s) => s.subject), ['cellkv.api.v1.put', 'cellkv.api.v1.get', 'cellkv.api.v1.get', 'cellkv.api.v1.delete', 'cellkv.api.v1.scan', 'cellkv.api.v1.scan']);
      assert.ok(seen.every((s) => s.auth === 'Bearer jwt'));
      const put = seen[0]!.body;
      assert.equal(put['key'], 'AQI=');
      assert.equal(put['value'], '/w==');
      assert.equal(put['ttl'], 9);
      assert.equal(put['ifAbsent'], true);
      assert.equal(typeof put['idempotencyKey'], 'string');
      assert.deepEqual(seen[1]!.body, { key: 'aw==', valueEncoding: 'base64', consistency: 'session', session: 's1' });
      assert.equal(seen[5]!.body['cursor'], 'C');
      assert.equal(seen[4]!.body['keysOnly'], true);
    } finally {
      await kv.close();
    }
  });

  test('retries reuse one idempotency key; problems become CellkvError', async () => {
    const kv = new CellkvNatsClient({ servers: [nats.url], token: 'jwt', retries: fast });
    try {
      script = [unavailable, { ...unavailable, status: 504, code: 'OUTCOME_UNKNOWN' }, { ok: true, status: 200, version: '3', created: false, session: 's' }];
      assert.equal((await kv.put('k', 'v')).version, 3n);
      const keys = seen.map((s) => s.body['idempotencyKey']);
      assert.equal(keys.length, 3);
      assert.ok(keys.every((k) => k === keys[0]));
      script = [{ ok: false, status: 412, code: 'VERSION_MISMATCH', detail: 'no', currentVersion: '2' }];
      await assert.rejects(kv.put('k', 'v', { ifMatch: 1n }), (e: unknown) => e instanceof CellkvError && e.code === 'VERSION_MISMATCH' && e.currentVersion === 2n);
    } finally {
      await kv.close();
    }
  });

  test('a silent gateway: reads end UNAVAILABLE, writes OUTCOME_UNKNOWN', async () => {
    const kv = new CellkvNatsClient({ servers: nats.url, token: 'jwt', retries: { retries: 1, baseDelayMs: 1 }, timeoutMs: 150 });
    try {
      script = ['silent', 'silent'];
      await assert.rejects(kv.get('k'), (e: unknown) => e instanceof CellkvError && e.code === 'UNAVAILABLE' && e.attempts === 2);
      script = ['silent', 'silent'];
      const e = await kv.put('k', 'v').catch((x: unknown) => x);
      assert.ok(e instanceof CellkvError && e.code === 'OUTCOME_UNKNOWN' && e.idempotencyKey === seen[2]!.body['idempotencyKey'], String(e));
    } finally {
      await kv.close();
    }
  });

  test('no gateway at all (no responders): retried, not ambiguous', async () => {
    await sub?.unsubscribe();
    sub = null;
    await responderConn.flush();
    const kv = new CellkvNatsClient({ servers: nats.url, token: 'jwt', retries: { retries: 2, baseDelayMs: 1 } });
    try {
      const e = await kv.put('k', 'v').catch((x: unknown) => x);
      assert.ok(e instanceof CellkvError && e.code === 'UNAVAILABLE' && e.attempts === 3, String(e));
      assert.match(e.detail, /no gateway serves/);
    } finally {
      await kv.close();
    }
  });
});
