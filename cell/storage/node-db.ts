// The node's one LevelDB: every cell's Raft log, hard state and snapshot metadata, and every
// cell's state machine live in it (key layout in keys.ts). Keys and values are Uint8Array.

import { mkdir } from 'node:fs/promises';
import { ClassicLevel } from 'classic-level';
import type { BatchOp, IteratorRange, KvDb } from '../kv/kv-db.js';

export type { BatchOp, IteratorRange } from '../kv/kv-db.js';

export interface NodeDb extends KvDb {
  readonly location: string;
  /** The read-only slice the state machine uses (the same database). */
  readonly kv: KvDb;
  /** One atomic LevelDB write; with `sync` it returns only after the data is fsynced. */
  batch(ops: readonly BatchOp[], sync: boolean): Promise<void>;
  /**
   * A read-only view pinned to this moment (a LevelDB snapshot): reads through it never see
   * later writes. Every batch is atomic, so the view holds whole batches only. Close it.
   */
  pinnedView?(): PinnedView;
  close(): Promise<void>;
}

export interface PinnedView extends KvDb {
  close(): Promise<void>;
}

type Level = ClassicLevel<Uint8Array, Uint8Array>;

/** Only defined bounds: an explicit `undefined` bound is not the same as no bound everywhere. */
function levelRange(range: IteratorRange): { gte?: Uint8Array; gt?: Uint8Array; lt?: Uint8Array; limit?: number; reverse?: boolean } {
  const opts: { gte?: Uint8Array; gt?: Uint8Array; lt?: Uint8Array; limit?: number; reverse?: boolean } = {};
  if (range.gte !== undefined) opts.gte = range.gte;
  if (range.gt !== undefined) opts.gt = range.gt;
  if (range.lt !== undefined) opts.lt = range.lt;
  if (range.limit !== undefined) opts.limit = range.limit;
  if (range.reverse !== undefined) opts.reverse = range.reverse;
  return opts;
}

/** classic-level's implementation hook behind batch(): ops as {type, key, value} byte arrays. */
interface DirectBatch {
  _batch?: (ops: readonly BatchOp[], options: { sync: boolean }) => Promise<void>;
}

class LevelNodeDb implements NodeDb {
  readonly kv: KvDb = this;

  constructor(private readonly db: Level) {}

  get location(): string {
    return this.db.location;
  }

  get(key: Uint8Array): Promise<Uint8Array | undefined> {
    return this.db.get(key);
  }

  getMany(keys: Uint8Array[]): Promise<(Uint8Array | undefined)[]> {
    if (keys.length === 0) return Promise.resolve([]);
    return this.db.getMany(keys);
  }

  async *iterator(range: IteratorRange): AsyncIterable<[Uint8Array, Uint8Array]> {
    for await (const kv of this.db.iterator(levelRange(range))) yield kv;
  }

  batch(ops: readonly BatchOp[], sync: boolean): Promise<void> {
    if (ops.length === 0) return Promise.resolve();
    // Every write of the node goes through here (log, applied data, hard state): the public
    // batch() copies and re-validates each op object (a quarter of a node's CPU under write
    // load). Our ops are already binary keys and values in the binding's own shape, the
    // database has no hooks or listeners, so they go to the binding directly while open.
    const direct = (this.db as unknown as DirectBatch)._batch;
    if (this.db.status === 'open' && typeof direct === 'function') {
      return direct.call(this.db, ops, { sync });
    }
    return this.db.batch(
      ops.map((o) => (o.type === 'put' ? { type: 'put' as const, key: o.key, value: o.value } : { type: 'del' as const, key: o.key })),
      { sync },
    );
  }

  pinnedView(): PinnedView {
    const snapshot = this.db.snapshot();
    const db = this.db;
    return {
      get: (key) => db.get(key, { snapshot }),
      getMany: (keys) => (keys.length === 0 ? Promise.resolve([]) : db.getMany(keys, { snapshot })),
      async *iterator(range: IteratorRange) {
        for await (const kv of db.iterator({ ...levelRange(range), snapshot })) yield kv;
      },
      close: () => snapshot.close(),
    };
  }

  close(): Promise<void> {
    return this.db.close();
  }
}

export async function openNodeDb(dir: string): Promise<NodeDb> {
  await mkdir(dir, { recursive: true });
  const db: Level = new ClassicLevel<Uint8Array, Uint8Array>(dir, { keyEncoding: 'view', valueEncoding: 'view' });
  await db.open();
  return new LevelNodeDb(db);
}
