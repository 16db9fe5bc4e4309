// Gateway tracing. Every front-door request (HTTP or NATS) gets a trace context: the caller's
// W3C `traceparent` continued, or a new trace. Its ids go into the logs and X-Trace-Id, and
// every cell request carries a traceparent (CellRequest.traceparent + a NATS header).
//
// With telemetry enabled (shared/telemetry.ts) the context is a real OpenTelemetry SERVER
// span, and each cell request gets a CLIENT span whose context is what the cell continues.
// Disabled, no span or OTel context is ever created: the ids come from a hand-rolled W3C
// parser and crypto.randomBytes, exactly as cheap as before the SDK arrived.

import { AsyncLocalStorage } from 'node:async_hooks';
import { randomFillSync } from 'node:crypto';
import { SpanKind, SpanStatusCode, trace, type Attributes, type Context, type Span, type TextMapGetter } from '@opentelemetry/api';
import { ATTR_ERROR_TYPE } from '@opentelemetry/semantic-conventions';
import type { CellOp, CellRequest, CellResponse } from '../shared/cell-protocol.js';
import type { CellRequestObserver, RequestOptions } from '../shared/cell-client.js';
import { KvError } from '../shared/errors.js';
import { DISABLED_TELEMETRY, type Telemetry } from '../shared/telemetry.js';
import type { CellAccess, CellPort } from './ports.js';

export interface TraceContext {
  readonly traceId: string;
  readonly spanId: string;
  readonly flags: string;
  /** The traceparent of this gateway span (what goes downstream when there are no CLIENT spans). */
  readonly traceparent: string;
  /** The OpenTelemetry SERVER span; null when telemetry is disabled. */
  readonly span: Span | null;
  /** The context holding `span`, parent of the CLIENT spans; null when disabled. */
  readonly context: Context | null;
}

const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;
const ZERO_TRACE = '0'.repeat(32);
const ZERO_SPAN = '0'.repeat(16);

/** Parses a version-00 traceparent; null when absent or invalid (then a new trace starts). */
export function parseTraceparent(h: string | null | undefined): { traceId: string; parentId: string; flags: string } | null {
  if (!h) return null;
  const m = TRACEPARENT.exec(h.trim());
  if (!m || m[1] === ZERO_TRACE || m[2] === ZERO_SPAN) return null;
  return { traceId: m[1]!, parentId: m[2]!, flags: m[3]! };
}

// Random ids come from a pooled buffer refilled 4 KiB at a time: one CSPRNG call per ~170
// requests instead of two per request (randomBytes per id was most of startTrace's cost).
const idPool = Buffer.alloc(4096);
let idPos = idPool.length;

function randomHex(bytes: number): string {
  if (idPos + bytes > idPool.length) {
    randomFillSync(idPool);
    idPos = 0;
  }
  const hex = idPool.toString('hex', idPos, idPos + bytes);
  idPos += bytes;
  return hex;
}

/** The disabled-telemetry trace: ids only, a child of the incoming traceparent when valid. */
export function startTrace(incoming: string | null | undefined): TraceContext {
  const parent = parseTraceparent(incoming);
  const traceId = parent?.traceId ?? randomHex(16);
  const spanId = randomHex(8);
  const flags = parent?.flags ?? '01';
  return { traceId, spanId, flags, traceparent: `00-${traceId}-${spanId}-${flags}`, span: null, context: null };
}

const store = new AsyncLocalStorage<TraceContext>();

export function runWithTrace<T>(t: TraceContext, fn: () => T): T {
  return store.run(t, fn);
}

export function currentTrace(): TraceContext | undefined {
  return store.getStore();
}

/** Reads trace context from fetch-style HTTP headers. */
export const httpHeaderGetter: TextMapGetter<Headers> = {
  keys: (h) => [...h.keys()],
  get: (h, key) => h.get(key) ?? undefined,
};

/** The operation a cell request performs, for span names (low cardinality). */
export function cellRequestKind(ops: readonly CellOp[], scan: CellRequest['scan'] | undefined): 'scan' | 'write' | 'read' {
  if (scan) return 'scan';
  return ops.some((o) => o.op !== 'get') ? 'write' : 'read';
}

export class GatewayTracing {
  constructor(readonly telemetry: Telemetry = DISABLED_TELEMETRY) {}

  get enabled(): boolean {
    return this.telemetry.tracer !== null;
  }

  /**
   * The SERVER span of one front-door request, child of the caller's context in `carrier`.
   * Disabled: the cheap id-only context (no OTel objects at all).
   */
  startServer<C>(name: string, carrier: C, getter: TextMapGetter<C>, attributes: Attributes): TraceContext {
    const tracer = this.telemetry.tracer;
    if (tracer === null) {
      const tp = getter.get(carrier, 'traceparent');
      return startTrace(Array.isArray(tp) ? tp[0] : tp);
    }
    const parent = this.telemetry.extract(carrier, getter);
    const span = tracer.startSpan(name, { kind: SpanKind.SERVER, attributes }, parent);
    const sc = span.spanContext();
    const flags = (sc.traceFlags & 1) === 1 ? '01' : '00';
    return { traceId: sc.traceId, spanId: sc.spanId, flags, traceparent: `00-${sc.traceId}-${sc.spanId}-${flags}`, span, context: trace.setSpan(parent, span) };
  }

  /** Ends a SERVER span; 5xx outcomes mark it as an error (4xx are the caller's). */
  endServer(t: TraceContext, status: number, attributes: Attributes): void {
    const span = t.span;
    if (span === null) return;
    span.setAttributes(attributes);
    if (status >= 500) span.setStatus({ code: SpanStatusCode.ERROR });
    span.end();
  }

  /** The cell tier as the core sees it, with trace context (and CLIENT spans) on every request. */
  wrapAccess(access: CellAccess): CellAccess {
    let inner: CellPort | null = null;
    let wrapped: CellPort | null = null;
    return {
      port: () => {
        const p = access.port();
        // The link hands out one client for its lifetime: wrap it once, not per request.
        if (p !== inner) {
          inner = p;
          wrapped = new TracedPort(p, this.telemetry);
        }
        return wrapped!;
      },
      maxRequestBytes: () => access.maxRequestBytes(),
    };
  }
}

/** A CellPort that adds the current trace to each request (and a CLIENT span when enabled). */
class TracedPort implements CellPort {
  constructor(
    private readonly inner: CellPort,
    private readonly telemetry: Telemetry,
  ) {}

  directory(refresh?: boolean) {
    return this.inner.directory(refresh);
  }

  request(tenant: string, ops: CellOp[], opts: RequestOptions = {}, scan?: CellRequest['scan'], scanKey?: Uint8Array): Promise<CellResponse> {
    const t = store.getStore();
    if (t === undefined) return this.inner.request(tenant, ops, opts, scan, scanKey);
    const tracer = this.telemetry.tracer;
    if (tracer === null || t.context === null) return this.inner.request(tenant, ops, { ...opts, traceparent: t.traceparent }, scan, scanKey);

    const kind = cellRequestKind(ops, scan);
    const span = tracer.startSpan(`cellkv.node/${kind}`, { kind: SpanKind.CLIENT, attributes: { 'messaging.system': 'nats', 'cellkv.tenant': tenant, 'cellkv.ops': ops.length } }, t.context);
    const traceparent = this.telemetry.traceparentOf(trace.setSpan(t.context, span));
    let attempts = 0;
    // Retries are events on the one CLIENT span (its context is what every attempt carries, so
    // each cell SERVER span, NOT_LEADER answers included, hangs under it).
    const observer: CellRequestObserver = {
      attempt: (a) => {
        attempts = a.attempt + 1;
        span.setAttributes({ 'cellkv.cell.id': a.cellId, 'cellkv.node.id': a.node });
      },
      attemptFailed: (f) => {
        span.addEvent('attempt failed', { 'cellkv.attempt': f.attempt + 1, 'cellkv.node.id': f.node, 'cellkv.failure': f.reason });
      },
    };
    return this.inner.request(tenant, ops, { ...opts, traceparent, observer }, scan, scanKey).then(
      (resp) => {
        span.setAttributes({ 'cellkv.attempts': attempts, 'cellkv.outcome': 'ok' });
        span.end();
        return resp;
      },
      (e: unknown) => {
        const code = e instanceof KvError ? e.code : 'INTERNAL';
        span.setAttributes({ 'cellkv.attempts': attempts, 'cellkv.outcome': code, [ATTR_ERROR_TYPE]: code });
        span.setStatus({ code: SpanStatusCode.ERROR, message: code });
        span.end();
        throw e;
      },
    );
  }
}
