// The HTTP client of cellkv's public API v1 (DESIGN.md): keys go in the path with every byte
// percent-encoded, values as raw bodies, metadata in headers (ETag = version, X-KV-*), errors
// as problem documents. Retries follow retry.ts.

import { CellkvError, errorFromProblem, parseRetryAfter } from './errors.js';
import { cancelled, failureOfStatus, newIdempotencyKey, retryPolicy, withRetries, type AttemptOutcome, type RetryPolicy } from './retry.js';
import type {
  BatchOp,
  BatchOptions,
  BatchResult,
  CellkvClient,
  DeleteOptions,
  DeleteResult,
  GetResult,
  KeyInput,
  PutOptions,
  PutResult,
  ReadOptions,
  RetryOptions,
  ScanOptions,
  ScanPage,
  TokenSource,
  ValueInput,
} from './types.js';
import { batchBody, isWriteBatch, keyBytes, malformed, parseBatchResult, parseScanItem, parseVersion, percentEncodeAll, scanRangeBytes, toBytes, ttlSecondsOf, versionText } from './wire.js';

export interface CellkvHttpClientOptions {
  /** Gateway base URL, e.g. http://127.0.0.1:8080 */
  readonly url: string;
  readonly token: TokenSource;
  /** A fetch implementation (default: the global one). */
  readonly fetch?: typeof fetch;
  /** Retries after the first attempt (a number), or the full policy. */
  readonly retries?: number | RetryOptions;
  /** Bound on each attempt (default 15 s); past it a write's outcome is unknown. */
  readonly timeoutMs?: number;
  /** Give writes without an idempotencyKey a generated one, so they can be retried (default true). */
  readonly autoIdempotencyKeys?: boolean;
}

interface HttpRequest {
  readonly method: 'GET' | 'PUT' | 'DELETE' | 'POST';
  readonly path: string;
  readonly query?: readonly [string, string][];
  readonly headers?: Record<string, string>;
  readonly body?: Uint8Array | string;
}

/** Network errors that prove the request never left (safe to retry even without a key). */
const NOT_SENT = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'UND_ERR_CONNECT_TIMEOUT']);

function errnoOf(e: unknown): string {
  for (let c: unknown = e, i = 0; c && i < 5; c = (c as { cause?: unknown }).cause, i++) {
    const code = (c as { code?: unknown }).code;
    if (typeof code === 'string') return code;
  }
  return '';
}

export class CellkvHttpClient implements CellkvClient {
  private readonly base: string;
  private readonly fetchFn: typeof fetch;
  private readonly policy: RetryPolicy;
  private readonly timeoutMs: number;
  private readonly autoKeys: boolean;

  constructor(private readonly opts: CellkvHttpClientOptions) {
    const u = new URL(opts.url);
    if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new CellkvError({ code: 'INVALID_ARGUMENT', status: 0, detail: `url must be http(s), got ${opts.url}` });
    this.base = opts.url.replace(/\/+$/, '');
    this.fetchFn = opts.fetch ?? fetch;
    this.policy = retryPolicy(opts.retries);
    this.timeoutMs = opts.timeoutMs ?? 15_000;
    this.autoKeys = opts.autoIdempotencyKeys ?? true;
  }

  async close(): Promise<void> {
    // Nothing held: fetch pools its own connections.
  }

  async get(key: KeyInput, o: ReadOptions = {}): Promise<GetResult | null> {
    const path = `/v1/kv/${percentEncodeAll(keyBytes(key))}`;
    const call = { what: 'get', write: false, idempotencyKey: null, signal: o.signal };
    try {
      return await withRetries(call, this.policy, async (): Promise<AttemptOutcome<GetResult>> => {
        const r = await this.send({ method: 'GET', path, query: readQuery(o), headers: sessionHeader(o.session) }, o.signal);
        if (!r.ok) return r;
        const res = r.value;
        const etag = /^"([0-9]+)"$/.exec(res.headers.get('etag') ?? '');
        if (!etag) return { ok: false, failure: { error: malformed('GET answer has no ETag version'), retryable: false, ambiguous: false } };
        const attrs: Record<string, string> = {};
        res.headers.forEach((v, k) => {
          if (k.startsWith('x-kv-attr-')) attrs[k.slice('x-kv-attr-'.length)] = v;
        });
        const num = (h: string) => {
          const v = res.headers.get(h);
          return v === null || v === '' ? null : Number(v);
        };
        return {
          ok: true,
          value: {
            value: new Uint8Array(await res.arrayBuffer()),
            version: BigInt(etag[1]!),
            createdAt: num('x-kv-created-at') ?? 0,
            updatedAt: num('x-kv-updated-at') ?? 0,
            expiresAt: num('x-kv-expires-at'),
            attrs,
            session: res.headers.get('x-kv-session') ?? '',
            staleAgeMs: num('x-kv-stale-age-ms'),
          },
        };
      });
    } catch (e) {
      if (e instanceof CellkvError && e.code === 'NOT_FOUND' && e.status === 404) return null;
      throw e;
    }
  }

  async put(key: KeyInput, value: ValueInput, o: PutOptions = {}): Promise<PutResult> {
    const path = `/v1/kv/${percentEncodeAll(keyBytes(key))}`;
    if (o.ifMatch !== undefined && o.ifNoneMatch) throw new CellkvError({ code: 'INVALID_ARGUMENT', status: 0, detail: 'use either ifMatch or ifNoneMatch, not both' });
    const headers: Record<string, string> = { 'content-type': 'application/octet-stream' };
    if (o.ifMatch !== undefined) headers['if-match'] = `"${versionText(o.ifMatch, 'ifMatch')}"`;
    if (o.ifNoneMatch) headers['if-none-match'] = '*';
    for (const [k, v] of Object.entries(o.attrs ?? {})) headers[`x-kv-attr-${k.toLowerCase()}`] = v;
    const ttl = ttlSecondsOf(o.ttlSeconds);
    const idem = this.idempotencyKey(o.idempotencyKey);
    if (idem !== null) headers['idempotency-key'] = idem;
    const body = toBytes(value);
    return withRetries({ what: 'put', write: true, idempotencyKey: idem, signal: o.signal }, this.policy, async (): Promise<AttemptOutcome<PutResult>> => {
      const r = await this.send({ method: 'PUT', path, query: ttl !== undefined ? [['ttl', String(ttl)]] : [], headers, body }, o.signal);
      if (!r.ok) return r;
      const j = await jsonOf(r.value);
      return { ok: true, value: { version: parseVersion(j['version']), created: j['created'] === true, session: typeof j['session'] === 'string' ? j['session'] : '' } };
    });
  }

  async delete(key: KeyInput, o: DeleteOptions = {}): Promise<DeleteResult> {
    const path = `/v1/kv/${percentEncodeAll(keyBytes(key))}`;
    const headers: Record<string, string> = {};
    if (o.ifMatch !== undefined) headers['if-match'] = `"${versionText(o.ifMatch, 'ifMatch')}"`;
    const idem = this.idempotencyKey(o.idempotencyKey);
    if (idem !== null) headers['idempotency-key'] = idem;
    try {
      return await withRetries({ what: 'delete', write: true, idempotencyKey: idem, signal: o.signal }, this.policy, async (): Promise<AttemptOutcome<DeleteResult>> => {
        const r = await this.send({ method: 'DELETE', path, headers }, o.signal);
        if (!r.ok) return r;
        return { ok: true, value: { deleted: true, session: r.value.headers.get('x-kv-session') } };
      });
    } catch (e) {
      if (e instanceof CellkvError && e.code === 'NOT_FOUND' && e.status === 404) return { deleted: false, session: null };
      throw e;
    }
  }

  async batch(ops: readonly BatchOp[], o: BatchOptions = {}): Promise<BatchResult> {
    const write = isWriteBatch(ops);
    const idem = write ? this.idempotencyKey(o.idempotencyKey) : null;
    const body = JSON.stringify(batchBody(ops, o));
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    if (idem !== null) headers['idempotency-key'] = idem;
    return withRetries({ what: 'batch', write, idempotencyKey: idem, signal: o.signal }, this.policy, async (): Promise<AttemptOutcome<BatchResult>> => {
      const r = await this.send({ method: 'POST', path: '/v1/batch', headers, body }, o.signal);
      if (!r.ok) return r;
      return { ok: true, value: parseBatchResult(await jsonOf(r.value)) };
    });
  }

  async *scan(o: ScanOptions = {}): AsyncGenerator<ScanPage, void, undefined> {
    const range = scanRangeBytes(o);
    const fixed: [string, string][] = [];
    if (range.prefix) fixed.push(['prefix', percentEncodeAll(range.prefix)]);
    if (range.start) fixed.push(['start', percentEncodeAll(range.start)]);
    if (range.end) fixed.push(['end', percentEncodeAll(range.end)]);
    if (o.limit !== undefined) fixed.push(['limit', String(o.limit)]);
    if (o.keysOnly) fixed.push(['keys_only', 'true']);
    fixed.push(...readQuery(o), ['encoding', 'base64']);
    let cursor = o.cursor ?? null;
    do {
      const query = cursor !== null ? [...fixed, ['cursor', encodeURIComponent(cursor)] as [string, string]] : fixed;
      const page = await withRetries({ what: 'scan', write: false, idempotencyKey: null, signal: o.signal }, this.policy, async (): Promise<AttemptOutcome<ScanPage>> => {
        const r = await this.send({ method: 'GET', path: '/v1/scan', query, headers: sessionHeader(o.session) }, o.signal);
        if (!r.ok) return r;
        const j = await jsonOf(r.value);
        if (!Array.isArray(j['items'])) return { ok: false, failure: { error: malformed('scan answer has no items'), retryable: false, ambiguous: false } };
        const age = r.value.headers.get('x-kv-stale-age-ms');
        return {
          ok: true,
          value: {
            items: j['items'].map(parseScanItem),
            cursor: typeof j['cursor'] === 'string' ? j['cursor'] : null,
            session: typeof j['session'] === 'string' ? j['session'] : null,
            staleAgeMs: age === null ? null : Number(age),
          },
        };
      });
      yield page;
      cursor = page.cursor;
    } while (cursor !== null);
  }

  private idempotencyKey(given: string | undefined): string | null {
    if (given !== undefined) return given;
    return this.autoKeys ? newIdempotencyKey() : null;
  }

  private async token(): Promise<string> {
    const t = this.opts.token;
    return typeof t === 'function' ? await t() : t;
  }

  /** One attempt: a 2xx response, or a classified failure. */
  private async send(req: HttpRequest, signal: AbortSignal | undefined): Promise<AttemptOutcome<Response>> {
    const qs = (req.query ?? []).map(([k, v]) => `${k}=${v}`).join('&');
    const url = `${this.base}${req.path}${qs ? `?${qs}` : ''}`;
    const headers: Record<string, string> = { ...(req.headers ?? {}), authorization: `Bearer ${await this.token()}` };
    const timeout = AbortSignal.timeout(this.timeoutMs);
    const combined = signal ? AbortSignal.any([signal, timeout]) : timeout;
    let res: Response;
    try {
      res = await this.fetchFn(url, { method: req.method, headers, body: req.body ?? null, signal: combined });
    } catch (e) {
      if (signal?.aborted) return { ok: false, failure: { error: cancelled(signal), retryable: false, ambiguous: true } };
      const timedOut = timeout.aborted;
      const errno = errnoOf(e);
      const notSent = NOT_SENT.has(errno);
      const detail = timedOut ? `no answer from ${this.base} within ${this.timeoutMs}ms` : `cannot reach ${this.base}: ${errno || (e as Error).message}`;
      return { ok: false, failure: { error: new CellkvError({ code: 'UNAVAILABLE', status: 0, detail, cause: e }), retryable: true, ambiguous: !notSent } };
    }
    if (res.ok) return { ok: true, value: res };
    const text = await res.text().catch(() => '');
    let body: unknown = null;
    try {
      body = JSON.parse(text) as unknown;
    } catch {
      body = { detail: `HTTP ${res.status}: ${text.slice(0, 200) || res.statusText}` };
    }
    return { ok: false, failure: failureOfStatus(errorFromProblem(res.status, body, parseRetryAfter(res.headers.get('retry-after')))) };
  }
}

/** A 2xx JSON body; anything else is a malformed answer (never retried: it would repeat). */
async function jsonOf(res: Response): Promise<Record<string, unknown>> {
  const text = await res.text();
  try {
    const v = JSON.parse(text) as unknown;
    if (typeof v === 'object' && v !== null && !Array.isArray(v)) return v as Record<string, unknown>;
  } catch {
    // fall through
  }
  throw malformed(`expected a JSON object, got ${JSON.stringify(text.slice(0, 100))}`);
}

function sessionHeader(session: string | undefined): Record<string, string> {
  return session !== undefined ? { 'x-kv-session': session } : {};
}

function readQuery(o: ReadOptions): [string, string][] {
  const q: [string, string][] = [];
  const consistency = o.consistency ?? (o.session !== undefined ? 'session' : undefined);
  if (consistency !== undefined) q.push(['consistency', consistency]);
  if (o.maxStalenessMs !== undefined) q.push(['max_staleness', String(o.maxStalenessMs)]);
  return q;
}
