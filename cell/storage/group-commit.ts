// Group commit: every cell of the node stages its Raft-log writes here during one turn of the
// event loop, and one `flush()` makes all of them durable with ONE synced LevelDB batch, so
// the fsync cost is paid per batch, never per request or per cell.
//
// Staged ops are grouped in units (one `stage()` call): a unit is never split across
// batches, so each unit (an append with its suffix truncation, a compaction with its
// metadata) lands atomically. When the pending batch would exceed its bound it is written
// early (synced); that only makes a prefix of units durable sooner, which is a state a crash
// during one big batch could not produce but is still valid: every unit leaves a consistent
// log, and nothing staged is acknowledged before the caller's `flush()` resolves.
//
// Writes are serialized: LevelDB may reorder concurrent batches, and a later flush must never
// overtake an earlier one (a truncation racing the append it supersedes).

import { Histogram, type Registry } from 'prom-client';
import { assert } from '../../shared/assert.js';
import { SYNC_MARKER_KEY } from './keys.js';
import type { BatchOp, NodeDb } from './node-db.js';

export interface GroupCommitOptions {
  /** Metrics are registered here when given (fsync latency, ops per batch). */
  readonly registry?: Registry;
  /** Pending ops that trigger an early write. */
  readonly maxBatchOps?: number;
  /** Pending bytes (keys + values, approximately) that trigger an early write. */
  readonly maxBatchBytes?: number;
}

export interface GroupCommitStats {
  /** Synced LevelDB batches written (= fsyncs). */
  readonly syncedBatches: number;
  readonly unsyncedBatches: number;
  /** Batches written early because the bound was exceeded. */
  readonly earlyBatches: number;
  readonly opsWritten: number;
}

const DEFAULT_MAX_OPS = 20_000;
const DEFAULT_MAX_BYTES = 32 << 20;
const OP_OVERHEAD_BYTES = 16;

function opBytes(op: BatchOp): number {
  return op.key.length + (op.type === 'put' ? op.value.length : 0) + OP_OVERHEAD_BYTES;
}

export class GroupCommit {
  private pending: BatchOp[] = [];
  private pendingBytes = 0;
  /** Settles when every write queued so far has settled; never rejects. */
  private tail: Promise<void> = Promise.resolve();
  /** An unsynced write was queued after the last synced one: a flush must fsync even if empty. */
  private unsyncedSinceSync = false;
  /** Sticky: after a failed write the staged state is unknown, so the node must restart. */
  private failure: Error | null = null;
  private readonly maxOps: number;
  private readonly maxBytes: number;
  private readonly fsyncSeconds: Histogram | null;
  private readonly batchOps: Histogram | null;
  private counters = { syncedBatches: 0, unsyncedBatches: 0, earlyBatches: 0, opsWritten: 0 };

  constructor(
    private readonly db: NodeDb,
    opts: GroupCommitOptions = {},
  ) {
    this.maxOps = opts.maxBatchOps ?? DEFAULT_MAX_OPS;
    this.maxBytes = opts.maxBatchBytes ?? DEFAULT_MAX_BYTES;
    assert(this.maxOps > 0 && this.maxBytes > 0, 'group commit bounds must be positive');
    const registers = opts.registry ? [opts.registry] : [];
    this.fsyncSeconds = opts.registry
      ? new Histogram({
          name: 'cellkv_group_commit_fsync_seconds',
          help: 'Latency of one synced group-commit batch (one fsync)',
          buckets: [0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 1],
          registers,
        })
      : null;
    this.batchOps = opts.registry
      ? new Histogram({
          name: 'cellkv_group_commit_batch_ops',
          help: 'LevelDB operations per synced group-commit batch',
          buckets: [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 5000, 20000],
          registers,
        })
      : null;
  }

  put(key: Uint8Array, value: Uint8Array): void {
    this.stage([{ type: 'put', key, value }]);
  }

  del(key: Uint8Array): void {
    this.stage([{ type: 'del', key }]);
  }

  /** Stages ops as one unit: they land in the same LevelDB batch, in order. */
  stage(ops: readonly BatchOp[]): void {
    if (ops.length === 0) return;
    let bytes = 0;
    for (const op of ops) bytes += opBytes(op);
    const over = this.pending.length + ops.length > this.maxOps || this.pendingBytes + bytes > this.maxBytes;
    if (over && this.pending.length > 0) this.writeEarly();
    for (const op of ops) this.pending.push(op);
    this.pendingBytes += bytes;
    // A unit bigger than the bound on its own goes out alone.
    if (this.pending.length >= this.maxOps || this.pendingBytes >= this.maxBytes) this.writeEarly();
  }

  get pendingOps(): number {
    return this.pending.length;
  }

  get stats(): GroupCommitStats {
    return { ...this.counters };
  }

  /**
   * Makes everything staged so far durable: one synced batch for the pending ops, after every
   * earlier write. Resolves at once (no fsync) when nothing was staged or written unsynced.
   */
  flush(): Promise<void> {
    if (this.pending.length === 0 && !this.unsyncedSinceSync) return this.settled();
    // Ops staged by others may already be in flight in an unsynced write: the forced sync of
    // the same LevelDB log makes those durable too (LevelDB syncs its log sequentially).
    const ops = this.take();
    if (ops.length === 0) ops.push({ type: 'del', key: SYNC_MARKER_KEY });
    return this.enqueue(ops, true);
  }

  /**
   * Writes the pending ops without fsync (they reach the OS, not necessarily the disk). For
   * writes whose loss on a machine crash is recovered by the durable Raft log.
   */
  flushUnsynced(): Promise<void> {
    if (this.pending.length === 0) return this.settled();
    return this.enqueue(this.take(), false);
  }

  private take(): BatchOp[] {
    const ops = this.pending;
    this.pending = [];
    this.pendingBytes = 0;
    return ops;
  }

  private writeEarly(): void {
    this.counters.earlyBatches++;
    // Nobody awaits this write: a failure surfaces (sticky) from the next flush.
    this.enqueue(this.take(), true).catch(() => undefined);
  }

  private settled(): Promise<void> {
    return this.tail.then(() => {
      if (this.failure) throw this.failure;
    });
  }

  private enqueue(ops: BatchOp[], sync: boolean): Promise<void> {
    assert(ops.length > 0, 'empty group-commit batch');
    if (sync) this.unsyncedSinceSync = false;
    else this.unsyncedSinceSync = true;
    const run = async (): Promise<void> => {
      if (this.failure) throw this.failure;
      const t0 = process.hrtime.bigint();
      try {
        await this.db.batch(ops, sync);
      } catch (e) {
        this.failure = e instanceof Error ? e : new Error(String(e));
        throw this.failure;
      }
      this.counters.opsWritten += ops.length;
      if (sync) {
        this.counters.syncedBatches++;
        this.fsyncSeconds?.observe(Number(process.hrtime.bigint() - t0) / 1e9);
        this.batchOps?.observe(ops.length);
      } else {
        this.counters.unsyncedBatches++;
      }
    };
    const p = this.tail.then(run);
    this.tail = p.catch(() => undefined);
    return p;
  }
}
