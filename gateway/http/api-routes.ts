// POST /v1/batch, GET /v1/scan and the /v1/admin routes.

import type { Hono, MiddlewareHandler } from 'hono';
import { KvError } from '../../shared/errors.js';
import { requireOpScope } from '../auth.js';
import { parseBatch } from '../batch.js';
import type { GatewayCore } from '../core.js';
import type { BytesEncoding } from '../encoding.js';
import { batchJson, scanJson } from '../json-views.js';
import { scanRange } from '../scan.js';
import { parseBool, parseIdempotencyKey, parseLimit } from '../validate.js';
import { query, readJsonBody, jsonResponse, type GatewayEnv } from './context.js';
import { readOptionsFrom } from './kv-routes.js';
import { authorize } from './middleware.js';

export interface ApiLimits {
  readonly maxBatchBytes: number;
}

function outputEncoding(s: string | null): BytesEncoding {
  if (s === null || s === 'utf8') return 'utf8';
  if (s === 'base64') return 'base64';
  throw new KvError('INVALID_ARGUMENT', 'encoding must be utf8 or base64');
}

export function apiRoutes(app: Hono<GatewayEnv>, core: GatewayCore, auth: MiddlewareHandler<GatewayEnv>, limits: ApiLimits): void {
  app.post('/v1/batch', auth, async (c) => {
    const p = c.get('principal');
    requireOpScope(p, 'batch');
    query(c).only([]);
    const header = c.req.header('idempotency-key');
    const headerKey = header === undefined ? null : parseIdempotencyKey(header);
    const parsed = parseBatch(await readJsonBody(c, limits.maxBatchBytes), 'utf8');
    if (headerKey !== null && parsed.idempotencyKey !== null && headerKey !== parsed.idempotencyKey) {
      throw new KvError('INVALID_ARGUMENT', 'Idempotency-Key header and body idempotencyKey differ');
    }
    const out = await core.batch(p, {
      ops: parsed.ops,
      atomic: parsed.atomic,
      read: { consistency: parsed.consistency, session: parsed.session, maxStalenessMs: parsed.maxStalenessMs },
      idempotencyKey: headerKey ?? parsed.idempotencyKey,
    });
    return jsonResponse(batchJson(parsed.ops, out, 'utf8'), 200, out.session ? { 'x-kv-session': out.session } : {});
  });

  app.on(['GET', 'HEAD'], '/v1/scan', auth, async (c) => {
    authorize(c, 'kv:read');
    const q = query(c).only(['prefix', 'start', 'end', 'limit', 'cursor', 'keys_only', 'consistency', 'max_staleness', 'encoding']);
    const range = scanRange(q.bytes('prefix'), q.bytes('start'), q.bytes('end'));
    const keysOnly = q.text('keys_only');
    const out = await core.scan(c.get('principal'), {
      range,
      cursor: q.text('cursor'),
      limit: parseLimit(q.text('limit')),
      keysOnly: keysOnly === null ? false : parseBool(keysOnly, 'keys_only'),
      read: readOptionsFrom(c, q),
    });
    const headers: Record<string, string> = {};
    if (out.session) headers['x-kv-session'] = out.session;
    if (out.staleAgeMs !== null) headers['x-kv-stale-age-ms'] = String(out.staleAgeMs);
    const enc = outputEncoding(q.text('encoding'));
    return jsonResponse(scanJson(out, enc, enc), 200, headers);
  });

  app.get('/v1/admin/cells', auth, async (c) => {
    authorize(c, 'kv:admin');
    query(c).only([]);
    return jsonResponse(await core.listCells(c.get('principal')), 200);
  });

  app.get('/v1/admin/nodes', auth, async (c) => {
    authorize(c, 'kv:admin');
    query(c).only([]);
    return jsonResponse(await core.listNodes(c.get('principal')), 200);
  });
}
