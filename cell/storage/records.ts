// Every record format of a storage node's single LevelDB: the key layouts (prefix bytes,
// builders, parsers, iterator ranges) and the value encodings. The first key byte names the
// kind of record, so each kind is one contiguous, byte-ordered range that no other kind's
// keys can enter. The layouts are on disk: change none of them without a migration.
//
//   prefix  key                                     value
//   0x00    0x00 | "sync"                           never stored: deleted by a forced sync,
//                                                   because LevelDB skips empty batches
//   0x01    0x01 | len | cellId | index u64 BE      raft log record: CRC-32C | version | entry
//                                                   (cell/raft/codec.ts encodeLogRecord)
//   0x02    0x02 | cellId                           raft hard state: CRC-32C | encodeHardState
//   0x03    0x03 | cellId                           snapshot metadata: CRC-32C |
//                                                   encodeSnapshotMetadata (the log is compacted
//                                                   up to and including its index)
//   0x10    0x10 | nsKey                            stored value: key metadata, then the value
//                                                   (shared/codec encodeStoredValue)
//   0x11    0x11 | expiresAt u64 BE | nsKey         empty (expiry index, time-ordered)
//   0x12    0x12 | cellId                           applied state: version | index | conf |
//                                                   dedupe cutoff (encodeAppliedState)
//   0x13    0x13 | len | cellId | requestId         dedupe record: time | op results of the
//                                                   write's first application
//   0x14    0x14 | cellId                           replica record of this node (JSON
//                                                   ReplicaRecord: the cells it hosts)
//   0x15    0x15 | len | cellId | at u64 BE | reqId empty (dedupe age index)
//   0x16    (free)
//   0x17    0x17 | len | cellId | docKey            meta cell document (JSON)
//   0x18    0x18 | len | cellId | 0x00              usage marker, value 0x01 (the counters are
//                                                   complete)
//   0x18    0x18 | len | cellId | 0x01 | tenant     tenant usage in the cell: keys | bytes
//   0x19    0x19 | "joined"                        value 0x01: this data dir belongs to a
//                                                   cluster (never bootstrap again, even empty)
//
// `len` is one byte, the UTF-8 length of the cell id: one cell's range can then never contain
// another cell's keys ("a" vs "ab"). Numbers in keys are big-endian so byte order is numeric
// order (a cell's log iterates in index order, the expiry index in time order). Data keys are
// global, not per cell: the cells of one node own disjoint ranges, so a split leaves the data
// where it is. Raft log entries carry entry payloads (shared/codec encodeCellEntryPayload).

import { assert } from '../../shared/assert.js';
import type { OpResult } from '../../shared/cell-protocol.js';
import { BinaryReader, BinaryWriter, decodeOpResult, encodeOpResult, openChecksum, sealChecksum } from '../../shared/codec/index.js';
import {
  decodeConfState,
  decodeHardState,
  decodeSnapshotMetadata,
  encodeConfState,
  encodeHardState,
  encodeSnapshotMetadata,
} from '../raft/codec.js';
import type { ConfState, HardState, SnapshotMetadata } from '../raft/types.js';

export { decodeLogRecord, encodeLogRecord } from '../raft/codec.js';
export {
  decodeCellEntryPayload,
  decodeStoredValue,
  encodeCellEntryPayload,
  encodeStoredValue,
  type StoredValue,
} from '../../shared/codec/index.js';

/** The first byte of every key: the kind of record (table above). */
export const RecordPrefix = {
  marker: 0x00,
  raftLog: 0x01,
  hardState: 0x02,
  snapshotMeta: 0x03,
  data: 0x10,
  expiry: 0x11,
  applied: 0x12,
  dedupe: 0x13,
  replica: 0x14,
  dedupeAge: 0x15,
  metaDoc: 0x17,
  usage: 0x18,
  node: 0x19,
} as const;

export type RecordKind = keyof typeof RecordPrefix;

/** Bounds for LevelDB iterators and range deletes: [gte, lt). */
export interface KeyRange {
  readonly gte: Uint8Array;
  readonly lt: Uint8Array;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const U32 = 0x1_0000_0000;

function concat(...parts: Uint8Array[]): Uint8Array {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** A time as 8 bytes big-endian, clamped to a non-negative integer (times in keys). */
function u64be(n: number): Uint8Array {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setBigUint64(0, BigInt(Math.max(0, Math.floor(n))));
  return b;
}

/** A log index as 8 bytes big-endian; anything but a safe non-negative integer is a bug. */
function u64Index(n: number): Uint8Array {
  assert(Number.isSafeInteger(n) && n >= 0, `u64 key part must be a safe non-negative integer, got ${n}`);
  const b = new Uint8Array(8);
  const v = new DataView(b.buffer);
  v.setUint32(0, Math.floor(n / U32));
  v.setUint32(4, n % U32);
  return b;
}

/** The cell id of a Raft key, checked to fit its one-byte length. */
function raftCellId(cellId: string): Uint8Array {
  const c = encoder.encode(cellId);
  assert(c.length > 0 && c.length <= 255, `cell id must be 1..255 UTF-8 bytes, got ${c.length}`);
  return c;
}

/** `prefix | len | cellId`: every key of the kind for this cell starts with these bytes. */
function cellScoped(prefix: number, cellId: string): Uint8Array {
  const c = encoder.encode(cellId);
  return concat(Uint8Array.of(prefix, c.length), c);
}

/** The smallest key greater than every key that starts with `prefix`. */
export function prefixEnd(prefix: Uint8Array): Uint8Array {
  const out = prefix.slice();
  for (let i = out.length - 1; i >= 0; i--) {
    if (out[i]! < 0xff) {
      out[i]! += 1;
      return out.subarray(0, i + 1);
    }
  }
  assert(false, 'prefix of only 0xff bytes has no upper bound');
}

export function prefixRange(prefix: Uint8Array): KeyRange {
  return { gte: prefix, lt: prefixEnd(prefix) };
}

/** Every key of one kind. */
export function recordKindRange(kind: RecordKind): KeyRange {
  return prefixRange(Uint8Array.of(RecordPrefix[kind]));
}

/** Splits a `prefix | len | cellId | rest` key (raft log, dedupe, dedupe age, meta doc, usage). */
export function splitCellScopedKey(k: Uint8Array): { prefix: number; cellId: string; rest: Uint8Array } {
  const len = k[1]!;
  return { prefix: k[0]!, cellId: decoder.decode(k.subarray(2, 2 + len)), rest: k.subarray(2 + len) };
}

// ------------------------------------------------------------------ 0x00 markers

export const SYNC_MARKER_KEY: Uint8Array = Uint8Array.of(RecordPrefix.marker, 0x73, 0x79, 0x6e, 0x63); // "\0sync"

// ------------------------------------------------------------------ 0x01-0x03 raft state

/** `0x01 | len | cellId`: every log key of the cell starts with exactly these bytes. */
export function raftLogPrefix(cellId: string): Uint8Array {
  const c = raftCellId(cellId);
  return concat(Uint8Array.of(RecordPrefix.raftLog, c.length), c);
}

export function raftLogKey(cellId: string, index: number): Uint8Array {
  return concat(raftLogPrefix(cellId), u64Index(index));
}

/** The index of a log key of the cell whose prefix is `prefix` (from raftLogPrefix). */
export function raftLogKeyIndex(prefix: Uint8Array, key: Uint8Array): number {
  assert(key.length === prefix.length + 8, `log key of length ${key.length}, expected ${prefix.length + 8}`);
  for (let i = 0; i < prefix.length; i++) assert(key[i] === prefix[i], 'log key of another cell');
  const v = new DataView(key.buffer, key.byteOffset + prefix.length, 8);
  const hi = v.getUint32(0);
  assert(hi < 0x20_0000, 'log index beyond 2^53');
  return hi * U32 + v.getUint32(4);
}

/** Log keys of the cell with index in [from, to); `to` omitted = to the end of its log. */
export function raftLogRange(cellId: string, from = 0, to?: number): KeyRange {
  return {
    gte: raftLogKey(cellId, from),
    lt: to === undefined ? prefixEnd(raftLogPrefix(cellId)) : raftLogKey(cellId, to),
  };
}

export function hardStateKey(cellId: string): Uint8Array {
  return concat(Uint8Array.of(RecordPrefix.hardState), raftCellId(cellId));
}

export function snapshotMetaKey(cellId: string): Uint8Array {
  return concat(Uint8Array.of(RecordPrefix.snapshotMeta), raftCellId(cellId));
}

const POINT_PREFIXES: readonly number[] = [RecordPrefix.hardState, RecordPrefix.snapshotMeta, RecordPrefix.applied, RecordPrefix.replica];

/** The cell id of a `prefix | cellId` key: hard state, snapshot metadata, applied state, replica. */
export function cellIdOfPointKey(key: Uint8Array): string {
  assert(POINT_PREFIXES.includes(key[0]!), 'not a per-cell point key');
  return decoder.decode(key.subarray(1));
}

export function encodeHardStateRecord(hs: HardState): Uint8Array {
  return sealChecksum(encodeHardState(hs));
}

/** Throws a CodecError on a checksum mismatch or a malformed record. */
export function decodeHardStateRecord(raw: Uint8Array): HardState {
  return decodeHardState(openChecksum(raw));
}

export function encodeSnapshotMetaRecord(m: SnapshotMetadata): Uint8Array {
  return sealChecksum(encodeSnapshotMetadata(m));
}

/** Throws a CodecError on a checksum mismatch or a malformed record. */
export function decodeSnapshotMetaRecord(raw: Uint8Array): SnapshotMetadata {
  return decodeSnapshotMetadata(openChecksum(raw));
}

// ------------------------------------------------------------------ 0x10-0x11 data, expiry

export function dataKey(nsKey: Uint8Array): Uint8Array {
  return concat(Uint8Array.of(RecordPrefix.data), nsKey);
}

export function isDataKey(k: Uint8Array): boolean {
  return k[0] === RecordPrefix.data;
}

export function dataKeyToNs(k: Uint8Array): Uint8Array {
  return k.subarray(1);
}

/** LevelDB bounds for the data of namespaced range [start, end); end null = to the end. */
export function dataRange(start: Uint8Array, end: Uint8Array | null): KeyRange {
  return { gte: dataKey(start), lt: end ? dataKey(end) : Uint8Array.of(RecordPrefix.data + 1) };
}

export function expiryKey(expiresAt: number, nsKey: Uint8Array): Uint8Array {
  return concat(Uint8Array.of(RecordPrefix.expiry), u64be(expiresAt), nsKey);
}

/** Expiry index entries due at or before `nowMs`. */
export function expiryRangeUntil(nowMs: number): KeyRange {
  return { gte: Uint8Array.of(RecordPrefix.expiry), lt: concat(Uint8Array.of(RecordPrefix.expiry), u64be(nowMs + 1)) };
}

export function expiryKeyToNs(k: Uint8Array): Uint8Array {
  return k.subarray(9);
}

// ------------------------------------------------------------------ 0x12 applied state

export interface AppliedState {
  readonly index: number;
  readonly confState: ConfState;
  /** Dedupe records older than this (ms) are dead; raised by a replicated cutoff command. */
  readonly dedupeCutoffMs: number;
  /**
   * Added to the Raft index in versions (`(index + versionBase) << 16 | position`): a merge
   * raises it so the merged cell's versions stay above the absorbed cell's. Absent = 0.
   */
  readonly versionBase?: number;
}

export function appliedKey(cellId: string): Uint8Array {
  return concat(Uint8Array.of(RecordPrefix.applied), encoder.encode(cellId));
}

/** 1: index, conf, cutoff; 2: the same plus the version base (written only when non-zero). */
const APPLIED_STATE_VERSION = 1;
const APPLIED_STATE_VERSION_BASED = 2;

export function encodeAppliedState(s: AppliedState): Uint8Array {
  const w = new BinaryWriter();
  const base = s.versionBase ?? 0;
  w.u8(base === 0 ? APPLIED_STATE_VERSION : APPLIED_STATE_VERSION_BASED);
  w.varuint(s.index);
  w.bytes(encodeConfState(s.confState));
  w.varuint(s.dedupeCutoffMs);
  if (base !== 0) w.varuint(base);
  return w.finish().slice();
}

export function decodeAppliedState(b: Uint8Array): AppliedState {
  const r = new BinaryReader(b);
  const format = r.u8();
  const index = r.varuint();
  const confState: ConfState = decodeConfState(r.bytes());
  const dedupeCutoffMs = r.varuint();
  if (format === APPLIED_STATE_VERSION_BASED) return { index, confState, dedupeCutoffMs, versionBase: r.varuint() };
  return { index, confState, dedupeCutoffMs };
}

// ------------------------------------------------------------------ 0x13, 0x15 dedupe

export function dedupeKey(cellId: string, requestId: string): Uint8Array {
  return concat(cellScoped(RecordPrefix.dedupe, cellId), encoder.encode(requestId));
}

export function dedupeRange(cellId: string): KeyRange {
  const p = cellScoped(RecordPrefix.dedupe, cellId);
  // UTF-8 request ids never contain 0xff, so this bounds every id under the prefix.
  return { gte: p, lt: concat(p, Uint8Array.of(0xff, 0xff, 0xff, 0xff)) };
}

export function encodeDedupeRecord(rec: { atMs: number; results: readonly OpResult[] }): Uint8Array {
  const w = new BinaryWriter();
  w.varuint(rec.atMs);
  w.varuint(rec.results.length);
  for (const r of rec.results) w.bytes(encodeOpResult(r));
  return w.finish().slice();
}

export function decodeDedupeRecord(b: Uint8Array): { atMs: number; results: OpResult[] } {
  const r = new BinaryReader(b);
  const atMs = r.varuint();
  const n = r.varuint();
  const results: OpResult[] = [];
  for (let i = 0; i < n; i++) results.push(decodeOpResult(r.bytes()));
  return { atMs, results };
}

export function dedupeAgeKey(cellId: string, atMs: number, requestId: string): Uint8Array {
  return concat(cellScoped(RecordPrefix.dedupeAge, cellId), u64be(atMs), encoder.encode(requestId));
}

/**
 * Copies a dedupe table to another cell (a split): for a record stored under `fromCellId`, its
 * record key and age key under `toCellId`, built from the bytes (the request id is not decoded,
 * the record only as far as its time). Equal to dedupeKey / dedupeAgeKey of the decoded values.
 */
export function dedupeRehomer(fromCellId: string, toCellId: string): (key: Uint8Array, value: Uint8Array) => { recordKey: Uint8Array; ageKey: Uint8Array } {
  const fromLen = cellScoped(RecordPrefix.dedupe, fromCellId).length;
  const recordPrefix = cellScoped(RecordPrefix.dedupe, toCellId);
  const agePrefix = cellScoped(RecordPrefix.dedupeAge, toCellId);
  return (key, value) => {
    const id = key.subarray(fromLen);
    const atMs = new BinaryReader(value).varuint();
    return { recordKey: concat(recordPrefix, id), ageKey: concat(agePrefix, u64be(atMs), id) };
  };
}

/** Dedupe age entries of the cell older than `beforeMs`. */
export function dedupeAgeRange(cellId: string, beforeMs: number): KeyRange {
  const p = cellScoped(RecordPrefix.dedupeAge, cellId);
  return { gte: p, lt: concat(p, u64be(beforeMs)) };
}

/** Splits a dedupe age key into (time, requestId). */
export function parseDedupeAgeKey(cellId: string, k: Uint8Array): { atMs: number; requestId: string } {
  const off = cellScoped(RecordPrefix.dedupeAge, cellId).length;
  const atMs = Number(new DataView(k.buffer, k.byteOffset + off, 8).getBigUint64(0));
  return { atMs, requestId: decoder.decode(k.subarray(off + 8)) };
}

// ------------------------------------------------------------------ 0x14 replica registry

export interface ReplicaRecord {
  readonly cellId: string;
  /** Hex of the namespaced range start; '' = the beginning. */
  readonly start: string;
  /** Hex of the exclusive end; null = unbounded. */
  readonly end: string | null;
  readonly epoch: number;
  /**
   * Set by a merge freeze: the cell is being absorbed by `into` (which had `intoEpoch` then);
   * it takes no writes and serves no reads from `freezeIndex` on. Absent = a live cell.
   */
  readonly merge?: { readonly into: string; readonly intoEpoch: number; readonly freezeIndex: number; readonly atMs: number };
  /**
   * Cells merged into this one or into the cell it split from (most recent last, bounded): the
   * proof, for a frozen replica of one of them, that its merge committed.
   */
  readonly absorbed?: readonly string[];
}

export function replicaKey(cellId: string): Uint8Array {
  return concat(Uint8Array.of(RecordPrefix.replica), encoder.encode(cellId));
}

export function encodeReplicaRecord(rec: ReplicaRecord): Uint8Array {
  return encoder.encode(JSON.stringify(rec));
}

export function decodeReplicaRecord(v: Uint8Array): ReplicaRecord {
  return JSON.parse(decoder.decode(v)) as ReplicaRecord;
}

// ------------------------------------------------------------------ 0x17 meta documents

export function metaDocKey(cellId: string, docKey: string): Uint8Array {
  return concat(cellScoped(RecordPrefix.metaDoc, cellId), encoder.encode(docKey));
}

/** The document key of a meta document key of the cell. */
export function metaDocName(cellId: string, k: Uint8Array): string {
  return decoder.decode(k.subarray(cellScoped(RecordPrefix.metaDoc, cellId).length));
}

export function metaDocRange(cellId: string): KeyRange {
  const p = cellScoped(RecordPrefix.metaDoc, cellId);
  return { gte: p, lt: concat(p, Uint8Array.of(0xff, 0xff, 0xff, 0xff)) };
}

// ------------------------------------------------------------------ 0x18 tenant usage

export interface TenantUsage {
  readonly keys: number;
  readonly bytes: number;
}

/** Present once the cell's usage counters cover all of its data (see cell/kv/usage.ts). */
export function usageMarkerKey(cellId: string): Uint8Array {
  return concat(cellScoped(RecordPrefix.usage, cellId), Uint8Array.of(0));
}

export const USAGE_MARKER_VALUE: Uint8Array = Uint8Array.of(1);

export function usageKey(cellId: string, tenant: string): Uint8Array {
  return concat(cellScoped(RecordPrefix.usage, cellId), Uint8Array.of(1), encoder.encode(tenant));
}

/** The tenant named by a usage key; null for the marker. */
export function usageKeyTenant(cellId: string, k: Uint8Array): string | null {
  const off = cellScoped(RecordPrefix.usage, cellId).length;
  return k[off] === 1 ? decoder.decode(k.subarray(off + 1)) : null;
}

/** The marker and every tenant's usage record of one cell. */
export function usageRange(cellId: string): KeyRange {
  const p = cellScoped(RecordPrefix.usage, cellId);
  return { gte: p, lt: concat(p, Uint8Array.of(2)) };
}

export function encodeUsage(u: TenantUsage): Uint8Array {
  return new BinaryWriter().varuint(u.keys).varuint(u.bytes).finish().slice();
}

export function decodeUsage(b: Uint8Array): TenantUsage {
  const r = new BinaryReader(b);
  const keys = r.varuint();
  const bytes = r.varuint();
  r.expectEnd();
  return { keys, bytes };
}

// ------------------------------------------------------------------ 0x19 node state

/**
 * Set once the node bootstrapped a cluster or hosted a replica: a node emptied by moves (or a
 * drain) and restarted must not bootstrap a second cluster's cells with the same ids.
 */
export function joinedKey(): Uint8Array {
  return concat(Uint8Array.of(RecordPrefix.node), encoder.encode('joined'));
}

export const JOINED_VALUE = Uint8Array.of(1);
