// Key layout of a storage node's single LevelDB. The first byte is a prefix naming the kind of
// record, so each kind is one contiguous, byte-ordered range:
//
//   0x00 | marker                          node-internal markers (the group-commit sync marker)
//   0x01 | len u8 | cellId | index u64 BE  raft log record (CRC-sealed entry), one per index
//   0x02 | cellId                          raft hard state of the cell (CRC-sealed)
//   0x03 | cellId                          snapshot metadata of the cell (CRC-sealed): the log
//                                          is compacted up to and including its index
//   0x10 | namespaced user key             state-machine data           (cell/kv/data-keys.ts)
//   0x11 | expiresAt u64 BE | ns key       expiry index                 (cell/kv/data-keys.ts)
//   0x12 | cellId                          per-cell applied index, conf (cell/kv/data-keys.ts)
//   0x13 | len | cellId | requestId        request-id dedupe table      (cell/kv/data-keys.ts)
//   0x14 | cellId                          replica registry of this node (cells it hosts,
//                                          cell/node/replica-registry.ts)
//   0x15, 0x17, 0x18                       dedupe age index, meta documents, tenant usage
//                                          counters (data-keys.ts)
//
// The cell id inside a log key is length-prefixed so that one cell's log range can never
// contain another cell's keys ("a" vs "ab"), and the index is big-endian so LevelDB's
// byte order is index order: iterating a cell's range yields its log in order.

import { assert } from '../../shared/assert.js';

export const PREFIX_MARKER = 0x00;
export const PREFIX_RAFT_LOG = 0x01;
export const PREFIX_HARD_STATE = 0x02;
export const PREFIX_SNAPSHOT_META = 0x03;
// Reserved for other components (documented above; the owners build their own keys).
export const PREFIX_DATA = 0x10;
export const PREFIX_EXPIRY = 0x11;
export const PREFIX_APPLIED = 0x12;
export const PREFIX_DEDUPE = 0x13;
export const PREFIX_REPLICA_REGISTRY = 0x14;

/** Bounds for LevelDB iterators and range deletes: [gte, lt). */
export interface KeyRange {
  readonly gte: Uint8Array;
  readonly lt: Uint8Array;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const U32 = 0x1_0000_0000;

/** Deleted (a no-op) by a forced sync, because LevelDB skips empty batches entirely. */
export const SYNC_MARKER_KEY: Uint8Array = Uint8Array.of(PREFIX_MARKER, 0x73, 0x79, 0x6e, 0x63); // "\0sync"

function cellIdUtf8(cellId: string): Uint8Array {
  const c = encoder.encode(cellId);
  assert(c.length > 0 && c.length <= 255, `cell id must be 1..255 UTF-8 bytes, got ${c.length}`);
  return c;
}

function prefixed(prefix: number, body: Uint8Array): Uint8Array {
  const out = new Uint8Array(1 + body.length);
  out[0] = prefix;
  out.set(body, 1);
  return out;
}

/** `0x01 | len | cellId`: every log key of the cell starts with exactly these bytes. */
export function raftLogPrefix(cellId: string): Uint8Array {
  const c = cellIdUtf8(cellId);
  const out = new Uint8Array(2 + c.length);
  out[0] = PREFIX_RAFT_LOG;
  out[1] = c.length;
  out.set(c, 2);
  return out;
}

function writeU64(out: Uint8Array, at: number, n: number): void {
  assert(Number.isSafeInteger(n) && n >= 0, `u64 key part must be a safe non-negative integer, got ${n}`);
  const v = new DataView(out.buffer, out.byteOffset, out.byteLength);
  v.setUint32(at, Math.floor(n / U32));
  v.setUint32(at + 4, n % U32);
}

export function raftLogKey(cellId: string, index: number): Uint8Array {
  const p = raftLogPrefix(cellId);
  const out = new Uint8Array(p.length + 8);
  out.set(p, 0);
  writeU64(out, p.length, index);
  return out;
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

/** Log keys of the cell with index in [from, to); `to` omitted = to the end of its log. */
export function raftLogRange(cellId: string, from = 0, to?: number): KeyRange {
  return {
    gte: raftLogKey(cellId, from),
    lt: to === undefined ? prefixEnd(raftLogPrefix(cellId)) : raftLogKey(cellId, to),
  };
}

export function hardStateKey(cellId: string): Uint8Array {
  return prefixed(PREFIX_HARD_STATE, cellIdUtf8(cellId));
}

export function snapshotMetaKey(cellId: string): Uint8Array {
  return prefixed(PREFIX_SNAPSHOT_META, cellIdUtf8(cellId));
}

/** The cell id of a hard-state or snapshot-metadata key (to enumerate cells on disk). */
export function cellIdOfPointKey(key: Uint8Array): string {
  assert(key[0] === PREFIX_HARD_STATE || key[0] === PREFIX_SNAPSHOT_META, 'not a per-cell point key');
  return decoder.decode(key.subarray(1));
}
