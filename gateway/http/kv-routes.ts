// GET / PUT / DELETE /v1/kv/{key}: the key is the percent-decoded bytes of the raw path after
// /v1/kv/ (so `%2F`, `/`, `%00` and `%FF` are all key bytes). Values travel as raw bodies;
// metadata travels in headers (ETag = version, X-KV-Attr-*, X-KV-Expires-At, X-KV-Session).

import type { Hono, MiddlewareHandler } from 'hono';
import type { Attrs } from '../../shared/cell-protocol.js';
import { KvError } from '../../shared/errors.js';
import type { GatewayCore, ReadOptions } from '../core.js';
import { decodePathBytes, type QueryParams } from '../encoding.js';
import { MAX_ATTRS, parseConsistency, parseIdempotencyKey, parseIfMatch, parseIfNoneMatch, parseMaxStaleness, parseTtlSeconds, validateAttrs, validateKeyBytes } from '../validate.js';
import { query, rawPath, readBoundedBody, jsonResponse, type Ctx, type GatewayEnv } from './context.js';
import { authorize } from './middleware.js';

const KV_PREFIX = '/v1/kv/';
const ATTR_HEADER = 'x-kv-attr-';

export function keyFromPath(c: Ctx): Uint8Array {
  const path = rawPath(c.req.raw, c.env);
  if (!path.startsWith(KV_PREFIX)) throw new KvError('INVALID_ARGUMENT', 'key must be 1..4096 bytes, got 0');
  return validateKeyBytes(decodePathBytes(path.slice(KV_PREFIX.length)));
}

/** consistency= / max_staleness= / X-KV-Session, shared by GET and scan. */
export function readOptionsFrom(c: Ctx, q: QueryParams): ReadOptions {
  const cText = q.text('consistency');
  const consistency = cText === null ? 'linearizable' : parseConsistency(cText);
  const staleText = q.text('max_staleness');
  if (staleText !== null && consistency !== 'stale') throw new KvError('INVALID_ARGUMENT', 'max_staleness applies only to consistency=stale');
  const token = c.req.header('x-kv-session');
  return {
    consistency,
    // Validated by the core: a malformed token is an error even where it would not be used.
    session: token ?? null,
    maxStalenessMs: staleText !== null ? parseMaxStaleness(staleText) : 0,
  };
}

function attrsFromHeaders(c: Ctx): Attrs | null {
  const attrs: Record<string, string> = {};
  let n = 0;
  for (const [name, value] of c.req.raw.headers) {
    if (!name.startsWith(ATTR_HEADER)) continue;
    if (++n > MAX_ATTRS) throw new KvError('INVALID_ARGUMENT', `at most ${MAX_ATTRS} X-KV-Attr-* headers`);
    attrs[name.slice(ATTR_HEADER.length)] = value;
  }
  return n === 0 ? null : validateAttrs(attrs);
}

function idempotencyKey(c: Ctx): string | null {
  const h = c.req.header('idempotency-key');
  return h === undefined ? null : parseIdempotencyKey(h);
}

export function kvRoutes(app: Hono<GatewayEnv>, core: GatewayCore, auth: MiddlewareHandler<GatewayEnv>): void {
  app.on(['GET', 'HEAD'], '/v1/kv/*', auth, async (c) => {
    authorize(c, 'kv:read');
    const key = keyFromPath(c);
    const q = query(c).only(['consistency', 'max_staleness']);
    const read = readOptionsFrom(c, q);
    const out = await core.get(c.get('principal'), key, read);
    const headers: Record<string, string> = {
      'content-type': 'application/octet-stream',
      etag: `"${out.meta.version}"`,
      'x-kv-session': out.session,
      'x-kv-created-at': String(out.meta.createdAt),
      'x-kv-updated-at': String(out.meta.updatedAt),
      'cache-control': 'no-store',
    };
    if (out.meta.expiresAt !== null) headers['x-kv-expires-at'] = String(out.meta.expiresAt);
    if (out.staleAgeMs !== null) headers['x-kv-stale-age-ms'] = String(out.staleAgeMs);
    for (const [name, value] of Object.entries(out.meta.attrs)) headers[`${ATTR_HEADER}${name}`] = value;
    return new Response(c.req.method === 'HEAD' ? null : out.value, { status: 200, headers });
  });

  app.put('/v1/kv/*', auth, async (c) => {
    authorize(c, 'kv:write');
    const key = keyFromPath(c);
    const q = query(c).only(['ttl']);
    const ttlText = q.text('ttl');
    const ifMatch = c.req.header('if-match');
    const ifNoneMatch = c.req.header('if-none-match');
    if (ifMatch !== undefined && ifNoneMatch !== undefined) throw new KvError('INVALID_ARGUMENT', 'use either If-Match or If-None-Match, not both');
    const input = {
      key,
      ttlMs: ttlText === null ? null : parseTtlSeconds(ttlText),
      ifVersion: ifMatch === undefined ? null : parseIfMatch(ifMatch),
      ifAbsent: ifNoneMatch === undefined ? false : parseIfNoneMatch(ifNoneMatch),
      attrs: attrsFromHeaders(c),
      idempotencyKey: idempotencyKey(c),
    };
    // Everything else is validated before the body is read, and the body read is bounded.
    const value = await readBoundedBody(c, core.opts.maxValueBytes, 'value');
    const out = await core.put(c.get('principal'), { ...input, value });
    return jsonResponse(
      { version: out.version.toString(), created: out.created, session: out.session },
      out.created ? 201 : 200,
      { etag: `"${out.version}"`, 'x-kv-session': out.session },
    );
  });

  app.delete('/v1/kv/*', auth, async (c) => {
    authorize(c, 'kv:write');
    const key = keyFromPath(c);
    query(c).only([]);
    if (c.req.header('if-none-match') !== undefined) throw new KvError('INVALID_ARGUMENT', 'DELETE supports If-Match only');
    const ifMatch = c.req.header('if-match');
    const out = await core.delete(c.get('principal'), {
      key,
      ifVersion: ifMatch === undefined ? null : parseIfMatch(ifMatch),
      idempotencyKey: idempotencyKey(c),
    });
    return new Response(null, { status: 204, headers: { 'x-kv-session': out.session } });
  });
}
