// Telemetry bootstrap shared by the gateway and the cell node: OpenTelemetry tracing exported
// over OTLP/HTTP when an endpoint is configured, and nothing at all otherwise.
//
// Each process (or each embedded gateway in a test) owns a Telemetry handle instead of
// registering a global TracerProvider: several gateways may live in one process (tests,
// embedding), each with its own exporter and shutdown, and callers check `tracer === null`
// once per request instead of going through the API's proxy tracer. When disabled no SDK
// object exists: the hot path creates no spans, no contexts and no exporter ever runs.
//
// Context crosses process boundaries as W3C trace context (`traceparent`/`tracestate`) via
// the W3CTraceContextPropagator, over HTTP headers, NATS message headers and the
// CellRequest.traceparent field.

import { ROOT_CONTEXT, trace, type Attributes, type Context, type TextMapGetter, type TextMapSetter, type Tracer } from '@opentelemetry/api';
import { ExportResultCode, W3CTraceContextPropagator, type ExportResult } from '@opentelemetry/core';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import {
  AlwaysOnSampler,
  BasicTracerProvider,
  BatchSpanProcessor,
  ParentBasedSampler,
  TraceIdRatioBasedSampler,
  type ReadableSpan,
  type SpanExporter,
} from '@opentelemetry/sdk-trace-base';
import { ATTR_SERVICE_INSTANCE_ID, ATTR_SERVICE_NAME } from '@opentelemetry/semantic-conventions';
import { Match, type MsgHdrs } from '@nats-io/transport-node';
import { KvError } from './errors.js';

export interface TelemetryOptions {
  readonly serviceName: string;
  /** service.instance.id: the node id for cells, host and pid for gateways. */
  readonly instanceId?: string | undefined;
  /** More resource attributes (e.g. cellkv.node.id, cellkv.az). */
  readonly attributes?: Readonly<Record<string, string>> | undefined;
  /**
   * OTLP/HTTP endpoint: a base URL like OTEL_EXPORTER_OTLP_ENDPOINT (`/v1/traces` is appended
   * unless already there). Wins over the environment. Unset and no env: tracing is off.
   */
  readonly otlpEndpoint?: string | undefined;
  /** Share of new traces sampled (0..1, default 1); a caller's sampled flag is followed. */
  readonly sampleRatio?: number | undefined;
  /** Spans buffered for export; past it new spans are dropped (never unbounded memory). */
  readonly maxQueueSize?: number | undefined;
  /** Defaults to process.env (OTEL_EXPORTER_OTLP_[TRACES_]ENDPOINT, OTEL_SDK_DISABLED, ...). */
  readonly env?: Readonly<Record<string, string | undefined>> | undefined;
  /** Told about failed exports (the collector down, ...); callers rate-limit their logging. */
  readonly onExportError?: ((err: Error) => void) | undefined;
  /** Tests: a span exporter instead of OTLP (enables tracing without an endpoint). */
  readonly exporter?: SpanExporter | undefined;
}

export interface Telemetry {
  /** True when spans are recorded and exported. */
  readonly enabled: boolean;
  /** null when disabled: callers skip all span work. */
  readonly tracer: Tracer | null;
  /** The OTLP traces URL in use, null when none. */
  readonly endpoint: string | null;
  /** The remote parent carried in `carrier` (ROOT_CONTEXT when none or invalid). */
  extract<C>(carrier: C, getter: TextMapGetter<C>): Context;
  /** The W3C traceparent of the span in `ctx`, '' when there is none. */
  traceparentOf(ctx: Context): string;
  /** Exports what is buffered. */
  forceFlush(): Promise<void>;
  /** Flushes and stops exporting; idempotent. */
  shutdown(): Promise<void>;
}

const propagator = new W3CTraceContextPropagator();

/** Reads W3C trace context from NATS message headers (names compared case-insensitively). */
export const natsHeaderGetter: TextMapGetter<MsgHdrs | undefined> = {
  keys: (h) => h?.keys() ?? [],
  get: (h, key) => {
    if (!h || !h.has(key, Match.IgnoreCase)) return undefined;
    return h.get(key, Match.IgnoreCase);
  },
};

/** Writes W3C trace context into NATS message headers. */
export const natsHeaderSetter: TextMapSetter<MsgHdrs> = {
  set: (h, key, value) => h.set(key, value),
};

/** A plain record carrier, e.g. `{ traceparent: req.traceparent }`. */
export const recordGetter: TextMapGetter<Readonly<Record<string, string>>> = {
  keys: (r) => Object.keys(r),
  get: (r, key) => r[key],
};

const recordSetter: TextMapSetter<Record<string, string>> = {
  set: (r, key, value) => {
    r[key] = value;
  },
};

/** The handle of a process that does not trace: every method is a cheap constant. */
export const DISABLED_TELEMETRY: Telemetry = Object.freeze({
  enabled: false,
  tracer: null,
  endpoint: null,
  extract: () => ROOT_CONTEXT,
  traceparentOf: () => '',
  forceFlush: () => Promise.resolve(),
  shutdown: () => Promise.resolve(),
});

const TRACES_PATH = /\/v1\/traces\/?$/;

/**
 * The OTLP/HTTP traces URL, by the OTel spec's rules: the configured endpoint wins, then
 * OTEL_EXPORTER_OTLP_TRACES_ENDPOINT (used as is), then OTEL_EXPORTER_OTLP_ENDPOINT (a base:
 * `/v1/traces` appended). OTEL_SDK_DISABLED=true or OTEL_TRACES_EXPORTER=none turn tracing off.
 */
export function resolveTracesEndpoint(configured: string | undefined, env: Readonly<Record<string, string | undefined>>): string | null {
  if (env['OTEL_SDK_DISABLED']?.trim().toLowerCase() === 'true') return null;
  if (env['OTEL_TRACES_EXPORTER']?.trim().toLowerCase() === 'none') return null;
  const withPath = (base: string) => (TRACES_PATH.test(base) ? base : `${base.replace(/\/+$/, '')}/v1/traces`);
  const cfg = configured?.trim();
  const tracesEnv = env['OTEL_EXPORTER_OTLP_TRACES_ENDPOINT']?.trim();
  const baseEnv = env['OTEL_EXPORTER_OTLP_ENDPOINT']?.trim();
  const url = cfg ? withPath(cfg) : tracesEnv ? tracesEnv : baseEnv ? withPath(baseEnv) : null;
  if (url === null) return null;
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new KvError('INVALID_ARGUMENT', `OTLP endpoint ${JSON.stringify(url)} is not a URL; use e.g. http://collector:4318`);
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    throw new KvError('INVALID_ARGUMENT', `OTLP endpoint ${JSON.stringify(url)} must be http:// or https:// (OTLP/HTTP)`);
  }
  return url;
}

/** Tells `onError` about failed exports; the batch processor itself only reports to `diag`. */
class ReportingExporter implements SpanExporter {
  constructor(
    private readonly inner: SpanExporter,
    private readonly onError: (err: Error) => void,
  ) {}

  export(spans: ReadableSpan[], done: (r: ExportResult) => void): void {
    this.inner.export(spans, (r) => {
      if (r.code !== ExportResultCode.SUCCESS) {
        try {
          this.onError(r.error ?? new Error('span export failed'));
        } catch {
          // a reporting failure must not break exporting
        }
      }
      done(r);
    });
  }

  shutdown(): Promise<void> {
    return this.inner.shutdown();
  }

  forceFlush(): Promise<void> {
    return this.inner.forceFlush?.() ?? Promise.resolve();
  }
}

const live = new Set<Telemetry>();

/**
 * Sets up tracing for one process (or one embedded gateway). Disabled unless an OTLP endpoint
 * is configured (option or env) or a test exporter is given.
 */
export function initTelemetry(o: TelemetryOptions): Telemetry {
  const env = o.env ?? process.env;
  const endpoint = resolveTracesEndpoint(o.otlpEndpoint, env);
  if (endpoint === null && o.exporter === undefined) return DISABLED_TELEMETRY;

  const ratio = o.sampleRatio ?? 1;
  if (!(ratio >= 0 && ratio <= 1)) throw new KvError('INVALID_ARGUMENT', `trace sample ratio must be within 0..1, got ${ratio}`);
  const maxQueueSize = o.maxQueueSize ?? 2048;
  if (!Number.isInteger(maxQueueSize) || maxQueueSize < 1) throw new KvError('INVALID_ARGUMENT', 'trace export queue size must be a positive whole number');

  let exporter: SpanExporter = o.exporter ?? new OTLPTraceExporter({ url: endpoint!, timeoutMillis: 10_000 });
  if (o.onExportError) exporter = new ReportingExporter(exporter, o.onExportError);
  const attributes: Attributes = { ...(o.attributes ?? {}), [ATTR_SERVICE_NAME]: o.serviceName };
  if (o.instanceId) attributes[ATTR_SERVICE_INSTANCE_ID] = o.instanceId;
  const provider = new BasicTracerProvider({
    resource: resourceFromAttributes(attributes),
    // ParentBased: a caller's sampling decision (the traceparent flags) is followed end to
    // end, so a trace is either complete or absent; the ratio applies to new traces only.
    sampler: new ParentBasedSampler({ root: ratio >= 1 ? new AlwaysOnSampler() : new TraceIdRatioBasedSampler(ratio) }),
    // Batched off the hot path; the queue is bounded (spans past it are dropped, counted by
    // the SDK) so a slow or absent collector costs memory up to this bound only.
    spanProcessors: [new BatchSpanProcessor(exporter, { maxQueueSize, maxExportBatchSize: Math.min(512, maxQueueSize) })],
  });
  const tracer = provider.getTracer('cellkv');
  let stopped: Promise<void> | null = null;
  const t: Telemetry = {
    enabled: true,
    tracer,
    endpoint,
    extract: (carrier, getter) => propagator.extract(ROOT_CONTEXT, carrier, getter),
    traceparentOf: (ctx) => {
      if (trace.getSpanContext(ctx) === undefined) return '';
      const out: Record<string, string> = {};
      propagator.inject(ctx, out, recordSetter);
      return out['traceparent'] ?? '';
    },
    forceFlush: () => provider.forceFlush(),
    shutdown: () => {
      stopped ??= provider.shutdown().finally(() => live.delete(t));
      return stopped;
    },
  };
  live.add(t);
  return t;
}

/** Flushes and stops `t`, or every live Telemetry of this process when none is given. */
export async function shutdownTelemetry(t?: Telemetry): Promise<void> {
  if (t) return t.shutdown();
  await Promise.all([...live].map((x) => x.shutdown()));
}
