// Hono plumbing shared by the HTTP routes: the app's Env type, the raw request target (keys
// are bytes of the raw path, so we never route or decode from a normalized URL), problem
// responses and body reading with a hard bound.

import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Context } from 'hono';
import { KvError } from '../../shared/errors.js';
import { DEFAULT_RETRY_AFTER_S, needsRetryAfter, problem, problemOfError, PROBLEM_CONTENT_TYPE, type Problem } from '../../shared/http-problem.js';
import type { Principal } from '../auth.js';
import { QueryParams } from '../encoding.js';
import type { TraceContext } from '../tracing.js';

export type GatewayEnv = {
  Bindings: { incoming?: IncomingMessage; outgoing?: ServerResponse } | undefined;
  Variables: { principal: Principal; trace: TraceContext };
};

export type Ctx = Context<GatewayEnv>;

/**
 * The request target as the client sent it. Node hands it to us raw; the Request URL built
 * from it may be normalized (`..` and `%2e%2e` segments removed), which would change keys.
 */
export function rawTarget(req: Request, env: GatewayEnv['Bindings']): string {
  const raw = env?.incoming?.url;
  if (raw !== undefined && raw.startsWith('/')) return raw;
  const u = req.url;
  const i = u.indexOf('/', u.indexOf('://') + 3);
  return i < 0 ? '/' : u.slice(i);
}

/** The raw path (no decoding), which is also what the router matches. */
export function rawPath(req: Request, env: GatewayEnv['Bindings']): string {
  const t = rawTarget(req, env);
  const q = t.indexOf('?');
  return q < 0 ? t : t.slice(0, q);
}

export function query(c: Ctx): QueryParams {
  const t = rawTarget(c.req.raw, c.env);
  const q = t.indexOf('?');
  return QueryParams.parse(q < 0 ? '' : t.slice(q + 1));
}

/** Normalizes anything thrown into a KvError; unknown errors are INTERNAL (and logged by the caller). */
export function toKvError(e: unknown): KvError {
  if (e instanceof KvError) return e;
  return new KvError('INTERNAL', 'internal error; the request may be retried');
}

export function problemResponse(p: Problem, extraHeaders: Record<string, string> = {}): Response {
  const headers: Record<string, string> = { 'content-type': PROBLEM_CONTENT_TYPE, 'cache-control': 'no-store', ...extraHeaders };
  // A computed wait (e.g. from a tenant's token bucket) travels as the `retryAfter` extension.
  const retryAfter = p['retryAfter'];
  if (needsRetryAfter(p.status)) headers['retry-after'] = String(typeof retryAfter === 'number' && retryAfter > 0 ? Math.ceil(retryAfter) : DEFAULT_RETRY_AFTER_S);
  if (p.status === 401) headers['www-authenticate'] = `Bearer realm="cellkv", error="invalid_token", error_description="${p.detail.replace(/["\\\r\n]/g, ' ')}"`;
  if (p.status === 412 && typeof p['currentVersion'] === 'string') headers['etag'] = `"${p['currentVersion']}"`;
  return new Response(JSON.stringify(p), { status: p.status, headers });
}

export function errorResponse(e: unknown): Response {
  return problemResponse(problemOfError(toKvError(e)));
}

export function methodNotAllowed(allowed: readonly string[]): Response {
  return problemResponse(problem('METHOD_NOT_ALLOWED', `use one of: ${allowed.join(', ')}`), { allow: allowed.join(', ') });
}

/**
 * Reads the body with a hard bound, counting bytes as they arrive: an oversized body is refused
 * without buffering it (Content-Length is checked first when the client sent one).
 */
export async function readBoundedBody(c: Ctx, max: number, what: string): Promise<Uint8Array> {
  const tooLarge = () => new KvError('PAYLOAD_TOO_LARGE', `${what} is larger than ${max} bytes`);
  const cl = c.req.header('content-length');
  if (cl !== undefined) {
    if (!/^[0-9]{1,15}$/.test(cl.trim())) throw new KvError('INVALID_ARGUMENT', 'Content-Length is malformed');
    if (Number(cl) > max) throw tooLarge();
  }
  const chunks: Uint8Array[] = [];
  let total = 0;
  const incoming = c.env?.incoming;
  if (incoming !== undefined && !incoming.readableDidRead) {
    // Straight from node:http: building the Web Request (stream, AbortSignal) for the body
    // cost more CPU per PUT than the rest of the route.
    // Events, not `for await`: leaving an async iterator destroys the socket, and an
    // oversized body must still get its 413. Past the bound the rest is drained, not kept.
    await new Promise<void>((resolve, reject) => {
      let settled = false;
      const settle = (e: KvError | null) => {
        if (settled) return;
        settled = true;
        if (e) reject(e);
        else resolve();
      };
      incoming.on('data', (chunk: Buffer) => {
        if (settled) return;
        total += chunk.length;
        if (total > max) settle(tooLarge());
        else chunks.push(chunk);
      });
      incoming.once('end', () => settle(null));
      // Built only when it is used: 'close' follows every request, and an Error captures a stack.
      const cutOff = () => {
        if (!settled) settle(new KvError('INVALID_ARGUMENT', `${what} was cut off`));
      };
      incoming.once('error', cutOff);
      incoming.once('close', cutOff);
    });
    return joinChunks(chunks, total);
  }
  const body = c.req.raw.body;
  if (!body) return new Uint8Array(0);
  const reader = body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.length;
    if (total > max) {
      await reader.cancel().catch(() => undefined);
      throw tooLarge();
    }
    chunks.push(value);
  }
  return joinChunks(chunks, total);
}

function joinChunks(chunks: readonly Uint8Array[], total: number): Uint8Array {
  if (chunks.length === 0) return new Uint8Array(0);
  if (chunks.length === 1) return chunks[0]!;
  const out = new Uint8Array(total);
  let off = 0;
  for (const ch of chunks) {
    out.set(ch, off);
    off += ch.length;
  }
  return out;
}

/** A JSON body (bounded, UTF-8); malformed JSON is INVALID_ARGUMENT. */
export async function readJsonBody(c: Ctx, max: number): Promise<unknown> {
  const bytes = await readBoundedBody(c, max, 'request body');
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw new KvError('INVALID_ARGUMENT', 'request body must be UTF-8 JSON');
  }
  try {
    return JSON.parse(text) as unknown;
  } catch (e) {
    throw new KvError('INVALID_ARGUMENT', `request body is not valid JSON: ${(e as Error).message.slice(0, 200)}`);
  }
}

export function jsonResponse(body: unknown, status: number, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json', ...headers } });
}
