// Validation of the small scalar inputs both front doors accept (TTL, versions, attributes,
// idempotency keys, consistency). Each parser returns a typed value or throws
// INVALID_ARGUMENT with a message that says what is accepted.

import type { Attrs, Consistency } from '../shared/cell-protocol.js';
import { KvError } from '../shared/errors.js';
import { MAX_KEY_BYTES } from '../shared/keys.js';

/** Ten years, the cell's own TTL bound. */
export const MAX_TTL_SECONDS = 10 * 365 * 24 * 3600;
export const MAX_ATTRS = 16;
export const MAX_ATTR_VALUE_BYTES = 1024;
export const MAX_ATTRS_TOTAL_BYTES = 4096;
export const MAX_IDEMPOTENCY_KEY_CHARS = 255;
export const MAX_STALENESS_MS = 24 * 3600 * 1000;
export const DEFAULT_SCAN_LIMIT = 100;
export const MAX_SCAN_LIMIT = 1000;
export const MAX_BATCH_OPS = 1000;
const U64_MAX = (1n << 64n) - 1n;

const invalid = (msg: string) => new KvError('INVALID_ARGUMENT', msg);

export function validateKeyBytes(key: Uint8Array, what = 'key'): Uint8Array {
  if (key.length < 1 || key.length > MAX_KEY_BYTES) throw invalid(`${what} must be 1..${MAX_KEY_BYTES} bytes, got ${key.length}`);
  return key;
}

/** A TTL in whole seconds (text or JSON number) to milliseconds. */
export function parseTtlSeconds(v: string | number): number {
  const n = typeof v === 'number' ? v : /^[1-9][0-9]{0,9}$/.test(v) ? Number(v) : NaN;
  if (!Number.isInteger(n) || n < 1 || n > MAX_TTL_SECONDS) throw invalid(`ttl must be a whole number of seconds in 1..${MAX_TTL_SECONDS}`);
  return n * 1000;
}

/** A u64 version as a decimal string. */
export function parseVersion(s: string, what = 'version'): bigint {
  if (!/^(0|[1-9][0-9]{0,19})$/.test(s)) throw invalid(`${what} must be a decimal unsigned 64-bit integer`);
  const v = BigInt(s);
  if (v > U64_MAX) throw invalid(`${what} exceeds 2^64-1`);
  return v;
}

/** `If-Match: "<version>"`: exactly one strong entity tag holding a version. */
export function parseIfMatch(h: string): bigint {
  const m = /^\s*"([^"]*)"\s*$/.exec(h);
  if (!m) throw invalid('If-Match must be one strong entity tag: "<version>" (weak tags, lists and * are not supported)');
  return parseVersion(m[1]!, 'If-Match version');
}

/** `If-None-Match: *` is the only accepted form (create only). */
export function parseIfNoneMatch(h: string): true {
  if (h.trim() !== '*') throw invalid('If-None-Match accepts only * (create only)');
  return true;
}

const ATTR_NAME = /^[a-z0-9][a-z0-9_-]{0,62}$/;
// Visible ASCII and inner spaces: the value must survive as an HTTP header unchanged.
const ATTR_VALUE = /^(?:[\x21-\x7e](?:[\x20-\x7e]*[\x21-\x7e])?)?$/;

/** Attribute names are lower-case (HTTP header names are case-insensitive), values header-safe. */
export function validateAttrs(attrs: Readonly<Record<string, string>>): Attrs {
  const names = Object.keys(attrs);
  if (names.length > MAX_ATTRS) throw invalid(`at most ${MAX_ATTRS} attributes`);
  let total = 0;
  const out: Record<string, string> = Object.create(null) as Record<string, string>;
  for (const name of names) {
    const value = attrs[name]!;
    if (!ATTR_NAME.test(name)) throw invalid(`attribute name "${name.slice(0, 80)}" must match ${ATTR_NAME.source}`);
    if (typeof value !== 'string' || !ATTR_VALUE.test(value) || value.length > MAX_ATTR_VALUE_BYTES) {
      throw invalid(`attribute "${name}" must be printable ASCII without leading/trailing spaces, at most ${MAX_ATTR_VALUE_BYTES} bytes`);
    }
    total += name.length + value.length;
    out[name] = value;
  }
  if (total > MAX_ATTRS_TOTAL_BYTES) throw invalid(`attributes total ${total} bytes; the limit is ${MAX_ATTRS_TOTAL_BYTES}`);
  return { ...out };
}

export function parseIdempotencyKey(s: string): string {
  if (s.length < 1 || s.length > MAX_IDEMPOTENCY_KEY_CHARS || !/^[\x21-\x7e]+$/.test(s)) {
    throw invalid(`Idempotency-Key must be 1..${MAX_IDEMPOTENCY_KEY_CHARS} visible ASCII characters`);
  }
  return s;
}

export function parseConsistency(s: string): Consistency {
  if (s === 'linearizable' || s === 'session' || s === 'stale') return s;
  throw invalid('consistency must be linearizable, session or stale');
}

export function parseMaxStaleness(v: string | number): number {
  const n = typeof v === 'number' ? v : /^(0|[1-9][0-9]{0,9})$/.test(v) ? Number(v) : NaN;
  if (!Number.isInteger(n) || n < 0 || n > MAX_STALENESS_MS) throw invalid(`max_staleness must be whole milliseconds in 0..${MAX_STALENESS_MS}`);
  return n;
}

export function parseLimit(v: string | number | null): number {
  if (v === null) return DEFAULT_SCAN_LIMIT;
  const n = typeof v === 'number' ? v : /^[1-9][0-9]{0,6}$/.test(v) ? Number(v) : NaN;
  if (!Number.isInteger(n) || n < 1 || n > MAX_SCAN_LIMIT) throw invalid(`limit must be a whole number in 1..${MAX_SCAN_LIMIT}`);
  return n;
}

export function parseBool(s: string, what: string): boolean {
  if (s === 'true' || s === '1' || s === '') return true;
  if (s === 'false' || s === '0') return false;
  throw invalid(`${what} must be true or false`);
}
