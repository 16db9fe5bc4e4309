// Tracing without a cluster: the bootstrap's configuration rules; telemetry disabled means no
// exporter, no spans (not even through the global OTel API) yet trace ids everywhere; the
// gateway's SERVER/CLIENT spans and the cell's Raft-phase spans with an in-memory exporter;
// CellClient carrying the traceparent in the request and a NATS header, and reporting retries.
import { test, after, before, describe } from 'node:test';
import assert from 'node:assert/strict';
import { trace } from '@opentelemetry/api';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor, type ReadableSpan } from '@opentelemetry/sdk-trace-base';
import type { MsgHdrs, NatsConnection, RequestOptions as NatsRequestOptions } from '@nats-io/transport-node';
import { TokenVerifier } from '../../gateway/auth.js';
import { GatewayCore } from '../../gateway/core.js';
import { createHttpApp } from '../../gateway/http/app.js';
import { InflightLimiter } from '../../gateway/limits.js';
import { silentLogger } from '../../gateway/log.js';
import { GatewayMetrics } from '../../gateway/metrics.js';
import { currentTrace, GatewayTracing, type TraceContext } from '../../gateway/tracing.js';
import { CellClient, type AttemptFailure } from '../../shared/cell-client.js';
import type { CellRequest, CellResponse } from '../../shared/cell-protocol.js';
import { decodeCellRequest, encodeCellResponse } from '../../shared/codec/index.js';
import { KvError } from '../../shared/errors.js';
import { DISABLED_TELEMETRY, initTelemetry, resolveTracesEndpoint, shutdownTelemetry, type Telemetry } from '../../shared/telemetry.js';
import { CellTracing } from '../../cell/node/tracing.js';
import { FakeCells } from '../gateway/fake-cells.js';
import { AUDIENCE, ISSUER, makeKeys, mintToken, te, type TestKeys } from '../gateway/support.js';
import { OtlpReceiver } from '../support/otlp-receiver.js';

const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const CALLER = '00f067aa0ba902b7';
const CALLER_TP = `00-${TRACE}-${CALLER}-01`;

let keys: TestKeys;
let verifier: TokenVerifier;
let token: string;
let receiver: OtlpReceiver | undefined;
// Catches any span made through the global OTel API (our code must never use it).
const globalSpans = new InMemorySpanExporter();
const globalProvider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(globalSpans)] });

before(async () => {
  trace.setGlobalTracerProvider(globalProvider);
  receiver = await OtlpReceiver.start();
  keys = await makeKeys();
  verifier = await TokenVerifier.create({ jwksFile: keys.jwksFile, issuer: ISSUER, audience: AUDIENCE, tenantClaim: 'tenant' });
  token = await mintToken(keys, { tenant: 'acme' });
});
after(async () => {
  await shutdownTelemetry();
  await globalProvider.shutdown();
  trace.disable();
  await receiver?.stop();
  await keys?.cleanup();
});

function gatewayApp(telemetry: Telemetry, cells: FakeCells) {
  const metrics = new GatewayMetrics();
  const tracing = new GatewayTracing(telemetry);
  const core = new GatewayCore(tracing.wrapAccess(cells), { maxValueBytes: 1024, requestTimeoutMs: 2000 });
  return createHttpApp({ core, verifier, limiter: new InflightLimiter(100, 'http', metrics), metrics, log: silentLogger(), maxBatchBytes: 1 << 20, health: () => ({ nats: true, ready: true }), tracing });
}

const byName = (spans: ReadableSpan[], name: string): ReadableSpan => {
  const s = spans.find((x) => x.name === name);
  assert.ok(s, `no span ${name} in ${spans.map((x) => x.name).join(', ')}`);
  return s;
};

describe('configuration', () => {
  test('endpoint rules: config wins, then the traces variable as is, then the base variable + /v1/traces', () => {
    const env = { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://base:4318/', OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://traces:4318/custom' };
    assert.equal(resolveTracesEndpoint('http://cfg:4318', env), 'http://cfg:4318/v1/traces');
    assert.equal(resolveTracesEndpoint('http://cfg:4318/v1/traces', env), 'http://cfg:4318/v1/traces');
    assert.equal(resolveTracesEndpoint(undefined, env), 'http://traces:4318/custom');
    assert.equal(resolveTracesEndpoint(undefined, { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://base:4318/' }), 'http://base:4318/v1/traces');
    assert.equal(resolveTracesEndpoint(undefined, {}), null);
    assert.equal(resolveTracesEndpoint('http://cfg:4318', { OTEL_SDK_DISABLED: 'true' }), null);
    assert.equal(resolveTracesEndpoint(undefined, { ...env, OTEL_TRACES_EXPORTER: 'none' }), null);
    const invalid = (e: unknown) => e instanceof KvError && e.code === 'INVALID_ARGUMENT';
    assert.throws(() => resolveTracesEndpoint('collector:4318', {}), invalid);
    assert.throws(() => resolveTracesEndpoint('grpc://collector:4317', {}), invalid);
    assert.throws(() => initTelemetry({ serviceName: 't', otlpEndpoint: 'http://x:4318', sampleRatio: 2, env: {} }), invalid);
  });

  test('no endpoint: the disabled handle, and nothing to flush', async () => {
    const t = initTelemetry({ serviceName: 't', env: {} });
    assert.equal(t, DISABLED_TELEMETRY);
    assert.equal(t.enabled, false);
    assert.equal(t.tracer, null);
    assert.equal(CellTracing.create(t, 'n1'), null, 'a node without telemetry has no CellTracing at all');
    await t.shutdown();
  });
});

describe('telemetry disabled', () => {
  test('no exporter runs and no span is recorded, yet every request has a trace id that reaches the cells', async () => {
    // Even with an endpoint in the environment, OTEL_SDK_DISABLED=true turns tracing off.
    const telemetry = initTelemetry({ serviceName: 'cellkv-gateway', env: { OTEL_SDK_DISABLED: 'true', OTEL_EXPORTER_OTLP_ENDPOINT: receiver!.url } });
    assert.equal(telemetry.enabled, false);
    const cells = new FakeCells([]);
    const seen: (TraceContext | undefined)[] = [];
    cells.fault = () => {
      seen.push(currentTrace());
      return null;
    };
    const app = gatewayApp(telemetry, cells);
    const put = await app.request('/v1/kv/k1', { method: 'PUT', headers: { authorization: `Bearer ${token}`, traceparent: CALLER_TP }, body: 'v' });
    assert.equal(put.status, 201);
    assert.equal(put.headers.get('x-trace-id'), TRACE);
    const get = await app.request('/v1/kv/k1', { headers: { authorization: `Bearer ${token}` } });
    assert.equal(get.status, 200);
    const fresh = get.headers.get('x-trace-id') ?? '';
    assert.match(fresh, /^[0-9a-f]{32}$/);
    assert.notEqual(fresh, TRACE);

    // The cells got a traceparent per request (ids only: no span, no OTel context, no observer).
    assert.equal(cells.calls.length, 2);
    assert.match(cells.calls[0]!.opts.traceparent ?? '', new RegExp(`^00-${TRACE}-(?!${CALLER})[0-9a-f]{16}-01$`));
    assert.match(cells.calls[1]!.opts.traceparent ?? '', new RegExp(`^00-${fresh}-[0-9a-f]{16}-01$`));
    for (const c of cells.calls) assert.equal(c.opts.observer, undefined);
    for (const t of seen) {
      assert.ok(t);
      assert.equal(t.span, null);
      assert.equal(t.context, null);
    }

    await telemetry.shutdown();
    await globalProvider.forceFlush();
    assert.equal(globalSpans.getFinishedSpans().length, 0, 'no span through the global API either');
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(receiver!.requests, 0, 'nothing was exported');
  });
});

describe('telemetry enabled (in-memory exporter)', () => {
  test('gateway: SERVER span continues the caller, CLIENT span is its child and is what the cell receives', async () => {
    const mem = new InMemorySpanExporter();
    const telemetry = initTelemetry({ serviceName: 'cellkv-gateway', exporter: mem, env: {} });
    const cells = new FakeCells([]);
    const app = gatewayApp(telemetry, cells);
    const put = await app.request('/v1/kv/k1', { method: 'PUT', headers: { authorization: `Bearer ${token}`, traceparent: CALLER_TP }, body: 'v' });
    assert.equal(put.status, 201);
    assert.equal(put.headers.get('x-trace-id'), TRACE);
    await telemetry.forceFlush();
    const spans = mem.getFinishedSpans();
    const server = byName(spans, 'PUT /v1/kv/{key}');
    const client = byName(spans, 'cellkv.node/write');
    assert.equal(server.spanContext().traceId, TRACE);
    assert.equal(server.parentSpanContext?.spanId, CALLER);
    assert.equal(server.attributes['http.response.status_code'], 201);
    assert.equal(server.attributes['cellkv.tenant'], 'acme');
    assert.equal(client.parentSpanContext?.spanId, server.spanContext().spanId);
    assert.equal(client.attributes['cellkv.outcome'], 'ok');
    assert.equal(cells.calls[0]!.opts.traceparent, `00-${TRACE}-${client.spanContext().spanId}-01`);
    await telemetry.shutdown();
  });

  test('cell: propose, commit and apply spans under the request span; failures end the open phase as errors', async () => {
    const mem = new InMemorySpanExporter();
    const telemetry = initTelemetry({ serviceName: 'cellkv-node', exporter: mem, env: {} });
    const tracing = CellTracing.create(telemetry, 'n1')!;
    const req: CellRequest = {
      cellId: 'c1', epoch: 1, requestId: 'r1', tenant: 'acme', consistency: 'linearizable', sessionIndex: 0n, maxStalenessMs: 0, atomic: false,
      ops: [{ op: 'put', key: te.encode('k'), value: te.encode('v'), ttlMs: null, ifVersion: null, ifAbsent: false, attrs: null }], scan: null, traceparent: CALLER_TP,
    };
    const rt = tracing.startRequest(req);
    assert.equal(rt.traceId, TRACE);
    const outcomes: string[] = [];
    const base = { cmd: { kind: 'expire' as const, nowMs: 0, keys: [] }, deadline: Date.now() + 1000 };
    const w = rt.traceWrite({ ...base, resolve: (r) => outcomes.push(`ok@${r.index}`), reject: (e) => outcomes.push(e.code) });
    w.trace!.proposed(42, 3, 7);
    w.trace!.committed();
    w.resolve({ results: [], index: 42 });
    // A second write on the same request whose proposal is lost after proposing.
    const w2 = rt.traceWrite({ ...base, resolve: (r) => outcomes.push(`ok@${r.index}`), reject: (e) => outcomes.push(e.code) });
    w2.trace!.proposed(43, 3, 1);
    w2.reject(new KvError('OUTCOME_UNKNOWN', 'timed out'));
    w2.trace!.committed(); // late hooks after a failure are ignored
    const read = rt.traceReadIndex({ deadline: 0, run: (i) => outcomes.push(`read@${i}`), reject: () => undefined });
    read.run(44);
    const ok: CellResponse = { status: 'ok', code: null, message: '', leaderHint: '', results: [], scanItems: [], scanResumeKey: null, index: 44n, staleAgeMs: 0 };
    rt.end(ok);
    assert.deepEqual(outcomes, ['ok@42', 'OUTCOME_UNKNOWN', 'read@44']);

    await telemetry.forceFlush();
    const spans = mem.getFinishedSpans();
    const server = byName(spans, 'cellkv.node/write');
    assert.equal(server.parentSpanContext?.spanId, CALLER);
    assert.equal(server.attributes['cellkv.outcome'], 'ok');
    const kids = spans.filter((s) => s.parentSpanContext?.spanId === server.spanContext().spanId);
    const named = (n: string) => kids.filter((s) => s.name === n);
    assert.equal(named('raft.propose').length, 2);
    assert.equal(named('raft.commit').length, 2);
    assert.equal(named('raft.apply').length, 1, 'the failed write never reached apply');
    assert.equal(named('raft.read_index').length, 1);
    const failedCommit = named('raft.commit').find((s) => s.attributes['raft.index'] === 43)!;
    assert.equal(failedCommit.status.code, 2);
    assert.equal(failedCommit.attributes['error.type'], 'OUTCOME_UNKNOWN');
    assert.equal(named('raft.apply')[0]!.attributes['raft.index'], 42);
    assert.equal(named('raft.propose').find((s) => s.attributes['raft.index'] === 42)!.attributes['raft.entry.commands'], 7);
    assert.equal(named('raft.read_index')[0]!.attributes['raft.applied_index'], 44);
    assert.equal(spans.length, 7);
    await telemetry.shutdown();
  });
});

test('CellClient: traceparent in the request and a NATS header; attempts and NOT_LEADER reported', async () => {
  const dir = { cells: [{ id: 'c1', start: '', end: null, epoch: 1, replicas: [{ node: 'n1', az: 'a', role: 'voter' }, { node: 'n2', az: 'b', role: 'voter' }] }], nodes: [], leaders: { c1: 'n1' } };
  const sent: { subject: string; body: string; header: string }[] = [];
  const resp = (r: Partial<CellResponse>): CellResponse => ({ status: 'ok', code: null, message: '', leaderHint: '', results: [{ status: 'ok', found: false, value: null, meta: null }], scanItems: [], scanResumeKey: null, index: 5n, staleAgeMs: 0, ...r });
  const nc = {
    request: (subject: string, data: Uint8Array, opts: NatsRequestOptions) => {
      if (subject === 'cellkv.dir') return Promise.resolve({ data: te.encode(JSON.stringify(dir)) });
      sent.push({ subject, body: decodeCellRequest(data).traceparent, header: (opts.headers as MsgHdrs | undefined)?.get('traceparent') ?? '' });
      const first = sent.length === 1;
      return Promise.resolve({ data: encodeCellResponse(first ? resp({ status: 'error', code: 'NOT_LEADER', message: 'not me', leaderHint: 'n2', results: [] }) : resp({})) });
    },
  } as unknown as NatsConnection;
  const client = new CellClient(nc, { attemptTimeoutMs: 100, maxAttempts: 3 });
  const attempts: string[] = [];
  const failures: AttemptFailure[] = [];
  await client.request('acme', [{ op: 'get', key: te.encode('k') }], {
    traceparent: CALLER_TP,
    observer: { attempt: (a) => attempts.push(`${a.attempt}:${a.cellId}:${a.node}`), attemptFailed: (f) => failures.push(f.reason) },
  });
  assert.deepEqual(sent, [
    { subject: 'cellkv.node.n1', body: CALLER_TP, header: CALLER_TP },
    { subject: 'cellkv.node.n2', body: CALLER_TP, header: CALLER_TP },
  ]);
  assert.deepEqual(attempts, ['0:c1:n1', '1:c1:n2']);
  assert.deepEqual(failures, ['NOT_LEADER']);
  // Without a traceparent: an empty field and no header at all.
  await client.request('acme', [{ op: 'get', key: te.encode('k') }]);
  assert.deepEqual(sent[2], { subject: 'cellkv.node.n2', body: '', header: '' });
});
