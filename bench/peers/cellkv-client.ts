// cellkv drivers: the HTTP API through an undici Pool (keep-alive, one connection per worker,
// no pipelining: a closed-loop worker never has two requests out) and the NATS front door
// through the project's typed client. Both run without client retries and without
// idempotency keys, so every server error is counted and the server does no dedup work the
// other systems would not do either.

import { Pool, type Dispatcher } from 'undici';
import { CellkvError, CellkvNatsClient } from '../../shared/client/index.js';
import { KEY_SPACE_END } from '../workloads.js';
import { OpError, type CasOutcome, type DriverOptions, type KvDriver, type KvEntryInput, type ReadResult, type TargetSpec } from './types.js';

type HttpTarget = Extract<TargetSpec, { kind: 'cellkv-http' }>;
type NatsTarget = Extract<TargetSpec, { kind: 'cellkv-nats' }>;

const NOT_FOUND: ReadResult = { found: false, version: null };

/** The problem document's code, or the HTTP status, as the error label. */
async function httpError(res: Dispatcher.ResponseData): Promise<OpError> {
  const text = await res.body.text().catch(() => '');
  let code = '';
  try {
    const j = JSON.parse(text) as { code?: unknown };
    if (typeof j.code === 'string') code = j.code;
  } catch {
    // not a problem document
  }
  return new OpError(`HTTP ${res.statusCode}${code ? ` ${code}` : ''}`, text.slice(0, 200));
}

function transportError(e: unknown): OpError {
  if (e instanceof OpError) return e;
  const err = e as { code?: unknown; message?: unknown };
  const code = typeof err.code === 'string' ? err.code : '';
  // undici names its timeouts UND_ERR_HEADERS_TIMEOUT / UND_ERR_BODY_TIMEOUT.
  const label = /TIMEOUT/.test(code) ? 'timeout' : code || 'network';
  return new OpError(label, String(err.message ?? e));
}

export class CellkvHttpDriver implements KvDriver {
  private readonly pool: Pool;
  private readonly auth: string;

  constructor(spec: HttpTarget, o: DriverOptions) {
    const u = new URL(spec.url);
    this.pool = new Pool(u.origin, {
      connections: Math.max(1, o.connections),
      pipelining: 1,
      keepAliveTimeout: 60_000,
      headersTimeout: o.opTimeoutMs,
      bodyTimeout: o.opTimeoutMs,
      connect: { timeout: o.opTimeoutMs },
    });
    this.auth = `Bearer ${spec.token}`;
  }

  private async request(opts: Dispatcher.RequestOptions): Promise<Dispatcher.ResponseData> {
    try {
      return await this.pool.request(opts);
    } catch (e) {
      throw transportError(e);
    }
  }

  async get(key: string, stale: boolean): Promise<ReadResult> {
    const res = await this.request({ method: 'GET', path: `/v1/kv/${encodeURIComponent(key)}${stale ? '?consistency=stale' : ''}`, headers: { authorization: this.auth } });
    if (res.statusCode === 200) {
      // Read the value: a benchmark that drops bodies unread would not measure a real client.
      await res.body.arrayBuffer();
      const etag = res.headers['etag'];
      const m = typeof etag === 'string' ? /^"([0-9]+)"$/.exec(etag) : null;
      if (!m) throw new OpError('bad-answer', 'GET answer without a version ETag');
      return { found: true, version: m[1]! };
    }
    if (res.statusCode === 404) {
      await res.body.dump();
      return NOT_FOUND;
    }
    throw await httpError(res);
  }

  private async putRaw(key: string, value: Uint8Array, extra: Record<string, string>): Promise<Dispatcher.ResponseData> {
    return this.request({
      method: 'PUT',
      path: `/v1/kv/${encodeURIComponent(key)}`,
      headers: { authorization: this.auth, 'content-type': 'application/octet-stream', ...extra },
      body: value,
    });
  }

  async put(key: string, value: Uint8Array): Promise<void> {
    const res = await this.putRaw(key, value, {});
    if (res.statusCode === 200 || res.statusCode === 201) {
      await res.body.dump();
      return;
    }
    throw await httpError(res);
  }

  async cas(key: string, value: Uint8Array, expected: ReadResult): Promise<CasOutcome> {
    const cond: Record<string, string> = expected.found ? { 'if-match': `"${expected.version}"` } : { 'if-none-match': '*' };
    const res = await this.putRaw(key, value, cond);
    if (res.statusCode === 200 || res.statusCode === 201) {
      await res.body.dump();
      return 'applied';
    }
    if (res.statusCode === 412) {
      await res.body.dump();
      return 'conflict';
    }
    throw await httpError(res);
  }

  async scan(startKey: string, limit: number): Promise<number> {
    const q = `start=${encodeURIComponent(startKey)}&end=${KEY_SPACE_END}&limit=${limit}`;
    const res = await this.request({ method: 'GET', path: `/v1/scan?${q}`, headers: { authorization: this.auth } });
    if (res.statusCode !== 200) throw await httpError(res);
    const j = (await res.body.json()) as { items?: unknown };
    if (!Array.isArray(j.items)) throw new OpError('bad-answer', 'scan answer without items');
    return j.items.length;
  }

  async putMany(entries: readonly KvEntryInput[]): Promise<number> {
    const ops = entries.map((e) => ({ op: 'put', key: e.key, value: Buffer.from(e.value).toString('base64') }));
    const body = JSON.stringify({ ops, atomic: false, keyEncoding: 'utf8', valueEncoding: 'base64' });
    const res = await this.request({ method: 'POST', path: '/v1/batch', headers: { authorization: this.auth, 'content-type': 'application/json' }, body });
    if (res.statusCode !== 200) throw await httpError(res);
    const j = (await res.body.json()) as { results?: { status?: number }[] };
    if (!Array.isArray(j.results)) throw new OpError('bad-answer', 'batch answer without results');
    return j.results.filter((r) => r.status !== 200 && r.status !== 201).length;
  }

  async close(): Promise<void> {
    await this.pool.close().catch(() => undefined);
  }
}

function natsError(e: unknown): OpError {
  if (e instanceof CellkvError) {
    // status 0 = no server answer (timeout, no responders): the code says which.
    const detail = e.detail;
    return new OpError(e.status ? `${e.status} ${e.code}` : /within/.test(detail) ? 'timeout' : e.code, detail);
  }
  return transportError(e);
}

export class CellkvNatsDriver implements KvDriver {
  private readonly client: CellkvNatsClient;

  constructor(spec: NatsTarget, o: DriverOptions) {
    this.client = new CellkvNatsClient({ servers: [...spec.servers], token: spec.token, retries: 0, autoIdempotencyKeys: false, timeoutMs: o.opTimeoutMs });
  }

  async get(key: string, stale: boolean): Promise<ReadResult> {
    try {
      const r = await this.client.get(key, stale ? { consistency: 'stale' } : {});
      return r === null ? NOT_FOUND : { found: true, version: r.version.toString() };
    } catch (e) {
      throw natsError(e);
    }
  }

  async put(key: string, value: Uint8Array): Promise<void> {
    try {
      await this.client.put(key, value);
    } catch (e) {
      throw natsError(e);
    }
  }

  async cas(key: string, value: Uint8Array, expected: ReadResult): Promise<CasOutcome> {
    try {
      await this.client.put(key, value, expected.found ? { ifMatch: expected.version ?? '0' } : { ifNoneMatch: true });
      return 'applied';
    } catch (e) {
      if (e instanceof CellkvError && (e.code === 'VERSION_MISMATCH' || e.code === 'ALREADY_EXISTS')) return 'conflict';
      throw natsError(e);
    }
  }

  async scan(startKey: string, limit: number): Promise<number> {
    try {
      // One page: the scan op is "up to `limit` keys from here", not a walk to the end.
      for await (const page of this.client.scan({ start: startKey, end: KEY_SPACE_END, limit })) return page.items.length;
      return 0;
    } catch (e) {
      throw natsError(e);
    }
  }

  async putMany(entries: readonly KvEntryInput[]): Promise<number> {
    try {
      const r = await this.client.batch(entries.map((e) => ({ op: 'put' as const, key: e.key, value: e.value })), { atomic: false });
      return r.results.filter((x) => !x.ok).length;
    } catch (e) {
      throw natsError(e);
    }
  }

  async close(): Promise<void> {
    await this.client.close();
  }
}
