// Encodings shared by both clients: bytes ↔ base64 / percent-encoding, the JSON batch request,
// and parsing of JSON results (batch results, scan items). Both front doors speak the same JSON
// for these; byte fields always go out as base64 (binary-safe) and come back tagged with their
// encoding.

import { CellkvError, errorFromProblem, invalidArgument } from './errors.js';
import type { Attrs, BatchOp, BatchOpResult, BatchOptions, BatchResult, KeyInput, ScanItem, ValueInput } from './types.js';

const MAX_KEY_BYTES = 4096;
const encoder = new TextEncoder();
const HEX = '0123456789ABCDEF';

export function toBytes(v: KeyInput | ValueInput): Uint8Array {
  return typeof v === 'string' ? encoder.encode(v) : v;
}

export function keyBytes(k: KeyInput): Uint8Array {
  const b = toBytes(k);
  if (b.length < 1 || b.length > MAX_KEY_BYTES) throw invalidArgument(`key must be 1..${MAX_KEY_BYTES} bytes, got ${b.length}`);
  return b;
}

/** Every byte as %XX: any key (including '/', '%', 0x00, 0xFF) survives any URL handling. */
export function percentEncodeAll(b: Uint8Array): string {
  let s = '';
  for (const x of b) s += `%${HEX[x >> 4]}${HEX[x & 15]}`;
  return s;
}

export function toBase64(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.length).toString('base64');
}

/** Decodes a byte field of a JSON answer by the encoding it is tagged with. */
export function fieldBytes(text: unknown, encoding: unknown, what: string): Uint8Array {
  if (typeof text !== 'string') throw malformed(`${what} is missing`);
  if (encoding === 'utf8') return encoder.encode(text);
  const b = Buffer.from(text, 'base64');
  return new Uint8Array(b.buffer, b.byteOffset, b.length);
}

export function malformed(detail: string): CellkvError {
  return new CellkvError({ code: 'INTERNAL', status: 0, detail: `unexpected answer from the server: ${detail}` });
}

export function versionText(v: bigint | string, what: string): string {
  const s = typeof v === 'bigint' ? v.toString() : v;
  if (!/^(0|[1-9][0-9]{0,19})$/.test(s)) throw invalidArgument(`${what} must be an unsigned 64-bit version`);
  return s;
}

export function parseVersion(v: unknown): bigint {
  if (typeof v !== 'string' || !/^[0-9]+$/.test(v)) throw malformed('version is not a decimal string');
  return BigInt(v);
}

function numOrNull(v: unknown): number | null {
  return typeof v === 'number' ? v : null;
}

function attrsOf(v: unknown): Attrs {
  if (typeof v !== 'object' || v === null) return {};
  const out: Record<string, string> = {};
  for (const [k, x] of Object.entries(v)) if (typeof x === 'string') out[k] = x;
  return out;
}

export function ttlSecondsOf(ttl: number | undefined): number | undefined {
  if (ttl === undefined) return undefined;
  if (!Number.isInteger(ttl) || ttl < 1) throw invalidArgument('ttlSeconds must be a whole number of seconds ≥ 1');
  return ttl;
}

/** The JSON batch request (both doors), with base64 bytes throughout; the idempotency key travels separately. */
export function batchBody(ops: readonly BatchOp[], o: BatchOptions): Record<string, unknown> {
  if (ops.length === 0) throw invalidArgument('a batch needs at least one op');
  const wireOps = ops.map((op, i) => {
    const key = toBase64(keyBytes(op.key));
    const at = `ops[${i}]`;
    switch (op.op) {
      case 'get':
        return { op: 'get', key };
      case 'delete':
        return { op: 'delete', key, ...(op.ifVersion !== undefined ? { ifVersion: versionText(op.ifVersion, `${at}.ifVersion`) } : {}) };
      case 'put':
      case 'cas': {
        const out: Record<string, unknown> = { op: op.op, key, value: toBase64(toBytes(op.value)) };
        const ttl = ttlSecondsOf(op.ttlSeconds);
        if (ttl !== undefined) out['ttl'] = ttl;
        if (op.ifVersion !== undefined) out['ifVersion'] = versionText(op.ifVersion, `${at}.ifVersion`);
        if (op.op === 'put' && op.ifAbsent) out['ifAbsent'] = true;
        if (op.attrs) out['attrs'] = { ...op.attrs };
        return out;
      }
      default:
        throw invalidArgument(`${at}: unknown op`);
    }
  });
  const body: Record<string, unknown> = { ops: wireOps, keyEncoding: 'base64', valueEncoding: 'base64' };
  if (o.atomic !== undefined) body['atomic'] = o.atomic;
  const consistency = o.consistency ?? (o.session !== undefined ? 'session' : undefined);
  if (consistency !== undefined) body['consistency'] = consistency;
  if (o.session !== undefined) body['session'] = o.session;
  if (o.maxStalenessMs !== undefined) body['maxStalenessMs'] = o.maxStalenessMs;
  return body;
}

export function isWriteBatch(ops: readonly BatchOp[]): boolean {
  return ops.some((o) => o.op !== 'get');
}

function opResult(r: unknown): BatchOpResult {
  if (typeof r !== 'object' || r === null) throw malformed('batch result is not an object');
  const o = r as Record<string, unknown>;
  const op = typeof o['op'] === 'string' ? o['op'] : '?';
  if (typeof o['code'] === 'string') return { ok: false, op, error: errorFromProblem(typeof o['status'] === 'number' ? o['status'] : 0, o, null) };
  const session = typeof o['session'] === 'string' ? o['session'] : '';
  if (op === 'get') {
    return {
      ok: true,
      op: 'get',
      session,
      value: fieldBytes(o['value'], o['valueEncoding'], 'value'),
      version: parseVersion(o['version']),
      createdAt: numOrNull(o['createdAt']) ?? 0,
      updatedAt: numOrNull(o['updatedAt']) ?? 0,
      expiresAt: numOrNull(o['expiresAt']),
      attrs: attrsOf(o['attrs']),
    };
  }
  if (op === 'put') return { ok: true, op: 'put', version: parseVersion(o['version']), created: o['created'] === true, session };
  if (op === 'delete') return { ok: true, op: 'delete', session };
  throw malformed(`unknown op "${op}" in batch results`);
}

export function parseBatchResult(body: unknown): BatchResult {
  const b = (body ?? {}) as Record<string, unknown>;
  if (!Array.isArray(b['results'])) throw malformed('batch answer has no results');
  return {
    results: b['results'].map(opResult),
    session: typeof b['session'] === 'string' ? b['session'] : null,
    applied: typeof b['applied'] === 'boolean' ? b['applied'] : null,
  };
}

export function parseScanItem(raw: unknown): ScanItem {
  const o = (raw ?? {}) as Record<string, unknown>;
  return {
    key: fieldBytes(o['key'], o['keyEncoding'], 'key'),
    value: o['value'] === undefined || o['value'] === null ? null : fieldBytes(o['value'], o['valueEncoding'], 'value'),
    version: parseVersion(o['version']),
    createdAt: numOrNull(o['createdAt']) ?? 0,
    updatedAt: numOrNull(o['updatedAt']) ?? 0,
    expiresAt: numOrNull(o['expiresAt']),
    attrs: attrsOf(o['attrs']),
  };
}

/** The scan range fields (bytes as base64) shared by both doors; exactly one form. */
export function scanRangeBytes(o: { prefix?: KeyInput; start?: KeyInput; end?: KeyInput }): { prefix?: Uint8Array; start?: Uint8Array; end?: Uint8Array } {
  if (o.prefix !== undefined && (o.start !== undefined || o.end !== undefined)) throw invalidArgument('give either prefix or start/end, not both');
  const out: { prefix?: Uint8Array; start?: Uint8Array; end?: Uint8Array } = {};
  if (o.prefix !== undefined) out.prefix = toBytes(o.prefix);
  if (o.start !== undefined) out.start = toBytes(o.start);
  if (o.end !== undefined) out.end = toBytes(o.end);
  return out;
}

export function utf8(b: Uint8Array): string {
  return new TextDecoder().decode(b);
}
