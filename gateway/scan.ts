// Ordered range scans across cells. The gateway walks the cells itself (one request per cell
// touched, never more than the page needs) so a page that fills up exactly at a cell boundary
// still returns a cursor to the rest. The cursor is base64url of the next key to return.

import type { ScanItem } from '../shared/cell-protocol.js';
import { bytesOfHex, cellForKey, type CellDescriptor } from '../shared/directory.js';
import { KvError } from '../shared/errors.js';
import { compareBytes, MAX_KEY_BYTES, namespacedKey, prefixEnd, splitNamespacedKey } from '../shared/keys.js';
import type { RequestOptions } from '../shared/cell-client.js';
import type { CellPort } from './ports.js';
import { decodeBase64Url, encodeBase64Url } from './encoding.js';
import { validateKeyBytes } from './validate.js';

export interface ScanRange {
  /** Inclusive; empty = the tenant's first key. */
  readonly start: Uint8Array;
  /** Exclusive; null = to the end of the tenant's keys. */
  readonly end: Uint8Array | null;
}

/** The range of `prefix=`, or of `start=`/`end=`; both forms at once are ambiguous. */
export function scanRange(prefix: Uint8Array | null, start: Uint8Array | null, end: Uint8Array | null): ScanRange {
  if (prefix !== null && (start !== null || end !== null)) throw new KvError('INVALID_ARGUMENT', 'give either prefix or start/end, not both');
  const check = (b: Uint8Array, what: string) => {
    if (b.length > MAX_KEY_BYTES) throw new KvError('INVALID_ARGUMENT', `${what} must be at most ${MAX_KEY_BYTES} bytes`);
  };
  if (prefix !== null) {
    check(prefix, 'prefix');
    return { start: prefix, end: prefix.length ? prefixEnd(prefix) : null };
  }
  if (start) check(start, 'start');
  if (end) {
    check(end, 'end');
    if (end.length === 0) throw new KvError('INVALID_ARGUMENT', 'end must not be empty (omit it to scan to the end)');
  }
  const s = start ?? new Uint8Array(0);
  if (end && compareBytes(s, end) >= 0) throw new KvError('INVALID_ARGUMENT', 'end must be greater than start');
  return { start: s, end };
}

export function encodeCursor(key: Uint8Array): string {
  return encodeBase64Url(key);
}

/** A cursor is only accepted inside the range it was issued for. */
export function decodeCursor(s: string, range: ScanRange): Uint8Array {
  const key = validateKeyBytes(decodeBase64Url(s, 'cursor'), 'cursor');
  if (compareBytes(key, range.start) < 0 || (range.end && compareBytes(key, range.end) >= 0)) {
    throw new KvError('INVALID_ARGUMENT', 'cursor does not belong to this scan range; pass the range it came with');
  }
  return key;
}

export interface ScanPage {
  readonly items: ScanItem[];
  /** The next key to scan from, null when the range is exhausted. */
  readonly next: Uint8Array | null;
  /** The cell and Raft index of the last cell read (for a session token). */
  readonly lastCell: CellDescriptor | null;
  readonly index: bigint;
  readonly staleAgeMs: number;
}

/** Bounds the walk: a range spanning more cells than this in one page is answered in parts. */
const MAX_CELLS_PER_PAGE = 64;

export async function scanPage(
  port: CellPort,
  tenant: string,
  from: Uint8Array,
  range: ScanRange,
  limit: number,
  keysOnly: boolean,
  readOpts: (cell: CellDescriptor) => RequestOptions,
): Promise<ScanPage> {
  const items: ScanItem[] = [];
  let cursor = from;
  let lastCell: CellDescriptor | null = null;
  let index = 0n;
  let staleAgeMs = 0;
  for (let hop = 0; hop < MAX_CELLS_PER_PAGE; hop++) {
    const cell = cellForKey(await port.directory(), namespacedKey(tenant, cursor));
    if (!cell) throw new KvError('UNAVAILABLE', 'no cell owns this range; the directory is incomplete, retry shortly');
    const r = await port.request(tenant, [], readOpts(cell), { start: cursor, end: range.end, limit: limit - items.length, keysOnly }, cursor);
    lastCell = cell;
    index = r.index;
    staleAgeMs = Math.max(staleAgeMs, r.staleAgeMs);
    items.push(...r.scanItems);
    if (r.scanResumeKey) return { items, next: r.scanResumeKey.slice(), lastCell, index, staleAgeMs };
    const next = nextCellStart(cell, tenant);
    if (next === null || (range.end && compareBytes(next, range.end) >= 0)) return { items, next: null, lastCell, index, staleAgeMs };
    // Full exactly at a cell boundary: the rest starts in the next cell.
    if (items.length >= limit) return { items, next, lastCell, index, staleAgeMs };
    cursor = next;
  }
  return { items, next: cursor, lastCell, index, staleAgeMs };
}

/** The first key of the tenant after `cell`, or null when the tenant's keys end in it. */
function nextCellStart(cell: CellDescriptor, tenant: string): Uint8Array | null {
  if (cell.end === null) return null;
  const split = splitNamespacedKey(bytesOfHex(cell.end));
  if (!split || split.tenant !== tenant) return null;
  return split.key.slice();
}
