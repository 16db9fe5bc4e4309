// Binary encodings of the cell protocol (gateway <-> cell requests and responses over NATS),
// of the commands replicated through a cell's Raft log, and of the values stored in LevelDB.
//
// Same convention as cell/raft/codec.ts: `encodeX` / `decodeX` frame a standalone value with a
// format-version byte and reject trailing bytes; `writeX` / `readX` are unframed building
// blocks. Decoded byte fields (keys, values) are views of the input: copy them if the input
// buffer may be reused.

import type {
  Attrs,
  CellCommand,
  CellEntryPayload,
  CellOp,
  CellRequest,
  CellResponse,
  Consistency,
  KeyMeta,
  OpResult,
  ScanItem,
  ScanRequest,
} from '../cell-protocol.js';
import type { ErrorCode } from '../errors.js';
import {
  BinaryReader,
  BinaryWriter,
  CodecError,
  WireEnum,
  bytesSizeBound,
  decodeFramed,
  encodeFramed,
  stringSizeBound,
} from './binary.js';

/** Format version of every framed cell encoding; bump when a layout changes. */
export const CELL_FORMAT_VERSION = 1;

/**
 * Error codes by wire index, frozen here rather than derived from ERROR_CODES: values are
 * persisted (dedupe records) and cross versions on the wire, so new codes go at the END only.
 */
// prettier-ignore
export const WIRE_ERROR_CODES: readonly ErrorCode[] = Object.freeze<ErrorCode[]>([
  'INVALID_ARGUMENT', 'UNAUTHENTICATED', 'PERMISSION_DENIED', 'NOT_FOUND', 'VERSION_MISMATCH',
  'ALREADY_EXISTS', 'PAYLOAD_TOO_LARGE', 'RATE_LIMITED', 'QUOTA_EXCEEDED', 'UNAVAILABLE',
  'OUTCOME_UNKNOWN', 'NOT_LEADER', 'WRONG_RANGE', 'OVERLOADED', 'INTERNAL',
]);

const ERROR_CODES_ENUM = new WireEnum<ErrorCode>(WIRE_ERROR_CODES, 'error code');
const CONSISTENCIES = new WireEnum<Consistency>(['linearizable', 'session', 'stale'], 'consistency');
const OP_KINDS = new WireEnum<CellOp['op']>(['get', 'put', 'delete'], 'op kind');
const COMMAND_KINDS = new WireEnum<CellCommand['kind']>(['write', 'expire', 'meta', 'split', 'mergeFreeze', 'mergeCommit', 'mergeRollback', 'mergeAbort'], 'command kind');
const STATUSES = new WireEnum<'ok' | 'error'>(['ok', 'error'], 'status');

const framed = (sizeHint: number, write: (w: BinaryWriter) => void): Uint8Array => encodeFramed(CELL_FORMAT_VERSION, sizeHint, write);
const unframed = <T>(b: Uint8Array, what: string, read: (r: BinaryReader) => T): T => decodeFramed(b, CELL_FORMAT_VERSION, what, read);

export function writeErrorCode(w: BinaryWriter, code: ErrorCode): void {
  ERROR_CODES_ENUM.write(w, code);
}

export function readErrorCode(r: BinaryReader): ErrorCode {
  return ERROR_CODES_ENUM.read(r);
}

// --- Nullable helpers: a presence byte, then the value -------------------------------------

function writeOptBytes(w: BinaryWriter, v: Uint8Array | null): void {
  if (v === null) w.bool(false);
  else w.bool(true).bytes(v);
}

function writeOptU64(w: BinaryWriter, v: bigint | null): void {
  if (v === null) w.bool(false);
  else w.bool(true).u64(v);
}

function writeOptVaruint(w: BinaryWriter, v: number | null): void {
  if (v === null) w.bool(false);
  else w.bool(true).varuint(v);
}

const readOptBytes = (r: BinaryReader): Uint8Array | null => (r.bool() ? r.bytes() : null);
const readOptU64 = (r: BinaryReader): bigint | null => (r.bool() ? r.u64() : null);
const readOptVaruint = (r: BinaryReader): number | null => (r.bool() ? r.varuint() : null);

// --- KeyMeta -------------------------------------------------------------------------------

export function writeAttrs(w: BinaryWriter, attrs: Attrs): void {
  const keys = Object.keys(attrs);
  w.varuint(keys.length);
  for (const k of keys) {
    w.string(k);
    w.string(attrs[k]!);
  }
}

export function readAttrs(r: BinaryReader): Attrs {
  const n = r.count(2);
  const out: Record<string, string> = {};
  for (let i = 0; i < n; i++) {
    const k = r.string();
    const v = r.string();
    if (Object.hasOwn(out, k)) throw new CodecError('CODEC_MALFORMED', `malformed input: duplicate attribute ${JSON.stringify(k)}`);
    // A plain assignment of '__proto__' would set the prototype rather than an own key.
    if (k === '__proto__') Object.defineProperty(out, k, { value: v, enumerable: true, writable: true, configurable: true });
    else out[k] = v;
  }
  return out;
}

function attrsSizeBound(attrs: Attrs): number {
  let n = 5;
  for (const k of Object.keys(attrs)) n += stringSizeBound(k) + stringSizeBound(attrs[k]!);
  return n;
}

export function writeKeyMeta(w: BinaryWriter, m: KeyMeta): void {
  w.u64(m.version);
  w.varuint(m.createdAt);
  w.varuint(m.updatedAt);
  writeOptVaruint(w, m.expiresAt);
  writeAttrs(w, m.attrs);
}

export function readKeyMeta(r: BinaryReader): KeyMeta {
  const version = r.u64();
  const createdAt = r.varuint();
  const updatedAt = r.varuint();
  const expiresAt = readOptVaruint(r);
  const attrs = readAttrs(r);
  return { version, createdAt, updatedAt, expiresAt, attrs };
}

function keyMetaSizeBound(m: KeyMeta): number {
  return 10 + 8 + 8 + 9 + attrsSizeBound(m.attrs);
}

// --- Requests ------------------------------------------------------------------------------

export function writeCellOp(w: BinaryWriter, op: CellOp): void {
  OP_KINDS.write(w, op.op);
  w.bytes(op.key);
  if (op.op === 'delete') writeOptU64(w, op.ifVersion);
  if (op.op !== 'put') return;
  w.bytes(op.value);
  writeOptVaruint(w, op.ttlMs);
  writeOptU64(w, op.ifVersion);
  w.bool(op.ifAbsent);
  w.bool(op.attrs !== null);
  if (op.attrs !== null) writeAttrs(w, op.attrs);
}

export function readCellOp(r: BinaryReader): CellOp {
  const kind = OP_KINDS.read(r);
  const key = r.bytes();
  if (kind === 'get') return { op: 'get', key };
  if (kind === 'delete') return { op: 'delete', key, ifVersion: readOptU64(r) };
  const value = r.bytes();
  const ttlMs = readOptVaruint(r);
  const ifVersion = readOptU64(r);
  const ifAbsent = r.bool();
  const attrs = r.bool() ? readAttrs(r) : null;
  return { op: 'put', key, value, ttlMs, ifVersion, ifAbsent, attrs };
}

function cellOpSizeBound(op: CellOp): number {
  let n = 1 + bytesSizeBound(op.key) + 11;
  if (op.op === 'put') n += bytesSizeBound(op.value) + 9 + 2 + (op.attrs !== null ? attrsSizeBound(op.attrs) : 0);
  return n;
}

function writeOps(w: BinaryWriter, ops: readonly CellOp[]): void {
  w.varuint(ops.length);
  for (const op of ops) writeCellOp(w, op);
}

function readOps(r: BinaryReader): CellOp[] {
  const n = r.count(2);
  const ops: CellOp[] = new Array<CellOp>(n);
  for (let i = 0; i < n; i++) ops[i] = readCellOp(r);
  return ops;
}

function opsSizeBound(ops: readonly CellOp[]): number {
  let n = 5;
  for (const op of ops) n += cellOpSizeBound(op);
  return n;
}

export function writeScanRequest(w: BinaryWriter, s: ScanRequest): void {
  w.bytes(s.start);
  writeOptBytes(w, s.end);
  w.varuint(s.limit);
  w.bool(s.keysOnly);
}

export function readScanRequest(r: BinaryReader): ScanRequest {
  const start = r.bytes();
  const end = readOptBytes(r);
  const limit = r.varuint();
  const keysOnly = r.bool();
  return { start, end, limit, keysOnly };
}

export function writeCellRequest(w: BinaryWriter, req: CellRequest): void {
  w.string(req.cellId);
  w.varuint(req.epoch);
  w.string(req.requestId);
  w.string(req.tenant);
  CONSISTENCIES.write(w, req.consistency);
  w.u64(req.sessionIndex);
  w.varuint(req.maxStalenessMs);
  w.bool(req.atomic);
  writeOps(w, req.ops);
  w.bool(req.scan !== null);
  if (req.scan !== null) writeScanRequest(w, req.scan);
  w.string(req.traceparent);
}

export function readCellRequest(r: BinaryReader): CellRequest {
  const cellId = r.string();
  const epoch = r.varuint();
  const requestId = r.string();
  const tenant = r.string();
  const consistency = CONSISTENCIES.read(r);
  const sessionIndex = r.u64();
  const maxStalenessMs = r.varuint();
  const atomic = r.bool();
  const ops = readOps(r);
  const scan = r.bool() ? readScanRequest(r) : null;
  const traceparent = r.string();
  return { cellId, epoch, requestId, tenant, consistency, sessionIndex, maxStalenessMs, atomic, ops, scan, traceparent };
}

export function encodeCellRequest(req: CellRequest): Uint8Array {
  let n = stringSizeBound(req.cellId) + 8 + stringSizeBound(req.requestId) + stringSizeBound(req.tenant) + 1 + 10 + 8 + 1;
  n += opsSizeBound(req.ops) + 1 + stringSizeBound(req.traceparent);
  if (req.scan !== null) n += bytesSizeBound(req.scan.start) + 1 + (req.scan.end ? bytesSizeBound(req.scan.end) : 0) + 9;
  return framed(n, (w) => writeCellRequest(w, req));
}

export function decodeCellRequest(b: Uint8Array): CellRequest {
  return unframed(b, 'cell request', readCellRequest);
}

// --- Responses -----------------------------------------------------------------------------

export function writeOpResult(w: BinaryWriter, res: OpResult): void {
  STATUSES.write(w, res.status);
  if (res.status === 'ok') {
    w.bool(res.found);
    writeOptBytes(w, res.value);
    w.bool(res.meta !== null);
    if (res.meta !== null) writeKeyMeta(w, res.meta);
  } else {
    writeErrorCode(w, res.code);
    w.string(res.message);
    writeOptU64(w, res.currentVersion);
  }
}

export function readOpResult(r: BinaryReader): OpResult {
  if (STATUSES.read(r) === 'ok') {
    const found = r.bool();
    const value = readOptBytes(r);
    const meta = r.bool() ? readKeyMeta(r) : null;
    return { status: 'ok', found, value, meta };
  }
  const code = readErrorCode(r);
  const message = r.string();
  const currentVersion = readOptU64(r);
  return { status: 'error', code, message, currentVersion };
}

function opResultSizeBound(res: OpResult): number {
  if (res.status === 'error') return 2 + stringSizeBound(res.message) + 11;
  return 3 + (res.value ? bytesSizeBound(res.value) : 0) + 1 + (res.meta ? keyMetaSizeBound(res.meta) : 0);
}

export function encodeOpResult(res: OpResult): Uint8Array {
  return framed(opResultSizeBound(res), (w) => writeOpResult(w, res));
}

export function decodeOpResult(b: Uint8Array): OpResult {
  return unframed(b, 'op result', readOpResult);
}

export function writeScanItem(w: BinaryWriter, it: ScanItem): void {
  w.bytes(it.key);
  writeOptBytes(w, it.value);
  writeKeyMeta(w, it.meta);
}

export function readScanItem(r: BinaryReader): ScanItem {
  const key = r.bytes();
  const value = readOptBytes(r);
  const meta = readKeyMeta(r);
  return { key, value, meta };
}

export function writeCellResponse(w: BinaryWriter, res: CellResponse): void {
  STATUSES.write(w, res.status);
  w.bool(res.code !== null);
  if (res.code !== null) writeErrorCode(w, res.code);
  w.string(res.message);
  w.string(res.leaderHint);
  w.varuint(res.results.length);
  for (const x of res.results) writeOpResult(w, x);
  w.varuint(res.scanItems.length);
  for (const x of res.scanItems) writeScanItem(w, x);
  writeOptBytes(w, res.scanResumeKey);
  w.u64(res.index);
  w.varuint(res.staleAgeMs);
}

export function readCellResponse(r: BinaryReader): CellResponse {
  const status = STATUSES.read(r);
  const code = r.bool() ? readErrorCode(r) : null;
  const message = r.string();
  const leaderHint = r.string();
  const nr = r.count(4); // a result is at least 4 one-byte fields
  const results: OpResult[] = new Array<OpResult>(nr);
  for (let i = 0; i < nr; i++) results[i] = readOpResult(r);
  // A scan item is at least a key prefix, a presence byte and a 5-byte meta.
  const ns = r.count(7);
  const scanItems: ScanItem[] = new Array<ScanItem>(ns);
  for (let i = 0; i < ns; i++) scanItems[i] = readScanItem(r);
  const scanResumeKey = readOptBytes(r);
  const index = r.u64();
  const staleAgeMs = r.varuint();
  return { status, code, message, leaderHint, results, scanItems, scanResumeKey, index, staleAgeMs };
}

export function encodeCellResponse(res: CellResponse): Uint8Array {
  let n = 2 + stringSizeBound(res.message) + stringSizeBound(res.leaderHint) + 10 + 1 + 10 + 8;
  n += res.scanResumeKey ? bytesSizeBound(res.scanResumeKey) : 0;
  for (const x of res.results) n += opResultSizeBound(x);
  for (const x of res.scanItems) n += bytesSizeBound(x.key) + 1 + (x.value ? bytesSizeBound(x.value) : 0) + keyMetaSizeBound(x.meta);
  return framed(n, (w) => writeCellResponse(w, res));
}

export function decodeCellResponse(b: Uint8Array): CellResponse {
  return unframed(b, 'cell response', readCellResponse);
}

// --- Replicated commands -------------------------------------------------------------------

export function writeCellCommand(w: BinaryWriter, c: CellCommand): void {
  COMMAND_KINDS.write(w, c.kind);
  if (c.kind === 'meta') {
    w.string(c.json);
  } else if (c.kind === 'split') {
    w.bytes(c.splitKey);
    w.string(c.newCellId);
    w.varuint(c.epoch);
  } else if (c.kind === 'mergeFreeze') {
    w.string(c.into);
    w.varuint(c.intoEpoch);
    w.varuint(c.epoch);
    w.varuint(c.atMs);
  } else if (c.kind === 'mergeCommit') {
    w.string(c.source);
    w.bytes(c.sourceStart);
    w.bool(c.sourceEnd !== null);
    if (c.sourceEnd !== null) w.bytes(c.sourceEnd);
    w.varuint(c.sourceEpoch);
    w.varuint(c.freezeIndex);
    w.varuint(c.sourceVersionTop);
    w.varuint(c.epoch);
  } else if (c.kind === 'mergeRollback') {
    w.varuint(c.epoch);
  } else if (c.kind === 'mergeAbort') {
    w.string(c.source);
    w.varuint(c.epoch);
  } else if (c.kind === 'expire') {
    w.varuint(c.nowMs);
    w.varuint(c.keys.length);
    for (const k of c.keys) w.bytes(k);
  } else {
    w.string(c.requestId);
    w.string(c.tenant);
    w.varuint(c.nowMs);
    w.bool(c.atomic);
    writeOps(w, c.ops);
  }
}

export function readCellCommand(r: BinaryReader): CellCommand {
  const kind = COMMAND_KINDS.read(r);
  if (kind === 'meta') return { kind: 'meta', json: r.string() };
  if (kind === 'split') {
    const splitKey = r.bytes().slice();
    const newCellId = r.string();
    return { kind: 'split', splitKey, newCellId, epoch: r.varuint() };
  }
  if (kind === 'mergeFreeze') {
    const into = r.string();
    const intoEpoch = r.varuint();
    const epoch = r.varuint();
    return { kind, into, intoEpoch, epoch, atMs: r.varuint() };
  }
  if (kind === 'mergeCommit') {
    const source = r.string();
    const sourceStart = r.bytes().slice();
    const sourceEnd = r.bool() ? r.bytes().slice() : null;
    const sourceEpoch = r.varuint();
    const freezeIndex = r.varuint();
    const sourceVersionTop = r.varuint();
    return { kind, source, sourceStart, sourceEnd, sourceEpoch, freezeIndex, sourceVersionTop, epoch: r.varuint() };
  }
  if (kind === 'mergeRollback') return { kind, epoch: r.varuint() };
  if (kind === 'mergeAbort') {
    const source = r.string();
    return { kind, source, epoch: r.varuint() };
  }
  if (kind === 'expire') {
    const nowMs = r.varuint();
    const n = r.count(1);
    const keys: Uint8Array[] = new Array<Uint8Array>(n);
    for (let i = 0; i < n; i++) keys[i] = r.bytes();
    return { kind: 'expire', nowMs, keys };
  }
  const requestId = r.string();
  const tenant = r.string();
  const nowMs = r.varuint();
  const atomic = r.bool();
  const ops = readOps(r);
  return { kind: 'write', requestId, tenant, nowMs, atomic, ops };
}

function commandSizeBound(c: CellCommand): number {
  if (c.kind === 'meta') return 1 + stringSizeBound(c.json);
  if (c.kind === 'split') return 1 + bytesSizeBound(c.splitKey) + stringSizeBound(c.newCellId) + 8;
  if (c.kind === 'mergeFreeze') return 1 + stringSizeBound(c.into) + 24;
  if (c.kind === 'mergeCommit') return 1 + stringSizeBound(c.source) + bytesSizeBound(c.sourceStart) + 1 + (c.sourceEnd ? bytesSizeBound(c.sourceEnd) : 0) + 40;
  if (c.kind === 'mergeRollback') return 1 + 8;
  if (c.kind === 'mergeAbort') return 1 + stringSizeBound(c.source) + 8;
  if (c.kind === 'expire') {
    let n = 1 + 8 + 5;
    for (const k of c.keys) n += bytesSizeBound(k);
    return n;
  }
  return 1 + stringSizeBound(c.requestId) + stringSizeBound(c.tenant) + 8 + 1 + opsSizeBound(c.ops);
}

export function writeCellEntryPayload(w: BinaryWriter, p: CellEntryPayload): void {
  w.varuint(p.commands.length);
  for (const c of p.commands) writeCellCommand(w, c);
}

export function readCellEntryPayload(r: BinaryReader): CellEntryPayload {
  const n = r.count(2);
  const commands: CellCommand[] = new Array<CellCommand>(n);
  for (let i = 0; i < n; i++) commands[i] = readCellCommand(r);
  return { commands };
}

export function encodeCellEntryPayload(p: CellEntryPayload): Uint8Array {
  let n = 5;
  for (const c of p.commands) n += commandSizeBound(c);
  return framed(n, (w) => writeCellEntryPayload(w, p));
}

export function decodeCellEntryPayload(b: Uint8Array): CellEntryPayload {
  return unframed(b, 'entry payload', readCellEntryPayload);
}

// --- Stored values (LevelDB) ---------------------------------------------------------------

/** A key's value and metadata as stored in LevelDB. */
export interface StoredValue {
  readonly value: Uint8Array;
  readonly meta: KeyMeta;
}

/** Meta first, so a reader that needs only the metadata can stop before the value. */
export function encodeStoredValue(sv: StoredValue): Uint8Array {
  return framed(keyMetaSizeBound(sv.meta) + bytesSizeBound(sv.value), (w) => {
    writeKeyMeta(w, sv.meta);
    w.bytes(sv.value);
  });
}

export function decodeStoredValue(b: Uint8Array): StoredValue {
  return unframed(b, 'stored value', (r) => {
    const meta = readKeyMeta(r);
    const value = r.bytes();
    return { value, meta };
  });
}

