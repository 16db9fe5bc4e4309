// The gateway core: validated operations in, results or KvError out. Both front doors (HTTP
// and NATS) call only this, so authorization, limits, idempotency, session tokens and error
// semantics cannot drift between them. No HTTP or NATS types appear here.

import { createHash } from 'node:crypto';
import type { Attrs, CellOp, CellResponse, Consistency, KeyMeta, OpResult, ScanItem } from '../shared/cell-protocol.js';
import type { RequestOptions } from '../shared/cell-client.js';
import { cellForKey, NODE_LIVENESS_MS, type CellDescriptor } from '../shared/directory.js';
import { KvError } from '../shared/errors.js';
import { namespacedKey } from '../shared/keys.js';
import { requireScope, type Principal } from './auth.js';
import { groupByCell, type BatchOp, type CellGroup } from './batch.js';
import type { HotKeys } from './hot-keys.js';
import type { BatchOpOutcome, CellAccess, CellPort } from './ports.js';
import { intentOf, settledWrites, sizeProbe, type WriteTicket } from './quota-writes.js';
import type { QuotaService } from './quotas.js';
import { decodeCursor, encodeCursor, scanPage, type ScanRange } from './scan.js';
import { NO_SESSION, SessionTokens, type SessionToken } from './session.js';
import { validateKeyBytes } from './validate.js';


/** Times a batch's group is split again after its cell split under it (each split halves it). */
const MAX_BATCH_REGROUPS = 3;
export interface ReadOptions {
  readonly consistency: Consistency;
  /** The client's session token (validated here even when unused); used when consistency is session. */
  readonly session: string | null;
  readonly maxStalenessMs: number;
}

/** ReadOptions with the token decoded. */
export interface ResolvedRead {
  readonly consistency: Consistency;
  /** Without one (or for another cell or epoch) session reads are linearizable. */
  readonly token: SessionToken | null;
  readonly maxStalenessMs: number;
}

export const LINEARIZABLE: ReadOptions = { consistency: 'linearizable', session: null, maxStalenessMs: 0 };

export interface GetOutcome {
  readonly value: Uint8Array;
  readonly meta: KeyMeta;
  readonly session: string;
  /** stale reads only: how old the served state may be. */
  readonly staleAgeMs: number | null;
}

export interface PutInput {
  readonly key: Uint8Array;
  readonly value: Uint8Array;
  readonly ttlMs: number | null;
  readonly ifVersion: bigint | null;
  readonly ifAbsent: boolean;
  readonly attrs: Attrs | null;
  readonly idempotencyKey: string | null;
}

export interface PutOutcome {
  readonly version: bigint;
  readonly created: boolean;
  readonly session: string;
}

export interface DeleteInput {
  readonly key: Uint8Array;
  readonly ifVersion: bigint | null;
  readonly idempotencyKey: string | null;
}

export interface BatchInput {
  readonly ops: readonly BatchOp[];
  readonly atomic: boolean;
  readonly read: ReadOptions;
  readonly idempotencyKey: string | null;
}

export interface BatchOutcome {
  readonly results: readonly BatchOpOutcome[];
  /** The session token when the whole batch fell in one cell. */
  readonly session: string | null;
  /** Atomic batches: whether the writes were applied (all or nothing). */
  readonly applied: boolean | null;
}

export interface ScanInput {
  readonly range: ScanRange;
  readonly cursor: string | null;
  readonly limit: number;
  readonly keysOnly: boolean;
  readonly read: ReadOptions;
}

export interface ScanOutcome {
  readonly items: readonly ScanItem[];
  readonly cursor: string | null;
  readonly session: string | null;
  readonly staleAgeMs: number | null;
}

export interface CellSummary {
  readonly id: string;
  readonly start: string;
  readonly end: string | null;
  readonly epoch: number;
  readonly leader: string | null;
  readonly replicas: readonly { readonly node: string; readonly az: string; readonly role: string }[];
}

export interface NodeSummary {
  readonly id: string;
  readonly az: string;
  readonly lastHeartbeatMs: number;
  readonly live: boolean;
}

export interface CoreOptions {
  readonly maxValueBytes: number;
  /** HMAC secret of session tokens; gateways sharing it honour each other's tokens. */
  readonly sessionSecret?: Uint8Array | undefined;
  /** Overall bound per operation, retries included. */
  readonly requestTimeoutMs: number;
  /** Per-tenant rate limits and maxKeys/maxBytes quotas (quotas.ts); none = unlimited. */
  readonly quotas?: QuotaService | undefined;
  /** Single-flight, stale-read cache and top-k counting for point reads (hot-keys.ts). */
  readonly hotKeys?: HotKeys<GetOutcome> | undefined;
}

/** How the stale-read cache reads and rewrites a GetOutcome's age and size. */
const STALE_IO = {
  ageOf: (v: GetOutcome) => v.staleAgeMs ?? 0,
  withAge: (v: GetOutcome, ageMs: number): GetOutcome => ({ ...v, staleAgeMs: ageMs }),
  bytesOf: (v: GetOutcome) => v.value.length + 256,
};

/** Rough wire size of ops (keys, values, attributes plus framing). */
function opsWireBytes(ops: readonly CellOp[]): number {
  let n = 256;
  for (const op of ops) {
    n += 32 + op.key.length;
    if (op.op === 'put') {
      n += op.value.length;
      for (const [k, v] of Object.entries(op.attrs ?? {})) n += k.length + v.length + 4;
    }
  }
  return n;
}

export class GatewayCore {
  private readonly sessions: SessionTokens;

  constructor(
    private readonly cells: CellAccess,
    readonly opts: CoreOptions,
  ) {
    this.sessions = new SessionTokens(opts.sessionSecret);
  }

  /** Decodes the session token; a malformed one is INVALID_ARGUMENT even where it is unused. */
  private resolve(read: ReadOptions): ResolvedRead {
    return { consistency: read.consistency, token: read.session === null ? null : this.sessions.decode(read.session), maxStalenessMs: read.maxStalenessMs };
  }

  async get(p: Principal, key: Uint8Array, read: ReadOptions): Promise<GetOutcome> {
    requireScope(p, 'kv:read');
    validateKeyBytes(key);
    const resolved = this.resolve(read);
    this.opts.quotas?.admitOps(p.tenant, 1);
    const port = this.cells.port();
    const fetch = () => this.getFromCell(port, p.tenant, key, resolved);
    const hk = this.opts.hotKeys;
    if (!hk) return fetch();
    const hot = hk.record(p.tenant, key);
    if (resolved.consistency === 'stale') return this.deadline(hk.staleRead(p.tenant, key, resolved.maxStalenessMs, hot, fetch, STALE_IO), false);
    if (resolved.consistency === 'linearizable') return this.deadline(hk.linearizableRead(p.tenant, key, fetch), false);
    return fetch();
  }

  private async getFromCell(port: CellPort, tenant: string, key: Uint8Array, read: ResolvedRead): Promise<GetOutcome> {
    const cell = await this.cellOf(port, tenant, key);
    const resp = await this.deadline(port.request(tenant, [{ op: 'get', key }], readOptions(cell, read)), false);
    const r = okResult(resp.results[0]);
    if (!r.found || !r.value || !r.meta) throw new KvError('NOT_FOUND', 'key not found');
    const session = await this.session(port, tenant, key, cell, resp.index);
    return { value: r.value, meta: r.meta, session, staleAgeMs: read.consistency === 'stale' ? resp.staleAgeMs : null };
  }

  async put(p: Principal, input: PutInput): Promise<PutOutcome> {
    requireScope(p, 'kv:write');
    const op: CellOp = { op: 'put', key: validateKeyBytes(input.key), value: input.value, ttlMs: input.ttlMs, ifVersion: input.ifVersion, ifAbsent: input.ifAbsent, attrs: input.attrs };
    this.checkSize([op]);
    this.opts.quotas?.admitOps(p.tenant, 1);
    const port = this.cells.port();
    const ticket = await this.admitWrites(port, p.tenant, [op]);
    const cell = await this.cellOf(port, p.tenant, input.key);
    const requestId = requestIdFor(p.tenant, input.idempotencyKey, ['put', input.key]);
    const resp = await this.deadline(port.request(p.tenant, [op], requestId ? { requestId } : {}), true);
    const r = okResult(resp.results[0]);
    this.opts.quotas?.settle(ticket, [{ applied: !r.found, cell: cell?.id ?? null, index: resp.index }]);
    this.opts.hotKeys?.invalidate(p.tenant, input.key);
    return { version: r.meta!.version, created: !r.found, session: await this.session(port, p.tenant, input.key, cell, resp.index) };
  }

  async delete(p: Principal, input: DeleteInput): Promise<{ session: string }> {
    requireScope(p, 'kv:write');
    validateKeyBytes(input.key);
    this.opts.quotas?.admitOps(p.tenant, 1);
    const port = this.cells.port();
    const op: CellOp = { op: 'delete', key: input.key, ifVersion: input.ifVersion };
    const ticket = await this.admitWrites(port, p.tenant, [op]);
    const cell = await this.cellOf(port, p.tenant, input.key);
    const requestId = requestIdFor(p.tenant, input.idempotencyKey, ['delete', input.key]);
    const resp = await this.deadline(port.request(p.tenant, [op], requestId ? { requestId } : {}), true);
    const r = okResult(resp.results[0]);
    this.opts.quotas?.settle(ticket, [{ applied: r.found, cell: cell?.id ?? null, index: resp.index }]);
    this.opts.hotKeys?.invalidate(p.tenant, input.key);
    if (!r.found) throw new KvError('NOT_FOUND', 'key not found');
    return { session: await this.session(port, p.tenant, input.key, cell, resp.index) };
  }

  async batch(p: Principal, input: BatchInput): Promise<BatchOutcome> {
    const writes = input.ops.some((o) => o.op !== 'get');
    if (input.ops.some((o) => o.op === 'get')) requireScope(p, 'kv:read');
    if (writes) requireScope(p, 'kv:write');
    const read = this.resolve(input.read);
    const cellOps: CellOp[] = input.ops.map((o) => (o.op === 'get' ? { op: 'get', key: o.key } : o));
    for (const o of cellOps) {
      validateKeyBytes(o.key);
      if (o.op === 'put') this.checkValue(o.value);
    }
    const port = this.cells.port();
    const groups = groupByCell(await port.directory(), p.tenant, cellOps.map((o) => o.key), input.atomic);
    for (const g of groups) this.checkSize(g.indexes.map((i) => cellOps[i]!));
    this.opts.quotas?.admitOps(p.tenant, cellOps.length);
    const writeIdx = cellOps.flatMap((o, i) => (o.op === 'get' ? [] : [i]));
    const ticket = writeIdx.length > 0 ? await this.admitWrites(port, p.tenant, writeIdx.map((i) => cellOps[i]!)) : null;
    const results: BatchOpOutcome[] = new Array<BatchOpOutcome>(cellOps.length);
    const where: { cell: string; index: bigint }[] = [];
    let session: string | null = null;
    let applied: boolean | null = input.atomic ? true : null;
    const runGroup = async (g: CellGroup, single: boolean, regroups: number): Promise<void> => {
      const ops = g.indexes.map((i) => cellOps[i]!);
      const groupWrites = ops.some((o) => o.op !== 'get');
      const requestId = requestIdFor(p.tenant, input.idempotencyKey, ['batch', g.cell.id, ...ops.flatMap((o) => [o.op, o.key])]);
      const opts: RequestOptions = { ...readOptions(g.cell, read), atomic: input.atomic, ...(requestId ? { requestId } : {}) };
      let resp: CellResponse;
      try {
        resp = await this.deadline(port.request(p.tenant, ops, opts), groupWrites);
      } catch (e) {
        // The group's cell split under it (nothing was applied): regroup by the new directory.
        if (e instanceof KvError && e.code === 'WRONG_RANGE' && regroups < MAX_BATCH_REGROUPS) {
          if (input.atomic) throw new KvError('INVALID_ARGUMENT', 'the keys of this atomic batch now span cells (a cell split); an atomic batch must stay within one cell: split it, or send atomic:false');
          const sub = groupByCell(await port.directory(true), p.tenant, ops.map((o) => o.key), false).map((x) => ({ cell: x.cell, indexes: x.indexes.map((j) => g.indexes[j]!) }));
          await Promise.all(sub.map((x) => runGroup(x, false, regroups + 1)));
          return;
        }
        // One cell failing must not hide the others' results, unless it is the only cell.
        if (single || !(e instanceof KvError)) throw e;
        for (const i of g.indexes) results[i] = { ok: false, error: e };
        return;
      }
      for (const i of g.indexes) where[i] = { cell: g.cell.id, index: resp.index };
      const token = await this.session(port, p.tenant, ops[0]!.key, g.cell, resp.index);
      if (single) session = token;
      g.indexes.forEach((i, j) => {
        const out = batchOutcome(ops[j]!, resp.results[j], token);
        if (!out.ok && ops[j]!.op !== 'get' && out.error.code !== 'NOT_FOUND') applied = input.atomic ? false : applied;
        results[i] = out;
      });
    };
    await Promise.all(groups.map((g) => runGroup(g, groups.length === 1, 0)));
    this.opts.quotas?.settle(ticket, settledWrites(results, writeIdx, where));
    for (const i of writeIdx) this.opts.hotKeys?.invalidate(p.tenant, cellOps[i]!.key);
    return { results, session, applied };
  }

  async scan(p: Principal, input: ScanInput): Promise<ScanOutcome> {
    requireScope(p, 'kv:read');
    const read = this.resolve(input.read);
    this.opts.quotas?.admitOps(p.tenant, 1);
    const from = input.cursor !== null ? decodeCursor(input.cursor, input.range) : input.range.start;
    const port = this.cells.port();
    const page = await this.deadline(scanPage(port, p.tenant, from, input.range, input.limit, input.keysOnly, (cell) => readOptions(cell, read)), false);
    const session = page.lastCell ? this.sessions.encode({ cellId: page.lastCell.id, epoch: page.lastCell.epoch, index: page.index }) : null;
    return {
      items: page.items,
      cursor: page.next ? encodeCursor(page.next) : null,
      session,
      staleAgeMs: input.read.consistency === 'stale' ? page.staleAgeMs : null,
    };
  }

  async listCells(p: Principal): Promise<{ cells: CellSummary[]; servedBy: string }> {
    requireScope(p, 'kv:admin');
    const d = await this.deadline(this.cells.port().directory(true), false);
    const cells = d.cells.map((c) => ({ id: c.id, start: c.start, end: c.end, epoch: c.epoch, leader: d.leaders[c.id] ?? null, replicas: c.replicas }));
    return { cells, servedBy: d.servedBy };
  }

  async listNodes(p: Principal): Promise<{ nodes: NodeSummary[] }> {
    requireScope(p, 'kv:admin');
    const d = await this.deadline(this.cells.port().directory(true), false);
    const now = Date.now();
    return { nodes: d.nodes.map((n) => ({ id: n.id, az: n.az, lastHeartbeatMs: n.lastHeartbeatMs, live: now - n.lastHeartbeatMs < NODE_LIVENESS_MS })) };
  }

  private checkValue(value: Uint8Array): void {
    if (value.length > this.opts.maxValueBytes) {
      throw new KvError('PAYLOAD_TOO_LARGE', `value is ${value.length} bytes; the limit is ${this.opts.maxValueBytes}`);
    }
  }

  /** One cell request must fit in a NATS message: refuse before sending rather than time out. */
  private checkSize(ops: readonly CellOp[]): void {
    for (const o of ops) if (o.op === 'put') this.checkValue(o.value);
    const bytes = opsWireBytes(ops);
    const max = this.cells.maxRequestBytes();
    if (bytes > max) throw new KvError('PAYLOAD_TOO_LARGE', `request for one cell is about ${bytes} bytes; the transport carries at most ${max}: split the batch`);
  }

  /** Counts the keys as requested and checks the size quota before anything is sent. */
  private admitWrites(port: CellPort, tenant: string, ops: readonly CellOp[]): Promise<WriteTicket | null> {
    for (const o of ops) this.opts.hotKeys?.record(tenant, o.key);
    const q = this.opts.quotas;
    return q ? q.admitWrites(tenant, ops.map(intentOf), sizeProbe(port, tenant, (w) => this.deadline(w, false))) : Promise.resolve(null);
  }

  private async cellOf(port: CellPort, tenant: string, key: Uint8Array): Promise<CellDescriptor | null> {
    return cellForKey(await port.directory(), namespacedKey(tenant, key));
  }

  /**
   * A token for the cell that answered. If the directory changed while the request ran we
   * cannot be sure which cell that was, so the token says so and later reads are linearizable.
   */
  private async session(port: CellPort, tenant: string, key: Uint8Array, before: CellDescriptor | null, index: bigint): Promise<string> {
    const after = await this.cellOf(port, tenant, key);
    const same = before && after && before.id === after.id && before.epoch === after.epoch;
    return this.sessions.encode(same ? { cellId: after.id, epoch: after.epoch, index } : NO_SESSION);
  }

  /**
   * Bounds an operation, retries included. Past the deadline a read is UNAVAILABLE; a write may
   * have been sent, so it is OUTCOME_UNKNOWN (safe to retry with the same Idempotency-Key).
   */
  private deadline<T>(work: Promise<T>, isWrite: boolean): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        reject(
          isWrite
            ? new KvError('OUTCOME_UNKNOWN', `no answer within ${this.opts.requestTimeoutMs}ms; the write may or may not have applied: retry with the same Idempotency-Key`)
            : new KvError('UNAVAILABLE', `no answer within ${this.opts.requestTimeoutMs}ms; retry shortly`),
        );
      }, this.opts.requestTimeoutMs);
    });
    work.catch(() => undefined); // the loser of the race must not become an unhandled rejection
    return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
  }
}

/** Cell request options for a read in `cell`: a session token only counts for its own cell. */
export function readOptions(cell: CellDescriptor | null, read: ResolvedRead): RequestOptions {
  if (read.consistency === 'stale') return { consistency: 'stale', maxStalenessMs: read.maxStalenessMs };
  const t = read.token;
  if (read.consistency === 'session' && t && cell && t.cellId === cell.id && t.epoch === cell.epoch) {
    return { consistency: 'session', sessionIndex: t.index };
  }
  return { consistency: 'linearizable' };
}

/**
 * The cell request id for an Idempotency-Key. The cell deduplicates by request id alone, so the
 * id is a hash over the tenant (tenants cannot collide or probe each other), the key and the
 * operation's keys (reusing a key for a different operation does not replay a wrong result).
 */
export function requestIdFor(tenant: string, idempotencyKey: string | null, parts: readonly (string | Uint8Array)[]): string | undefined {
  if (idempotencyKey === null) return undefined;
  const h = createHash('sha256');
  for (const part of [tenant, idempotencyKey, ...parts]) {
    const b = typeof part === 'string' ? Buffer.from(part, 'utf8') : part;
    const len = Buffer.alloc(4);
    len.writeUInt32BE(b.length);
    h.update(len).update(b);
  }
  return `idem-${h.digest('base64url')}`;
}

function mismatch(r: Extract<OpResult, { status: 'error' }>): KvError {
  if (r.code === 'VERSION_MISMATCH' || r.code === 'ALREADY_EXISTS') {
    return new KvError(r.code, r.message, { currentVersion: r.currentVersion === null ? null : r.currentVersion.toString() });
  }
  return new KvError(r.code, r.message);
}

function okResult(r: OpResult | undefined): Extract<OpResult, { status: 'ok' }> {
  if (!r) throw new KvError('INTERNAL', 'cell answered without a result');
  if (r.status === 'error') throw mismatch(r);
  return r;
}

function batchOutcome(op: CellOp, r: OpResult | undefined, session: string): BatchOpOutcome {
  if (!r) return { ok: false, error: new KvError('INTERNAL', 'cell answered without a result') };
  if (r.status === 'error') return { ok: false, error: mismatch(r) };
  if (op.op === 'get') {
    if (!r.found || !r.value || !r.meta) return { ok: false, error: new KvError('NOT_FOUND', 'key not found') };
    return { ok: true, op: 'get', value: r.value, meta: r.meta, session };
  }
  if (op.op === 'put') return { ok: true, op: 'put', version: r.meta!.version, created: !r.found, session };
  if (!r.found) return { ok: false, error: new KvError('NOT_FOUND', 'key not found') };
  return { ok: true, op: 'delete', session };
}
