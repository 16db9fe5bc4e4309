// NATS JetStream KV driver (@nats-io/kv). The bucket is created with allow_direct so both
// read paths exist, and two handles choose between them:
//   get       a handle opened with allow_direct: false → $JS.API.STREAM.MSG.GET, answered by
//             the stream leader from its store. JetStream does not confirm leadership per read
//             (no ReadIndex/lease), so this is "leader reads", not linearizable in etcd's or
//             cellkv's sense: a deposed leader can answer briefly.
//   get-stale a handle with allow_direct: true → direct get, answered by any replica.
//   put       kv.put (a publish acknowledged once the stream's quorum has it)
//   cas       kv.update(key, value, revision) — fails with "wrong last sequence" on a conflict
//   scan      not offered: JetStream KV has no ordered range scan (keys are subjects).
//   preload   pipelined kv.put (there is no batch write).

import { connect, type NatsConnection } from '@nats-io/transport-node';
import { jetstream } from '@nats-io/jetstream';
import { Kvm, type KV } from '@nats-io/kv';
import { OpError, type CasOutcome, type DriverOptions, type KvDriver, type KvEntryInput, type ReadResult, type TargetSpec } from './types.js';

type JsTarget = Extract<TargetSpec, { kind: 'jetstream' }>;

function jsError(e: unknown): OpError {
  if (e instanceof OpError) return e;
  const err = e as { name?: unknown; code?: unknown; message?: unknown };
  const name = typeof err.name === 'string' ? err.name : 'Error';
  const msg = String(err.message ?? e);
  if (name === 'TimeoutError' || /timeout/i.test(msg)) return new OpError('timeout', msg);
  if (name === 'NoRespondersError' || /no responders/i.test(msg)) return new OpError('no-responders', msg);
  if (name === 'JetStreamApiError' && typeof err.code === 'number') return new OpError(`jetstream ${err.code}`, msg);
  return new OpError(name.slice(0, 40), msg);
}

export class JetStreamDriver implements KvDriver {
  private constructor(
    private readonly nc: NatsConnection,
    /** allow_direct: false — leader reads, writes. */
    private readonly kv: KV,
    /** allow_direct: true — any replica answers. */
    private readonly kvDirect: KV,
  ) {}

  static async open(spec: JsTarget, o: DriverOptions): Promise<JetStreamDriver> {
    const nc = await connect({ servers: [...spec.servers], name: 'cellkv-bench', maxReconnectAttempts: -1, timeout: o.opTimeoutMs });
    try {
      const kvm = new Kvm(jetstream(nc, { timeout: o.opTimeoutMs }));
      const kv = await kvm.open(spec.bucket, { allow_direct: false });
      const kvDirect = await kvm.open(spec.bucket, { allow_direct: true });
      return new JetStreamDriver(nc, kv, kvDirect);
    } catch (e) {
      await nc.close().catch(() => undefined);
      throw e;
    }
  }

  async get(key: string, stale: boolean): Promise<ReadResult> {
    try {
      const e = await (stale ? this.kvDirect : this.kv).get(key);
      // A delete or purge marker is an absent key.
      if (e === null || e.operation !== 'PUT') return { found: false, version: null };
      return { found: true, version: String(e.revision) };
    } catch (e) {
      throw jsError(e);
    }
  }

  async put(key: string, value: Uint8Array): Promise<void> {
    try {
      await this.kv.put(key, value);
    } catch (e) {
      throw jsError(e);
    }
  }

  async cas(key: string, value: Uint8Array, expected: ReadResult): Promise<CasOutcome> {
    try {
      if (expected.found) await this.kv.update(key, value, Number(expected.version));
      else await this.kv.create(key, value);
      return 'applied';
    } catch (e) {
      const msg = String((e as Error).message ?? e);
      if (/wrong last sequence|key exists/i.test(msg)) return 'conflict';
      throw jsError(e);
    }
  }

  async scan(): Promise<number> {
    throw new OpError('unsupported', 'JetStream KV has no ordered range scan');
  }

  async putMany(entries: readonly KvEntryInput[]): Promise<number> {
    const r = await Promise.allSettled(entries.map((e) => this.kv.put(e.key, e.value)));
    return r.filter((x) => x.status === 'rejected').length;
  }

  async close(): Promise<void> {
    await this.nc.close().catch(() => undefined);
  }
}
