// The count bound of a cell's at-most-once table. Records age out by time on every replica
// (cell-data.ts); a burst of request ids inside one retention window is bounded here instead:
// the leader watches how many records its replica added since the window began and, past the
// limit, proposes a replicated cutoff that forgets the older half of the window.

import { dedupeCutoffCommand } from '../kv/cell-data.js';
import type { NodeConfig } from './config.js';
import type { Replica } from './replica.js';

/** What the policy needs from its node (CellNode provides it). */
export interface DedupePolicyHost {
  readonly cfg: Pick<NodeConfig, 'dedupeRetentionMs' | 'dedupeMaxEntries'>;
}

export class DedupePolicy {
  /** Per cell: when the current window began and the records added count at that moment. */
  private readonly windows = new Map<string, { at: number; added: number }>();

  constructor(private readonly host: DedupePolicyHost) {}

  /** Leader duty, called by the expiry sweep: past the count bound, propose a cutoff. */
  maybeCut(r: Replica, now: number): void {
    const { dedupeRetentionMs, dedupeMaxEntries } = this.host.cfg;
    const w = this.windows.get(r.cellId) ?? { at: now, added: r.data.dedupeRecordsAdded };
    if (now - w.at > dedupeRetentionMs) {
      this.windows.set(r.cellId, { at: now, added: r.data.dedupeRecordsAdded });
      return;
    }
    this.windows.set(r.cellId, w);
    if (r.data.dedupeRecordsAdded - w.added <= dedupeMaxEntries) return;
    const cutoff = now - Math.floor((now - w.at) / 2);
    this.windows.set(r.cellId, { at: cutoff, added: r.data.dedupeRecordsAdded - Math.floor(dedupeMaxEntries / 2) });
    r.enqueueWrite({ cmd: { kind: 'meta', json: dedupeCutoffCommand(cutoff) }, resolve: () => {}, reject: () => {}, deadline: now + 5000 });
  }
}
