// The node's side of backups (admin ops on `cellkv.admin.<node>`, JSON):
//
//   backupSnapshot {cell}                    pins LevelDB, builds the cell's state-machine
//                                            snapshot (buildSnapshotData) at the applied index
//                                            recorded in the pinned state, keeps it as a blob
//   backupLog {cell, from, prevTerm, to}     committed log entries from `from` (one bounded
//                                            page) as a blob; LOG_COMPACTED when gone
//   backupChunk {blob, offset}               one chunk of a blob (base64), well below max_payload
//   backupEnd {blob}                         drops a blob
//
// Why a pinned LevelDB view and no pause of the apply loop: every apply round writes its data
// and the cell's applied index in ONE atomic batch (group commit never splits a unit), so any
// LevelDB snapshot holds each cell exactly at the applied index stored in it. Blobs are bounded
// in number and expire when idle, so an abandoned backup frees its memory.

import { createHash, randomUUID } from 'node:crypto';
import { KvError } from '../../shared/errors.js';
import { appliedKey, decodeAppliedState } from '../storage/records.js';
import { encodeLogFrames } from '../backup/format.js';
import type { BlobRef } from '../backup/chunks.js';
import type { NodeDb } from '../storage/node-db.js';
import type { NodeClock, TimerHandle } from './clock.js';
import type { NodeConfig } from './config.js';
import type { Replica } from './replica.js';
import { buildSnapshotData } from './snapshots.js';

/** Raw bytes per chunk at most; base64 makes it 4/3 larger, still far below NATS's 1 MiB. */
export const MAX_CHUNK_BYTES = 512 * 1024;
/** Raw bytes a log page aims at (one huge entry may exceed it; it is chunked like a snapshot). */
const LOG_PAGE_BYTES = 4 * 1024 * 1024;
const LOG_PAGE_ENTRIES = 20_000;
const MAX_BLOBS = 4;
const BLOB_IDLE_MS = 120_000;

interface Blob {
  readonly data: Uint8Array;
  lastUsedMs: number;
}

export interface BackupAdminRequest {
  readonly op: string;
  readonly cell?: string;
  readonly blob?: string;
  readonly offset?: number;
  readonly chunkBytes?: number;
  readonly from?: number;
  readonly to?: number;
  readonly prevTerm?: number;
}

/** What backups need from the node (CellNode provides it). */
export interface BackupHost {
  readonly cfg: Pick<NodeConfig, 'nodeId'>;
  readonly replicas: ReadonlyMap<string, Replica>;
  readonly db: Pick<NodeDb, 'pinnedView'>;
  /** Time and timers (virtual in the whole-node simulation). */
  readonly clock: NodeClock;
  /** Writes everything staged (synced or not); see CellNode.flushAll. */
  flushAll(sync: boolean): Promise<void>;
  hexRange(r: Replica): { start: string; end: string | null };
}

export class BackupAdmin {
  private readonly blobs = new Map<string, Blob>();
  /** Runs while blobs are held, so an abandoned backup's memory is freed without a next request. */
  private sweeper: TimerHandle | null = null;

  constructor(private readonly host: BackupHost) {}

  static handles(op: string | undefined): boolean {
    return op === 'backupSnapshot' || op === 'backupLog' || op === 'backupChunk' || op === 'backupEnd';
  }

  async handle(req: BackupAdminRequest): Promise<Record<string, unknown>> {
    this.expire(this.host.clock.now());
    switch (req.op) {
      case 'backupSnapshot':
        return this.snapshot(req);
      case 'backupLog':
        return this.logPage(req);
      case 'backupChunk':
        return this.chunk(req);
      case 'backupEnd':
        if (typeof req.blob === 'string') this.blobs.delete(req.blob);
        return { ok: true };
      default:
        throw new KvError('INVALID_ARGUMENT', `unknown backup op ${req.op}`);
    }
  }

  private replica(cell: string | undefined) {
    if (typeof cell !== 'string') throw new KvError('INVALID_ARGUMENT', 'cell is required');
    const r = this.host.replicas.get(cell);
    if (!r) throw new KvError('NOT_FOUND', `node ${this.host.cfg.nodeId} has no replica of cell ${cell}`);
    return r;
  }

  private async snapshot(req: BackupAdminRequest): Promise<Record<string, unknown>> {
    const r = this.replica(req.cell);
    if (!this.host.db.pinnedView) throw new KvError('UNAVAILABLE', 'this node database cannot pin a read view');
    // Write what was applied so far first: the pinned state is then at most moments old.
    await this.host.flushAll(false);
    const pin = this.host.db.pinnedView();
    const capturedAtMs = this.host.clock.now();
    try {
      const raw = await pin.get(appliedKey(r.cellId));
      if (!raw) throw new KvError('UNAVAILABLE', `cell ${r.cellId} has applied nothing yet; retry shortly`);
      const applied = decodeAppliedState(raw);
      const term = r.raft.termAt(applied.index);
      if (term === null) throw new KvError('UNAVAILABLE', `cell ${r.cellId}: term of index ${applied.index} unknown (just compacted); retry`);
      const data = await buildSnapshotData(pin, r.cellId, r.range);
      return {
        ok: true,
        node: this.host.cfg.nodeId,
        cell: r.cellId,
        index: applied.index,
        term,
        epoch: r.epoch,
        ...this.host.hexRange(r),
        capturedAtMs,
        ...this.keep(data),
      };
    } finally {
      await pin.close();
    }
  }

  private logPage(req: BackupAdminRequest): Record<string, unknown> {
    const r = this.replica(req.cell);
    const from = req.from;
    if (typeof from !== 'number' || !Number.isSafeInteger(from) || from < 1) throw new KvError('INVALID_ARGUMENT', 'from must be a log index >= 1');
    const commit = r.log.hardState().commit;
    const firstIndex = r.log.firstIndex();
    const base = { ok: true, node: this.host.cfg.nodeId, cell: r.cellId, commit, firstIndex, epoch: r.epoch, ...this.host.hexRange(r) };
    if (from < firstIndex) {
      return { ok: false, code: 'LOG_COMPACTED', message: `cell ${r.cellId}: entries before ${firstIndex} are compacted on ${this.host.cfg.nodeId}`, firstIndex };
    }
    // Same Raft history as the base backup: the entry before `from` must have the base's term.
    if (typeof req.prevTerm === 'number') {
      const t = r.raft.termAt(from - 1);
      if (t !== null && t !== req.prevTerm) {
        return { ok: false, code: 'LOG_MISMATCH', message: `cell ${r.cellId}: entry ${from - 1} has term ${t} here, the base backup says ${req.prevTerm}; take a full backup` };
      }
    }
    const to = Math.min(commit, typeof req.to === 'number' ? req.to : commit, from + LOG_PAGE_ENTRIES - 1);
    if (to < from) return { ...base, first: from, last: from - 1, entries: 0, ...this.keep(new Uint8Array(0)) };
    const entries = r.log.entries(from, to + 1, LOG_PAGE_BYTES);
    const last = entries[entries.length - 1]!;
    return { ...base, first: from, last: last.index, lastTerm: last.term, entries: entries.length, ...this.keep(encodeLogFrames(entries)) };
  }

  private chunk(req: BackupAdminRequest): Record<string, unknown> {
    const b = typeof req.blob === 'string' ? this.blobs.get(req.blob) : undefined;
    if (!b) throw new KvError('NOT_FOUND', `backup blob ${String(req.blob)} is gone (expired after ${BLOB_IDLE_MS / 1000}s idle or ended); start again`);
    const offset = req.offset ?? -1;
    if (!Number.isSafeInteger(offset) || offset < 0 || offset > b.data.length) throw new KvError('INVALID_ARGUMENT', `offset must be 0..${b.data.length}`);
    const size = Math.min(MAX_CHUNK_BYTES, Math.max(1024, req.chunkBytes ?? MAX_CHUNK_BYTES));
    const end = Math.min(b.data.length, offset + size);
    b.lastUsedMs = this.host.clock.now();
    return { ok: true, offset, next: end, done: end === b.data.length, data: Buffer.from(b.data.buffer, b.data.byteOffset + offset, end - offset).toString('base64') };
  }

  /** Keeps bytes as a blob (or inlines them when they fit one chunk). */
  private keep(data: Uint8Array): BlobRef {
    const sha256 = createHash('sha256').update(data).digest('hex');
    if (data.length <= MAX_CHUNK_BYTES) return { blob: null, bytes: data.length, sha256, inline: Buffer.from(data).toString('base64') };
    if (this.blobs.size >= MAX_BLOBS) throw new KvError('OVERLOADED', `node ${this.host.cfg.nodeId} already serves ${MAX_BLOBS} backup blobs; retry when a backup finished`);
    const id = randomUUID();
    this.blobs.set(id, { data, lastUsedMs: this.host.clock.now() });
    if (this.sweeper === null) {
      this.sweeper = this.host.clock.every(10_000, () => this.expire(this.host.clock.now()));
      this.sweeper.unref?.();
    }
    return { blob: id, bytes: data.length, sha256, inline: null };
  }

  private expire(now: number): void {
    for (const [id, b] of this.blobs) if (now - b.lastUsedMs > BLOB_IDLE_MS) this.blobs.delete(id);
    if (this.blobs.size === 0 && this.sweeper !== null) {
      this.sweeper.cancel();
      this.sweeper = null;
    }
  }
}
