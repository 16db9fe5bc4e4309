// End-to-end tracing against a real local cluster: nats-server, three cell node processes and
// an in-process gateway, all exporting OTLP/HTTP to a real receiver in this test. A request
// with a caller traceparent must yield one trace: gateway SERVER span -> CLIENT span -> (NATS)
// cell SERVER span -> raft.propose / raft.commit / raft.apply (writes) or raft.read_index
// (linearizable reads), with the ids in X-Trace-Id and the gateway's log line.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import { headers as natsHeaders } from '@nats-io/transport-node';
import { FIRST_DATA_CELL_ID } from '../../shared/directory.js';
import { createLogger } from '../../gateway/log.js';
import type { Gateway } from '../../gateway/server.js';
import { CellCluster } from '../support/cell-cluster.js';
import { OtlpReceiver, SPAN_KIND, type ReceivedSpan } from '../support/otlp-receiver.js';
import { makeKeys, mintToken, raw, startTestGateway, te, type TestKeys } from '../gateway/support.js';

// Export quickly (the default batch delay is 5 s); the cell processes inherit it.
process.env['OTEL_BSP_SCHEDULE_DELAY'] = '150';

let receiver: OtlpReceiver | undefined;
let c: CellCluster | undefined;
let gw: Gateway | undefined;
let keys: TestKeys | undefined;
let token = '';
const logLines: Record<string, unknown>[] = [];

before(async () => {
  receiver = await OtlpReceiver.start();
  // Cells find the receiver through the standard OTel variable, the gateway through its config.
  [c, keys] = await Promise.all([CellCluster.start({ env: { OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url } }), makeKeys()]);
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString('utf8').split('\n')) if (line.trim()) logLines.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  gw = await startTestGateway(c.nats.url, keys, { otlpEndpoint: receiver.url, logger: createLogger('info', sink) });
  token = await mintToken(keys, { tenant: 'acme' });
});

after(async () => {
  await gw?.stop().catch(() => undefined);
  await c?.stop().catch(() => undefined);
  await keys?.cleanup().catch(() => undefined);
  await receiver?.stop();
});

const newTrace = () => ({ traceId: randomBytes(16).toString('hex'), parentId: randomBytes(8).toString('hex') });
const service = (s: ReceivedSpan) => s.resource['service.name'];
const one = (spans: ReceivedSpan[], what: string, pred: (s: ReceivedSpan) => boolean): ReceivedSpan => {
  const found = spans.filter(pred);
  assert.equal(found.length, 1, `expected one ${what}, got ${found.length}: ${spans.map((s) => `${service(s)}:${s.name}`).join(', ')}`);
  return found[0]!;
};
const childrenOf = (spans: ReceivedSpan[], parent: ReceivedSpan) => spans.filter((s) => s.parentSpanId === parent.spanId);

/** The gateway's SERVER and CLIENT spans and the cell SERVER span that served the request. */
function gatewayChain(spans: ReceivedSpan[], callerSpanId: string, serverName: string, clientName: string) {
  const server = one(spans, 'gateway SERVER span', (s) => service(s) === 'cellkv-gateway' && s.kind === SPAN_KIND.server);
  assert.equal(server.name, serverName);
  assert.equal(server.parentSpanId, callerSpanId, 'the gateway span continues the caller span');
  const client = one(spans, 'gateway CLIENT span', (s) => service(s) === 'cellkv-gateway' && s.kind === SPAN_KIND.client);
  assert.equal(client.name, clientName);
  assert.equal(client.parentSpanId, server.spanId);
  assert.equal(client.attributes['cellkv.cell.id'], FIRST_DATA_CELL_ID);
  assert.equal(client.attributes['cellkv.outcome'], 'ok');
  // Across the NATS hop: every cell SERVER span is a child of the CLIENT span.
  const cellServers = spans.filter((s) => service(s) === 'cellkv-node' && s.kind === SPAN_KIND.server);
  assert.ok(cellServers.length >= 1, 'a cell SERVER span');
  for (const s of cellServers) assert.equal(s.parentSpanId, client.spanId, `${s.name} hangs under the CLIENT span`);
  const served = one(cellServers, 'successful cell SERVER span', (s) => s.attributes['cellkv.outcome'] === 'ok');
  assert.equal(served.resource['cellkv.node.id'], served.attributes['cellkv.node.id']);
  assert.equal(client.attributes['cellkv.node.id'], served.resource['cellkv.node.id'], 'the last attempt went to the serving node');
  return { server, client, served, cellServers };
}

test('a PUT: gateway SERVER -> CLIENT -> cell SERVER -> propose, commit, apply; X-Trace-Id and the log agree', async () => {
  const { traceId, parentId } = newTrace();
  const r = await raw(gw!.url, 'PUT', '/v1/kv/secret-key-name', { authorization: `Bearer ${token}`, traceparent: `00-${traceId}-${parentId}-01` }, 'v1');
  assert.equal(r.status, 201, r.text());
  assert.equal(r.headers['x-trace-id'], traceId);

  const spans = await receiver!.waitFor(traceId, (s) => s.some((x) => x.name === 'raft.apply') && s.some((x) => service(x) === 'cellkv-gateway' && x.kind === SPAN_KIND.server));
  const { server, client, served } = gatewayChain(spans, parentId, 'PUT /v1/kv/{key}', 'cellkv.node/write');
  assert.equal(server.attributes['http.request.method'], 'PUT');
  assert.equal(server.attributes['http.route'], '/v1/kv/{key}');
  assert.equal(server.attributes['http.response.status_code'], 201);
  assert.equal(server.attributes['cellkv.tenant'], 'acme');
  assert.ok(Number(client.attributes['cellkv.attempts']) >= 1);
  assert.equal(served.name, 'cellkv.node/write');

  const kids = childrenOf(spans, served);
  const propose = one(kids, 'raft.propose', (s) => s.name === 'raft.propose');
  const commit = one(kids, 'raft.commit', (s) => s.name === 'raft.commit');
  const apply = one(kids, 'raft.apply', (s) => s.name === 'raft.apply');
  const index = propose.attributes['raft.index'];
  assert.ok(Number(index) > 0, 'the proposal knows its log index');
  assert.equal(commit.attributes['raft.index'], index);
  assert.equal(apply.attributes['raft.index'], index);
  assert.ok(Number(propose.attributes['raft.entry.commands']) >= 1);
  for (const s of [propose, commit, apply]) {
    assert.equal(s.statusCode, 0, `${s.name} is not an error`);
    assert.deepEqual(s.resource, served.resource, `${s.name} comes from the serving node`);
  }
  // The phases follow each other (1 ms of slack for clock rounding) inside the SERVER span.
  const slack = 1_000_000n;
  assert.ok(commit.startNs + slack >= propose.endNs && apply.startNs + slack >= commit.endNs, 'propose, then commit, then apply');
  assert.ok(served.startNs <= propose.startNs + slack && served.endNs + slack >= apply.endNs);

  // Span attributes carry route labels only, never the key.
  for (const s of spans) assert.ok(!JSON.stringify(s.attributes).includes('secret-key-name'), `${s.name} leaks the key`);

  const line = logLines.find((l) => l['msg'] === 'request' && l['trace_id'] === traceId);
  assert.ok(line, 'the gateway logged the request with its trace id');
  assert.equal(line['span_id'], server.spanId, 'the log line names the SERVER span');
  assert.equal(line['status'], 201);
});

test('a linearizable GET: the cell span has a raft.read_index child', async () => {
  const { traceId, parentId } = newTrace();
  const r = await raw(gw!.url, 'GET', '/v1/kv/secret-key-name', { authorization: `Bearer ${token}`, traceparent: `00-${traceId}-${parentId}-01` });
  assert.equal(r.status, 200, r.text());
  assert.equal(r.headers['x-trace-id'], traceId);
  const spans = await receiver!.waitFor(traceId, (s) => s.some((x) => x.name === 'raft.read_index') && s.some((x) => service(x) === 'cellkv-gateway' && x.kind === SPAN_KIND.server));
  const { server, served } = gatewayChain(spans, parentId, 'GET /v1/kv/{key}', 'cellkv.node/read');
  assert.equal(server.attributes['http.response.status_code'], 200);
  assert.equal(served.attributes['cellkv.consistency'], 'linearizable');
  const ri = one(childrenOf(spans, served), 'raft.read_index', (s) => s.name === 'raft.read_index');
  assert.ok(Number(ri.attributes['raft.applied_index']) > 0);
  assert.ok(!spans.some((s) => s.name === 'raft.propose'), 'a read proposes nothing');
});

test('a retry after NOT_LEADER is an event on the CLIENT span, and the refused attempt has its own cell span', async () => {
  // Move leadership away from the node the gateway has cached: its next write is refused there.
  const cell = FIRST_DATA_CELL_ID;
  const old = await c!.leaderOf(cell);
  const target = c!.nodes.map((n) => n.id).find((id) => id !== old)!;
  const deadline = Date.now() + 20_000;
  while ((await c!.leaderOf(cell)) !== target) {
    if (Date.now() > deadline) throw new Error('leadership transfer did not happen');
    await c!.nc.request(`cellkv.admin.${old}`, te.encode(JSON.stringify({ op: 'transfer', cell, to: target })), { timeout: 2000 }).catch(() => undefined);
    await new Promise((res) => setTimeout(res, 200));
  }

  const { traceId, parentId } = newTrace();
  const r = await raw(gw!.url, 'PUT', '/v1/kv/after-transfer', { authorization: `Bearer ${token}`, traceparent: `00-${traceId}-${parentId}-01` }, 'v2');
  assert.equal(r.status, 201, r.text());
  const spans = await receiver!.waitFor(traceId, (s) => s.some((x) => x.name === 'raft.apply') && s.some((x) => service(x) === 'cellkv-gateway' && x.kind === SPAN_KIND.server));
  const { client, served, cellServers } = gatewayChain(spans, parentId, 'PUT /v1/kv/{key}', 'cellkv.node/write');
  assert.equal(served.resource['cellkv.node.id'], target);
  const refused = cellServers.find((s) => s.attributes['cellkv.outcome'] === 'NOT_LEADER');
  assert.ok(refused, 'the refused attempt has a cell SERVER span');
  assert.equal(refused.resource['cellkv.node.id'], old);
  assert.equal(refused.statusCode, 2, 'marked as an error');
  const failed = client.events.filter((e) => e.name === 'attempt failed');
  assert.ok(failed.some((e) => e.attributes['cellkv.failure'] === 'NOT_LEADER' && e.attributes['cellkv.node.id'] === old), JSON.stringify(client.events));
  assert.ok(Number(client.attributes['cellkv.attempts']) >= 2);
});

test('the NATS front door: a SERVER span continuing the traceparent header', async () => {
  const { traceId, parentId } = newTrace();
  const h = natsHeaders();
  h.set('Authorization', `Bearer ${token}`);
  h.set('traceparent', `00-${traceId}-${parentId}-01`);
  const m = await c!.nc.request('cellkv.api.v1.get', te.encode(JSON.stringify({ key: 'secret-key-name', keyEncoding: 'utf8' })), { timeout: 10_000, headers: h });
  const reply = JSON.parse(new TextDecoder().decode(m.data)) as { ok: boolean; status: number };
  assert.equal(reply.status, 200, JSON.stringify(reply));
  const spans = await receiver!.waitFor(traceId, (s) => s.some((x) => x.name === 'raft.read_index') && s.some((x) => service(x) === 'cellkv-gateway' && x.kind === SPAN_KIND.server));
  const { server } = gatewayChain(spans, parentId, 'cellkv.api.v1.get', 'cellkv.node/read');
  assert.equal(server.attributes['cellkv.tenant'], 'acme');
  assert.equal(server.attributes['cellkv.status'], 200);
  const line = logLines.find((l) => l['msg'] === 'request' && l['door'] === 'nats' && l['trace_id'] === traceId);
  assert.equal(line?.['span_id'], server.spanId);
});

test('the exporter speaks OTLP/HTTP JSON', () => {
  assert.ok(receiver!.requests > 0);
  assert.ok(receiver!.contentTypes.every((t) => t.startsWith('application/json')), receiver!.contentTypes.join(', '));
});
