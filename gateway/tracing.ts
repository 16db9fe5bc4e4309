// W3C trace context without an OpenTelemetry SDK (not a dependency yet): each request gets a
// trace id (the caller's, from `traceparent`, or a new one) and a span id of its own; the
// traceparent travels into CellRequest.traceparent and a NATS header, and logs carry the ids.

import { AsyncLocalStorage } from 'node:async_hooks';
import { randomBytes } from 'node:crypto';
import { headers as natsHeaders, type RequestOptions } from '@nats-io/transport-node';
import { decodeCellRequest, encodeCellRequest } from '../shared/codec/index.js';

export interface TraceContext {
  readonly traceId: string;
  readonly spanId: string;
  readonly flags: string;
  /** The traceparent this gateway span propagates downstream. */
  readonly traceparent: string;
}

const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;
const ZERO_TRACE = '0'.repeat(32);
const ZERO_SPAN = '0'.repeat(16);

/** Parses a version-00 traceparent; null when absent or invalid (then a new trace starts). */
export function parseTraceparent(h: string | null | undefined): { traceId: string; parentId: string; flags: string } | null {
  if (!h) return null;
  const m = TRACEPARENT.exec(h.trim());
  if (!m || m[1] === ZERO_TRACE || m[2] === ZERO_SPAN) return null;
  return { traceId: m[1]!, parentId: m[2]!, flags: m[3]! };
}

/** A span for this request, a child of the incoming traceparent when there is a valid one. */
export function startTrace(incoming: string | null | undefined): TraceContext {
  const parent = parseTraceparent(incoming);
  const traceId = parent?.traceId ?? randomBytes(16).toString('hex');
  const spanId = randomBytes(8).toString('hex');
  const flags = parent?.flags ?? '01';
  return { traceId, spanId, flags, traceparent: `00-${traceId}-${spanId}-${flags}` };
}

const store = new AsyncLocalStorage<TraceContext>();

export function runWithTrace<T>(t: TraceContext, fn: () => T): T {
  return store.run(t, fn);
}

export function currentTrace(): TraceContext | undefined {
  return store.getStore();
}

/**
 * Adds the current trace to a request bound for a cell node. CellClient builds the CellRequest
 * itself with an empty traceparent, so it is filled in here on the way out (re-encoding is a
 * copy, cheap next to the network hop); the same value goes into a `traceparent` NATS header.
 */
export function traceCellRequest(subject: string, payload: Uint8Array, opts: RequestOptions): { payload: Uint8Array; opts: RequestOptions } {
  const t = store.getStore();
  if (!t || !subject.startsWith('cellkv.node.')) return { payload, opts };
  let data = payload;
  try {
    const req = decodeCellRequest(payload);
    if (req.traceparent === '') data = encodeCellRequest({ ...req, traceparent: t.traceparent });
  } catch {
    // Not a cell request we understand: send it unchanged.
  }
  const h = opts.headers ?? natsHeaders();
  h.set('traceparent', t.traceparent);
  return { payload: data, opts: { ...opts, headers: h } };
}
