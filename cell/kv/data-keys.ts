// LevelDB keys of the state machine (the raft log's keys are in cell/storage/keys.ts).
//   0x10 | nsKey                              -> stored value (value + metadata)
//   0x11 | expiresAt u64 BE | nsKey           -> empty (expiry index, time-ordered)
//   0x12 | cellId                             -> applied state (index, conf, dedupe count)
//   0x13 | cellId len | cellId | requestId    -> dedupe record (results of a write)
//   0x15 | cellId len | cellId | at u64 BE | requestId -> empty (dedupe age index)
//   0x17 | cellId len | cellId | docKey       -> meta cell document (JSON)
//   0x18 | cellId len | cellId | 0x00          -> usage marker (the counters below are complete)
//   0x18 | cellId len | cellId | 0x01 | tenant -> tenant usage in this cell (keys, bytes)
// Data keys are global (not per cell): cells of one node own disjoint ranges, so a split
// leaves the data where it is.

const encoder = new TextEncoder();

export const DATA = 0x10;
export const EXPIRY = 0x11;
export const APPLIED = 0x12;
export const DEDUPE = 0x13;
export const DEDUPE_AGE = 0x15;
export const META_DOC = 0x17;
export const USAGE = 0x18;

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

function u64be(n: number): Uint8Array {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setBigUint64(0, BigInt(Math.max(0, Math.floor(n))));
  return b;
}

function cellPart(cellId: string): Uint8Array {
  const c = encoder.encode(cellId);
  return concat(Uint8Array.of(c.length), c);
}

export function dataKey(nsKey: Uint8Array): Uint8Array {
  return concat(Uint8Array.of(DATA), nsKey);
}

export function dataKeyToNs(k: Uint8Array): Uint8Array {
  return k.subarray(1);
}

/** LevelDB bounds for the data of namespaced range [start, end); end null = to the end. */
export function dataRange(start: Uint8Array, end: Uint8Array | null): { gte: Uint8Array; lt: Uint8Array } {
  return { gte: dataKey(start), lt: end ? dataKey(end) : Uint8Array.of(DATA + 1) };
}

export function expiryKey(expiresAt: number, nsKey: Uint8Array): Uint8Array {
  return concat(Uint8Array.of(EXPIRY), u64be(expiresAt), nsKey);
}

/** Expiry index entries due at or before `nowMs`. */
export function expiryRangeUntil(nowMs: number): { gte: Uint8Array; lt: Uint8Array } {
  return { gte: Uint8Array.of(EXPIRY), lt: concat(Uint8Array.of(EXPIRY), u64be(nowMs + 1)) };
}

export function expiryKeyToNs(k: Uint8Array): Uint8Array {
  return k.subarray(9);
}

export function appliedKey(cellId: string): Uint8Array {
  return concat(Uint8Array.of(APPLIED), encoder.encode(cellId));
}

export function dedupeKey(cellId: string, requestId: string): Uint8Array {
  return concat(Uint8Array.of(DEDUPE), cellPart(cellId), encoder.encode(requestId));
}

export function dedupeAgeKey(cellId: string, atMs: number, requestId: string): Uint8Array {
  return concat(Uint8Array.of(DEDUPE_AGE), cellPart(cellId), u64be(atMs), encoder.encode(requestId));
}

export function dedupeAgeRange(cellId: string, beforeMs: number): { gte: Uint8Array; lt: Uint8Array } {
  const p = concat(Uint8Array.of(DEDUPE_AGE), cellPart(cellId));
  return { gte: p, lt: concat(p, u64be(beforeMs)) };
}

/** Splits a dedupe age key into (time, requestId). */
export function parseDedupeAgeKey(cellId: string, k: Uint8Array): { atMs: number; requestId: string } {
  const off = 1 + cellPart(cellId).length;
  const atMs = Number(new DataView(k.buffer, k.byteOffset + off, 8).getBigUint64(0));
  return { atMs, requestId: new TextDecoder().decode(k.subarray(off + 8)) };
}

export function dedupeRange(cellId: string): { gte: Uint8Array; lt: Uint8Array } {
  const p = concat(Uint8Array.of(DEDUPE), cellPart(cellId));
  // UTF-8 request ids never contain 0xff, so this bounds every id under the prefix.
  return { gte: p, lt: concat(p, Uint8Array.of(0xff, 0xff, 0xff, 0xff)) };
}

export function metaDocKey(cellId: string, docKey: string): Uint8Array {
  return concat(Uint8Array.of(META_DOC), cellPart(cellId), encoder.encode(docKey));
}

export function metaDocRange(cellId: string): { gte: Uint8Array; lt: Uint8Array } {
  const p = concat(Uint8Array.of(META_DOC), cellPart(cellId));
  return { gte: p, lt: concat(p, Uint8Array.of(0xff, 0xff, 0xff, 0xff)) };
}

/** Present once the cell's usage counters cover all of its data (see cell/kv/usage.ts). */
export function usageMarkerKey(cellId: string): Uint8Array {
  return concat(Uint8Array.of(USAGE), cellPart(cellId), Uint8Array.of(0));
}

export function usageKey(cellId: string, tenant: string): Uint8Array {
  return concat(Uint8Array.of(USAGE), cellPart(cellId), Uint8Array.of(1), encoder.encode(tenant));
}

/** The tenant named by a usage key; null for the marker. */
export function usageKeyTenant(cellId: string, k: Uint8Array): string | null {
  const off = 1 + cellPart(cellId).length;
  return k[off] === 1 ? new TextDecoder().decode(k.subarray(off + 1)) : null;
}

/** The marker and every tenant's usage record of one cell. */
export function usageRange(cellId: string): { gte: Uint8Array; lt: Uint8Array } {
  const p = concat(Uint8Array.of(USAGE), cellPart(cellId));
  return { gte: p, lt: concat(p, Uint8Array.of(2)) };
}

export { concat, u64be };
