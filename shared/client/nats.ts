// The NATS client of cellkv's front door for platform services: request-reply on
// `cellkv.api.v1.<op>` (gateways answer in a queue group), the JWT in an Authorization header,
// JSON bodies with base64 bytes, problem documents as `{ok:false, ...}`. Same methods, results
// and retry rules as the HTTP client.

import { connect, headers as natsHeaders, type NatsConnection } from '@nats-io/transport-node';
import { classifyRequestError, mayHaveBeenDelivered } from '../nats-errors.js';
import { CellkvError, errorFromProblem, invalidArgument } from './errors.js';
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
import { batchBody, fieldBytes, isWriteBatch, keyBytes, malformed, parseBatchResult, parseScanItem, parseVersion, scanRangeBytes, toBase64, toBytes, ttlSecondsOf, versionText } from './wire.js';

export const API_SUBJECT_PREFIX = 'cellkv.api.v1.';

export interface CellkvNatsClientOptions {
  /** NATS URLs (ignored when `connection` is given). */
  readonly servers?: string | readonly string[];
  /** An existing connection to use; the client will not close it. */
  readonly connection?: NatsConnection;
  readonly token: TokenSource;
  readonly user?: string;
  readonly pass?: string;
  /** Reply subject prefix, when NATS permissions give this service its own inbox space. */
  readonly inboxPrefix?: string;
  readonly retries?: number | RetryOptions;
  /** Bound on each request (default 15 s); past it a write's outcome is unknown. */
  readonly timeoutMs?: number;
  readonly autoIdempotencyKeys?: boolean;
}

type Op = 'get' | 'put' | 'delete' | 'batch' | 'scan';
type Json = Record<string, unknown>;

const enc = new TextEncoder();
const dec = new TextDecoder();

export class CellkvNatsClient implements CellkvClient {
  private conn: Promise<NatsConnection> | null = null;
  private readonly policy: RetryPolicy;
  private readonly timeoutMs: number;
  private readonly autoKeys: boolean;
  private closed = false;

  constructor(private readonly opts: CellkvNatsClientOptions) {
    if (!opts.connection && (opts.servers === undefined || opts.servers.length === 0)) throw invalidArgument('CellkvNatsClient needs servers or a connection');
    this.policy = retryPolicy(opts.retries);
    this.timeoutMs = opts.timeoutMs ?? 15_000;
    this.autoKeys = opts.autoIdempotencyKeys ?? true;
    if (opts.connection) this.conn = Promise.resolve(opts.connection);
  }

  /** Closes the connection this client opened (never one it was given). */
  async close(): Promise<void> {
    this.closed = true;
    if (this.opts.connection || !this.conn) return;
    const nc = await this.conn.catch(() => null);
    await nc?.close().catch(() => undefined);
  }

  private connection(): Promise<NatsConnection> {
    if (!this.conn) {
      const servers = typeof this.opts.servers === 'string' ? this.opts.servers.split(',') : [...(this.opts.servers ?? [])];
      this.conn = connect({
        servers,
        name: 'cellkv-client',
        noAsyncTraces: true, // no Error captured per request on the hot path
        maxReconnectAttempts: -1,
        ...(this.opts.user !== undefined ? { user: this.opts.user, pass: this.opts.pass ?? '' } : {}),
        ...(this.opts.inboxPrefix !== undefined ? { inboxPrefix: this.opts.inboxPrefix } : {}),
      });
      // A failed first connect is retried on the next call.
      this.conn.catch(() => (this.conn = null));
    }
    return this.conn;
  }

  async get(key: KeyInput, o: ReadOptions = {}): Promise<GetResult | null> {
    const body: Json = { key: toBase64(keyBytes(key)), valueEncoding: 'base64', ...readFields(o) };
    try {
      return await this.call('get', body, false, null, o.signal, (j) => ({
        value: fieldBytes(j['value'], j['valueEncoding'], 'value'),
        version: parseVersion(j['version']),
        createdAt: typeof j['createdAt'] === 'number' ? j['createdAt'] : 0,
        updatedAt: typeof j['updatedAt'] === 'number' ? j['updatedAt'] : 0,
        expiresAt: typeof j['expiresAt'] === 'number' ? j['expiresAt'] : null,
        attrs: (j['attrs'] as Record<string, string> | undefined) ?? {},
        session: typeof j['session'] === 'string' ? j['session'] : '',
        staleAgeMs: typeof j['staleAgeMs'] === 'number' ? j['staleAgeMs'] : null,
      }));
    } catch (e) {
      if (e instanceof CellkvError && e.code === 'NOT_FOUND') return null;
      throw e;
    }
  }

  async put(key: KeyInput, value: ValueInput, o: PutOptions = {}): Promise<PutResult> {
    if (o.ifMatch !== undefined && o.ifNoneMatch) throw invalidArgument('use either ifMatch or ifNoneMatch, not both');
    const body: Json = { key: toBase64(keyBytes(key)), value: toBase64(toBytes(value)) };
    const ttl = ttlSecondsOf(o.ttlSeconds);
    if (ttl !== undefined) body['ttl'] = ttl;
    if (o.ifMatch !== undefined) body['ifVersion'] = versionText(o.ifMatch, 'ifMatch');
    if (o.ifNoneMatch) body['ifAbsent'] = true;
    if (o.attrs) body['attrs'] = { ...o.attrs };
    const idem = this.idempotencyKey(o.idempotencyKey);
    return this.call('put', body, true, idem, o.signal, (j) => ({ version: parseVersion(j['version']), created: j['created'] === true, session: String(j['session'] ?? '') }));
  }

  async delete(key: KeyInput, o: DeleteOptions = {}): Promise<DeleteResult> {
    const body: Json = { key: toBase64(keyBytes(key)) };
    if (o.ifMatch !== undefined) body['ifVersion'] = versionText(o.ifMatch, 'ifMatch');
    const idem = this.idempotencyKey(o.idempotencyKey);
    try {
      return await this.call('delete', body, true, idem, o.signal, (j) => ({ deleted: true, session: typeof j['session'] === 'string' ? j['session'] : null }));
    } catch (e) {
      if (e instanceof CellkvError && e.code === 'NOT_FOUND') return { deleted: false, session: null };
      throw e;
    }
  }

  async batch(ops: readonly BatchOp[], o: BatchOptions = {}): Promise<BatchResult> {
    const write = isWriteBatch(ops);
    const idem = write ? this.idempotencyKey(o.idempotencyKey) : null;
    return this.call('batch', batchBody(ops, o), write, idem, o.signal, (j) => parseBatchResult(j));
  }

  async *scan(o: ScanOptions = {}): AsyncGenerator<ScanPage, void, undefined> {
    const range = scanRangeBytes(o);
    const fixed: Json = { keyEncoding: 'base64', valueEncoding: 'base64', ...readFields(o) };
    if (range.prefix) fixed['prefix'] = toBase64(range.prefix);
    if (range.start) fixed['start'] = toBase64(range.start);
    if (range.end) fixed['end'] = toBase64(range.end);
    if (o.limit !== undefined) fixed['limit'] = o.limit;
    if (o.keysOnly) fixed['keysOnly'] = true;
    let cursor = o.cursor ?? null;
    do {
      const body = cursor !== null ? { ...fixed, cursor } : fixed;
      const page: ScanPage = await this.call('scan', body, false, null, o.signal, (j) => {
        if (!Array.isArray(j['items'])) throw malformed('scan answer has no items');
        return {
          items: j['items'].map(parseScanItem),
          cursor: typeof j['cursor'] === 'string' ? j['cursor'] : null,
          session: typeof j['session'] === 'string' ? j['session'] : null,
          staleAgeMs: typeof j['staleAgeMs'] === 'number' ? j['staleAgeMs'] : null,
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

  private async call<T>(op: Op, body: Json, write: boolean, idem: string | null, signal: AbortSignal | undefined, parse: (j: Json) => T): Promise<T> {
    if (this.closed) throw new CellkvError({ code: 'CANCELLED', status: 0, detail: 'the client is closed' });
    const payload = enc.encode(JSON.stringify(idem !== null ? { ...body, idempotencyKey: idem } : body));
    return withRetries({ what: op, write, idempotencyKey: idem, signal }, this.policy, async (): Promise<AttemptOutcome<T>> => {
      const r = await this.request(op, payload, signal);
      if (!r.ok) return r;
      return { ok: true, value: parse(r.value) };
    });
  }

  /** One attempt: the `{ok:true}` answer, or a classified failure. */
  private async request(op: Op, payload: Uint8Array, signal: AbortSignal | undefined): Promise<AttemptOutcome<Json>> {
    let nc: NatsConnection;
    try {
      nc = await this.connection();
    } catch (e) {
      const error = new CellkvError({ code: 'UNAVAILABLE', status: 0, detail: `cannot connect to NATS: ${(e as Error).message}`, cause: e });
      return { ok: false, failure: { error, retryable: true, ambiguous: false } };
    }
    const h = natsHeaders();
    const t = this.opts.token;
    h.set('Authorization', `Bearer ${typeof t === 'function' ? await t() : t}`);
    let data: Uint8Array;
    try {
      const req = nc.request(`${API_SUBJECT_PREFIX}${op}`, payload, { timeout: this.timeoutMs, headers: h });
      const aborted = signal
        ? new Promise<never>((_, reject) => {
            if (signal.aborted) reject(cancelled(signal));
            signal.addEventListener('abort', () => reject(cancelled(signal)), { once: true });
          })
        : null;
      req.catch(() => undefined);
      data = (aborted ? await Promise.race([req, aborted]) : await req).data;
    } catch (e) {
      if (e instanceof CellkvError) return { ok: false, failure: { error: e, retryable: false, ambiguous: true } };
      const failure = classifyRequestError(e);
      const detail =
        failure === 'no-responders'
          ? `no gateway serves ${API_SUBJECT_PREFIX}${op}`
          : failure === 'timeout'
            ? `no answer within ${this.timeoutMs}ms`
            : `NATS request failed: ${(e as Error).message}`;
      const error = new CellkvError({ code: 'UNAVAILABLE', status: 0, detail, cause: e });
      // No responders or never sent: nobody received it. Anything else may have reached a gateway.
      return { ok: false, failure: { error, retryable: failure !== 'not-sent', ambiguous: mayHaveBeenDelivered(failure) } };
    }
    let j: Json;
    try {
      j = JSON.parse(dec.decode(data)) as Json;
    } catch {
      return { ok: false, failure: { error: malformed('reply is not JSON'), retryable: false, ambiguous: false } };
    }
    if (j['ok'] === true) return { ok: true, value: j };
    return { ok: false, failure: failureOfStatus(errorFromProblem(typeof j['status'] === 'number' ? j['status'] : 0, j, null)) };
  }
}

function readFields(o: ReadOptions): Json {
  const out: Json = {};
  const consistency = o.consistency ?? (o.session !== undefined ? 'session' : undefined);
  if (consistency !== undefined) out['consistency'] = consistency;
  if (o.session !== undefined) out['session'] = o.session;
  if (o.maxStalenessMs !== undefined) out['maxStalenessMs'] = o.maxStalenessMs;
  return out;
}
