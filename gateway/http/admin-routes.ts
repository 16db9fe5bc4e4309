// /v1/admin routes for tenants, quotas and hot keys (scope kv:admin; see tenant-admin.ts):
//
//   GET    /v1/admin/tenants                 {tenants:[{id, maxKeys?, maxBytes?, opsPerSec?}]}
//   GET    /v1/admin/tenants/{id}            the record, 404 when there is none
//   PUT    /v1/admin/tenants/{id}            body {maxKeys?, maxBytes?, opsPerSec?} (absent/null =
//                                            unlimited); replaces the record; 201 created, 200 replaced
//   DELETE /v1/admin/tenants/{id}            204; 404 when there is no record (keys are kept)
//   GET    /v1/admin/tenants/{id}/usage      {tenant, keys, bytes, limits, limitsFrom, cells, ...}
//   GET    /v1/admin/hot-keys?limit=N        the top-k hot keys (keys base64) and counters

import type { Hono, MiddlewareHandler } from 'hono';
import type { TenantAdmin } from '../tenant-admin.js';
import { parseLimit } from '../validate.js';
import { jsonResponse, query, readJsonBody, type Ctx, type GatewayEnv } from './context.js';
import { authorize } from './middleware.js';

/** Tenant quota bodies are tiny; anything bigger is not one. */
const MAX_TENANT_BODY_BYTES = 4096;

const tenantOf = (c: Ctx): string => c.req.param('id') ?? '';

export function adminRoutes(app: Hono<GatewayEnv>, admin: TenantAdmin, auth: MiddlewareHandler<GatewayEnv>): void {
  app.get('/v1/admin/tenants', auth, async (c) => {
    authorize(c, 'kv:admin');
    query(c).only([]);
    return jsonResponse(await admin.list(c.get('principal')), 200);
  });

  app.get('/v1/admin/tenants/:id', auth, async (c) => {
    authorize(c, 'kv:admin');
    query(c).only([]);
    return jsonResponse(await admin.get(c.get('principal'), tenantOf(c)), 200);
  });

  app.put('/v1/admin/tenants/:id', auth, async (c) => {
    authorize(c, 'kv:admin');
    query(c).only([]);
    const out = await admin.put(c.get('principal'), tenantOf(c), await readJsonBody(c, MAX_TENANT_BODY_BYTES));
    return jsonResponse(out.record, out.created ? 201 : 200);
  });

  app.delete('/v1/admin/tenants/:id', auth, async (c) => {
    authorize(c, 'kv:admin');
    query(c).only([]);
    await admin.delete(c.get('principal'), tenantOf(c));
    return new Response(null, { status: 204 });
  });

  app.get('/v1/admin/tenants/:id/usage', auth, async (c) => {
    authorize(c, 'kv:admin');
    query(c).only([]);
    return jsonResponse(await admin.usage(c.get('principal'), tenantOf(c)), 200);
  });

  app.get('/v1/admin/hot-keys', auth, (c) => {
    authorize(c, 'kv:admin');
    const q = query(c).only(['limit']);
    return jsonResponse(admin.hotKeyView(c.get('principal'), parseLimit(q.text('limit'))), 200);
  });
}
