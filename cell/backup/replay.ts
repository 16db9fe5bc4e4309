// Which state each cell is restored to, and replaying log segments onto a snapshot through
// the node's own state machine (CellData.applyEntry → kv-apply; MetaState for the meta cell),
// so a restored state is exactly what the cluster's replicas computed at that index.

import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CellData } from '../kv/cell-data.js';
import type { KvDb } from '../kv/kv-db.js';
import type { NodeDb } from '../storage/node-db.js';
import type { ConfState, Entry } from '../raft/types.js';
import { MetaState } from '../node/meta.js';
import { NodeConfigSchema } from '../node/config.js';
import { META_CELL_ID } from '../../shared/directory.js';
import { BackupError } from './errors.js';
import { decodeLogFrames, entryTimeMs, type LogItem, type SnapshotItem } from './format.js';
import type { VerifiedBackup } from './verify.js';

export interface CellPlan {
  readonly cell: string;
  readonly start: string;
  readonly end: string | null;
  readonly epoch: number;
  readonly snapshot: { readonly dir: string; readonly item: SnapshotItem };
  /** Segments to replay after the snapshot, in order (contiguous). */
  readonly logs: readonly { readonly dir: string; readonly item: LogItem }[];
  /** Why replay stops before the newest backup (a gap in the chain), if it does. */
  readonly stoppedBy: string | null;
}

/**
 * Per cell: the newest snapshot in the chain taken at or before `toTimeMs` (any, without a
 * time), then every log segment that continues it. A later snapshot (an incremental that fell
 * back) ends the replay: the entries between are not in the chain.
 */
export function planRestore(chain: readonly VerifiedBackup[], toTimeMs: number | null): CellPlan[] {
  const newest = chain[chain.length - 1];
  if (!newest) throw new BackupError('BACKUP_INCOMPLETE', 'no backup to restore');
  const plans: CellPlan[] = [];
  for (const c of newest.manifest.cells) {
    const items = chain.flatMap((b) => {
      const x = b.manifest.cells.find((y) => y.cell === c.cell);
      return x ? [{ dir: b.dir, item: x.item }] : [];
    });
    let startAt = -1;
    for (let i = 0; i < items.length; i++) {
      const it = items[i]!.item;
      if (it.type === 'snapshot' && (toTimeMs === null || it.capturedAtMs <= toTimeMs)) startAt = i;
    }
    if (startAt < 0) {
      const first = items.find((x) => x.item.type === 'snapshot')?.item as SnapshotItem | undefined;
      throw new BackupError(
        'PITR_OUT_OF_RANGE',
        `cell ${c.cell}: the earliest restorable point of this chain is ${first ? new Date(first.capturedAtMs).toISOString() : 'unknown'}; choose a later --to-time or an older chain`,
      );
    }
    const start = items[startAt]!;
    const logs: { dir: string; item: LogItem }[] = [];
    let next = (start.item as SnapshotItem).index + 1;
    let stoppedBy: string | null = null;
    for (const it of items.slice(startAt + 1)) {
      if (it.item.type !== 'log') {
        stoppedBy = `the log between index ${next - 1} and the snapshot at ${it.item.index} of ${it.dir} was compacted before it was backed up`;
        break;
      }
      if (it.item.fromIndex !== next) throw new BackupError('BACKUP_CHAIN_BROKEN', `cell ${c.cell}: ${join(it.dir, it.item.file)} starts at ${it.item.fromIndex}, expected ${next}`);
      logs.push({ dir: it.dir, item: it.item });
      next = it.item.toIndex + 1;
      if (toTimeMs !== null && it.item.lastTimeMs !== null && it.item.lastTimeMs > toTimeMs) break; // later ones are all past it
    }
    plans.push({ cell: c.cell, start: c.start, end: c.end, epoch: c.epoch, snapshot: { dir: start.dir, item: start.item as SnapshotItem }, logs, stoppedBy });
  }
  return plans;
}

export interface ReplayResult {
  readonly index: number;
  readonly term: number;
  readonly entries: number;
  /** Proposal time of the last replayed timestamped entry (null: none replayed). */
  readonly lastTimeMs: number | null;
  /** Set when replay stopped at --to-time: the first entry past it. */
  readonly stoppedAtIndex: number | null;
}

/** Applied in batches of this many entries (each one LevelDB write). */
const REPLAY_BATCH_ENTRIES = 256;

/**
 * Replays the plan's log segments onto the cell's state already installed in `db` (at the
 * snapshot's index), up to the first entry proposed after `toTimeMs`. Entries without a time
 * (no-ops, membership, tenant records) go with the entries before them.
 */
export async function replayLogs(db: NodeDb, plan: CellPlan, range: { start: Uint8Array; end: Uint8Array | null }, confState: ConfState, toTimeMs: number | null): Promise<ReplayResult> {
  const defaults = NodeConfigSchema.shape;
  // The dedupe window must match the cluster's (it decides whether a retried id re-applies).
  const dedupe = { retentionMs: defaults.dedupeRetentionMs.parse(undefined), maxEntries: defaults.dedupeMaxEntries.parse(undefined) };
  const meta = plan.cell === META_CELL_ID ? new MetaState(META_CELL_ID) : null;
  if (meta) await meta.load(db as KvDb);
  const data = await CellData.open(plan.cell, db, confState, dedupe, meta ? async (json, _i, ops) => meta.apply(json, ops) : null, plan.snapshot.item.index);
  data.usage.setRange(range.start, range.end);
  let term = plan.snapshot.item.term;
  let entries = 0;
  let lastTimeMs: number | null = null;
  let stoppedAtIndex: number | null = null;
  let sinceWrite = 0;
  const write = async () => {
    const gen = data.generation;
    await db.batch(data.takeBatch(), false);
    data.flushed(gen + 1);
    sinceWrite = 0;
  };
  outer: for (const seg of plan.logs) {
    const list: Entry[] = decodeLogFrames(new Uint8Array(await readFile(join(seg.dir, seg.item.file))), join(seg.dir, seg.item.file));
    for (const e of list) {
      const t = entryTimeMs(e);
      if (toTimeMs !== null && t !== null && t > toTimeMs) {
        stoppedAtIndex = e.index;
        break outer;
      }
      await data.applyEntry(e);
      term = e.term;
      entries++;
      if (t !== null) lastTimeMs = t;
      if (++sinceWrite >= REPLAY_BATCH_ENTRIES) await write();
    }
  }
  // The restored cluster's membership, with the data it covers.
  data.setConfState(confState);
  await write();
  return { index: data.applied.index, term, entries, lastTimeMs, stoppedAtIndex };
}
