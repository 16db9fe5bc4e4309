// The leader's expired-key sweeper: reads the expiry index (due entries first) and proposes
// deletes of expired keys in bounded batches, one batch in flight per cell. Reads already hide
// expired keys; the sweep reclaims their space and keeps usage counters honest. It also gives
// the dedupe policy its periodic look at each led cell.

import { META_CELL_ID } from '../../shared/directory.js';
import { inKeyRange } from '../../shared/keys.js';
import { expiryKeyToNs, expiryRangeUntil } from '../storage/records.js';
import type { KvDb } from '../kv/kv-db.js';
import type { NodeClock } from './clock.js';
import type { NodeConfig } from './config.js';
import type { DedupePolicy } from './dedupe-policy.js';
import type { Replica } from './replica.js';

/** What the sweeper needs from its node (CellNode provides it). */
export interface ExpiryHost {
  readonly cfg: Pick<NodeConfig, 'expiryBatch' | 'requestTimeoutMs'>;
  readonly replicas: ReadonlyMap<string, Replica>;
  readonly db: { readonly kv: KvDb };
  readonly clock: NodeClock;
  /** Lets the Raft loop run soon (after a proposal). */
  schedulePump(): void;
}

export class ExpirySweeper {
  /** Cells with an expire batch in flight. */
  private readonly expiring = new Set<string>();

  constructor(
    private readonly host: ExpiryHost,
    private readonly dedupe: DedupePolicy,
  ) {}

  /** Leader duty: propose deletes of expired keys in bounded batches, one batch in flight per cell. */
  async sweep(): Promise<void> {
    const now = this.host.clock.now();
    const { cfg } = this.host;
    for (const r of this.host.replicas.values()) {
      if (!r.isLeader || r.frozen || r.cellId === META_CELL_ID || this.expiring.has(r.cellId)) continue;
      const keys: Uint8Array[] = [];
      for await (const [k] of this.host.db.kv.iterator({ ...expiryRangeUntil(now), limit: cfg.expiryBatch * 4 })) {
        const ns = expiryKeyToNs(k);
        if (inKeyRange(ns, r.range.start, r.range.end)) keys.push(ns.slice());
        if (keys.length >= cfg.expiryBatch) break;
      }
      this.dedupe.maybeCut(r, now);
      if (keys.length === 0) continue;
      this.expiring.add(r.cellId);
      r.enqueueWrite({
        cmd: { kind: 'expire', nowMs: now, keys },
        resolve: () => this.expiring.delete(r.cellId),
        reject: () => this.expiring.delete(r.cellId),
        deadline: now + cfg.requestTimeoutMs,
      });
      this.host.schedulePump();
    }
  }
}
