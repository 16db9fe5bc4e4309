// JSON shapes of results, shared by the HTTP API and the NATS front door so both answer the
// same way. Bytes go out as UTF-8 text when asked and valid, else base64, and every byte field
// says which (`keyEncoding` / `valueEncoding`). Versions are decimal strings (u64).

import type { KeyMeta, ScanItem } from '../shared/cell-protocol.js';
import type { KvError } from '../shared/errors.js';
import { problemOfError, type Problem } from '../shared/http-problem.js';
import type { BatchOp } from './batch.js';
import type { BatchOutcome, ScanOutcome } from './core.js';
import { encodeForJson, type BytesEncoding } from './encoding.js';
import type { BatchOpOutcome } from './ports.js';

export type Json = string | number | boolean | null | Json[] | { [k: string]: Json };

export function metaJson(m: KeyMeta): { [k: string]: Json } {
  return { version: m.version.toString(), createdAt: m.createdAt, updatedAt: m.updatedAt, expiresAt: m.expiresAt, attrs: { ...m.attrs } };
}

export function scanItemJson(it: ScanItem, keyEnc: BytesEncoding, valueEnc: BytesEncoding): { [k: string]: Json } {
  const key = encodeForJson(it.key, keyEnc);
  const out: { [k: string]: Json } = { key: key.text, keyEncoding: key.encoding };
  if (it.value !== null) {
    const v = encodeForJson(it.value, valueEnc);
    out['value'] = v.text;
    out['valueEncoding'] = v.encoding;
  }
  return { ...out, ...metaJson(it.meta) };
}

export function scanJson(s: ScanOutcome, keyEnc: BytesEncoding, valueEnc: BytesEncoding): { [k: string]: Json } {
  return { items: s.items.map((it) => scanItemJson(it, keyEnc, valueEnc)), cursor: s.cursor, session: s.session };
}

/** A per-op error inside a batch: the problem shape without `type`/`title` noise. */
export function opErrorJson(e: KvError): { [k: string]: Json } {
  const p: Problem = problemOfError(e);
  const { type: _t, title: _ti, ...rest } = p;
  return { ...rest };
}

function opResultJson(op: BatchOp, r: BatchOpOutcome, defaultEnc: BytesEncoding): { [k: string]: Json } {
  if (!r.ok) return { op: op.op, ...opErrorJson(r.error) };
  if (r.op === 'get') {
    const v = encodeForJson(r.value, op.op === 'get' ? op.valueEncoding : defaultEnc);
    return { op: 'get', status: 200, value: v.text, valueEncoding: v.encoding, ...metaJson(r.meta), session: r.session };
  }
  if (r.op === 'put') return { op: 'put', status: r.created ? 201 : 200, version: r.version.toString(), created: r.created, session: r.session };
  return { op: 'delete', status: 204, session: r.session };
}

export function batchJson(ops: readonly BatchOp[], b: BatchOutcome, defaultEnc: BytesEncoding): { [k: string]: Json } {
  const out: { [k: string]: Json } = { results: b.results.map((r, i) => opResultJson(ops[i]!, r, defaultEnc)), session: b.session };
  if (b.applied !== null) out['applied'] = b.applied;
  return out;
}
