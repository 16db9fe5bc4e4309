// The leader's view of one follower: how far it matches, what to send next, and the flow
// control that bounds what is in flight to it.

import { assert } from '../../shared/assert.js';
import type { Snapshot } from './types.js';

/**
 * probe: unknown match, one append at a time until a response says where the logs meet;
 * replicate: pipelined appends within the inflight window;
 * snapshot: a snapshot is being streamed in chunks, appends paused.
 */
export type ProgressState = 'probe' | 'replicate' | 'snapshot';

/** A bounded window of in-flight appends, by count and by bytes. */
export class Inflights {
  private readonly indexes: number[] = [];
  private readonly sizes: number[] = [];
  private bytes = 0;

  constructor(
    private readonly maxCount: number,
    private readonly maxBytes: number,
  ) {
    assert(maxCount > 0 && maxBytes > 0, 'inflight limits must be positive');
  }

  add(lastIndex: number, bytes: number): void {
    assert(!this.full(), 'inflights overflow');
    const n = this.indexes.length;
    assert(n === 0 || lastIndex > this.indexes[n - 1]!, 'inflight indexes must increase');
    this.indexes.push(lastIndex);
    this.sizes.push(bytes);
    this.bytes += bytes;
  }

  /** Frees every message whose last index is <= `index` (acknowledged). */
  freeLE(index: number): void {
    let i = 0;
    while (i < this.indexes.length && this.indexes[i]! <= index) {
      this.bytes -= this.sizes[i]!;
      i++;
    }
    if (i > 0) {
      this.indexes.splice(0, i);
      this.sizes.splice(0, i);
    }
  }

  /** Frees the oldest message: a heartbeat answer proves the follower is alive, so probe on. */
  freeFirstOne(): void {
    if (this.indexes.length === 0) return;
    this.bytes -= this.sizes.shift()!;
    this.indexes.shift();
  }

  full(): boolean {
    return this.indexes.length >= this.maxCount || this.bytes >= this.maxBytes;
  }

  count(): number {
    return this.indexes.length;
  }

  reset(): void {
    this.indexes.length = 0;
    this.sizes.length = 0;
    this.bytes = 0;
  }
}

export class Progress {
  match = 0;
  next: number;
  state: ProgressState = 'probe';
  /** probe: an append was sent and no answer has come yet. */
  probeSent = false;
  /** Heard from since the last check-quorum round. */
  recentActive = false;
  readonly inflights: Inflights;
  /** snapshot state: the snapshot being streamed and how many bytes the follower has. */
  pendingSnapshot: Snapshot | null = null;
  snapshotAcked = 0;
  /** snapshot state: an ack arrived since the last heartbeat (no need to resend). */
  snapshotAckedRecently = false;

  constructor(next: number, maxInflightMsgs: number, maxInflightBytes: number) {
    this.next = next;
    this.inflights = new Inflights(maxInflightMsgs, maxInflightBytes);
  }

  private resetState(state: ProgressState): void {
    this.state = state;
    this.probeSent = false;
    this.pendingSnapshot = null;
    this.snapshotAcked = 0;
    this.inflights.reset();
  }

  becomeProbe(): void {
    // After a snapshot the follower has at least the snapshot's index.
    const snapIndex = this.state === 'snapshot' && this.pendingSnapshot ? this.pendingSnapshot.metadata.index : 0;
    this.resetState('probe');
    this.next = Math.max(this.match + 1, snapIndex + 1);
  }

  becomeReplicate(): void {
    this.resetState('replicate');
    this.next = this.match + 1;
  }

  becomeSnapshot(snap: Snapshot): void {
    this.resetState('snapshot');
    this.pendingSnapshot = snap;
    this.snapshotAckedRecently = true;
  }

  /** Records an acknowledgement of `index`; false when it is stale. */
  maybeUpdate(index: number): boolean {
    let updated = false;
    if (this.match < index) {
      this.match = index;
      updated = true;
      this.probeSent = false;
    }
    this.next = Math.max(this.next, index + 1);
    return updated;
  }

  /**
   * Handles a rejection of the append at `rejected`; `hint` is where the logs may match.
   * Returns false when the rejection is stale.
   */
  maybeDecrTo(rejected: number, hint: number): boolean {
    if (this.state === 'replicate') {
      if (rejected <= this.match) return false;
      this.next = this.match + 1;
      return true;
    }
    if (this.next - 1 !== rejected) return false;
    // A rejection at our own match index means the follower lost entries it acknowledged
    // (e.g. its disk was restored from an older copy): replicate from what it really has,
    // or the probe would repeat forever.
    if (hint < this.match && rejected <= this.match) this.match = hint;
    this.next = Math.max(Math.min(rejected, hint + 1), this.match + 1);
    this.probeSent = false;
    return true;
  }

  isPaused(): boolean {
    switch (this.state) {
      case 'probe':
        return this.probeSent;
      case 'replicate':
        return this.inflights.full();
      case 'snapshot':
        return true;
    }
  }
}
