// Unit tests of the gateway's observability pieces: bounded tenant labels, operation labels,
// the per-request RED series, quota saturation and hot-key gauges computed at scrape time.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { TenantRecord, TenantSource, TenantUsage, UsageTotals } from '../../gateway/admin-link.js';
import { apiOpLabel } from '../../gateway/http/middleware.js';
import { ANONYMOUS_TENANT, GatewayMetrics, OTHER_TENANTS, TenantLabels } from '../../gateway/metrics.js';
import { QuotaService } from '../../gateway/quotas.js';

test('tenant labels: the first `cap` tenants keep their name, later ones share _other, none is _anonymous', () => {
  const l = new TenantLabels(2);
  assert.equal(l.of('a'), 'a');
  assert.equal(l.of('b'), 'b');
  assert.equal(l.of('c'), OTHER_TENANTS);
  assert.equal(l.of('a'), 'a', 'a known tenant keeps its label past the cap');
  assert.equal(l.of(undefined), ANONYMOUS_TENANT);
  assert.equal(new TenantLabels(0).of('a'), OTHER_TENANTS);
  assert.throws(() => new TenantLabels(-1), RangeError);
});

test('operation labels come from route and method; health and metrics are not API operations', () => {
  assert.equal(apiOpLabel('kv', 'GET'), 'get');
  assert.equal(apiOpLabel('kv', 'HEAD'), 'get');
  assert.equal(apiOpLabel('kv', 'PUT'), 'put');
  assert.equal(apiOpLabel('kv', 'DELETE'), 'delete');
  assert.equal(apiOpLabel('kv', 'PATCH'), 'other');
  assert.equal(apiOpLabel('batch', 'POST'), 'batch');
  assert.equal(apiOpLabel('scan', 'GET'), 'scan');
  assert.equal(apiOpLabel('admin', 'PUT'), 'admin');
  for (const r of ['healthz', 'readyz', 'metrics', 'other']) assert.equal(apiOpLabel(r, 'GET'), null);
});

test('observeRequest counts by door, op, capped tenant and status, and times by door and op', async () => {
  const m = new GatewayMetrics({ maxTenantLabels: 1 });
  m.observeRequest('http', 'put', 't1', 201, 0.002);
  m.observeRequest('http', 'put', 't2', 503, 0.5);
  m.observeRequest('nats', 'get', undefined, 401, 0.001);
  const body = await m.registry.metrics();
  assert.match(body, /cellkv_gateway_requests_total\{door="http",op="put",tenant="t1",status="201"\} 1/);
  assert.match(body, /cellkv_gateway_requests_total\{door="http",op="put",tenant="_other",status="503"\} 1/);
  assert.match(body, /cellkv_gateway_requests_total\{door="nats",op="get",tenant="_anonymous",status="401"\} 1/);
  assert.match(body, /cellkv_gateway_request_duration_seconds_count\{door="http",op="put"\} 2/);
  assert.match(body, /cellkv_gateway_request_duration_seconds_bucket\{le="0.0025",door="http",op="put"\} 1/);
  assert.doesNotMatch(body, /request_duration_seconds_bucket\{[^}]*tenant=/, 'histograms carry no tenant label');
});

class Source implements TenantSource {
  constructor(
    private readonly records: TenantRecord[],
    private readonly use: Record<string, TenantUsage>,
  ) {}
  listTenants(): Promise<TenantRecord[]> {
    return Promise.resolve(this.records);
  }
  putTenant(): Promise<void> {
    return Promise.resolve();
  }
  deleteTenant(): Promise<void> {
    return Promise.resolve();
  }
  usage(tenants: readonly string[]): Promise<UsageTotals> {
    const usage = new Map(tenants.flatMap((t) => (this.use[t] ? [[t, this.use[t]] as const] : [])));
    return Promise.resolve({ usage, cells: 1, answered: 1, applied: new Map([['c1', 10]]) });
  }
}

test('quota saturation: usage / limit per resource for tenants with a size quota, most saturated first, capped', async () => {
  const source = new Source(
    [
      { id: 'full', maxKeys: 10, maxBytes: 1000 },
      { id: 'half', maxKeys: 100 },
      { id: 'rate-only', opsPerSec: 5 },
      { id: 'low', maxBytes: 1000 },
    ],
    { full: { keys: 9, bytes: 990 }, half: { keys: 50, bytes: 1 }, 'rate-only': { keys: 1, bytes: 1 }, low: { keys: 1, bytes: 10 } },
  );
  const now = 1000;
  const q = new QuotaService(source, { refreshMs: 1000, share: 1, defaultQuota: null, maxTenants: 100 }, null, null, () => now);
  assert.deepEqual(q.saturation(), [], 'nothing before the first refresh');
  await q.refresh();
  const sat = q.saturation().sort((a, b) => `${a.tenant}/${a.resource}`.localeCompare(`${b.tenant}/${b.resource}`));
  assert.deepEqual(sat, [
    { tenant: 'full', resource: 'bytes', ratio: 0.99 },
    { tenant: 'full', resource: 'keys', ratio: 0.9 },
    { tenant: 'half', resource: 'keys', ratio: 0.5 },
    { tenant: 'low', resource: 'bytes', ratio: 0.01 },
  ]);
  const m = new GatewayMetrics({ maxTenantLabels: 2 });
  m.quotaSaturation = () => q.saturation();
  const body = await m.registry.metrics();
  assert.match(body, /cellkv_gateway_tenant_quota_usage_ratio\{tenant="full",resource="bytes"\} 0.99/);
  assert.match(body, /cellkv_gateway_tenant_quota_usage_ratio\{tenant="full",resource="keys"\} 0.9/);
  assert.doesNotMatch(body, /tenant="half"|tenant="low"/, 'only the `cap` most saturated series are exported');
});

test('the hottest-key gauge reads the tracker at scrape time', async () => {
  const m = new GatewayMetrics();
  let hottest = 0;
  m.hottestKeyCount = () => hottest;
  assert.match(await m.registry.metrics(), /cellkv_gateway_hot_key_top_count 0/);
  hottest = 42;
  assert.match(await m.registry.metrics(), /cellkv_gateway_hot_key_top_count 42/);
});
