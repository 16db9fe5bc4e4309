// etcd driver: the v3 API through etcd's HTTP/JSON gRPC gateway (keys and values base64,
// int64s as strings). Requests rotate over the members' endpoints as etcd's own client
// balancer does; a member forwards writes and linearizable reads to the leader itself.
//   get       POST {prefix}/kv/range {key}                 linearizable (etcd's default)
//   get-stale POST {prefix}/kv/range {key, serializable}   the member's local state
//   put       POST {prefix}/kv/put {key, value}
//   cas       POST {prefix}/kv/txn  compare mod_revision == the one read, then put
//   scan      POST {prefix}/kv/range {key, range_end, limit}
//   preload   POST {prefix}/kv/txn  with many puts and no compare

import { Pool, type Dispatcher } from 'undici';
import { KEY_SPACE_END } from '../workloads.js';
import { OpError, type CasOutcome, type DriverOptions, type KvDriver, type KvEntryInput, type ReadResult, type TargetSpec } from './types.js';

type EtcdTarget = Extract<TargetSpec, { kind: 'etcd' }>;

interface RangeAnswer {
  readonly kvs?: readonly { readonly mod_revision?: string; readonly value?: string }[];
}

const b64 = (s: string | Uint8Array): string => Buffer.from(s).toString('base64');
const END_B64 = b64(KEY_SPACE_END);

export class EtcdDriver implements KvDriver {
  private readonly pools: Pool[];
  private readonly prefix: string;
  private rr = 0;

  constructor(spec: EtcdTarget, o: DriverOptions) {
    const per = Math.max(1, Math.ceil(o.connections / spec.endpoints.length));
    this.pools = spec.endpoints.map(
      (e) =>
        new Pool(e, {
          connections: per,
          pipelining: 1,
          keepAliveTimeout: 60_000,
          headersTimeout: o.opTimeoutMs,
          bodyTimeout: o.opTimeoutMs,
          connect: { timeout: o.opTimeoutMs },
        }),
    );
    this.prefix = spec.apiPrefix;
  }

  private async call<T>(path: string, body: unknown): Promise<T> {
    const pool = this.pools[this.rr++ % this.pools.length]!;
    let res: Dispatcher.ResponseData;
    try {
      res = await pool.request({ method: 'POST', path: `${this.prefix}${path}`, headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    } catch (e) {
      const code = typeof (e as { code?: unknown }).code === 'string' ? (e as { code: string }).code : '';
      throw new OpError(/TIMEOUT/.test(code) ? 'timeout' : code || 'network', String((e as Error).message));
    }
    const text = await res.body.text();
    if (res.statusCode !== 200) {
      let label = `HTTP ${res.statusCode}`;
      try {
        const j = JSON.parse(text) as { code?: unknown };
        if (typeof j.code === 'number') label += ` grpc ${j.code}`;
      } catch {
        // not JSON
      }
      throw new OpError(label, text.slice(0, 200));
    }
    return JSON.parse(text) as T;
  }

  async get(key: string, stale: boolean): Promise<ReadResult> {
    const r = await this.call<RangeAnswer>('/kv/range', stale ? { key: b64(key), serializable: true } : { key: b64(key) });
    const kv = r.kvs?.[0];
    return kv ? { found: true, version: kv.mod_revision ?? '0' } : { found: false, version: null };
  }

  async put(key: string, value: Uint8Array): Promise<void> {
    await this.call('/kv/put', { key: b64(key), value: b64(value) });
  }

  async cas(key: string, value: Uint8Array, expected: ReadResult): Promise<CasOutcome> {
    // An absent key compares as mod_revision 0.
    const r = await this.call<{ succeeded?: boolean }>('/kv/txn', {
      compare: [{ key: b64(key), target: 'MOD', result: 'EQUAL', mod_revision: expected.found ? expected.version : '0' }],
      success: [{ request_put: { key: b64(key), value: b64(value) } }],
    });
    // The gateway omits false booleans.
    return r.succeeded === true ? 'applied' : 'conflict';
  }

  async scan(startKey: string, limit: number): Promise<number> {
    const r = await this.call<RangeAnswer>('/kv/range', { key: b64(startKey), range_end: END_B64, limit });
    return r.kvs?.length ?? 0;
  }

  async putMany(entries: readonly KvEntryInput[]): Promise<number> {
    await this.call('/kv/txn', { success: entries.map((e) => ({ request_put: { key: b64(e.key), value: b64(e.value) } })) });
    return 0;
  }

  async close(): Promise<void> {
    await Promise.all(this.pools.map((p) => p.close().catch(() => undefined)));
  }
}
