// Grafana dashboards and alert rules against a real running cluster: three cell node processes,
// a nats-server and an in-process gateway with real JWTs. After a few requests (HTTP and the
// NATS front door, several operations and tenants, a tenant with a quota) every metric that a
// dashboard panel, a dashboard variable or an alert rule selects must appear in some /metrics
// scrape. Also: the dashboard JSON is well formed and up to date with dashboards.ts, and the
// check reports unknown names (so it cannot pass vacuously).
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { headers as natsHeaders } from '@nats-io/transport-node';
import { CellCluster } from '../support/cell-cluster.js';
import type { Gateway } from '../../gateway/server.js';
import { makeKeys, mintToken, raw, startTestGateway, te, type TestKeys } from '../gateway/support.js';
import { renderDashboards } from '../../infra/grafana/dashboards.js';
import { join } from 'node:path';
import { CanaryMetrics } from '../../canary/metrics.js';
import { dashboardFiles, dashboardTargets, loadDashboard, loadRules, ROOT } from './infra-files.js';
import { checkReferences, parseExposition, type Exposition, type Reference } from './metric-references.js';

/**
 * Metrics of the canary process (canary/), not started here: names with the cellkv_canary_
 * prefix are accepted only when the canary's own registry declares them.
 */
export const CANARY_METRICS = new CanaryMetrics().registry
  .getMetricsAsArray()
  .map((m) => m.name)
  .filter((n) => n.startsWith('cellkv_canary_'));

function allReferences(): Reference[] {
  const refs: Reference[] = [];
  for (const f of dashboardFiles()) {
    for (const t of dashboardTargets(loadDashboard(f))) refs.push({ where: `dashboard ${t.dashboard}, ${t.panel}`, expr: t.expr });
  }
  for (const r of loadRules()) refs.push({ where: r.alert ? `alert ${r.alert}` : `rule ${r.record}`, expr: r.expr });
  return refs;
}

const recorded = (): Set<string> => new Set(loadRules().flatMap((r) => (r.record ? [r.record] : [])));

describe('dashboard JSON', () => {
  test('the committed JSON is what infra/grafana/dashboards.ts renders', () => {
    const files = dashboardFiles();
    const rendered = renderDashboards();
    assert.deepEqual(files, [...rendered.keys()].sort(), 'dashboard files and dashboards.ts disagree on the set');
    for (const [file, text] of rendered) {
      assert.equal(readFileSync(file, 'utf8'), text, `${file} is stale: run npx tsx infra/grafana/dashboards.ts`);
    }
  });

  test('each dashboard is valid Grafana JSON: schemaVersion, unique uids, a datasource variable, PromQL targets', () => {
    const uids = new Set<string>();
    const files = dashboardFiles();
    assert.ok(files.length >= 4, 'overview, raft, storage, quotas');
    for (const f of files) {
      const d = loadDashboard(f) as ReturnType<typeof loadDashboard> & { panels: { id: number; type: string; gridPos: unknown; datasource?: { uid: string }; targets?: { refId: string; expr: string }[] }[] };
      assert.ok(Number.isInteger(d.schemaVersion) && d.schemaVersion >= 36, `${f}: schemaVersion`);
      assert.ok(!uids.has(d.uid), `${f}: duplicate uid ${d.uid}`);
      uids.add(d.uid);
      assert.ok(d.templating.list.some((v) => v.type === 'datasource' && v.name === 'datasource'), `${f}: no datasource variable`);
      const ids = new Set<number>();
      let targets = 0;
      for (const p of d.panels) {
        assert.ok(!ids.has(p.id), `${f}: duplicate panel id ${p.id}`);
        ids.add(p.id);
        assert.ok(p.gridPos, `${f}: panel ${p.id} has no gridPos`);
        if (p.type === 'row') continue;
        assert.equal(p.datasource?.uid, '${datasource}', `${f}: panel ${p.id} does not use the datasource variable`);
        assert.ok((p.targets ?? []).length > 0, `${f}: panel ${p.id} has no query`);
        for (const t of p.targets ?? []) {
          assert.match(t.refId, /^[A-Z]$/);
          assert.ok(t.expr.trim().length > 0);
          targets++;
        }
      }
      assert.ok(targets >= 8, `${f}: only ${targets} queries`);
    }
  });
});

describe('metric references', () => {
  const exposedFixture: Exposition = parseExposition([
    '# HELP a_total x\n# TYPE a_total counter\na_total 1\n# TYPE lat_seconds histogram\nlat_seconds_bucket{le="+Inf"} 1\nlat_seconds_sum 0.1\nlat_seconds_count 1\n# TYPE idle gauge\n',
  ]);
  const opts = { recorded: new Set(['job:a:rate5m']), canaryMetrics: CANARY_METRICS };

  test('known names, histogram series, recording rules, up and listed canary metrics pass', () => {
    const r = checkReferences(
      [{ where: 'x', expr: 'rate(a_total[5m]) + histogram_quantile(0.9, sum by (le) (rate(lat_seconds_bucket[5m]))) + idle + job:a:rate5m + up + rate(cellkv_canary_ops_total[5m])' }],
      exposedFixture,
      opts,
    );
    assert.deepEqual(r.unknown, []);
    assert.deepEqual(r.canary, ['cellkv_canary_ops_total']);
  });

  test('an unknown metric, a histogram without its suffix and an unlisted canary metric are reported', () => {
    const r = checkReferences(
      [
        { where: 'dashboard d, panel p', expr: 'sum(rate(cellkv_no_such_metric_total{op="get"}[5m]))' },
        { where: 'alert A', expr: 'histogram_quantile(0.99, rate(lat_seconds[5m]))' },
        { where: 'alert B', expr: 'cellkv_canary_made_up > 0' },
      ],
      exposedFixture,
      opts,
    );
    assert.deepEqual(r.unknown, ['cellkv_no_such_metric_total (dashboard d, panel p)', 'lat_seconds (alert A)', 'cellkv_canary_made_up (alert B: not a known canary metric)']);
  });
});

describe('against a running cluster', () => {
  let c: CellCluster;
  let gw: Gateway;
  let keys: TestKeys;

  before(async () => {
    [c, keys] = await Promise.all([CellCluster.start(), makeKeys()]);
    gw = await startTestGateway(c.nats.url, keys, { defaultMetrics: true, quotaRefreshMs: 200 });
  });
  after(async () => {
    await gw?.stop();
    await c?.stop();
    await keys?.cleanup();
  });

  async function scrape(url: string): Promise<string> {
    const r = await fetch(url);
    assert.equal(r.status, 200, `GET ${url}`);
    return r.text();
  }

  test('every metric a dashboard or an alert rule selects is exposed', async () => {
    const admin = await mintToken(keys, { tenant: 'ops', scope: 'kv:admin' });
    const created = await raw(gw.url, 'PUT', '/v1/admin/tenants/obs-quota', { authorization: `Bearer ${admin}` }, JSON.stringify({ maxKeys: 100, maxBytes: 100000 }));
    assert.equal(created.status, 201, created.text());
    for (const tenant of ['obs-a', 'obs-b', 'obs-quota']) {
      const auth = { authorization: `Bearer ${await mintToken(keys, { tenant })}` };
      assert.equal((await raw(gw.url, 'PUT', '/v1/kv/k1', auth, 'v1')).status, 201);
      assert.equal((await raw(gw.url, 'GET', '/v1/kv/k1', auth)).status, 200);
      assert.equal((await raw(gw.url, 'GET', '/v1/kv/missing', auth)).status, 404);
      assert.equal((await raw(gw.url, 'GET', '/v1/scan?prefix=k', auth)).status, 200);
      assert.equal((await raw(gw.url, 'POST', '/v1/batch', { ...auth, 'content-type': 'application/json' }, JSON.stringify({ ops: [{ op: 'get', key: 'k1' }] }))).status, 200);
      assert.equal((await raw(gw.url, 'DELETE', '/v1/kv/k1', auth)).status, 204);
    }
    const h = natsHeaders();
    h.set('Authorization', `Bearer ${await mintToken(keys, { tenant: 'obs-nats' })}`);
    const m = await c.nc.request('cellkv.api.v1.put', te.encode(JSON.stringify({ key: Buffer.from('n1').toString('base64'), value: Buffer.from('v').toString('base64') })), { timeout: 10_000, headers: h });
    assert.equal((JSON.parse(new TextDecoder().decode(m.data)) as { status: number }).status, 201);
    assert.equal((await raw(gw.url, 'GET', '/v1/kv/x')).status, 401);

    // The quota gauge appears once the gateway has fetched the tenant's usage.
    let gatewayBody = '';
    const deadline = Date.now() + 15_000;
    while (Date.now() < deadline) {
      gatewayBody = await scrape(`${gw.url}/metrics`);
      if (/cellkv_gateway_tenant_quota_usage_ratio\{tenant="obs-quota"/.test(gatewayBody)) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    // A node's heartbeat age is +Inf until its first heartbeat (every 2 s) reached the meta leader.
    let nodeBodies: string[] = [];
    while (Date.now() < deadline + 10_000) {
      nodeBodies = await Promise.all(c.nodes.map((n) => scrape(`${n.metricsUrl}/metrics`)));
      if (/cellkv_meta_node_heartbeat_age_seconds\{node="n1",az="az1"\} [\d.]+/.test(nodeBodies.join('\n'))) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    const exposed = parseExposition([gatewayBody, ...nodeBodies]);

    // The labelled series the dashboards group by exist with the values sent above.
    assert.match(gatewayBody, /cellkv_gateway_requests_total\{door="http",op="put",tenant="obs-a",status="201"\} 1/);
    assert.match(gatewayBody, /cellkv_gateway_requests_total\{door="nats",op="put",tenant="obs-nats",status="201"\} 1/);
    assert.match(gatewayBody, /cellkv_gateway_requests_total\{door="http",op="get",tenant="_anonymous",status="401"\} 1/);
    assert.match(gatewayBody, /cellkv_gateway_request_duration_seconds_bucket\{le="\+Inf",door="http",op="scan"\} 3/);
    assert.match(gatewayBody, /cellkv_gateway_tenant_quota_usage_ratio\{tenant="obs-quota",resource="keys"\} /);
    const nodes = nodeBodies.join('\n');
    assert.match(nodes, /cellkv_raft_term\{cell="[^"]+"\} [1-9]/);
    assert.match(nodes, /cellkv_is_leader\{cell="[^"]+"\} 1/);
    assert.match(nodes, /cellkv_raft_follower_lag_entries\{cell="[^"]+",follower="n\d"\} \d+/);
    assert.match(nodes, /cellkv_meta_node_heartbeat_age_seconds\{node="n1",az="az1"\} [\d.]+/);
    assert.match(nodes, /cellkv_data_fs_free_bytes [1-9]/);
    assert.match(nodes, /cellkv_data_dir_bytes [1-9]/);
    assert.match(nodes, /cellkv_node_info\{node="n2",az="az2"\} 1/);

    // The catalog documents every cellkv metric the processes expose.
    const catalog = readFileSync(join(ROOT, 'docs/metrics.md'), 'utf8');
    const families = [...new Set([gatewayBody, ...nodeBodies].flatMap((b) => [...b.matchAll(/^# TYPE (cellkv_\w+) /gm)].map((m) => m[1]!)))];
    const undocumented = families.filter((f) => !catalog.includes(`\`${f}\``));
    assert.deepEqual(undocumented, [], `docs/metrics.md does not describe: ${undocumented.join(', ')}`);

    const report = checkReferences(allReferences(), exposed, { recorded: recorded(), canaryMetrics: CANARY_METRICS });
    const declaredOnly = report.checked.filter((n) => !exposed.sampled.has(n));
    process.stderr.write(
      `metrics checked: ${report.checked.length} exposed; canary metrics (not scraped here): ${report.canary.join(', ')}; ` +
        `declared without samples after this traffic: ${declaredOnly.join(', ') || 'none'}\n`,
    );
    assert.deepEqual(report.unknown, [], `dashboards or alert rules select metrics no process exposes:\n${report.unknown.join('\n')}`);
    assert.ok(report.checked.length >= 40, `only ${report.checked.length} metric names checked`);
    for (const n of ['cellkv_canary_ops_total', 'cellkv_canary_violations_total']) {
      assert.ok(report.canary.includes(n), `the canary alerts select ${n}`);
    }
  });
});
