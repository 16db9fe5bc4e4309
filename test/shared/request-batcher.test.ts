// Coalesced NATS request-reply (shared/request-batcher.ts) against a real nats-server: many
// requests in one turn travel as few messages, every reply reaches its own request, and NATS
// failures keep their meaning per request.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import {
  BATCH_SUBJECT_SUFFIX,
  MAX_BATCH_ITEMS,
  RequestBatcher,
  decodeReplyBatch,
  decodeRequestBatch,
  encodeReplyBatch,
  encodeRequestBatch,
  serveRequestBatch,
} from '../../shared/request-batcher.js';
import { startNatsServer, type NatsServer } from '../support/nats-server.js';

const te = new TextEncoder();
const td = new TextDecoder();

let nats: NatsServer;
let server: NatsConnection;
let client: NatsConnection;
let served = { plain: 0, batches: 0 };

/** The "node": answers each request with its upper-cased text, after a delay it names. */
function handle(data: Uint8Array, reply: (b: Uint8Array) => void): void {
  const text = td.decode(data);
  const delay = Number(/delay=(\d+)/.exec(text)?.[1] ?? 0);
  setTimeout(() => reply(te.encode(text.toUpperCase())), delay);
}

before(async () => {
  nats = await startNatsServer();
  server = await connect({ servers: nats.url });
  client = await connect({ servers: nats.url, noAsyncTraces: true });
  server.subscribe('svc.echo', { callback: (_e, m) => { served.plain++; handle(m.data, (b) => m.respond(b)); } });
  server.subscribe('svc.echo' + BATCH_SUBJECT_SUFFIX, { callback: (_e, m) => { served.batches++; serveRequestBatch(m, handle, () => undefined); } });
  await server.flush();
});

after(async () => {
  await client?.close().catch(() => undefined);
  await server?.close().catch(() => undefined);
  await nats?.stop();
});

test('codec: any items round-trip; malformed frames are refused, never misread', () => {
  const items = fc.array(fc.uint8Array({ maxLength: 64 }), { maxLength: 40 });
  fc.assert(
    fc.property(items, (xs) => {
      assert.deepEqual(decodeRequestBatch(encodeRequestBatch(xs)).map((b) => [...b]), xs.map((b) => [...b]));
      assert.deepEqual(decodeReplyBatch(encodeReplyBatch(xs)).map((b) => [...b]), xs.map((b) => [...b]));
      // A request frame is not a reply frame and vice versa.
      assert.throws(() => decodeReplyBatch(encodeRequestBatch(xs)));
      assert.throws(() => decodeRequestBatch(encodeReplyBatch(xs)));
    }),
  );
  fc.assert(
    fc.property(items, fc.nat(), (xs, cut) => {
      const full = encodeRequestBatch(xs);
      const at = cut % full.length;
      if (at === full.length) return;
      assert.throws(() => decodeRequestBatch(full.subarray(0, at)), 'a truncated frame is refused');
    }),
  );
  fc.assert(fc.property(fc.uint8Array({ maxLength: 200 }), (junk) => {
    try {
      decodeRequestBatch(junk);
    } catch (e) {
      assert.equal((e as { code?: string }).code, 'MALFORMED_BATCH');
    }
  }));
  const tooMany = encodeRequestBatch(Array.from({ length: MAX_BATCH_ITEMS + 1 }, () => new Uint8Array(0)));
  assert.throws(() => decodeRequestBatch(tooMany), /exceeds/);
});

test('requests in one turn share NATS messages and each gets its own reply', async () => {
  served = { plain: 0, batches: 0 };
  const b = new RequestBatcher(client);
  const n = 600; // more than MAX_BATCH_ITEMS: the batch must split
  const replies = await Promise.all(
    Array.from({ length: n }, (_, i) => b.request('svc.echo', te.encode(`req-${i} delay=${i % 7}`), { timeoutMs: 5000, cls: i % 3 === 0 ? 'write' : 'read' })),
  );
  replies.forEach((r, i) => assert.equal(td.decode(r), `REQ-${i} DELAY=${i % 7}`));
  assert.equal(b.stats.requests, n);
  assert.ok(b.stats.batches <= 8, `600 requests in one turn went out as ${b.stats.batches} NATS messages`);
  assert.equal(served.plain + served.batches, b.stats.batches);
});

test('a lone request is a plain NATS request', async () => {
  served = { plain: 0, batches: 0 };
  const b = new RequestBatcher(client);
  assert.equal(td.decode(await b.request('svc.echo', te.encode('solo'), { timeoutMs: 2000, cls: 'read' })), 'SOLO');
  assert.deepEqual(served, { plain: 1, batches: 0 });
});

test('no responders fails every request of the batch as no responders (nothing was received)', async () => {
  const b = new RequestBatcher(client);
  const rs = await Promise.allSettled(Array.from({ length: 5 }, (_, i) => b.request('svc.nobody', te.encode(`x${i}`), { timeoutMs: 2000, cls: 'write' })));
  for (const r of rs) {
    assert.equal(r.status, 'rejected');
    assert.match(String((r as PromiseRejectedResult).reason?.message), /no responders/i);
  }
});

test('a batch that is not answered in time fails each request as a timeout', async () => {
  const b = new RequestBatcher(client);
  const rs = await Promise.allSettled(Array.from({ length: 3 }, (_, i) => b.request('svc.echo', te.encode(`slow${i} delay=1500`), { timeoutMs: 300, cls: 'write' })));
  for (const r of rs) {
    assert.equal(r.status, 'rejected');
    assert.match(String((r as PromiseRejectedResult).reason?.message), /timeout/i);
  }
});

test('a malformed batch is answered at once with no items, and nothing in it runs', async () => {
  served = { plain: 0, batches: 0 };
  const m = await client.request('svc.echo' + BATCH_SUBJECT_SUFFIX, te.encode('garbage'), { timeout: 2000 });
  assert.deepEqual(decodeReplyBatch(m.data), []);
  assert.equal(served.batches, 1);
});

test('replies that would not fit one NATS message come back empty and are fetched alone', async () => {
  served = { plain: 0, batches: 0 };
  const big = (data: Uint8Array, reply: (b: Uint8Array) => void) => {
    const size = Number(/size=(\d+)/.exec(td.decode(data))?.[1] ?? 0);
    reply(new Uint8Array(size).fill(size % 251));
  };
  const sub1 = server.subscribe('svc.big', { callback: (_e, m) => { served.plain++; big(m.data, (b) => m.respond(b)); } });
  const sub2 = server.subscribe('svc.big' + BATCH_SUBJECT_SUFFIX, { callback: (_e, m) => { served.batches++; serveRequestBatch(m, big, () => undefined, 500_000); } });
  await server.flush();
  try {
    const b = new RequestBatcher(client);
    const sizes = [300_000, 10, 250_000, 20, 300_000];
    const replies = await Promise.all(sizes.map((n) => b.request('svc.big', te.encode(`size=${n}`), { timeoutMs: 5000, cls: 'read' })));
    replies.forEach((r, i) => {
      assert.equal(r.length, sizes[i]);
      assert.equal(r[0] ?? sizes[i]! % 251, sizes[i]! % 251);
    });
    assert.equal(served.batches, 1);
    assert.ok(served.plain >= 2, `the large answers were fetched alone (${served.plain} plain requests)`);
  } finally {
    sub1.unsubscribe();
    sub2.unsubscribe();
  }
});
