// Composable HTTP middleware: tracing + access log + metrics around everything, load
// shedding for the API, and bearer-token authentication per route.

import type { MiddlewareHandler } from 'hono';
import { ATTR_HTTP_REQUEST_METHOD, ATTR_HTTP_RESPONSE_STATUS_CODE, ATTR_HTTP_ROUTE } from '@opentelemetry/semantic-conventions';
import { requireScope, type Scope, type TokenVerifier } from '../auth.js';
import type { InflightLimiter } from '../limits.js';
import type { Logger } from '../ports.js';
import type { ApiOpLabel, GatewayMetrics } from '../metrics.js';
import { GatewayTracing, httpHeaderGetter, runWithTrace, startTrace } from '../tracing.js';
import { errorResponse, rawPath, toKvError, type Ctx, type GatewayEnv } from './context.js';

/** A coarse route label for metrics and logs (bounded cardinality: never the key). */
export function routeLabel(path: string): string {
  if (path === '/v1/kv' || path.startsWith('/v1/kv/')) return 'kv';
  if (path === '/v1/batch') return 'batch';
  if (path === '/v1/scan') return 'scan';
  if (path.startsWith('/v1/admin/')) return 'admin';
  if (path === '/healthz' || path === '/readyz' || path === '/metrics') return path.slice(1);
  return 'other';
}

/** The operation label of a tenant API request; null for health, metrics and unknown paths. */
export function apiOpLabel(route: string, method: string): ApiOpLabel | null {
  switch (route) {
    case 'kv':
      return method === 'GET' || method === 'HEAD' ? 'get' : method === 'PUT' ? 'put' : method === 'DELETE' ? 'delete' : 'other';
    case 'batch':
    case 'scan':
    case 'admin':
      return route;
    default:
      return null;
  }
}

/** http.route of each route label: a template, never a key. */
const ROUTE_TEMPLATES: Readonly<Record<string, string>> = {
  kv: '/v1/kv/{key}',
  batch: '/v1/batch',
  scan: '/v1/scan',
  admin: '/v1/admin/{resource}',
  healthz: '/healthz',
  readyz: '/readyz',
  metrics: '/metrics',
};

const UNTRACED = new GatewayTracing();

/**
 * Starts the request's SERVER span (W3C traceparent in, X-Trace-Id out), logs and measures it.
 * With telemetry disabled the trace is ids only (no span objects on the hot path).
 */
export function observe(log: Logger, metrics: GatewayMetrics, tracing: GatewayTracing = UNTRACED): MiddlewareHandler<GatewayEnv> {
  return async (c, next) => {
    const started = performance.now();
    const route = routeLabel(rawPath(c.req.raw, c.env));
    const method = c.req.method;
    const template = ROUTE_TEMPLATES[route];
    const trace = tracing.enabled
      ? tracing.startServer(template ? `${method} ${template}` : method, c.req.raw.headers, httpHeaderGetter, template ? { [ATTR_HTTP_REQUEST_METHOD]: method, [ATTR_HTTP_ROUTE]: template } : { [ATTR_HTTP_REQUEST_METHOD]: method })
      : startTrace(c.req.header('traceparent'));
    c.set('trace', trace);
    await runWithTrace(trace, () => next());
    const status = c.res.status;
    const seconds = (performance.now() - started) / 1000;
    metrics.httpRequests.inc({ route, method: c.req.method, status: String(status) });
    metrics.httpDuration.observe({ route }, seconds);
    c.res.headers.set('x-trace-id', trace.traceId);
    const principal = c.get('principal');
    const op = apiOpLabel(route, method);
    if (op !== null) metrics.observeRequest('http', op, principal?.tenant, status, seconds);
    if (trace.span !== null) {
      tracing.endServer(trace, status, principal ? { [ATTR_HTTP_RESPONSE_STATUS_CODE]: status, 'cellkv.tenant': principal.tenant } : { [ATTR_HTTP_RESPONSE_STATUS_CODE]: status });
    }
    const entry = { trace_id: trace.traceId, span_id: trace.spanId, method: c.req.method, route, status, ms: Math.round(seconds * 1000), tenant: principal?.tenant };
    if (status >= 500) log.warn(entry, 'request failed');
    else log.info(entry, 'request');
  };
}

/** Sheds load past the in-flight bound (503 + Retry-After at once). */
export function shed(limiter: InflightLimiter): MiddlewareHandler<GatewayEnv> {
  return async (c, next) => {
    let admitted = false;
    try {
      await limiter.run(async () => {
        admitted = true;
        await next();
      });
    } catch (e) {
      if (admitted) throw e; // not ours: let Hono's error handler log and answer it
      c.res = errorResponse(e);
    }
  };
}

/** Verifies the bearer token and sets the principal; 401 with WWW-Authenticate otherwise. */
export function authenticate(verifier: TokenVerifier, metrics: GatewayMetrics): MiddlewareHandler<GatewayEnv> {
  return async (c, next) => {
    try {
      c.set('principal', await verifier.verify(c.req.header('authorization')));
    } catch (e) {
      metrics.authFailures.inc({ door: 'http' });
      return errorResponse(toKvError(e));
    }
    await next();
  };
}

/** Early scope check, before reading a body the caller may not send (the core checks again). */
export function authorize(c: Ctx, scope: Scope): void {
  requireScope(c.get('principal'), scope);
}
