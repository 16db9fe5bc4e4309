// Coalescing of NATS request-reply: requests bound for the same subject within one event-loop
// turn travel as ONE NATS request (`<subject>.batch`) and come back as one reply. Every NATS
// message costs a syscall and a parse at each hop (client, server, node); under load a
// gateway has dozens of requests for one cell leader in every turn, so this is where the
// design's "a gateway coalesces the requests bound for one cell leader into one NATS
// message" happens.
//
// Requests are grouped by subject AND by class (reads, writes): the reply to a batch leaves
// when its slowest item is done, and a read should not wait for a write's fsync.
// Failures keep their NATS meaning per item: a batch that timed out is a timeout for each of
// its requests (ambiguous for writes), "no responders" means none of them was received.
//
// Wire format (all integers little-endian u32):
//   batch:  magic 0xCB 0x01 | count | count × (length | bytes)
//   reply:  magic 0xCB 0x02 | count | count × (length | bytes), in request order.
//   An empty item in a reply means "did not fit this reply: ask again alone". The item WAS
//   processed; asking again is safe because cell writes are idempotent by request id.

import type { NatsConnection, Msg, MsgHdrs } from '@nats-io/transport-node';

export const BATCH_SUBJECT_SUFFIX = '.batch';
/** Bounds on one batch: items and bytes (well under NATS's default 1 MiB max_payload). */
export const MAX_BATCH_ITEMS = 256;
export const MAX_BATCH_BYTES = 512 * 1024;

const MAGIC = 0xcb;
const KIND_REQUEST = 0x01;
const KIND_REPLY = 0x02;

export class BatchCodecError extends Error {
  readonly code = 'MALFORMED_BATCH';
}

function encodeFrames(kind: number, items: readonly Uint8Array[]): Uint8Array {
  let size = 6;
  for (const it of items) size += 4 + it.length;
  const out = new Uint8Array(size);
  const view = new DataView(out.buffer);
  out[0] = MAGIC;
  out[1] = kind;
  view.setUint32(2, items.length, true);
  let at = 6;
  for (const it of items) {
    view.setUint32(at, it.length, true);
    out.set(it, at + 4);
    at += 4 + it.length;
  }
  return out;
}

function decodeFrames(kind: number, buf: Uint8Array, maxItems: number): Uint8Array[] {
  if (buf.length < 6 || buf[0] !== MAGIC || buf[1] !== kind) throw new BatchCodecError('not a request batch frame');
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const count = view.getUint32(2, true);
  if (count > maxItems) throw new BatchCodecError(`batch of ${count} items exceeds ${maxItems}`);
  const items: Uint8Array[] = [];
  let at = 6;
  for (let i = 0; i < count; i++) {
    if (at + 4 > buf.length) throw new BatchCodecError('truncated batch (length)');
    const len = view.getUint32(at, true);
    at += 4;
    if (at + len > buf.length) throw new BatchCodecError('truncated batch (item)');
    items.push(buf.subarray(at, at + len));
    at += len;
  }
  if (at !== buf.length) throw new BatchCodecError('trailing bytes after the batch');
  return items;
}

export const encodeRequestBatch = (items: readonly Uint8Array[]): Uint8Array => encodeFrames(KIND_REQUEST, items);
export const decodeRequestBatch = (buf: Uint8Array): Uint8Array[] => decodeFrames(KIND_REQUEST, buf, MAX_BATCH_ITEMS);
export const encodeReplyBatch = (items: readonly Uint8Array[]): Uint8Array => encodeFrames(KIND_REPLY, items);
export const decodeReplyBatch = (buf: Uint8Array): Uint8Array[] => decodeFrames(KIND_REPLY, buf, MAX_BATCH_ITEMS);

export type RequestClass = 'read' | 'write';

interface Pending {
  readonly data: Uint8Array;
  readonly timeoutMs: number;
  readonly headers: MsgHdrs | undefined;
  readonly resolve: (reply: Uint8Array) => void;
  readonly reject: (e: Error) => void;
}

interface Queue {
  readonly subject: string;
  items: Pending[];
  bytes: number;
}

export interface BatcherStats {
  batches: number;
  requests: number;
}

/** The client side: `request()` has the shape of a NATS request returning the reply bytes. */
export class RequestBatcher {
  private readonly queues = new Map<string, Queue>();
  private scheduled = false;
  readonly stats: BatcherStats = { batches: 0, requests: 0 };

  constructor(private readonly nc: NatsConnection) {}

  /** `headers` travel only when the request goes alone; a batch has no per-item headers. */
  request(subject: string, data: Uint8Array, o: { timeoutMs: number; cls: RequestClass; headers?: MsgHdrs | undefined }): Promise<Uint8Array> {
    return new Promise<Uint8Array>((resolve, reject) => {
      const key = `${o.cls}\u0000${subject}`;
      let q = this.queues.get(key);
      if (!q) this.queues.set(key, (q = { subject, items: [], bytes: 0 }));
      // Full: what is queued leaves now, this request starts the next batch.
      if (q.items.length >= MAX_BATCH_ITEMS || q.bytes + data.length + 4 > MAX_BATCH_BYTES - 64) this.send(q);
      q.items.push({ data, timeoutMs: o.timeoutMs, headers: o.headers, resolve, reject });
      q.bytes += data.length + 4;
      if (!this.scheduled) {
        this.scheduled = true;
        // After the current I/O phase: every request that arrived in it joins the batch.
        setImmediate(() => this.flush());
      }
    });
  }

  private flush(): void {
    this.scheduled = false;
    for (const q of this.queues.values()) if (q.items.length > 0) this.send(q);
    // Idle subjects are forgotten: the map stays bounded by the subjects in use now.
    for (const [k, q] of this.queues) if (q.items.length === 0) this.queues.delete(k);
  }

  private sendAlone(subject: string, it: Pending): void {
    this.nc.request(subject, it.data, { timeout: it.timeoutMs, ...(it.headers ? { headers: it.headers } : {}) }).then(
      (m) => it.resolve(m.data),
      (e: unknown) => it.reject(e instanceof Error ? e : new Error(String(e))),
    );
  }

  private send(q: Queue): void {
    const items = q.items;
    q.items = [];
    q.bytes = 0;
    if (items.length === 0) return;
    this.stats.batches++;
    this.stats.requests += items.length;
    if (items.length === 1) {
      // Nothing to coalesce: a plain request (the node serves both subjects).
      this.sendAlone(q.subject, items[0]!);
      return;
    }
    const timeout = Math.max(...items.map((i) => i.timeoutMs));
    let payload: Uint8Array;
    try {
      payload = encodeRequestBatch(items.map((i) => i.data));
    } catch (e) {
      for (const i of items) i.reject(e as Error);
      return;
    }
    this.nc.request(q.subject + BATCH_SUBJECT_SUFFIX, payload, { timeout }).then(
      (m) => {
        let replies: Uint8Array[];
        try {
          replies = decodeReplyBatch(m.data);
        } catch (e) {
          for (const i of items) i.reject(e as Error);
          return;
        }
        items.forEach((it, n) => {
          const r = replies[n];
          if (r === undefined) it.reject(new Error('transport: batch reply is missing an item'));
          else if (r.length === 0) this.sendAlone(q.subject, it);
          else it.resolve(r);
        });
      },
      (e: unknown) => {
        const err = e instanceof Error ? e : new Error(String(e));
        for (const i of items) i.reject(err);
      },
    );
  }
}

/**
 * The server side: answers a batch by running `handle` on every item and replying once all
 * answered (each item's handler must always answer; the cell's request handler does, with an
 * error response at worst). A malformed batch is answered with no items, so the sender fails
 * its requests at once instead of waiting for a timeout; nothing in it ran.
 */
export function serveRequestBatch(
  m: Msg,
  handle: (data: Uint8Array, reply: (b: Uint8Array) => void) => void,
  onMalformed: (e: Error) => void,
  maxReplyBytes = MAX_BATCH_BYTES,
): void {
  let items: Uint8Array[];
  try {
    items = decodeRequestBatch(m.data);
  } catch (e) {
    onMalformed(e as Error);
    m.respond(encodeReplyBatch([]));
    return;
  }
  const replies = new Array<Uint8Array | undefined>(items.length);
  let left = items.length;
  if (left === 0) {
    m.respond(encodeReplyBatch([]));
    return;
  }
  items.forEach((data, n) => {
    let answered = false;
    handle(data, (b) => {
      if (answered) return; // an item answers once
      answered = true;
      replies[n] = b;
      if (--left === 0) respondWithin(m, replies as Uint8Array[], maxReplyBytes);
    });
  });
}

/**
 * One reply under `maxBytes`: the largest answers are left out (empty items: the sender asks
 * for them alone) until the rest fits. A reply NATS refuses must never throw into the node.
 */
function respondWithin(m: Msg, replies: Uint8Array[], maxBytes: number): void {
  let total = 6;
  for (const r of replies) total += 4 + r.length;
  if (total > maxBytes) {
    const bySize = replies.map((r, i) => [r.length, i] as const).sort((a, b) => b[0] - a[0]);
    for (const [len, i] of bySize) {
      if (total <= maxBytes) break;
      replies[i] = new Uint8Array(0);
      total -= len;
    }
  }
  try {
    m.respond(encodeReplyBatch(replies));
  } catch {
    // Closed connection or a reply still too large: the sender times out (ambiguous, safe).
  }
}
