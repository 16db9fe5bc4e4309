// Batches: the JSON request schema (shared by HTTP and the NATS front door, which differ only
// in their default byte encoding) and the grouping of ops by the cell that owns each key.

import { z } from 'zod';
import type { Attrs, Consistency } from '../shared/cell-protocol.js';
import { cellForKey, type CellDescriptor, type Directory } from '../shared/directory.js';
import { KvError } from '../shared/errors.js';
import { namespacedKey } from '../shared/keys.js';
import { decodeFromJson, type BytesEncoding } from './encoding.js';
import { MAX_BATCH_OPS, parseMaxStaleness, parseTtlSeconds, parseVersion, validateAttrs, validateKeyBytes, parseIdempotencyKey } from './validate.js';

export type BatchOp =
  | { readonly op: 'get'; readonly key: Uint8Array; readonly valueEncoding: BytesEncoding }
  | {
      readonly op: 'put';
      readonly key: Uint8Array;
      readonly value: Uint8Array;
      readonly ttlMs: number | null;
      readonly ifVersion: bigint | null;
      readonly ifAbsent: boolean;
      readonly attrs: Attrs | null;
    }
  | { readonly op: 'delete'; readonly key: Uint8Array; readonly ifVersion: bigint | null };

export interface ParsedBatch {
  readonly ops: readonly BatchOp[];
  readonly atomic: boolean;
  readonly consistency: Consistency;
  /** The raw session token (the core validates it). */
  readonly session: string | null;
  readonly maxStalenessMs: number;
  readonly idempotencyKey: string | null;
}

const encodingSchema = z.enum(['utf8', 'base64']);
const opSchema = z.strictObject({
  op: z.enum(['get', 'put', 'delete', 'cas']),
  key: z.string(),
  value: z.string().optional(),
  ttl: z.number().optional(),
  ifVersion: z.string().optional(),
  ifAbsent: z.boolean().optional(),
  attrs: z.record(z.string(), z.string()).optional(),
  keyEncoding: encodingSchema.optional(),
  valueEncoding: encodingSchema.optional(),
});
const batchSchema = z.strictObject({
  ops: z.array(z.unknown()),
  atomic: z.boolean().optional(),
  keyEncoding: encodingSchema.optional(),
  valueEncoding: encodingSchema.optional(),
  consistency: z.enum(['linearizable', 'session', 'stale']).optional(),
  session: z.string().optional(),
  maxStalenessMs: z.number().optional(),
  idempotencyKey: z.string().optional(),
});

/** The first schema issue as one readable line: `ops[3].key: expected string`. */
export function zodMessage(err: z.ZodError, prefix = ''): string {
  const i = err.issues[0];
  if (!i) return 'invalid request';
  const path = i.path.reduce<string>((acc, p) => (typeof p === 'number' ? `${acc}[${p}]` : acc ? `${acc}.${String(p)}` : String(p)), prefix);
  return `${path || 'request'}: ${i.message}`;
}

/** Parses and validates a batch body; `defaultEncoding` is utf8 over HTTP, base64 over NATS. */
export function parseBatch(body: unknown, defaultEncoding: BytesEncoding): ParsedBatch {
  const top = batchSchema.safeParse(body);
  if (!top.success) throw new KvError('INVALID_ARGUMENT', zodMessage(top.error));
  const b = top.data;
  if (b.ops.length === 0) throw new KvError('INVALID_ARGUMENT', 'ops must hold at least one op');
  if (b.ops.length > MAX_BATCH_OPS) throw new KvError('INVALID_ARGUMENT', `a batch holds at most ${MAX_BATCH_OPS} ops, got ${b.ops.length}`);
  const ops = b.ops.map((raw, i) => parseOp(raw, i, b.keyEncoding ?? defaultEncoding, b.valueEncoding ?? defaultEncoding));
  const consistency = b.consistency ?? 'linearizable';
  if (b.maxStalenessMs !== undefined && consistency !== 'stale') throw new KvError('INVALID_ARGUMENT', 'maxStalenessMs applies only to consistency "stale"');
  return {
    ops,
    atomic: b.atomic ?? false,
    consistency,
    session: b.session ?? null,
    maxStalenessMs: b.maxStalenessMs !== undefined ? parseMaxStaleness(b.maxStalenessMs) : 0,
    idempotencyKey: b.idempotencyKey !== undefined ? parseIdempotencyKey(b.idempotencyKey) : null,
  };
}

function parseOp(raw: unknown, i: number, keyEnc: BytesEncoding, valueEnc: BytesEncoding): BatchOp {
  const r = opSchema.safeParse(raw);
  const at = `ops[${i}]`;
  if (!r.success) throw new KvError('INVALID_ARGUMENT', zodMessage(r.error, at));
  const o = r.data;
  const bad = (msg: string) => new KvError('INVALID_ARGUMENT', `${at}: ${msg}`);
  const key = validateKeyBytes(decodeFromJson(o.key, o.keyEncoding ?? keyEnc, `${at}.key`), `${at}.key`);
  const valueEncoding = o.valueEncoding ?? valueEnc;
  const isPut = o.op === 'put' || o.op === 'cas';
  if (!isPut && (o.value !== undefined || o.ttl !== undefined || o.ifAbsent !== undefined || o.attrs !== undefined)) {
    throw bad(`value, ttl, ifAbsent and attrs apply only to put and cas`);
  }
  const ifVersion = o.ifVersion !== undefined ? parseVersion(o.ifVersion, `${at}.ifVersion`) : null;
  if (o.op === 'get') {
    if (ifVersion !== null) throw bad('ifVersion does not apply to get');
    return { op: 'get', key, valueEncoding };
  }
  if (o.op === 'delete') return { op: 'delete', key, ifVersion };
  if (o.value === undefined) throw bad(`${o.op} needs a value`);
  if (o.op === 'cas' && ifVersion === null) throw bad('cas needs ifVersion (use put for unconditional writes)');
  if (ifVersion !== null && o.ifAbsent) throw bad('ifVersion and ifAbsent exclude each other');
  let ttlMs: number | null = null;
  let attrs: Attrs | null = null;
  try {
    if (o.ttl !== undefined) ttlMs = parseTtlSeconds(o.ttl);
    if (o.attrs !== undefined) attrs = validateAttrs(o.attrs);
  } catch (e) {
    throw bad((e as Error).message);
  }
  return { op: 'put', key, value: decodeFromJson(o.value, valueEncoding, `${at}.value`), ttlMs, ifVersion, ifAbsent: o.ifAbsent ?? false, attrs };
}

export interface CellGroup {
  readonly cell: CellDescriptor;
  /** Positions of this cell's ops in the batch, in batch order. */
  readonly indexes: readonly number[];
}

/**
 * Groups keys by owning cell, in order of first appearance. An atomic batch must fall in one
 * cell (the atomicity unit is one Raft group): otherwise it is rejected before anything is sent.
 */
export function groupByCell(dir: Directory, tenant: string, keys: readonly Uint8Array[], atomic: boolean): CellGroup[] {
  const groups = new Map<string, { cell: CellDescriptor; indexes: number[] }>();
  keys.forEach((key, i) => {
    const cell = cellForKey(dir, namespacedKey(tenant, key));
    if (!cell) throw new KvError('UNAVAILABLE', 'no cell owns one of the keys; the directory is incomplete, retry shortly');
    const g = groups.get(cell.id);
    if (g) g.indexes.push(i);
    else groups.set(cell.id, { cell, indexes: [i] });
  });
  if (atomic && groups.size > 1) {
    const ids = [...groups.keys()];
    throw new KvError(
      'INVALID_ARGUMENT',
      `atomic batch spans ${ids.length} cells (${ids.slice(0, 5).join(', ')}); an atomic batch must stay within one cell's key range: split it, or send atomic:false for per-op results`,
    );
  }
  return [...groups.values()];
}
