// Unit tests of per-tenant quotas without a cluster: the token bucket and the bounded per-tenant
// rate limiter, growth computation, the quota cache (fake tenant source, fake clock) with its
// near-quota size reads, local accounting between refreshes and fail-open on stale usage, and
// the core + HTTP wiring (429 with Retry-After, both codes) over the fake cells.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { TenantRecord, TenantSource, UsageTotals } from '../../gateway/admin-link.js';
import { TokenBucket, TenantRateLimiter, retryAfterSeconds } from '../../gateway/rate-limit.js';
import { QuotaService, type QuotaOptions } from '../../gateway/quotas.js';
import { growthOf, type SettledWrite, type WriteIntent } from '../../gateway/quota-writes.js';
import { TokenVerifier } from '../../gateway/auth.js';
import { GatewayCore } from '../../gateway/core.js';
import { createHttpApp } from '../../gateway/http/app.js';
import { InflightLimiter } from '../../gateway/limits.js';
import { silentLogger } from '../../gateway/log.js';
import { GatewayMetrics } from '../../gateway/metrics.js';
import { TenantAdmin } from '../../gateway/tenant-admin.js';
import { KvError } from '../../shared/errors.js';
import { FakeCells } from './fake-cells.js';
import { AUDIENCE, ISSUER, makeKeys, mintToken, te, type TestKeys } from './support.js';

describe('token bucket', () => {
  test('burst of one second, refill at the rate, wait computed from the deficit', () => {
    const b = new TokenBucket(10, 10, 0);
    for (let i = 0; i < 10; i++) assert.equal(b.take(1, 0), 0, `burst op ${i}`);
    assert.equal(b.take(1, 0), 100, 'one token comes back after 100 ms');
    assert.equal(b.take(1, 50), 50);
    assert.equal(b.take(1, 100), 0, 'refilled');
    assert.equal(b.take(1, 100), 100);
    // Refill is capped at the burst.
    assert.equal(b.take(10, 100_000), 0);
    assert.ok(b.take(1, 100_000) > 0);
  });

  test('a request larger than the burst passes on a full bucket and leaves debt', () => {
    const b = new TokenBucket(10, 10, 0);
    assert.equal(b.take(50, 0), 0, 'admitted: the bucket was full');
    // tokens = -40: the next op needs 41 tokens, 4.1 s at 10/s.
    assert.equal(b.take(1, 0), 4100);
    assert.equal(b.take(50, 5000), 0, 'after the debt and a full refill, admitted again');
  });

  test('reconfigure keeps tokens but never above the new burst; Retry-After rounds up', () => {
    const b = new TokenBucket(100, 100, 0);
    b.reconfigure(5, 5, 0);
    for (let i = 0; i < 5; i++) assert.equal(b.take(1, 0), 0);
    assert.equal(b.take(1, 0), 200);
    assert.equal(retryAfterSeconds(1), 1);
    assert.equal(retryAfterSeconds(1000), 1);
    assert.equal(retryAfterSeconds(1001), 2);
    assert.equal(retryAfterSeconds(0), 1, 'never 0: a client would spin');
  });
});

describe('tenant rate limiter', () => {
  test('RATE_LIMITED carries retryAfter in seconds; tenants are independent', () => {
    const r = new TenantRateLimiter(10);
    r.admit('a', 2, 1, 0);
    r.admit('a', 2, 1, 0);
    const e = assert.throws(() => r.admit('a', 2, 1, 0), (err: unknown) => err instanceof KvError && err.code === 'RATE_LIMITED' && err.details['retryAfter'] === 1);
    void e;
    r.admit('b', 2, 1, 0);
    r.admit('a', 2, 1, 500);
  });

  test('the bucket map is bounded: least recently used tenants are evicted', () => {
    const r = new TenantRateLimiter(3);
    for (const t of ['a', 'b', 'c']) r.admit(t, 1, 1, 0);
    r.admit('a', 1, 0, 1); // touch a: b is now the least recently used
    r.admit('d', 1, 1, 2);
    assert.equal(r.size, 3);
    assert.equal(r.evictions, 1);
    assert.throws(() => r.admit('a', 1, 1, 3), /RATE|rate/, 'a kept its (empty) bucket');
    r.admit('b', 1, 1, 3); // b was evicted: a fresh bucket (bounded leniency)
    for (let i = 0; i < 1000; i++) r.admit(`t${i}`, 1, 1, 10);
    assert.equal(r.size, 3);
  });
});

describe('growth of a write request', () => {
  const k = (s: string) => te.encode(s);
  const put = (key: string, size: number): WriteIntent => ({ op: 'put', key: k(key), size });
  const del = (key: string): WriteIntent => ({ op: 'delete', key: k(key) });
  test('new keys, overwrites, deletes and repeated keys', () => {
    assert.deepEqual(growthOf([put('a', 10)], [null]), { keys: 1, bytes: 10 });
    assert.deepEqual(growthOf([put('a', 10)], [25]), { keys: 0, bytes: -15 });
    assert.deepEqual(growthOf([del('a'), put('b', 5)], [7, null]), { keys: 0, bytes: -2 });
    assert.deepEqual(growthOf([put('a', 3), put('a', 9)], [null, null]), { keys: 1, bytes: 9 }, 'the last write of a key wins');
    assert.deepEqual(growthOf([put('a', 3), del('a')], [4, 4]), { keys: -1, bytes: -4 });
  });
});

class FakeSource implements TenantSource {
  records: TenantRecord[] = [];
  usageOf = new Map<string, { keys: number; bytes: number }>();
  failUsage = false;
  usageCalls: string[][] = [];
  /** The applied index of the one cell, c1, that the usage numbers reflect. */
  applied = 10;
  async listTenants(): Promise<TenantRecord[]> {
    return this.records;
  }
  async putTenant(t: TenantRecord): Promise<void> {
    this.records = [...this.records.filter((r) => r.id !== t.id), t];
  }
  async deleteTenant(id: string): Promise<void> {
    this.records = this.records.filter((r) => r.id !== id);
  }
  async usage(tenants: readonly string[]): Promise<UsageTotals> {
    this.usageCalls.push([...tenants]);
    if (this.failUsage) return { usage: new Map(), cells: 1, answered: 0, applied: new Map() };
    return { usage: new Map([...this.usageOf].filter(([t]) => tenants.includes(t))), cells: 1, answered: 1, applied: new Map([['c1', this.applied]]) };
  }
}

describe('quota cache', () => {
  const opts: QuotaOptions = { refreshMs: 1000, share: 1, defaultQuota: null, maxTenants: 100 };
  const key = (s: string) => te.encode(s);
  const noProbe = async (): Promise<(number | null)[]> => assert.fail('no size read expected far from the quota');

  test('far from a quota nothing is read; near it sizes decide; deletes always pass', async () => {
    const src = new FakeSource();
    src.records = [{ id: 'acme', maxKeys: 10, maxBytes: 1000 }];
    src.usageOf.set('acme', { keys: 5, bytes: 500 });
    let now = 0;
    const q = new QuotaService(src, opts, null, null, () => now);
    await q.refresh();
    assert.deepEqual(q.usageOf('acme'), { keys: 5, bytes: 500 });
    await q.admitWrites('acme', [{ op: 'put', key: key('k'), size: 100 }], noProbe);
    // 5 keys would be 10: fits without a read. 6 would not: the keys are read, and a put over
    // existing keys that does not grow passes.
    await q.admitWrites('acme', Array.from({ length: 5 }, (_, i) => ({ op: 'put' as const, key: key(`n${i}`), size: 10 })), noProbe);
    const probed: string[] = [];
    const probe = async (keys: readonly Uint8Array[]) => {
      probed.push(...keys.map((b) => Buffer.from(b).toString()));
      return keys.map(() => 20);
    };
    await q.admitWrites('acme', Array.from({ length: 6 }, (_, i) => ({ op: 'put' as const, key: key(`o${i}`), size: 20 })), probe);
    assert.equal(probed.length, 6, 'near the quota the current sizes were read');
    await assert.rejects(
      q.admitWrites('acme', Array.from({ length: 6 }, (_, i) => ({ op: 'put' as const, key: key(`p${i}`), size: 1 })), async (keys) => keys.map(() => null)),
      (e: unknown) => e instanceof KvError && e.code === 'QUOTA_EXCEEDED' && /maxKeys 10/.test(e.message) && e.details['retryAfter'] === 1,
    );
    await assert.rejects(q.admitWrites('acme', [{ op: 'put', key: key('big'), size: 501 }], async () => [null]), /maxBytes 1000/);
    const t = await q.admitWrites('acme', [{ op: 'delete', key: key('x') }], noProbe);
    assert.ok(t);
    // Settle: a created key (applied at c1 index 11) and a delete (index 12) count at once...
    const at = (index: number, applied = true): SettledWrite => ({ applied, cell: 'c1', index: BigInt(index) });
    q.settle(await q.admitWrites('acme', [{ op: 'put', key: key('k2'), size: 50 }], noProbe), [at(11)]);
    assert.deepEqual(q.usageOf('acme'), { keys: 6, bytes: 550 });
    q.settle(t, [at(12)]);
    assert.deepEqual(q.usageOf('acme'), { keys: 5, bytes: 550 }, 'a delete frees its key at once (its bytes when its size was read)');
    // ...and exactly once: a report as of index 11 covers the put but not the delete.
    now = 10;
    src.applied = 11;
    src.usageOf.set('acme', { keys: 6, bytes: 550 });
    await q.refresh();
    assert.deepEqual(q.usageOf('acme'), { keys: 5, bytes: 550 });
    src.applied = 12;
    src.usageOf.set('acme', { keys: 5, bytes: 530 });
    await q.refresh();
    assert.deepEqual(q.usageOf('acme'), { keys: 5, bytes: 530 });
    // A report older than the one installed (a lagging replica) is ignored.
    src.applied = 9;
    src.usageOf.set('acme', { keys: 1, bytes: 1 });
    await q.refresh();
    assert.deepEqual(q.usageOf('acme'), { keys: 5, bytes: 530 });
  });

  test('before refusing, usage is re-read: room made elsewhere is seen at once', async () => {
    const src = new FakeSource();
    src.records = [{ id: 'acme', maxKeys: 2 }];
    src.usageOf.set('acme', { keys: 2, bytes: 2 });
    let now = 0;
    const q = new QuotaService(src, opts, null, null, () => now);
    await q.refresh();
    src.applied = 20;
    src.usageOf.set('acme', { keys: 1, bytes: 1 }); // another gateway deleted a key
    const calls = src.usageCalls.length;
    const ticket = await q.admitWrites('acme', [{ op: 'put', key: key('n'), size: 1 }], async () => [null]);
    assert.equal(src.usageCalls.length, calls + 1, 'one fresh read before deciding');
    q.settle(ticket, [{ applied: true, cell: 'c1', index: 21n }]);
    src.usageOf.set('acme', { keys: 2, bytes: 2 });
    src.applied = 21;
    now = 100; // re-reads are rate-limited per tenant (here: 100 ms)
    await assert.rejects(q.admitWrites('acme', [{ op: 'put', key: key('m'), size: 1 }], async () => [null]), /QUOTA|quota/);
  });

  test('tenants without a record: unlimited, or the default quota (usage fetched for active writers)', async () => {
    const src = new FakeSource();
    const q = new QuotaService(src, opts, null, null, () => 0);
    await q.refresh();
    assert.equal(q.limitsOf('free'), null);
    assert.equal(await q.admitWrites('free', [{ op: 'put', key: key('k'), size: 1 }], noProbe), null);
    for (let i = 0; i < 100; i++) q.admitOps('free', 1);

    const q2 = new QuotaService(src, { ...opts, defaultQuota: { maxKeys: 1, opsPerSec: 1 } }, null, null, () => 0);
    await q2.refresh();
    await q2.admitWrites('newbie', [{ op: 'put', key: key('k'), size: 1 }], noProbe); // usage unknown yet: allowed
    src.usageOf.set('newbie', { keys: 1, bytes: 2 });
    await q2.refresh();
    assert.deepEqual(src.usageCalls.at(-1), ['newbie'], 'usage is fetched for tenants that wrote');
    await assert.rejects(q2.admitWrites('newbie', [{ op: 'put', key: key('k2'), size: 1 }], async () => [null]), /QUOTA|quota/);
    q2.admitOps('newbie', 1);
    assert.throws(() => q2.admitOps('newbie', 1), (e: unknown) => e instanceof KvError && e.code === 'RATE_LIMITED');
  });

  test('rates use this gateway share; usage that cannot be refreshed stops being enforced', async () => {
    const src = new FakeSource();
    src.records = [{ id: 'acme', opsPerSec: 10, maxKeys: 1 }];
    src.usageOf.set('acme', { keys: 1, bytes: 1 });
    let now = 0;
    const q = new QuotaService(src, { ...opts, share: 0.5 }, null, null, () => now);
    await q.refresh();
    for (let i = 0; i < 5; i++) q.admitOps('acme', 1);
    assert.throws(() => q.admitOps('acme', 1), /5 operations\/s/);
    await assert.rejects(q.admitWrites('acme', [{ op: 'put', key: key('k'), size: 1 }], async () => [null]));
    src.failUsage = true; // a cell stops answering: the old numbers are kept...
    now = 5_000;
    await q.refresh();
    await assert.rejects(q.admitWrites('acme', [{ op: 'put', key: key('k'), size: 1 }], async () => [null]));
    now = 31_000; // ...until they are too old to trust: fail open
    await q.refresh();
    assert.equal(q.usageOf('acme'), null);
    await q.admitWrites('acme', [{ op: 'put', key: key('k'), size: 1 }], noProbe);
  });
});

describe('core and HTTP wiring', () => {
  let keys: TestKeys;
  let verifier: TokenVerifier;
  before(async () => {
    keys = await makeKeys();
    verifier = await TokenVerifier.create({ jwksFile: keys.jwksFile, issuer: ISSUER, audience: AUDIENCE, tenantClaim: 'tenant' });
  });
  after(async () => keys?.cleanup());

  test('429 RATE_LIMITED and QUOTA_EXCEEDED as problems with Retry-After; rejected writes send nothing', async () => {
    const src = new FakeSource();
    src.records = [{ id: 'acme', opsPerSec: 3, maxKeys: 2 }];
    src.usageOf.set('acme', { keys: 2, bytes: 10 });
    const metrics = new GatewayMetrics();
    const quotas = new QuotaService(src, { refreshMs: 1500, share: 1, defaultQuota: null, maxTenants: 10 }, null, metrics);
    await quotas.refresh();
    const cells = new FakeCells([]);
    const core = new GatewayCore(cells, { maxValueBytes: 1024, requestTimeoutMs: 2000, quotas });
    const app = createHttpApp({
      core,
      verifier,
      limiter: new InflightLimiter(100, 'http', metrics),
      metrics,
      log: silentLogger(),
      maxBatchBytes: 1 << 20,
      health: () => ({ nats: true, ready: true }),
      admin: new TenantAdmin(src, quotas, null),
    });
    const token = await mintToken(keys, { tenant: 'acme' });
    const call = (method: string, path: string, body?: string) => app.request(path, { method, headers: { authorization: `Bearer ${token}` }, ...(body !== undefined ? { body } : {}) });

    const full = await call('PUT', '/v1/kv/new', 'v');
    assert.equal(full.status, 429);
    assert.equal(full.headers.get('retry-after'), '2', 'ceil(1.5 s)');
    const p = (await full.json()) as { code: string; retryAfter: number };
    assert.equal(p.code, 'QUOTA_EXCEEDED');
    assert.equal(p.retryAfter, 2);
    assert.equal(cells.calls.filter((c) => c.ops.some((o) => o.op === 'put')).length, 0, 'nothing was written');
    assert.equal((await call('GET', '/v1/kv/new')).status, 404, 'ops 2 and 3 of the burst of 3 pass');
    assert.equal((await call('GET', '/v1/kv/new')).status, 404);
    const limited = await call('GET', '/v1/kv/new');
    assert.equal(limited.status, 429);
    assert.equal(((await limited.json()) as { code: string }).code, 'RATE_LIMITED');
    assert.equal(limited.headers.get('retry-after'), '1');
    assert.match(await metrics.registry.metrics(), /cellkv_gateway_quota_rejections_total\{code="RATE_LIMITED"\} 1/);
  });
});
