// ReadIndex bookkeeping on the leader: a read may be served at the commit index it saw once a
// quorum has confirmed, by answering a heartbeat that carried the read's context, that this
// node was still the leader when the read arrived.

import { assert } from '../../shared/assert.js';
import { voteResult } from './quorum.js';
import type { ConfState, NodeId } from './types.js';

export interface PendingRead {
  /** Unique among pending reads: asker and context (also what heartbeats carry). */
  readonly key: string;
  readonly context: string;
  readonly index: number;
  /** The node that asked (the leader itself for local reads). */
  readonly from: NodeId;
  readonly acks: Map<NodeId, boolean>;
}

export class ReadOnlyQueue {
  private readonly pending = new Map<string, PendingRead>();
  private queue: string[] = [];

  constructor(private readonly limit: number) {}

  size(): number {
    return this.queue.length;
  }

  full(): boolean {
    return this.queue.length >= this.limit;
  }

  has(key: string): boolean {
    return this.pending.has(key);
  }

  add(read: PendingRead): void {
    assert(!this.full(), 'read queue overflow');
    assert(!this.pending.has(read.key), 'duplicate read key');
    this.pending.set(read.key, read);
    this.queue.push(read.key);
  }

  /**
   * Records `from`'s acknowledgement of the round for read `context` (its key). When that round has a quorum,
   * returns it and every read queued before it (a later confirmation covers earlier reads).
   */
  ack(context: string, from: NodeId, conf: ConfState): PendingRead[] {
    const read = this.pending.get(context);
    if (!read) return [];
    read.acks.set(from, true);
    if (voteResult(conf, read.acks) !== 'won') return [];
    const pos = this.queue.indexOf(context);
    assert(pos >= 0, 'pending read missing from the queue');
    const released = this.queue.slice(0, pos + 1).map((c) => this.pending.get(c)!);
    for (const c of this.queue.slice(0, pos + 1)) this.pending.delete(c);
    this.queue = this.queue.slice(pos + 1);
    return released;
  }

  /** The newest pending context (to piggyback on heartbeats), or ''. */
  lastContext(): string {
    return this.queue.length > 0 ? this.queue[this.queue.length - 1]! : '';
  }

  clear(): void {
    this.pending.clear();
    this.queue = [];
  }
}
