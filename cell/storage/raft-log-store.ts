// Durable RaftStorage of one cell on the node's LevelDB.
//
// The Raft core reads storage synchronously, so reads are served from an in-memory mirror (a
// MemoryStorage, whose semantics are the reference) holding the log since the last compaction;
// compaction keeps it bounded. Writes are staged into the node's GroupCommit and the mirror is
// updated at staging time: the core only needs its writes durable before the messages of the
// same Ready leave, and the caller flushes the group commit before sending them.
//
// Snapshot DATA is not stored here (the state machine owns it); only the metadata is, so
// `snapshot()` can serve only the bootstrap snapshot, whose data is the empty state machine.

import { assert } from '../../shared/assert.js';
import { MemoryStorage } from '../raft/memory-storage.js';
import {
  SnapshotUnavailableError,
  type ConfState,
  type Entry,
  type HardState,
  type RaftStorage,
  type Snapshot,
  type SnapshotMetadata,
} from '../raft/types.js';
import type { GroupCommit } from './group-commit.js';
import {
  decodeHardStateRecord,
  decodeLogRecord,
  decodeSnapshotMetaRecord,
  encodeHardStateRecord,
  encodeLogRecord,
  encodeSnapshotMetaRecord,
  hardStateKey,
  raftLogKey,
  raftLogKeyIndex,
  raftLogPrefix,
  raftLogRange,
  snapshotMetaKey,
} from './records.js';
import type { BatchOp, NodeDb } from './node-db.js';

const EMPTY = new Uint8Array(0);

/** What `load` found and repaired. */
export interface LoadReport {
  /** Log entries kept (after the snapshot). */
  readonly entries: number;
  /** Index of the first log record dropped, or null when the log was intact. */
  readonly truncatedFrom: number | null;
  /** Log records deleted by the repair (the bad one and everything after it). */
  readonly droppedRecords: number;
  /** Why the log was truncated, or null. */
  readonly reason: string | null;
}

export type StorageErrorCode =
  /** The hard state's commit index is beyond the surviving log: acknowledged data is gone. */
  | 'STORAGE_COMMITTED_LOST'
  /** The hard state or snapshot metadata record itself is unreadable. */
  | 'STORAGE_CORRUPT';

/** Unrecoverable damage of a cell's durable Raft state; the replica must not start. */
export class RaftStorageError extends Error {
  constructor(
    readonly code: StorageErrorCode,
    readonly cellId: string,
    message: string,
  ) {
    super(message);
    this.name = 'RaftStorageError';
  }
}

function describe(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

export class RaftLogStore implements RaftStorage {
  private constructor(
    readonly cellId: string,
    private readonly gc: GroupCommit,
    private readonly mem: MemoryStorage,
  ) {}

  /**
   * Reads the cell's durable state and repairs a torn log tail.
   *
   * Every record is checked in index order: its CRC, that its key and entry agree, that
   * indexes are contiguous from the snapshot index + 1, and that terms never decrease. At the
   * first record that fails, that record and everything after it are deleted in one synced
   * batch. Why dropping is safe: a record can only be torn or corrupt if its write was never
   * synced (LevelDB writes a batch atomically and we sync before acknowledging), and nothing
   * is acknowledged (no vote, no append response, no client reply) before its sync completed;
   * so an unsynced tail holds nothing anyone relies on, and Raft re-replicates it. The one
   * exception we can detect is the hard state's commit index pointing past the surviving log:
   * committed entries were lost (media corruption, not a torn write), so we throw instead of
   * continuing with a log that silently forgot them. (Bit rot inside synced records that are
   * not yet committed cannot be told apart from a torn tail; that is outside the fault model.)
   */
  static async load(db: NodeDb, cellId: string, gc: GroupCommit): Promise<{ store: RaftLogStore; report: LoadReport }> {
    const mem = new MemoryStorage();
    const metaRaw = await db.get(snapshotMetaKey(cellId));
    const hsRaw = await db.get(hardStateKey(cellId));
    let meta: SnapshotMetadata | null = null;
    let hs: HardState | null = null;
    try {
      if (metaRaw !== undefined) meta = decodeSnapshotMetaRecord(metaRaw);
      if (hsRaw !== undefined) hs = decodeHardStateRecord(hsRaw);
    } catch (e) {
      throw new RaftStorageError('STORAGE_CORRUPT', cellId, `cell ${cellId}: unreadable ${meta === null && metaRaw !== undefined ? 'snapshot metadata' : 'hard state'} record (${describe(e)}); the replica cannot start from this disk`);
    }
    if (meta !== null) mem.applySnapshot({ metadata: meta, data: EMPTY });

    const prefix = raftLogPrefix(cellId);
    const kept: Entry[] = [];
    const drop: Uint8Array[] = [];
    let stale = 0;
    let truncatedFrom: number | null = null;
    let reason: string | null = null;
    let expected = mem.lastIndex() + 1;
    let prevTerm = mem.term(mem.lastIndex());
    for await (const [key, value] of db.iterator(raftLogRange(cellId))) {
      const index = raftLogKeyIndex(prefix, key);
      if (truncatedFrom !== null) {
        drop.push(key);
        continue;
      }
      if (index < expected) {
        // Below the snapshot: covered by it (a leftover, never part of the live log).
        assert(kept.length === 0, 'log keys out of order');
        stale++;
        drop.push(key);
        continue;
      }
      const checked = checkRecord(value, index, expected, prevTerm);
      if (typeof checked === 'string') {
        truncatedFrom = expected;
        reason = checked;
        drop.push(key);
        continue;
      }
      const e = checked;
      kept.push(e);
      prevTerm = e.term;
      expected++;
    }
    mem.append(kept);
    if (hs !== null) mem.setHardState(hs);

    // Check before repairing: on data loss, leave the disk exactly as found for inspection.
    const commit = hs?.commit ?? 0;
    if (commit > mem.lastIndex()) {
      const damage = truncatedFrom === null ? 'the log simply ends there' : `the log is damaged from index ${truncatedFrom}: ${reason}`;
      throw new RaftStorageError(
        'STORAGE_COMMITTED_LOST',
        cellId,
        `cell ${cellId}: hard state commit index ${commit} is beyond the last intact log index ${mem.lastIndex()} (${damage}); committed entries are lost on this replica — refusing to start it; replace the replica from its peers`,
      );
    }
    if (drop.length > 0) await db.batch(drop.map((key): BatchOp => ({ type: 'del', key })), true);
    const report: LoadReport = { entries: kept.length, truncatedFrom, droppedRecords: drop.length - stale, reason };
    return { store: new RaftLogStore(cellId, gc, mem), report };
  }

  // ---------------------------------------------------------------- RaftStorage (sync reads)

  initialState(): { hardState: HardState; confState: ConfState } {
    return this.mem.initialState();
  }

  entries(lo: number, hi: number, maxBytes: number): Entry[] {
    return this.mem.entries(lo, hi, maxBytes);
  }

  term(index: number): number {
    return this.mem.term(index);
  }

  firstIndex(): number {
    return this.mem.firstIndex();
  }

  lastIndex(): number {
    return this.mem.lastIndex();
  }

  /** Only the bootstrap snapshot (empty state) is servable from here; see the file comment. */
  snapshot(): Snapshot {
    const s = this.mem.snapshot();
    if (s.metadata.index <= 1) return s;
    throw new SnapshotUnavailableError();
  }

  hardState(): HardState {
    return this.mem.hardStateNow();
  }

  snapshotMetadata(): SnapshotMetadata {
    return this.mem.snapshot().metadata;
  }

  /** Bytes of log held in memory (for size-triggered compaction). */
  logBytes(): number {
    return this.mem.logBytes();
  }

  // ---------------------------------------------------------------- staged writes

  /** Starts a fresh group: membership as a snapshot at index 1, term 1 (see MemoryStorage). */
  stageBootstrap(confState: ConfState): void {
    assert(this.lastIndex() === 0 && this.hardState().term === 0, `bootstrap of non-empty cell ${this.cellId}`);
    this.mem.bootstrap(confState);
    this.gc.stage([this.putMeta(this.snapshotMetadata()), this.putHardState(this.hardState())]);
  }

  /** Appends entries, truncating the stored suffix they conflict with. */
  stageAppend(entries: readonly Entry[]): void {
    if (entries.length === 0) return;
    for (let i = 1; i < entries.length; i++) {
      assert(entries[i]!.index === entries[i - 1]!.index + 1, 'append of non-contiguous entries');
      assert(entries[i]!.term >= entries[i - 1]!.term, 'append with decreasing terms');
    }
    const first = this.firstIndex();
    const newLast = entries[entries.length - 1]!.index;
    if (newLast < first) return; // all already compacted
    const from = entries[0]!.index < first ? entries.slice(first - entries[0]!.index) : entries;
    const start = from[0]!.index;
    assert(start <= this.lastIndex() + 1, `cell ${this.cellId}: append gap: ${start} after ${this.lastIndex()}`);
    assert(start > this.hardState().commit, `cell ${this.cellId}: append at ${start} would overwrite committed index ${this.hardState().commit}`);
    // Raft logs have non-decreasing terms; load() relies on that to spot stale records.
    assert(from[0]!.term >= this.term(start - 1), `cell ${this.cellId}: append at ${start} with a term below its predecessor`);
    const oldLast = this.lastIndex();
    this.mem.append(from);
    const ops: BatchOp[] = [];
    for (const e of from) ops.push({ type: 'put', key: raftLogKey(this.cellId, e.index), value: encodeLogRecord(e) });
    // The conflicting suffix beyond the new last index would otherwise survive on disk.
    for (let i = newLast + 1; i <= oldLast; i++) ops.push({ type: 'del', key: raftLogKey(this.cellId, i) });
    this.gc.stage(ops);
  }

  stageHardState(hs: HardState): void {
    const prev = this.hardState();
    assert(hs.term >= prev.term, `cell ${this.cellId}: hard state term went back from ${prev.term} to ${hs.term}`);
    assert(hs.commit >= prev.commit, `cell ${this.cellId}: commit went back from ${prev.commit} to ${hs.commit}`);
    assert(hs.commit <= this.lastIndex(), `cell ${this.cellId}: commit ${hs.commit} beyond last index ${this.lastIndex()}`);
    this.mem.setHardState(hs);
    this.gc.stage([this.putHardState(hs)]);
  }

  /**
   * Installs a received snapshot: the whole log is replaced (MemoryStorage semantics) and the
   * metadata persisted. The data is applied to the state machine by the caller, not kept here.
   */
  stageSnapshot(snapshot: Snapshot, stateMachineOps: readonly BatchOp[] = []): void {
    const metadata = snapshot.metadata;
    // The state machine's install ops travel in the same unit: a crash can never leave data
    // applied at the snapshot index with a log that ends before it.
    const ops: BatchOp[] = [...stateMachineOps];
    for (let i = this.firstIndex(); i <= this.lastIndex(); i++) ops.push({ type: 'del', key: raftLogKey(this.cellId, i) });
    this.mem.applySnapshot({ metadata, data: EMPTY });
    ops.push(this.putMeta(metadata));
    this.gc.stage(ops);
  }

  /**
   * Records that entries <= index are covered by a snapshot with this metadata and deletes
   * them. Metadata and deletes are one unit, so the log on disk always starts right after the
   * stored snapshot index. No-op when already compacted that far.
   */
  stageCompact(index: number, metadata: SnapshotMetadata): void {
    assert(metadata.index === index, `compaction index ${index} != metadata index ${metadata.index}`);
    if (index < this.firstIndex()) return;
    assert(index <= this.lastIndex(), `cell ${this.cellId}: compaction at ${index} beyond last index ${this.lastIndex()}`);
    assert(index <= this.hardState().commit, `cell ${this.cellId}: compaction at ${index} beyond commit ${this.hardState().commit}`);
    assert(metadata.term === this.term(index), `compaction term ${metadata.term} != log term ${this.term(index)} at ${index}`);
    const ops: BatchOp[] = [];
    for (let i = this.firstIndex(); i <= index; i++) ops.push({ type: 'del', key: raftLogKey(this.cellId, i) });
    this.mem.createSnapshot(index, metadata.confState, EMPTY);
    this.mem.compact(index);
    ops.push(this.putMeta(metadata));
    this.gc.stage(ops);
  }

  private putMeta(m: SnapshotMetadata): BatchOp {
    return { type: 'put', key: snapshotMetaKey(this.cellId), value: encodeSnapshotMetaRecord(m) };
  }

  private putHardState(hs: HardState): BatchOp {
    return { type: 'put', key: hardStateKey(this.cellId), value: encodeHardStateRecord(hs) };
  }
}

/** The record's entry when it can be kept, else why not. */
function checkRecord(value: Uint8Array, index: number, expected: number, prevTerm: number): Entry | string {
  if (index !== expected) return `record ${expected} is missing (next record found is ${index})`;
  let e: Entry;
  try {
    e = decodeLogRecord(value);
  } catch (err) {
    return `record ${index} is unreadable: ${describe(err)}`;
  }
  if (e.index !== index) return `record under key ${index} holds entry ${e.index}`;
  if (e.term < prevTerm) return `record ${index} has term ${e.term} below the previous term ${prevTerm}`;
  return e;
}
