// Small helpers of the real-process cell tests: UTF-8 in and out, and the version of a result
// that must be ok (the assertion prints the whole result otherwise).
import assert from 'node:assert/strict';
import type { OpResult } from '../../shared/cell-protocol.js';

export const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
export const dec = (b: Uint8Array | null): string | null => (b ? new TextDecoder().decode(b) : null);

export function version(r: OpResult): bigint {
  assert.equal(r.status, 'ok', JSON.stringify(r, (_k, v: unknown) => (typeof v === 'bigint' ? String(v) : v)));
  return r.status === 'ok' ? r.meta!.version : -1n;
}
