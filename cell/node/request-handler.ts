// Cell requests arriving over NATS: validation, routing to the replica, writes through Raft,
// reads at the asked consistency, scans. It also holds the node's admin API (admin-api.ts) and
// the leader's expired-key sweeper (expiry-sweeper.ts), which the node reaches through it.

import type { CellOp, CellRequest, CellResponse, OpResult, ScanItem, WriteCommand } from '../../shared/cell-protocol.js';
import { absorberOf, isAbsorbed } from './merge-apply.js';
import { KvError } from '../../shared/errors.js';
import {
  MAX_KEY_BYTES,
  compareBytes,
  inKeyRange,
  namespacedKey,
  splitNamespacedKey,
  tenantPrefix,
  tenantRangeEnd,
  validateTenant,
} from '../../shared/keys.js';
import { decodeCellRequest, encodeCellResponse } from '../../shared/codec/index.js';
import { META_CELL_ID } from '../../shared/directory.js';
import { isLive } from '../kv/kv-apply.js';
import { dataKeyToNs, dataRange, decodeStoredValue } from '../storage/records.js';
import type { Replica, WriteWaiter } from './replica.js';
import { traceIdOf, type CellTracing, type RequestTrace } from './tracing.js';
import type { Logger } from './log.js';
import type { NodeConfig } from './config.js';
import type { NodeMetrics } from './metrics.js';
import { AdminApi, type AdminHost } from './admin-api.js';
import { DedupePolicy, type DedupePolicyHost } from './dedupe-policy.js';
import { ExpirySweeper, type ExpiryHost } from './expiry-sweeper.js';
import { accessWeight } from '../placement/load-sampler.js';

const MAX_OPS_PER_REQUEST = 1000;
const MAX_SCAN_LIMIT = 10_000;
const MAX_TTL_MS = 10 * 365 * 24 * 3600 * 1000;
/** Bytes of keys and values one scan page carries at most (fits NATS's default 1 MiB). */
export const MAX_SCAN_REPLY_BYTES = 512 * 1024;
/** Metadata and framing per scan item, roughly (versions, times, attributes). */
const SCAN_ITEM_OVERHEAD = 64;

function errorResponse(e: KvError): CellResponse {
  return {
    status: 'error',
    code: e.code,
    message: e.message,
    leaderHint: typeof e.details['leaderHint'] === 'string' ? e.details['leaderHint'] : '',
    results: [],
    scanItems: [],
    scanResumeKey: null,
    index: 0n,
    staleAgeMs: 0,
  };
}

function okResponse(results: OpResult[], index: number, extra: Partial<CellResponse> = {}): CellResponse {
  return { status: 'ok', code: null, message: '', leaderHint: '', results, scanItems: [], scanResumeKey: null, index: BigInt(index), staleAgeMs: 0, ...extra };
}

/** What the handler (and the parts it holds) needs from its node (CellNode provides it). */
export interface RequestHost extends AdminHost, ExpiryHost, DedupePolicyHost {
  readonly cfg: Pick<
    NodeConfig,
    'nodeId' | 'az' | 'maxValueBytes' | 'requestTimeoutMs' | 'expiryBatch' | 'dedupeRetentionMs' | 'dedupeMaxEntries'
  >;
  readonly db: AdminHost['db'] & ExpiryHost['db'];
  readonly tracing: CellTracing | null;
  readonly metrics: Pick<NodeMetrics, 'requests'>;
}

export class RequestHandler {
  /** The SERVER span of each traced request in flight (only filled when tracing is on). */
  private readonly traces = new WeakMap<CellRequest, RequestTrace>();
  private readonly adminApi: AdminApi;
  private readonly expiry: ExpirySweeper;

  constructor(
    private readonly host: RequestHost,
    private readonly log: Logger,
  ) {
    this.adminApi = new AdminApi(host);
    this.expiry = new ExpirySweeper(host, new DedupePolicy(host));
  }

  handle(data: Uint8Array, reply: (b: Uint8Array) => void): void {
    let req: CellRequest;
    try {
      req = decodeCellRequest(data);
    } catch (e) {
      reply(encodeCellResponse(errorResponse(new KvError('INVALID_ARGUMENT', `malformed cell request: ${(e as Error).message}`))));
      return;
    }
    // Tracing off: one null check, nothing else per request.
    const rt = this.host.tracing === null ? null : this.host.tracing.startRequest(req);
    if (rt !== null) this.traces.set(req, rt);
    this.process(req)
      .catch((e: unknown) => {
        if (e instanceof KvError) return errorResponse(e);
        this.log.error({ err: e, cell: req.cellId, trace_id: rt?.traceId ?? traceIdOf(req.traceparent), span_id: rt?.spanId }, 'request failed');
        return errorResponse(new KvError('INTERNAL', 'internal error; the request may be retried'));
      })
      .then((resp) => {
        rt?.end(resp);
        this.host.metrics.requests.inc({ outcome: resp.status === 'ok' ? 'ok' : (resp.code ?? 'error') });
        reply(encodeCellResponse(resp));
      });
  }

  private validate(req: CellRequest): void {
    validateTenant(req.tenant);
    if (req.ops.length > MAX_OPS_PER_REQUEST) throw new KvError('INVALID_ARGUMENT', `at most ${MAX_OPS_PER_REQUEST} ops per request`);
    if (req.ops.length === 0 && req.scan === null) throw new KvError('INVALID_ARGUMENT', 'request has no ops and no scan');
    if (req.requestId.length === 0 || req.requestId.length > 128) throw new KvError('INVALID_ARGUMENT', 'requestId must be 1..128 characters');
    for (const op of req.ops) {
      if (op.key.length < 1 || op.key.length > MAX_KEY_BYTES) throw new KvError('INVALID_ARGUMENT', `key must be 1..${MAX_KEY_BYTES} bytes`);
      if (op.op === 'put') {
        if (op.value.length > this.host.cfg.maxValueBytes) {
          throw new KvError('PAYLOAD_TOO_LARGE', `value is ${op.value.length} bytes; the limit is ${this.host.cfg.maxValueBytes}`);
        }
        if (op.ttlMs !== null && (!Number.isInteger(op.ttlMs) || op.ttlMs < 1 || op.ttlMs > MAX_TTL_MS)) {
          throw new KvError('INVALID_ARGUMENT', `ttl must be 1ms..${MAX_TTL_MS}ms`);
        }
      }
    }
    if (req.scan && (req.scan.limit < 1 || req.scan.limit > MAX_SCAN_LIMIT)) {
      throw new KvError('INVALID_ARGUMENT', `scan limit must be 1..${MAX_SCAN_LIMIT}`);
    }
  }

  async process(req: CellRequest): Promise<CellResponse> {
    this.validate(req);
    let r = this.host.replicas.get(req.cellId);
    if (!r || req.cellId === META_CELL_ID) {
      throw new KvError('WRONG_RANGE', `node ${this.host.cfg.nodeId} has no replica of cell ${req.cellId}; refresh the directory`);
    }
    if (r.frozen) {
      // Merged here already: the absorbing cell serves the keys (point ops are checked by key
      // below; a scan routed by the old cell's epoch is refused there), so clients need not wait
      // for the directory. Not merged yet: the keys are unavailable until the commit.
      const into = isAbsorbed(r, this.host.replicas) ? absorberOf(r.cellId, this.host.replicas) : null;
      if (into === null || req.scan) throw new KvError('WRONG_RANGE', `cell ${req.cellId} is being merged into ${r.merge!.into}; refresh the directory and retry`);
      r = into;
    }
    const now = this.host.clock.now();
    for (const op of req.ops) {
      const ns = namespacedKey(req.tenant, op.key);
      if (!inKeyRange(ns, r.range.start, r.range.end)) {
        throw new KvError('WRONG_RANGE', `a key is outside cell ${req.cellId}; refresh the directory`);
      }
      // The split policy's load signal: every access, sampled (cell/placement/load-sampler.ts).
      r.load.record(ns, now, op.op === 'get' ? 1 : accessWeight('write', op.op === 'put' ? op.value.length : 0));
    }
    // A scan covers the cell's range as the sender knew it: after a split it must learn the new
    // boundary (or it would skip the keys that moved). Point ops are checked by key above.
    if (req.scan) {
      if (req.epoch > 0 && (req.epoch < r.rangeEpoch || req.epoch > r.epoch)) {
        throw new KvError('WRONG_RANGE', `cell ${req.cellId} is at epoch ${r.epoch}, the request routed by ${req.epoch}; refresh the directory`);
      }
      return this.scan(r, req);
    }
    const writes = req.ops.filter((op) => op.op !== 'get');
    const reads = req.ops.map((op, i) => [op, i] as const).filter(([op]) => op.op === 'get');
    const results: OpResult[] = new Array<OpResult>(req.ops.length);
    let index = 0;
    if (writes.length > 0) {
      const w = await this.write(r, req, writes);
      // Applied after a split moved the keys away: nothing was written, the retry goes to the new owner.
      if (w.results.some((x) => x.status === 'error' && x.code === 'WRONG_RANGE')) {
        throw new KvError('WRONG_RANGE', `the keys moved out of cell ${r.cellId} (split or merge); refresh the directory`);
      }
      index = w.index;
      let j = 0;
      req.ops.forEach((op, i) => {
        if (op.op !== 'get') results[i] = w.results[j++]!;
      });
    }
    let staleAgeMs = 0;
    if (reads.length > 0) {
      const consistency = writes.length > 0 ? 'linearizable' : req.consistency;
      const got = await this.read(r, req, reads.map(([op]) => op), consistency);
      reads.forEach(([, i], j) => (results[i] = got.results[j]!));
      index = Math.max(index, got.index);
      staleAgeMs = got.staleAgeMs;
    }
    return okResponse(results, index, { staleAgeMs });
  }

  private write(r: Replica, req: CellRequest, ops: CellOp[]): Promise<{ results: OpResult[]; index: number }> {
    if (!r.isLeader) {
      const hint = r.raft.status().leader ?? '';
      throw new KvError('NOT_LEADER', `node ${this.host.cfg.nodeId} does not lead cell ${r.cellId}`, { leaderHint: hint });
    }
    const cmd: WriteCommand = { kind: 'write', requestId: req.requestId, tenant: req.tenant, nowMs: this.host.clock.now(), atomic: req.atomic, ops };
    return new Promise((resolve, reject) => {
      const w: WriteWaiter = { cmd, resolve, reject, deadline: this.host.clock.now() + this.host.cfg.requestTimeoutMs };
      const rt = this.host.tracing === null ? undefined : this.traces.get(req);
      r.enqueueWrite(rt === undefined ? w : rt.traceWrite(w));
      this.host.schedulePump();
    });
  }

  private read(r: Replica, req: CellRequest, ops: CellOp[], consistency: CellRequest['consistency']): Promise<{ results: OpResult[]; index: number; staleAgeMs: number }> {
    const deadline = this.host.clock.now() + this.host.cfg.requestTimeoutMs;
    const rangeEpoch = r.rangeEpoch;
    const run = async (applied: number, staleAgeMs: number) => {
      // The range may have changed while the read waited (a split): the keys may belong to another cell now.
      if (r.rangeEpoch !== rangeEpoch) throw new KvError('WRONG_RANGE', `cell ${r.cellId} changed while the read waited (split); refresh the directory`);
      const now = this.host.clock.now();
      const results: OpResult[] = [];
      for (const op of ops) {
        const v = await r.data.read(namespacedKey(req.tenant, op.key));
        results.push(isLive(v, now) ? { status: 'ok', found: true, value: v.value, meta: v.meta } : { status: 'ok', found: false, value: null, meta: null });
      }
      return { results, index: applied, staleAgeMs };
    };
    return this.whenReadable(r, req, consistency, deadline, run);
  }

  /** Waits until the replica may serve the read at the asked consistency, then runs it. */
  private whenReadable<T>(r: Replica, req: CellRequest, consistency: CellRequest['consistency'], deadline: number, run: (applied: number, staleAgeMs: number) => Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const waiter = { run: (applied: number) => void run(applied, 0).then(resolve, reject), reject, deadline };
      if (consistency === 'linearizable') {
        const rt = this.host.tracing === null ? undefined : this.traces.get(req);
        r.enqueueLinearizableRead(rt === undefined ? waiter : rt.traceReadIndex(waiter));
        this.host.schedulePump();
      } else if (consistency === 'session') {
        r.whenApplied(Number(req.sessionIndex), waiter);
      } else {
        const age = r.isLeader ? 0 : Math.max(0, this.host.clock.now() - r.lastLeaderContactMs);
        if (req.maxStalenessMs > 0 && age > req.maxStalenessMs) {
          reject(new KvError('UNAVAILABLE', `replica is ${age}ms behind its leader, more than max_staleness; retry or read from another replica`));
          return;
        }
        void run(r.data.applied.index, age).then(resolve, reject);
      }
    });
  }

  private scan(r: Replica, req: CellRequest): Promise<CellResponse> {
    const scan = req.scan!;
    const tenantStart = namespacedKey(req.tenant, scan.start);
    const tenantEnd = scan.end ? namespacedKey(req.tenant, scan.end) : tenantRangeEnd(req.tenant);
    const lo = compareBytes(tenantStart, r.range.start) > 0 ? tenantStart : r.range.start;
    const hi = r.range.end === null || compareBytes(tenantEnd, r.range.end) < 0 ? tenantEnd : r.range.end;
    const prefix = tenantPrefix(req.tenant);
    const rangeEpoch = r.rangeEpoch;
    const run = async (applied: number, staleAgeMs: number): Promise<CellResponse> => {
      // Scans read LevelDB directly: applied-but-unwritten data must be written first.
      await this.host.flushAll(false);
      if (r.rangeEpoch !== rangeEpoch) throw new KvError('WRONG_RANGE', `cell ${r.cellId} changed while the scan waited (split); refresh the directory`);
      const items: ScanItem[] = [];
      let resume: Uint8Array | null = null;
      let bytes = 0;
      if (compareBytes(lo, hi) < 0) {
        const now = this.host.clock.now();
        for await (const [k, v] of this.host.db.kv.iterator(dataRange(lo, hi))) {
          const sv = decodeStoredValue(v);
          if (!isLive(sv, now)) continue;
          const ns = dataKeyToNs(k);
          const split = splitNamespacedKey(ns);
          if (!split || split.tenant !== req.tenant) continue;
          // A page ends at the item limit or at the byte budget (a reply must fit a NATS
          // message; the first item always goes, so a scan always makes progress).
          if (items.length === scan.limit || (items.length > 0 && bytes >= MAX_SCAN_REPLY_BYTES)) {
            resume = split.key.slice();
            break;
          }
          const key = ns.slice(prefix.length);
          const value = scan.keysOnly ? null : sv.value.slice();
          bytes += key.length + (value?.length ?? 0) + SCAN_ITEM_OVERHEAD;
          items.push({ key, value, meta: sv.meta });
        }
      }
      return okResponse([], applied, { scanItems: items, scanResumeKey: resume, staleAgeMs });
    };
    return this.whenReadable(r, req, req.consistency, this.host.clock.now() + this.host.cfg.requestTimeoutMs, run);
  }

  /** The leader's expired-key sweep (expiry-sweeper.ts); the node's expiry timer calls it. */
  sweepExpired(): Promise<void> {
    return this.expiry.sweep();
  }

  /** The node's admin requests (admin-api.ts). */
  admin(data: Uint8Array): Promise<Uint8Array> {
    return this.adminApi.handle(data);
  }
}
