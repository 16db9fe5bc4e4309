// The HTTP front door: a small Hono core composed of middleware and route modules. Routing is
// done on the raw path (see context.ts) and every error leaves as application/problem+json.

import { Hono } from 'hono';
import { problem } from '../../shared/http-problem.js';
import type { TokenVerifier } from '../auth.js';
import type { GatewayCore } from '../core.js';
import type { InflightLimiter } from '../limits.js';
import type { Logger } from '../ports.js';
import type { GatewayMetrics } from '../metrics.js';
import type { TenantAdmin } from '../tenant-admin.js';
import type { GatewayTracing } from '../tracing.js';
import { adminRoutes } from './admin-routes.js';
import { apiRoutes } from './api-routes.js';
import { errorResponse, jsonResponse, methodNotAllowed, problemResponse, rawPath, type GatewayEnv } from './context.js';
import { kvRoutes } from './kv-routes.js';
import { authenticate, observe, shed } from './middleware.js';

export interface HttpAppDeps {
  readonly core: GatewayCore;
  readonly verifier: TokenVerifier;
  readonly limiter: InflightLimiter;
  readonly metrics: GatewayMetrics;
  readonly log: Logger;
  readonly maxBatchBytes: number;
  /** Readiness: NATS connected and the directory fetched. */
  readonly health: () => { readonly nats: boolean; readonly ready: boolean };
  /** SERVER spans when telemetry is enabled; ids-only tracing when absent. */
  readonly tracing?: GatewayTracing;
  /** Tenants, quotas and hot keys under /v1/admin (absent: those routes are 404). */
  readonly admin?: TenantAdmin;
}

/** Known paths and their methods, for 405 (vs 404) on unmatched requests. */
const ROUTE_METHODS: readonly [RegExp, readonly string[]][] = [
  [/^\/v1\/kv\//, ['GET', 'HEAD', 'PUT', 'DELETE']],
  [/^\/v1\/batch$/, ['POST']],
  [/^\/v1\/scan$/, ['GET', 'HEAD']],
  [/^\/v1\/admin\/(cells|nodes|tenants|hot-keys)$/, ['GET', 'HEAD']],
  [/^\/v1\/admin\/tenants\/[^/]+$/, ['GET', 'HEAD', 'PUT', 'DELETE']],
  [/^\/v1\/admin\/tenants\/[^/]+\/usage$/, ['GET', 'HEAD']],
  [/^\/(healthz|readyz|metrics)$/, ['GET', 'HEAD']],
];

export function createHttpApp(d: HttpAppDeps): Hono<GatewayEnv> {
  const app = new Hono<GatewayEnv>({ getPath: (req, opts) => rawPath(req, opts?.env) });

  app.use('*', observe(d.log, d.metrics, d.tracing));
  app.use('/v1/*', shed(d.limiter));
  const auth = authenticate(d.verifier, d.metrics);
  kvRoutes(app, d.core, auth);
  apiRoutes(app, d.core, auth, { maxBatchBytes: d.maxBatchBytes });
  if (d.admin) adminRoutes(app, d.admin, auth);

  app.get('/healthz', () => jsonResponse({ ok: true }, 200));
  app.get('/readyz', () => {
    const h = d.health();
    if (h.ready) return jsonResponse({ ready: true, nats: 'connected', directory: true }, 200);
    const why = h.nats ? 'the cell directory has not been fetched yet' : 'not connected to NATS';
    return problemResponse(problem('UNAVAILABLE', `not ready: ${why}`));
  });
  app.get('/metrics', async () => new Response(await d.metrics.registry.metrics(), { status: 200, headers: { 'content-type': d.metrics.registry.contentType } }));

  app.notFound((c) => {
    const path = rawPath(c.req.raw, c.env);
    const known = ROUTE_METHODS.find(([re]) => re.test(path));
    if (known && !known[1].includes(c.req.method)) return methodNotAllowed(known[1]);
    return problemResponse(problem('NOT_FOUND', `no route for ${c.req.method} ${path.slice(0, 200)}`));
  });

  app.onError((err, c) => {
    const res = errorResponse(err);
    if (res.status >= 500 && res.status !== 503 && res.status !== 504) {
      d.log.error({ err, trace_id: c.get('trace')?.traceId }, 'unexpected error');
    }
    return res;
  });
  return app;
}
