// NATS transport of a cell node: Raft envelopes between nodes (one NATS message per
// destination node per loop turn) and client requests (request-reply).
//
// Subjects:
//   cellkv.raft.<nodeId>      Raft envelopes for that node (publish, no reply)
//   cellkv.node.<nodeId>      cell requests served by that node (request-reply, binary)
//   cellkv.node.<nodeId>.batch  the same, coalesced: many requests in one message, one reply
//   cellkv.dir                directory lookups, any node answers (queue group, JSON)
//   cellkv.admin.<nodeId>     admin requests to one node (JSON)

import { BATCH_SUBJECT_SUFFIX, serveRequestBatch } from '../../shared/request-batcher.js';
import { connect, type NatsConnection, type Msg, type Subscription } from '@nats-io/transport-node';
import type { NodeTransportPort, TransportHandlers } from './ports.js';

export type { TransportHandlers } from './ports.js';

export const SUBJECTS = {
  raft: (nodeId: string) => `cellkv.raft.${nodeId}`,
  node: (nodeId: string) => `cellkv.node.${nodeId}`,
  directory: 'cellkv.dir',
  admin: (nodeId: string) => `cellkv.admin.${nodeId}`,
} as const;

/** User and password of the cells in the NATS authorization block; none for an open server. */
export interface NatsAuth {
  readonly user?: string | undefined;
  readonly pass?: string | undefined;
}


export class NodeTransport implements NodeTransportPort {
  publishErrors = 0;
  private constructor(
    readonly nc: NatsConnection,
    private readonly subs: Subscription[],
  ) {}

  static async start(nodeId: string, servers: string[], auth: NatsAuth, handlers: TransportHandlers): Promise<NodeTransport> {
    const nc = await connect({
      servers,
      ...(auth.user !== undefined ? { user: auth.user, pass: auth.pass ?? '' } : {}),
      name: `cellkv-node-${nodeId}`,
      noAsyncTraces: true, // no Error captured per request on the hot path
      // Own AZ's server first (the list order), the others only as fallbacks.
      noRandomize: true,
      maxReconnectAttempts: -1,
      reconnectTimeWait: 250,
      pingInterval: 5000,
    });
    const subs: Subscription[] = [];
    const serve = (subject: string, queue: string | undefined, fn: (m: Msg) => void) => {
      const sub = nc.subscribe(subject, { ...(queue ? { queue } : {}), callback: (err, m) => { if (!err) fn(m); } });
      subs.push(sub);
    };
    serve(SUBJECTS.raft(nodeId), undefined, (m) => handlers.onRaft(m.data));
    // A reply NATS refuses (too large, connection closing) is a lost reply: the requester
    // times out. It must never throw out of a promise callback into the process.
    const respond = (m: Msg, b: Uint8Array) => {
      try {
        m.respond(b);
      } catch {
        // see above
      }
    };
    // Coalesced replies leave room under max_payload for headers and framing.
    const maxReplyBytes = Math.max(64 * 1024, (nc.info?.max_payload ?? 1024 * 1024) - 64 * 1024);
    serve(SUBJECTS.node(nodeId), undefined, (m) => handlers.onRequest(m.data, (b) => respond(m, b)));
    // Coalesced requests from gateways (shared/request-batcher.ts): one NATS message, one reply.
    serve(SUBJECTS.node(nodeId) + BATCH_SUBJECT_SUFFIX, undefined, (m) => serveRequestBatch(m, handlers.onRequest, () => undefined, maxReplyBytes));
    serve(SUBJECTS.directory, 'cellkv-nodes', (m) => handlers.onDirectory((b) => respond(m, b)));
    serve(SUBJECTS.admin(nodeId), undefined, (m) => handlers.onAdmin(m.data, (b) => respond(m, b)));
    await nc.flush();
    return new NodeTransport(nc, subs);
  }

  sendRaft(toNode: string, data: Uint8Array): void {
    if (this.nc.isClosed()) return;
    // Raft tolerates loss: a publish that fails (reconnecting, too large) is a lost message,
    // never an error in the Raft loop.
    try {
      this.nc.publish(SUBJECTS.raft(toNode), data);
    } catch {
      this.publishErrors++;
    }
  }

  async requestAdmin(toNode: string, data: Uint8Array, timeoutMs: number): Promise<Uint8Array> {
    const m = await this.nc.request(SUBJECTS.admin(toNode), data, { timeout: timeoutMs });
    return m.data;
  }

  async close(): Promise<void> {
    for (const s of this.subs) s.unsubscribe();
    await this.nc.drain().catch(() => undefined);
  }
}
