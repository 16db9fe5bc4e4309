// NATS front door: the tenant API over NATS request-reply for platform services. Gateways
// subscribe `cellkv.api.v1.>` in queue group `cellkv-gateways` (one gateway answers each
// request) and call the same core as HTTP, so semantics and error codes are identical.
//
// Subjects: cellkv.api.v1.get | put | delete | batch | scan
// Headers:  Authorization: Bearer <JWT>   (required; same verification as HTTP)
//           traceparent                    (optional, W3C; a new trace starts otherwise)
//           Idempotency-Key                (optional, writes; or the idempotencyKey field)
// Payloads: UTF-8 JSON objects; unknown fields are rejected. Byte fields (key, value, prefix,
// start, end) are standard base64 unless the request says keyEncoding / valueEncoding "utf8".
// Versions are decimal strings; ttl is whole seconds; session tokens are opaque strings.
//
//   get    {key, keyEncoding?, valueEncoding?, consistency?, session?, maxStalenessMs?}
//       -> {ok:true, status:200, value, valueEncoding, version, createdAt, updatedAt,
//           expiresAt, attrs, session, staleAgeMs?}
//   put    {key, value, keyEncoding?, valueEncoding?, ttl?, ifVersion?, ifAbsent?, attrs?,
//           idempotencyKey?}
//       -> {ok:true, status:200|201, version, created, session}
//   delete {key, keyEncoding?, ifVersion?, idempotencyKey?}
//       -> {ok:true, status:204, session}
//   batch  {ops:[{op:get|put|delete|cas, key, value?, ttl?, ifVersion?, ifAbsent?, attrs?,
//           keyEncoding?, valueEncoding?}], atomic?, keyEncoding?, valueEncoding?,
//           consistency?, session?, maxStalenessMs?, idempotencyKey?}
//       -> {ok:true, status:200, results:[per-op result as over HTTP], session, applied?}
//   scan   {prefix? | start?, end?, keyEncoding?, valueEncoding?, limit?, cursor?, keysOnly?,
//           consistency?, session?, maxStalenessMs?}
//       -> {ok:true, status:200, items:[{key, keyEncoding, value?, valueEncoding?, version,
//           createdAt, updatedAt, expiresAt, attrs}], cursor, session, staleAgeMs?}
// Errors:  {ok:false, type, title, status, code, detail, ...} — the HTTP problem document.

import type { Msg, NatsConnection, Subscription } from '@nats-io/transport-node';
import { z } from 'zod';
import { KvError } from '../shared/errors.js';
import { problemOfError } from '../shared/http-problem.js';
import { requireOpScope, type ApiOp, type TokenVerifier } from './auth.js';
import { parseBatch, zodMessage } from './batch.js';
import type { GatewayCore, ReadOptions } from './core.js';
import { decodeFromJson, encodeForJson } from './encoding.js';
import { batchJson, metaJson, scanJson, type Json } from './json-views.js';
import type { InflightLimiter } from './limits.js';
import type { Logger } from './ports.js';
import type { ApiOpLabel, GatewayMetrics } from './metrics.js';
import { scanRange } from './scan.js';
import { natsHeaderGetter } from '../shared/telemetry.js';
import { currentTrace, GatewayTracing, runWithTrace, startTrace } from './tracing.js';
import { parseIdempotencyKey, parseLimit, parseMaxStaleness, parseTtlSeconds, parseVersion, validateAttrs, validateKeyBytes } from './validate.js';

export const API_SUBJECT_PREFIX = 'cellkv.api.v1.';
export const API_QUEUE_GROUP = 'cellkv-gateways';

const enc = z.enum(['utf8', 'base64']).optional();
const readFields = { consistency: z.enum(['linearizable', 'session', 'stale']).optional(), session: z.string().optional(), maxStalenessMs: z.number().optional() };
const getSchema = z.strictObject({ key: z.string(), keyEncoding: enc, valueEncoding: enc, ...readFields });
const putSchema = z.strictObject({
  key: z.string(),
  value: z.string(),
  keyEncoding: enc,
  valueEncoding: enc,
  ttl: z.number().optional(),
  ifVersion: z.string().optional(),
  ifAbsent: z.boolean().optional(),
  attrs: z.record(z.string(), z.string()).optional(),
  idempotencyKey: z.string().optional(),
});
const deleteSchema = z.strictObject({ key: z.string(), keyEncoding: enc, ifVersion: z.string().optional(), idempotencyKey: z.string().optional() });
const scanSchema = z.strictObject({
  prefix: z.string().optional(),
  start: z.string().optional(),
  end: z.string().optional(),
  keyEncoding: enc,
  valueEncoding: enc,
  limit: z.number().optional(),
  cursor: z.string().optional(),
  keysOnly: z.boolean().optional(),
  ...readFields,
});

function parse<T>(schema: z.ZodType<T>, body: unknown): T {
  const r = schema.safeParse(body);
  if (!r.success) throw new KvError('INVALID_ARGUMENT', zodMessage(r.error));
  return r.data;
}

function readOptions(o: { consistency?: ReadOptions['consistency'] | undefined; session?: string | undefined; maxStalenessMs?: number | undefined }): ReadOptions {
  const consistency = o.consistency ?? 'linearizable';
  if (o.maxStalenessMs !== undefined && consistency !== 'stale') throw new KvError('INVALID_ARGUMENT', 'maxStalenessMs applies only to consistency "stale"');
  return {
    consistency,
    session: o.session ?? null,
    maxStalenessMs: o.maxStalenessMs !== undefined ? parseMaxStaleness(o.maxStalenessMs) : 0,
  };
}

export interface FrontDoorDeps {
  readonly core: GatewayCore;
  readonly verifier: TokenVerifier;
  readonly limiter: InflightLimiter;
  readonly metrics: GatewayMetrics;
  readonly log: Logger;
  /** SERVER spans when telemetry is enabled; ids-only tracing when absent. */
  readonly tracing?: GatewayTracing;
}

const OPS: readonly ApiOpLabel[] = ['get', 'put', 'delete', 'batch', 'scan'];

export class NatsFrontDoor {
  private sub: Subscription | null = null;
  private readonly tracing: GatewayTracing;

  constructor(private readonly d: FrontDoorDeps) {
    this.tracing = d.tracing ?? new GatewayTracing();
  }

  start(nc: NatsConnection): void {
    this.sub = nc.subscribe(`${API_SUBJECT_PREFIX}>`, {
      queue: API_QUEUE_GROUP,
      callback: (err, msg) => {
        if (!err) void this.handle(msg);
      },
    });
  }

  async stop(): Promise<void> {
    await this.sub?.drain().catch(() => undefined);
  }

  private async handle(msg: Msg): Promise<void> {
    if (!msg.reply) return; // fire-and-forget publishes have nobody to answer
    const op = msg.subject.slice(API_SUBJECT_PREFIX.length);
    const opLabel: ApiOpLabel = OPS.find((o) => o === op) ?? 'other';
    const trace = this.tracing.enabled
      ? this.tracing.startServer(`${API_SUBJECT_PREFIX}${opLabel}`, msg.headers, natsHeaderGetter, { 'messaging.system': 'nats', 'cellkv.op': opLabel })
      : startTrace(msg.headers?.get('traceparent'));
    const started = performance.now();
    const who: { tenant?: string } = {};
    const body = await runWithTrace(trace, () => this.d.limiter.run(() => this.dispatch(op, msg, who)).catch((e: unknown) => this.errorBody(e, trace.traceId)));
    let status = typeof body['status'] === 'number' ? body['status'] : 200;
    try {
      msg.respond(new TextEncoder().encode(JSON.stringify(body)));
    } catch (e) {
      // Typically a reply larger than the server's max_payload.
      const err = new KvError('PAYLOAD_TOO_LARGE', `the reply does not fit in one NATS message (${(e as Error).message}); use HTTP or smaller pages`);
      status = 413;
      msg.respond(new TextEncoder().encode(JSON.stringify(this.errorBody(err, trace.traceId))));
    }
    this.d.metrics.natsRequests.inc({ op: opLabel, status: String(status) });
    this.d.metrics.observeRequest('nats', opLabel, who.tenant, status, (performance.now() - started) / 1000);
    if (trace.span !== null) this.tracing.endServer(trace, status, { 'cellkv.status': status });
    this.d.log.info({ trace_id: trace.traceId, span_id: trace.spanId, door: 'nats', op, status, ms: Math.round(performance.now() - started) }, 'request');
  }

  private errorBody(e: unknown, traceId: string): { [k: string]: Json } {
    if (!(e instanceof KvError)) this.d.log.error({ err: e, trace_id: traceId }, 'unexpected error');
    const err = e instanceof KvError ? e : new KvError('INTERNAL', 'internal error; the request may be retried');
    if (err.code === 'UNAUTHENTICATED') this.d.metrics.authFailures.inc({ door: 'nats' });
    return { ok: false, ...problemOfError(err) };
  }

  /** Serves one request; `who.tenant` is set once the token is verified (for metrics). */
  private async dispatch(op: string, msg: Msg, who: { tenant?: string }): Promise<{ [k: string]: Json }> {
    if (!['get', 'put', 'delete', 'batch', 'scan'].includes(op)) {
      throw new KvError('NOT_FOUND', `unknown subject ${msg.subject}; use ${API_SUBJECT_PREFIX}get|put|delete|batch|scan`);
    }
    const p = await this.d.verifier.verify(msg.headers?.get('Authorization'));
    who.tenant = p.tenant;
    currentTrace()?.span?.setAttribute('cellkv.tenant', p.tenant);
    requireOpScope(p, op as ApiOp);
    let body: unknown;
    try {
      body = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(msg.data)) as unknown;
    } catch {
      throw new KvError('INVALID_ARGUMENT', 'payload must be a UTF-8 JSON object');
    }
    const headerIdem = msg.headers?.get('Idempotency-Key') || undefined;
    const idem = (bodyKey: string | undefined): string | null => {
      if (headerIdem !== undefined && bodyKey !== undefined && headerIdem !== bodyKey) throw new KvError('INVALID_ARGUMENT', 'Idempotency-Key header and idempotencyKey differ');
      const k = bodyKey ?? headerIdem;
      return k === undefined ? null : parseIdempotencyKey(k);
    };
    const core = this.d.core;
    switch (op) {
      case 'get': {
        const o = parse(getSchema, body);
        const key = validateKeyBytes(decodeFromJson(o.key, o.keyEncoding ?? 'base64', 'key'));
        const out = await core.get(p, key, readOptions(o));
        const v = encodeForJson(out.value, o.valueEncoding ?? 'base64');
        const res: { [k: string]: Json } = { ok: true, status: 200, value: v.text, valueEncoding: v.encoding, ...metaJson(out.meta), session: out.session };
        if (out.staleAgeMs !== null) res['staleAgeMs'] = out.staleAgeMs;
        return res;
      }
      case 'put': {
        const o = parse(putSchema, body);
        const key = validateKeyBytes(decodeFromJson(o.key, o.keyEncoding ?? 'base64', 'key'));
        const ifVersion = o.ifVersion !== undefined ? parseVersion(o.ifVersion, 'ifVersion') : null;
        if (ifVersion !== null && o.ifAbsent) throw new KvError('INVALID_ARGUMENT', 'ifVersion and ifAbsent exclude each other');
        const out = await core.put(p, {
          key,
          value: decodeFromJson(o.value, o.valueEncoding ?? 'base64', 'value'),
          ttlMs: o.ttl !== undefined ? parseTtlSeconds(o.ttl) : null,
          ifVersion,
          ifAbsent: o.ifAbsent ?? false,
          attrs: o.attrs !== undefined ? validateAttrs(o.attrs) : null,
          idempotencyKey: idem(o.idempotencyKey),
        });
        return { ok: true, status: out.created ? 201 : 200, version: out.version.toString(), created: out.created, session: out.session };
      }
      case 'delete': {
        const o = parse(deleteSchema, body);
        const key = validateKeyBytes(decodeFromJson(o.key, o.keyEncoding ?? 'base64', 'key'));
        const out = await core.delete(p, { key, ifVersion: o.ifVersion !== undefined ? parseVersion(o.ifVersion, 'ifVersion') : null, idempotencyKey: idem(o.idempotencyKey) });
        return { ok: true, status: 204, session: out.session };
      }
      case 'batch': {
        const b = parseBatch(body, 'base64');
        const out = await core.batch(p, {
          ops: b.ops,
          atomic: b.atomic,
          read: { consistency: b.consistency, session: b.session, maxStalenessMs: b.maxStalenessMs },
          idempotencyKey: idem(b.idempotencyKey ?? undefined),
        });
        return { ok: true, status: 200, ...batchJson(b.ops, out, 'base64') };
      }
      default: {
        const o = parse(scanSchema, body);
        const bytes = (s: string | undefined, what: string) => (s === undefined ? null : decodeFromJson(s, o.keyEncoding ?? 'base64', what));
        const out = await core.scan(p, {
          range: scanRange(bytes(o.prefix, 'prefix'), bytes(o.start, 'start'), bytes(o.end, 'end')),
          cursor: o.cursor ?? null,
          limit: parseLimit(o.limit ?? null),
          keysOnly: o.keysOnly ?? false,
          read: readOptions(o),
        });
        const res: { [k: string]: Json } = { ok: true, status: 200, ...scanJson(out, o.keyEncoding ?? 'base64', o.valueEncoding ?? 'base64') };
        if (out.staleAgeMs !== null) res['staleAgeMs'] = out.staleAgeMs;
        return res;
      }
    }
  }
}
