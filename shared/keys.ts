// Tenant namespacing of user keys. A stored key is `tenant UTF-8 | 0x00 | key bytes`: tenant
// names never contain 0x00, so each tenant's keys form one contiguous, ordered range and no
// key of one tenant can fall inside another tenant's range.

import { KvError } from './errors.js';

export const MAX_KEY_BYTES = 4096;
export const DEFAULT_MAX_VALUE_BYTES = 1 << 20;
const TENANT_RE = /^[a-z0-9][a-z0-9_-]{0,62}$/;
const encoder = new TextEncoder();

export function validateTenant(tenant: string): void {
  if (!TENANT_RE.test(tenant)) {
    throw new KvError('INVALID_ARGUMENT', `tenant "${tenant}" must match ${TENANT_RE.source}`);
  }
}

export function validateKey(key: Uint8Array): void {
  if (key.length < 1 || key.length > MAX_KEY_BYTES) {
    throw new KvError('INVALID_ARGUMENT', `key must be 1..${MAX_KEY_BYTES} bytes, got ${key.length}`);
  }
}

export function tenantPrefix(tenant: string): Uint8Array {
  const t = encoder.encode(tenant);
  const out = new Uint8Array(t.length + 1);
  out.set(t, 0);
  out[t.length] = 0;
  return out;
}

export function namespacedKey(tenant: string, key: Uint8Array): Uint8Array {
  const p = tenantPrefix(tenant);
  const out = new Uint8Array(p.length + key.length);
  out.set(p, 0);
  out.set(key, p.length);
  return out;
}

/** The exclusive end of a tenant's range: the prefix with its 0x00 separator bumped to 0x01. */
export function tenantRangeEnd(tenant: string): Uint8Array {
  const p = tenantPrefix(tenant);
  p[p.length - 1] = 1;
  return p;
}

/** Splits a namespaced key back into tenant and user key; null when malformed. */
export function splitNamespacedKey(ns: Uint8Array): { tenant: string; key: Uint8Array } | null {
  const sep = ns.indexOf(0);
  if (sep <= 0) return null;
  return { tenant: new TextDecoder().decode(ns.subarray(0, sep)), key: ns.subarray(sep + 1) };
}

/** The smallest key greater than every key with this prefix (null: no such key). */
export function prefixEnd(prefix: Uint8Array): Uint8Array | null {
  const out = prefix.slice();
  for (let i = out.length - 1; i >= 0; i--) {
    if (out[i]! < 0xff) {
      out[i]! += 1;
      return out.subarray(0, i + 1);
    }
  }
  return null;
}

/** Whether `key` lies in [start, end); end null = unbounded. */
export function inKeyRange(key: Uint8Array, start: Uint8Array, end: Uint8Array | null): boolean {
  return compareBytes(key, start) >= 0 && (end === null || compareBytes(key, end) < 0);
}

export function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    if (a[i] !== b[i]) return a[i]! - b[i]!;
  }
  return a.length - b.length;
}
