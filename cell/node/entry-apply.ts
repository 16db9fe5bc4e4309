// Applying committed entries of one replica, as the pump hands them over: membership changes,
// range commands (split, merge) through their own appliers, everything else through the state
// machine; then the round's data staged for the next group-commit batch and the proposers
// answered. A merge commit whose absorbed cell has not caught up on this node holds itself and
// the entries after it back (Replica.deferred) until a later round.

import type { Entry } from '../raft/types.js';
import { decodeConfChange } from '../raft/confchange.js';
import { isRangeCommand, type CellEntryPayload, type OpResult } from '../../shared/cell-protocol.js';
import type { GroupCommit } from '../storage/group-commit.js';
import type { Failpoints } from './failpoints.js';
import { commitReady } from './merge-apply.js';
import type { NodeMetrics } from './metrics.js';
import type { Replica } from './replica.js';

/** What applying needs from the node (CellNode provides it). */
export interface EntryApplyHost {
  readonly replicas: ReadonlyMap<string, Replica>;
  readonly failpoints: Failpoints;
  readonly groupCommit: Pick<GroupCommit, 'stage'>;
  readonly metrics: Pick<NodeMetrics, 'commits' | 'expiredKeys'>;
  /** Tracing on: the commit point of traced writes is marked before apply answers them. */
  traced(): boolean;
  applySplit(r: Replica, e: Entry, payload: CellEntryPayload): Promise<(OpResult[] | null)[]>;
  applyMerge(r: Replica, e: Entry, payload: CellEntryPayload): Promise<(OpResult[] | null)[]>;
  /** A membership change was applied (the collector bumps the epoch, notices a removal). */
  confApplied(r: Replica, before: Replica['conf']): void;
}

export class EntryApplier {
  private rounds = 0;

  constructor(private readonly host: EntryApplyHost) {}

  /**
   * Applies committed entries (those a merge commit held back first), stages the data they
   * wrote, answers their clients. Returns whether any entry was applied.
   */
  async applyCommitted(r: Replica, committed: readonly Entry[], now: number): Promise<boolean> {
    const h = this.host;
    if (committed.length === 0 && r.deferred.length === 0) return false;
    if (h.traced() && committed.length > 0) r.traceCommitted(committed);
    const entries = r.deferred.length === 0 ? committed : [...r.deferred, ...committed];
    r.deferred = [];
    const applied: [Entry, (OpResult[] | null)[]][] = [];
    const payloads = await r.data.prefetch(entries);
    for (const [i, e] of entries.entries()) {
      const payload = payloads[i]!;
      const only = payload.commands.length === 1 ? payload.commands[0]! : null;
      // The merged range's data must be the absorbed cell's final state on this node first.
      if (only?.kind === 'mergeCommit' && !commitReady(r, only, h.replicas)) {
        r.deferred = entries.slice(i);
        break;
      }
      if (h.failpoints.active) await h.failpoints.hit('beforeApply');
      if (e.kind === 'conf') {
        const before = r.conf;
        r.conf = r.raft.applyConfChange(decodeConfChange(e.data));
        r.data.setConfState(r.conf);
        h.confApplied(r, before);
      }
      if (only !== null && isRangeCommand(only)) {
        applied.push([e, only.kind === 'split' ? await h.applySplit(r, e, payload) : await h.applyMerge(r, e, payload)]);
        continue;
      }
      applied.push([e, await r.data.applyEntry(e, payload)]);
    }
    if (applied.length === 0) return false;
    // Garbage collection of dead request ids: bounded, and not on every round.
    if (++this.rounds % 64 === 0) await r.data.collectDedupe(now, 512);
    // Written with the next batch (synced or not): the applied index travels with the data,
    // the durable log covers a crash, and reads see the overlay meanwhile.
    h.groupCommit.stage(r.data.takeBatch());
    h.metrics.commits.inc({ cell: r.cellId }, applied.length);
    h.metrics.expiredKeys.inc(r.data.expiredDeleted);
    r.data.expiredDeleted = 0;
    for (const [e, results] of applied) r.onApplied(e, results);
    return true;
  }

  /** Entries a merge commit held back: applied once the absorbed cell's replica caught up. */
  async applyDeferred(now: number, withReady: ReadonlySet<Replica>): Promise<boolean> {
    let worked = false;
    for (const r of this.host.replicas.values()) {
      if (r.deferred.length === 0 || withReady.has(r)) continue;
      if (await this.applyCommitted(r, [], now)) {
        worked = true;
        r.releaseReads();
      }
    }
    return worked;
  }
}
