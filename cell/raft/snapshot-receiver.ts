// Follower side of chunked InstallSnapshot: assembles chunks that arrive in order and hands
// back the whole snapshot once the last byte is in.

import type { Snapshot, SnapshotChunk, SnapshotMetadata } from './types.js';

/** Upper bound on one snapshot held in memory while it is assembled. */
export const MAX_SNAPSHOT_BYTES = 1 << 30;

export type ChunkOutcome =
  | { readonly kind: 'progress'; readonly received: number }
  | { readonly kind: 'complete'; readonly snapshot: Snapshot }
  | { readonly kind: 'rejected'; readonly received: number };

export class SnapshotReceiver {
  private meta: SnapshotMetadata | null = null;
  /** The transfer's sender and term: chunks of another transfer are never spliced in. */
  private source = '';
  private chunks: Uint8Array[] = [];
  private received = 0;

  receive(chunk: SnapshotChunk, from: string, term: number): ChunkOutcome {
    if (chunk.totalBytes < 0 || chunk.totalBytes > MAX_SNAPSHOT_BYTES) return { kind: 'rejected', received: 0 };
    const source = `${from}@${term}/${chunk.totalBytes}`;
    const same =
      this.meta !== null &&
      this.meta.index === chunk.metadata.index &&
      this.meta.term === chunk.metadata.term &&
      this.source === source;
    if (!same) {
      if (chunk.offset !== 0) return { kind: 'rejected', received: 0 };
      this.meta = chunk.metadata;
      this.source = source;
      this.chunks = [];
      this.received = 0;
    }
    // Out of order (a duplicate or a gap): tell the leader where to resume.
    if (chunk.offset !== this.received) return { kind: 'progress', received: this.received };
    if (this.received + chunk.data.length > chunk.totalBytes) return this.reject();
    this.chunks.push(chunk.data);
    this.received += chunk.data.length;
    if (this.received < chunk.totalBytes) return { kind: 'progress', received: this.received };
    const data = new Uint8Array(this.received);
    let off = 0;
    for (const c of this.chunks) {
      data.set(c, off);
      off += c.length;
    }
    const snapshot: Snapshot = { metadata: chunk.metadata, data };
    this.reset();
    return { kind: 'complete', snapshot };
  }

  private reject(): ChunkOutcome {
    this.reset();
    return { kind: 'rejected', received: 0 };
  }

  reset(): void {
    this.meta = null;
    this.source = '';
    this.chunks = [];
    this.received = 0;
  }
}
