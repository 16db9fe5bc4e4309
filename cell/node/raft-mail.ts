// Raft traffic between nodes: every message a pump round produced, coalesced into one NATS
// message per destination node (split below max_payload), and incoming envelopes stepped
// into their replicas. Snapshot chunks are de-duplicated (see duplicateChunk) and paced to a
// byte rate here (a replica move must not starve the node's client traffic).

import type { Message, Ready } from '../raft/types.js';
import { decodeRaftEnvelope, encodeRaftEnvelope, messageSizeBound, type RaftEnvelope } from '../raft/codec.js';
import type { NodeMetrics } from './metrics.js';
import type { Replica } from './replica.js';
import type { NodeTransportPort } from './ports.js';
import type { NodeClock } from './clock.js';

/** Raft envelopes stay well below NATS's default 1 MiB max_payload. */
const MAX_ENVELOPE_BYTES = 512 * 1024;

type EnvelopeItem = RaftEnvelope['items'][number];

export class RaftMail {
  /** When each snapshot chunk (cell/to/index/offset) was last sent. */
  private readonly chunkSentAt = new Map<string, number>();
  /** Snapshot pacing: a token bucket in bytes that may go into debt by one chunk. */
  private snapshotTokens = 0;
  private snapshotTokensAt = 0;

  constructor(
    private readonly nodeId: string,
    /** How long one copy of a snapshot chunk suffices: a heartbeat interval. */
    private readonly chunkResendMs: number,
    private readonly metrics: NodeMetrics,
    private readonly transport: () => NodeTransportPort | null,
    private readonly clock: NodeClock,
    /** Snapshot bytes per second to other nodes; Infinity = unpaced. */
    private readonly snapshotBytesPerSec = Number.POSITIVE_INFINITY,
  ) {}

  /** Sends the messages of `readies` that `which` selects, one envelope per destination. */
  send(readies: readonly [Replica, Ready][], which: (m: Message, rd: Ready) => boolean): void {
    const byNode = new Map<string, EnvelopeItem[]>();
    for (const [r, rd] of readies) {
      for (const m of rd.messages) {
        if (!which(m, rd)) continue;
        if (m.type === 'snapshot' && (this.duplicateChunk(r.cellId, m) || !this.paceChunk(r.cellId, m))) continue;
        let items = byNode.get(m.to);
        if (!items) byNode.set(m.to, (items = []));
        items.push({ cellId: r.cellId, message: m });
        if (m.type === 'snapshot') {
          this.metrics.snapshotSends.inc();
          this.metrics.snapshotBytesSent.inc(m.snapshot?.data.length ?? 0);
        }
        if (m.type === 'append' || m.type === 'heartbeat') r.lastLeaderContactMs = this.clock.now();
      }
    }
    for (const [to, items] of byNode) {
      // Coalesced per destination, but split below NATS max_payload (a burst of snapshot
      // chunks must not make one envelope too large to publish).
      let batch: EnvelopeItem[] = [];
      let bytes = 0;
      const flush = () => {
        if (batch.length === 0) return;
        this.transport()?.sendRaft(to, encodeRaftEnvelope({ fromNode: this.nodeId, items: batch }));
        this.metrics.raftEnvelopesOut.inc();
        this.metrics.raftMessagesOut.inc(batch.length);
        batch = [];
        bytes = 0;
      };
      for (const item of items) {
        const size = messageSizeBound(item.message) + item.cellId.length + 8;
        if (bytes + size > MAX_ENVELOPE_BYTES) flush();
        batch.push(item);
        bytes += size;
      }
      flush();
    }
  }

  /**
   * Steps an incoming envelope's messages into their replicas. Returns whether it was an
   * envelope at all (garbage on the internal subject is dropped: Raft tolerates loss).
   */
  receive(data: Uint8Array, replicas: ReadonlyMap<string, Replica>): boolean {
    let env: RaftEnvelope;
    try {
      env = decodeRaftEnvelope(data);
    } catch {
      return false;
    }
    const now = this.clock.now();
    for (const { cellId, message } of env.items) {
      const r = replicas.get(cellId);
      if (!r || message.to !== this.nodeId) continue;
      if (message.type === 'append' || message.type === 'heartbeat' || message.type === 'snapshot') r.lastLeaderContactMs = now;
      r.raft.step(message);
    }
    return true;
  }

  /**
   * The core resends the pending snapshot chunk on heartbeat answers, and heartbeats also go
   * out for every ReadIndex: a burst of answers (a follower that was paused answers everything
   * it missed at once) would become a burst of identical chunks of up to 1 MiB each. One copy
   * per heartbeat interval is enough; Raft tolerates the dropped duplicates.
   */
  private duplicateChunk(cellId: string, m: Message): boolean {
    const chunk = m.snapshot;
    if (!chunk) return false;
    const key = `${cellId}/${m.to}/${chunk.metadata.index}/${chunk.offset}`;
    const now = this.clock.now();
    const last = this.chunkSentAt.get(key);
    if (last !== undefined && now - last < this.chunkResendMs) return true;
    this.chunkSentAt.set(key, now);
    if (this.chunkSentAt.size > 256) for (const [k, t] of this.chunkSentAt) if (now - t > 10_000) this.chunkSentAt.delete(k);
    return false;
  }

  /**
   * Whether a snapshot chunk may leave now under the byte rate. A chunk held back is simply
   * not sent (and not marked as sent): the core resends its pending chunk on the next
   * heartbeat answer, by which time the bucket has refilled.
   */
  private paceChunk(cellId: string, m: Message): boolean {
    const rate = this.snapshotBytesPerSec;
    const chunk = m.snapshot;
    if (!chunk || !Number.isFinite(rate)) return true;
    const now = this.clock.now();
    // At most a tenth of a second of credit piles up, so an idle node cannot burst far above the rate.
    this.snapshotTokens = Math.min(rate / 10, this.snapshotTokens + ((now - this.snapshotTokensAt) * rate) / 1000);
    this.snapshotTokensAt = now;
    if (this.snapshotTokens < 0) {
      this.chunkSentAt.delete(`${cellId}/${m.to}/${chunk.metadata.index}/${chunk.offset}`);
      return false;
    }
    this.snapshotTokens -= chunk.data.length;
    return true;
  }
}
