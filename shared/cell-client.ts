// Internal client of the cell tier (used by gateways, tests and the admin CLI): routes each
// request to the leader of the cell that owns the key by a cached directory, follows leader
// hints, refreshes the directory on WRONG_RANGE and retries idempotently with bounded backoff.

import { randomUUID } from 'node:crypto';
import { headers as natsHeaders, type NatsConnection, type RequestOptions as NatsRequestOptions } from '@nats-io/transport-node';
import type { CellOp, CellRequest, CellResponse, Consistency, OpResult, ScanItem } from './cell-protocol.js';
import { decodeCellResponse, encodeCellRequest } from './codec/index.js';
import { bytesOfHex, cellForKey, type CellDescriptor, type DirectoryView } from './directory.js';
import { KvError, type ErrorCode } from './errors.js';
import { compareBytes, namespacedKey, splitNamespacedKey } from './keys.js';
import { classifyRequestError, mayHaveBeenDelivered } from './nats-errors.js';
import { RequestBatcher, type BatcherStats } from './request-batcher.js';

export interface CellClientOptions {
  /** Per-attempt timeout. */
  readonly attemptTimeoutMs?: number;
  /** Attempts per request before giving up (bounded retries). */
  readonly maxAttempts?: number;
  /**
   * Coalesce requests bound for the same node in one event-loop turn into one NATS message
   * (shared/request-batcher.ts). Off by default: one NATS request per attempt.
   */
  readonly coalesce?: boolean;
}

export interface RequestOptions {
  readonly consistency?: Consistency;
  readonly sessionIndex?: bigint;
  readonly maxStalenessMs?: number;
  readonly atomic?: boolean;
  readonly requestId?: string;
  /**
   * W3C traceparent of the caller's span: written into CellRequest.traceparent when the
   * request is encoded (once per attempt, never re-encoded) and into a `traceparent` NATS
   * header, so the cell continues the trace.
   */
  readonly traceparent?: string;
  /** Told about each attempt and each failed attempt (tracing); must not throw. */
  readonly observer?: CellRequestObserver;
}

/** Why an attempt failed: a cell error code, or what the NATS request did. */
export type AttemptFailure = ErrorCode | 'timeout' | 'no_responders' | 'not_sent' | 'transport';

export interface CellRequestObserver {
  attempt(a: { readonly attempt: number; readonly cellId: string; readonly node: string }): void;
  attemptFailed(f: { readonly attempt: number; readonly node: string; readonly reason: AttemptFailure; readonly message: string }): void;
}

export class CellClient {
  private dir: DirectoryView | null = null;
  private readonly leaderHints = new Map<string, string>();
  private readonly attemptTimeoutMs: number;
  private readonly maxAttempts: number;

  constructor(
    private readonly nc: NatsConnection,
    opts: CellClientOptions = {},
  ) {
    this.attemptTimeoutMs = opts.attemptTimeoutMs ?? 2000;
    this.maxAttempts = opts.maxAttempts ?? 8;
    this.batcher = opts.coalesce ? new RequestBatcher(nc) : null;
  }

  private readonly batcher: RequestBatcher | null;

  /** Requests and NATS messages sent through the coalescer (null when it is off). */
  get coalescing(): BatcherStats | null {
    return this.batcher?.stats ?? null;
  }

  async directory(refresh = false): Promise<DirectoryView> {
    if (this.dir && !refresh) return this.dir;
    let lastErr: unknown = null;
    for (let i = 0; i < this.maxAttempts; i++) {
      try {
        const m = await this.nc.request('cellkv.dir', new Uint8Array(0), { timeout: this.attemptTimeoutMs });
        const d = JSON.parse(new TextDecoder().decode(m.data)) as DirectoryView;
        if (d.cells.length > 0) {
          this.dir = d;
          for (const [cell, leader] of Object.entries(d.leaders)) this.leaderHints.set(cell, leader);
          return d;
        }
      } catch (e) {
        lastErr = e;
      }
      await backoff(i);
    }
    throw new KvError('UNAVAILABLE', `directory unavailable (${String(lastErr ?? 'not initialized')}); is the cluster up?`);
  }

  private async cellFor(tenant: string, key: Uint8Array, refresh = false): Promise<CellDescriptor> {
    const ns = namespacedKey(tenant, key);
    for (let i = 0; ; i++) {
      const d = await this.directory(refresh || i > 0);
      const c = cellForKey(d, ns);
      if (c) return c;
      // A hole: the directory learned one half of a split before the other (it heals within
      // seconds). Asked again with backoff: a cached hole must never fail requests at once, forever.
      if (i + 1 >= this.maxAttempts) {
        throw new KvError('UNAVAILABLE', 'no cell owns this key in the directory (a split in progress?); retry shortly');
      }
      await backoff(i);
    }
  }

  /** Sends ops that all fall in one cell; retries per the error model. */
  async request(tenant: string, ops: CellOp[], opts: RequestOptions = {}, scan: CellRequest['scan'] = null, scanKey?: Uint8Array): Promise<CellResponse> {
    const routeKey = scanKey ?? ops[0]?.key;
    if (!routeKey) throw new KvError('INVALID_ARGUMENT', 'nothing to route');
    const requestId = opts.requestId ?? randomUUID();
    const isWrite = ops.some((o) => o.op !== 'get');
    let cell = await this.cellFor(tenant, routeKey);
    let sent = false;
    let lastMsg = '';
    const traceparent = opts.traceparent ?? '';
    const observer = opts.observer;
    const natsOpts: NatsRequestOptions = { timeout: this.attemptTimeoutMs };
    if (traceparent !== '') {
      const h = natsHeaders();
      h.set('traceparent', traceparent);
      natsOpts.headers = h;
    }
    for (let attempt = 0; attempt < this.maxAttempts; attempt++) {
      const target = this.pickNode(cell, attempt);
      observer?.attempt({ attempt, cellId: cell.id, node: target });
      const req: CellRequest = {
        cellId: cell.id,
        epoch: cell.epoch,
        requestId,
        tenant,
        consistency: opts.consistency ?? 'linearizable',
        sessionIndex: opts.sessionIndex ?? 0n,
        maxStalenessMs: opts.maxStalenessMs ?? 0,
        atomic: opts.atomic ?? false,
        ops,
        scan,
        traceparent,
      };
      let resp: CellResponse;
      try {
        const subject = `cellkv.node.${target}`;
        const payload = encodeCellRequest(req);
        // Coalesced requests carry their traceparent in the CellRequest (a lone one also in a header).
        const data = this.batcher
          ? await this.batcher.request(subject, payload, { timeoutMs: this.attemptTimeoutMs, cls: isWrite ? 'write' : 'read', headers: natsOpts.headers })
          : (await this.nc.request(subject, payload, natsOpts)).data;
        resp = decodeCellResponse(data);
      } catch (e) {
        // A timeout after sending a write is ambiguous; retrying with the same request id is
        // safe. Not sent at all (NATS down) or no responders: nothing received it.
        const failure = classifyRequestError(e);
        if (isWrite && mayHaveBeenDelivered(failure)) sent = true;
        lastMsg = (e as Error).message;
        const reason = failure === 'no-responders' ? 'no_responders' : failure === 'not-sent' ? 'not_sent' : failure;
        observer?.attemptFailed({ attempt, node: target, reason, message: lastMsg });
        this.leaderHints.delete(cell.id);
        await backoff(attempt);
        continue;
      }
      if (resp.status === 'ok') {
        this.leaderHints.set(cell.id, target);
        return resp;
      }
      lastMsg = resp.message;
      observer?.attemptFailed({ attempt, node: target, reason: resp.code ?? 'INTERNAL', message: lastMsg });
      switch (resp.code) {
        case 'NOT_LEADER':
          if (resp.leaderHint) this.leaderHints.set(cell.id, resp.leaderHint);
          else this.leaderHints.delete(cell.id);
          await backoff(attempt);
          continue;
        case 'WRONG_RANGE': {
          const before = cell;
          // The node may no longer host the cell at all (its replica moved away): not a hint any more.
          if (this.leaderHints.get(before.id) === target) this.leaderHints.delete(before.id);
          cell = await this.cellFor(tenant, routeKey, true);
          // The keys of one request now belong to different cells (a split): the caller regroups.
          if (ops.length > 1 && !(await this.sameCell(tenant, ops, cell))) {
            throw new KvError('WRONG_RANGE', `the keys of this request now span cells (cell ${before.id} split); regroup them by the directory and retry`);
          }
          // The directory has not caught up with the cell yet: wait before asking the same cell again.
          if (cell.id === before.id && cell.epoch === before.epoch) await backoff(attempt);
          continue;
        }
        case 'UNAVAILABLE':
        case 'OVERLOADED':
          this.leaderHints.delete(cell.id);
          await backoff(attempt);
          continue;
        case 'OUTCOME_UNKNOWN':
          sent = true;
          await backoff(attempt);
          continue;
        default:
          throw new KvError(resp.code ?? 'INTERNAL', resp.message);
      }
    }
    if (sent) throw new KvError('OUTCOME_UNKNOWN', `write may or may not have applied (${lastMsg}); retry with the same Idempotency-Key`, { requestId });
    throw new KvError('UNAVAILABLE', `cell ${cell.id} did not answer after ${this.maxAttempts} attempts (${lastMsg}); retry later`);
  }

  /** Whether every op's key falls in `cell` by the cached directory. */
  private async sameCell(tenant: string, ops: readonly CellOp[], cell: CellDescriptor): Promise<boolean> {
    for (const op of ops) if ((await this.cellFor(tenant, op.key, false)).id !== cell.id) return false;
    return true;
  }

  private pickNode(cell: CellDescriptor, attempt: number): string {
    const hint = this.leaderHints.get(cell.id);
    if (hint) return hint;
    const voters = cell.replicas.filter((r) => r.role === 'voter');
    return voters[attempt % voters.length]!.node;
  }

  async get(tenant: string, key: Uint8Array, opts: RequestOptions = {}): Promise<{ result: OpResult; index: bigint; staleAgeMs: number }> {
    const r = await this.request(tenant, [{ op: 'get', key }], opts);
    return { result: r.results[0]!, index: r.index, staleAgeMs: r.staleAgeMs };
  }

  async put(
    tenant: string,
    key: Uint8Array,
    value: Uint8Array,
    o: { ttlMs?: number | null; ifVersion?: bigint | null; ifAbsent?: boolean; attrs?: Record<string, string> | null; requestId?: string } = {},
  ): Promise<{ result: OpResult; index: bigint }> {
    const op: CellOp = { op: 'put', key, value, ttlMs: o.ttlMs ?? null, ifVersion: o.ifVersion ?? null, ifAbsent: o.ifAbsent ?? false, attrs: o.attrs ?? null };
    const r = await this.request(tenant, [op], { ...(o.requestId ? { requestId: o.requestId } : {}) });
    return { result: r.results[0]!, index: r.index };
  }

  async delete(tenant: string, key: Uint8Array, o: { ifVersion?: bigint | null; requestId?: string } = {}): Promise<{ result: OpResult; index: bigint }> {
    const r = await this.request(tenant, [{ op: 'delete', key, ifVersion: o.ifVersion ?? null }], { ...(o.requestId ? { requestId: o.requestId } : {}) });
    return { result: r.results[0]!, index: r.index };
  }

  /** Scans [start, end) of a tenant's keys across cells, in order, up to `limit` items. */
  async scan(tenant: string, start: Uint8Array, end: Uint8Array | null, limit: number, opts: RequestOptions & { keysOnly?: boolean } = {}): Promise<{ items: ScanItem[]; resumeKey: Uint8Array | null }> {
    const items: ScanItem[] = [];
    let from = start;
    for (let hops = 0; hops < 10_000; hops++) {
      const r = await this.request(tenant, [], opts, { start: from, end, limit: limit - items.length, keysOnly: opts.keysOnly ?? false }, from);
      items.push(...r.scanItems);
      if (r.scanResumeKey) return { items, resumeKey: r.scanResumeKey };
      // This cell is exhausted: go on in the next cell while the range and the tenant go on.
      const cell = await this.cellFor(tenant, from);
      if (cell.end === null) return { items, resumeKey: null };
      const next = splitNamespacedKey(bytesOfHex(cell.end));
      if (!next || next.tenant !== tenant) return { items, resumeKey: null };
      if (end && compareBytes(next.key, end) >= 0) return { items, resumeKey: null };
      // Full page exactly at a cell boundary: the next cell may still hold keys.
      if (items.length >= limit) return { items, resumeKey: next.key.slice() };
      from = next.key;
    }
    throw new KvError('UNAVAILABLE', 'scan crossed too many cells; narrow the range');
  }
}

function backoff(attempt: number): Promise<void> {
  const ms = Math.min(1000, 25 * 2 ** attempt) * (0.5 + Math.random() / 2);
  return new Promise((r) => setTimeout(r, ms));
}
