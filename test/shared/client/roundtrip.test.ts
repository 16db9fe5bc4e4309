// The public client against the real thing: a three-node CellCluster and a gateway process
// (gateway/main.ts, the CLI contract) with a dev JWKS. Skipped, saying so, while the gateway
// does not exist in the checkout.

import { strict as assert } from 'node:assert';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import { CellkvError, CellkvHttpClient, CellkvNatsClient, utf8, type CellkvClient } from '../../../shared/client/index.js';
import { ALL_SCOPES, ensureDevKeys, mintDevToken } from '../../../scripts/dev-keys.js';
import { CellCluster } from '../../support/cell-cluster.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const GATEWAY = join(ROOT, 'gateway/main.ts');
// The gateway is part of the tree: a missing one means a file moved, which must fail, not skip.
if (!existsSync(GATEWAY)) throw new Error(`${GATEWAY} is missing: update GATEWAY in this test to where the gateway entry point moved`);

let cluster: CellCluster | null = null;
let dir = '';
let url = '';
let token = '';

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'cellkv-client-rt-'));
  const keys = await ensureDevKeys(join(dir, 'keys'));
  token = await mintDevToken(keys, { tenant: 'rt', scopes: ALL_SCOPES, ttlSeconds: 600 });
  cluster = await CellCluster.start();
  url = (await cluster.startGateway(keys)).url;
});

after(async () => {
  await cluster?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** The same scenario through either door. */
async function exercise(kv: CellkvClient, tag: string): Promise<void> {
  const key = new Uint8Array([...new TextEncoder().encode(`${tag}/`), 0x00, 0xff, 0x2f, 0x25, 0x20]);
  const p1 = await kv.put(key, new Uint8Array([0, 1, 255]), { attrs: { kind: 'bin' }, ttlSeconds: 3600 });
  assert.equal(p1.created, true);
  const g = await kv.get(key, { session: p1.session });
  assert.ok(g, 'read-your-write');
  assert.deepEqual([...g.value], [0, 1, 255]);
  assert.equal(g.version, p1.version);
  assert.equal(g.attrs['kind'], 'bin');
  assert.ok(g.expiresAt !== null && g.expiresAt > Date.now());

  // CAS: the right version wins, a stale one is VERSION_MISMATCH with the current version.
  const p2 = await kv.put(key, 'v2', { ifMatch: p1.version });
  assert.ok(p2.version > p1.version);
  const stale = await kv.put(key, 'v3', { ifMatch: p1.version }).catch((e: unknown) => e);
  assert.ok(stale instanceof CellkvError && stale.code === 'VERSION_MISMATCH' && stale.status === 412, String(stale));
  assert.equal(stale.currentVersion, p2.version);
  await assert.rejects(kv.put(key, 'v4', { ifNoneMatch: true }), (e: unknown) => e instanceof CellkvError && e.code === 'ALREADY_EXISTS');

  // The same idempotency key applies a write once.
  const idem = `${tag}-idem-1`;
  const a = await kv.put(`${tag}/idem`, 'once', { idempotencyKey: idem });
  const b = await kv.put(`${tag}/idem`, 'once', { idempotencyKey: idem });
  assert.equal(a.version, b.version);

  const batch = await kv.batch([
    { op: 'put', key: `${tag}/b1`, value: 'one' },
    { op: 'put', key: `${tag}/b2`, value: new Uint8Array([0xfe]) },
    { op: 'get', key: key },
    { op: 'delete', key: `${tag}/absent` },
  ]);
  assert.equal(batch.results.length, 4);
  assert.ok(batch.results[0]!.ok && batch.results[1]!.ok);
  const got = batch.results[2]!;
  assert.ok(got.ok && got.op === 'get' && utf8(got.value) === 'v2');
  const del = batch.results[3]!;
  assert.ok(!del.ok && del.error.code === 'NOT_FOUND');

  // Scan in pages of 2 over everything under the tag.
  const keys: string[] = [];
  let pages = 0;
  for await (const page of kv.scan({ prefix: `${tag}/`, limit: 2 })) {
    pages++;
    for (const it of page.items) keys.push(Buffer.from(it.key).toString('hex'));
  }
  const expected = [key, `${tag}/b1`, `${tag}/b2`, `${tag}/idem`].map((k) => Buffer.from(typeof k === 'string' ? new TextEncoder().encode(k) : k).toString('hex')).sort();
  assert.deepEqual(keys, expected);
  assert.ok(pages >= 2);

  assert.deepEqual((await kv.delete(`${tag}/b1`)).deleted, true);
  assert.deepEqual((await kv.delete(`${tag}/b1`)).deleted, false);
  assert.equal(await kv.get(`${tag}/b1`), null);
}

describe('real round trip through the gateway', () => {
  test('HTTP client', async () => {
    await exercise(new CellkvHttpClient({ url, token }), 'http');
  });

  test('NATS client (front door)', async () => {
    const kv = new CellkvNatsClient({ servers: cluster!.nats.url, token });
    try {
      await exercise(kv, 'nats');
    } finally {
      await kv.close();
    }
  });

  test('a bad token is UNAUTHENTICATED through both doors, not retried', async () => {
    await assert.rejects(new CellkvHttpClient({ url, token: 'x.y.z' }).get('k'), (e: unknown) => e instanceof CellkvError && e.code === 'UNAUTHENTICATED' && e.status === 401 && e.attempts === 1);
    const kv = new CellkvNatsClient({ servers: cluster!.nats.url, token: 'x.y.z' });
    try {
      await assert.rejects(kv.get('k'), (e: unknown) => e instanceof CellkvError && e.code === 'UNAUTHENTICATED');
    } finally {
      await kv.close();
    }
  });
});
