// A cell's state machine over the node's LevelDB: applies committed entries into a batch
// (with an overlay so later commands of the same batch see earlier ones), keeps the expiry
// index, the at-most-once table and the per-tenant usage counters (usage.ts), and writes the
// applied index in the same batch as the data it covers.

import { assert } from '../../shared/assert.js';
import type { ConfState, Entry } from '../raft/types.js';
import type { CellEntryPayload, OpResult, RangeCommand, WriteCommand } from '../../shared/cell-protocol.js';
import {
  appliedKey,
  dataKey,
  decodeAppliedState,
  decodeCellEntryPayload,
  decodeDedupeRecord,
  decodeStoredValue,
  dedupeAgeKey,
  dedupeAgeRange,
  dedupeKey,
  encodeAppliedState,
  encodeDedupeRecord,
  encodeStoredValue,
  expiryKey,
  parseDedupeAgeKey,
  type AppliedState,
  type StoredValue,
} from '../storage/records.js';
import { inKeyRange, namespacedKey } from '../../shared/keys.js';
import { MAX_OPS_PER_ENTRY, applyExpire, applyWrite, type ApplyView } from './kv-apply.js';
import type { BatchOp, KvDb } from './kv-db.js';
import { UsageCounters } from './usage.js';
import { DEFAULT_VALUE_CACHE_BYTES, ValueCache } from './value-cache.js';

export interface DedupeLimits {
  readonly retentionMs: number;
  readonly maxEntries: number;
}

/** Results of one applied entry: per command, its op results (null for system commands). */
export type EntryResults = (OpResult[] | null)[];

/** Hook for commands the data layer does not own (the meta cell's directory). */
export type MetaApplier = (json: string, index: number, ops: BatchOp[]) => Promise<void>;

/** The meta command that raises the dedupe cutoff (proposed when the table grows too big). */
export function dedupeCutoffCommand(cutoffMs: number): string {
  return JSON.stringify({ op: 'dedupeCutoff', cutoffMs });
}

function parseDedupeCutoff(json: string): number | null {
  if (!json.startsWith('{"op":"dedupeCutoff"')) return null;
  const v = JSON.parse(json) as { cutoffMs?: unknown };
  return typeof v.cutoffMs === 'number' ? v.cutoffMs : null;
}

const hex = (k: Uint8Array) => Buffer.from(k.buffer, k.byteOffset, k.length).toString('hex');

export class CellData {
  private overlay = new Map<string, StoredValue | null>();
  private pendingDedupe = new Map<string, Uint8Array>();
  /** Values loaded by prefetch(), valid until the batch is flushed (overlay wins over them). */
  private prefetched = new Map<string, StoredValue | null>();
  private prefetchedDedupe = new Map<string, Uint8Array | null>();
  private ops: BatchOp[] = [];
  private dedupeAdded = 0;
  private takenGeneration = 0;
  private state: AppliedState;
  expiredDeleted = 0;
  /** Live keys and bytes per tenant in this cell, maintained at apply time. */
  readonly usage: UsageCounters;
  /** The entry being applied, while applyEntry runs. */
  private applying: number | null = null;
  private readonly cache: ValueCache;
  /** Simulation mutants (cell/node/mutations.ts); always false in a deployment. */
  mutantKeepsStaleCache = false;
  /** The key range this replica owns; apply refuses ops outside it (a split moved them away). */
  private range: { start: Uint8Array; end: Uint8Array | null } = { start: new Uint8Array(0), end: null };
  /** A range command (split, merge) applied by the last applyEntry, for the node to carry out. */
  private pendingRange: RangeCommand | null = null;
  /**
   * Frozen for a merge: writes and expiries applied from now on are refused alike on every
   * replica (the node sets it when it applies the freeze, and at open from the record).
   */
  frozen = false;
  mutantDropsData = false;

  private constructor(
    readonly cellId: string,
    private readonly db: KvDb,
    state: AppliedState,
    private readonly dedupe: DedupeLimits,
    private readonly metaApplier: MetaApplier | null,
    valueCacheBytes: number,
  ) {
    this.state = state;
    this.usage = new UsageCounters(cellId, db);
    this.cache = new ValueCache(valueCacheBytes);
  }

  /**
   * Opens the cell's state machine. Without a stored applied state it starts empty at
   * `initialIndex` (the log's snapshot index: 1 for a freshly bootstrapped cell).
   */
  static async open(
    cellId: string,
    db: KvDb,
    initialConf: ConfState,
    dedupe: DedupeLimits,
    meta: MetaApplier | null,
    initialIndex = 0,
    valueCacheBytes = DEFAULT_VALUE_CACHE_BYTES,
  ): Promise<CellData> {
    const raw = await db.get(appliedKey(cellId));
    const state = raw ? decodeAppliedState(raw) : { index: initialIndex, confState: initialConf, dedupeCutoffMs: 0 };
    return new CellData(cellId, db, state, dedupe, meta, valueCacheBytes);
  }

  get applied(): AppliedState {
    return this.state;
  }

  /**
   * The last entry the usage counters include. Apply yields between ops, so a read can fall
   * inside an entry: that entry counts as included (its ops are counted in part or in whole).
   */
  get countersIndex(): number {
    return this.applying ?? this.state.index;
  }

  /** Reads a stored value (committed and flushed, or pending in this batch). */
  async read(nsKey: Uint8Array): Promise<StoredValue | null> {
    const h = hex(nsKey);
    if (this.overlay.has(h)) return this.overlay.get(h)!;
    const cached = this.cache.get(h);
    if (cached !== undefined) return cached;
    const pre = this.prefetched.get(h);
    if (pre !== undefined) return pre;
    const epoch = this.cache.writeEpoch;
    const raw = await this.db.get(dataKey(nsKey));
    const v = raw ? decodeStoredValue(raw) : null;
    this.cache.fill(h, v, epoch);
    return v;
  }

  /**
   * Loads, in one LevelDB round trip, every key the entries will read (their data keys and
   * request ids), so applying them needs no further I/O. A read per op through the async
   * LevelDB binding costs a thread-pool hop each and would serialize the apply loop.
   */
  async prefetch(entries: readonly Entry[]): Promise<CellEntryPayload[]> {
    const payloads: CellEntryPayload[] = [];
    const dataKeys: Uint8Array[] = [];
    const dataHex: string[] = [];
    const ids: string[] = [];
    for (const e of entries) {
      const p = e.kind === 'normal' && e.data.length > 0 ? decodeCellEntryPayload(e.data) : { commands: [] };
      payloads.push(p);
      for (const cmd of p.commands) {
        const nsKeys = cmd.kind === 'write' ? cmd.ops.map((op) => namespacedKey(cmd.tenant, op.key)) : cmd.kind === 'expire' ? cmd.keys : [];
        if (cmd.kind === 'write' && !this.pendingDedupe.has(cmd.requestId)) ids.push(cmd.requestId);
        for (const k of nsKeys) {
          const h = hex(k);
          if (this.overlay.has(h) || this.prefetched.has(h) || this.cache.get(h) !== undefined) continue;
          this.prefetched.set(h, null);
          dataKeys.push(dataKey(k));
          dataHex.push(h);
        }
      }
    }
    const epoch = this.cache.writeEpoch;
    const raws = await this.db.getMany([...dataKeys, ...ids.map((id) => dedupeKey(this.cellId, id))]);
    dataHex.forEach((h, i) => {
      const raw = raws[i];
      const v = raw ? decodeStoredValue(raw) : null;
      this.prefetched.set(h, v);
      this.cache.fill(h, v, epoch);
    });
    ids.forEach((id, i) => {
      const raw = raws[dataKeys.length + i];
      this.prefetchedDedupe.set(id, raw ?? null);
    });
    return payloads;
  }

  private view(): ApplyView {
    return {
      get: (k) => this.read(k),
      put: (k, v) => this.stagePut(k, v),
      del: (k) => this.stageDel(k),
    };
  }

  private async stagePut(nsKey: Uint8Array, v: StoredValue): Promise<void> {
    await this.usage.ensureLoaded();
    const old = await this.read(nsKey);
    this.usage.apply(nsKey, old, v);
    if (old?.meta.expiresAt != null) this.ops.push({ type: 'del', key: expiryKey(old.meta.expiresAt, nsKey) });
    const h = hex(nsKey);
    this.overlay.set(h, v);
    if (!this.mutantKeepsStaleCache) this.cache.write(h, v);
    this.ops.push({ type: 'put', key: dataKey(nsKey), value: encodeStoredValue(v) });
    if (v.meta.expiresAt !== null) this.ops.push({ type: 'put', key: expiryKey(v.meta.expiresAt, nsKey), value: new Uint8Array(0) });
  }

  private async stageDel(nsKey: Uint8Array): Promise<void> {
    await this.usage.ensureLoaded();
    const old = await this.read(nsKey);
    this.usage.apply(nsKey, old, null);
    if (old?.meta.expiresAt != null) this.ops.push({ type: 'del', key: expiryKey(old.meta.expiresAt, nsKey) });
    const h = hex(nsKey);
    this.overlay.set(h, null);
    if (!this.mutantKeepsStaleCache) this.cache.write(h, null);
    this.ops.push({ type: 'del', key: dataKey(nsKey) });
  }

  /** Applies one committed entry; returns per-command results. */
  async applyEntry(entry: Entry, decoded?: CellEntryPayload): Promise<EntryResults> {
    assert(entry.index === this.state.index + 1, `cell ${this.cellId}: apply ${entry.index} after ${this.state.index}`);
    let results: EntryResults = [];
    if (entry.kind === 'normal' && entry.data.length > 0) {
      const payload: CellEntryPayload = decoded ?? decodeCellEntryPayload(entry.data);
      this.applying = entry.index;
      results = await this.applyPayload(payload, entry.index);
    }
    this.state = { ...this.state, index: entry.index };
    this.applying = null;
    return results;
  }

  /** The owned range (the node sets it at open and at every split). */
  setRange(start: Uint8Array, end: Uint8Array | null): void {
    this.range = { start, end };
    // Cached values of keys outside the new range go stale as their new owner writes them, and a
    // later merge would bring them back in: a range change starts the cache afresh.
    this.cache.clear();
    this.usage.setRange(start, end);
  }

  /** The range command the last applied entry carried, once (the node validates and carries it out). */
  takePendingRange(): RangeCommand | null {
    const s = this.pendingRange;
    this.pendingRange = null;
    return s;
  }

  /** Raises the version base (a merge): later versions are (index + base) << 16 | position. */
  raiseVersionBase(base: number): void {
    assert(Number.isSafeInteger(base) && base >= 0, 'version base');
    if (base > (this.state.versionBase ?? 0)) this.state = { ...this.state, versionBase: base };
  }

  /** Adds ops to this round's batch (the node's split records travel with the applied state). */
  stageOps(ops: readonly BatchOp[]): void {
    for (const op of ops) this.ops.push(op);
  }

  /** Whether nothing applied is pending unwritten (the overlay is empty). */
  get quiescent(): boolean {
    return this.ops.length === 0 && this.overlay.size === 0;
  }

  setConfState(confState: ConfState): void {
    this.state = { ...this.state, confState };
  }

  private async applyPayload(payload: CellEntryPayload, index: number): Promise<EntryResults> {
    const out: EntryResults = [];
    let position = 0;
    for (const cmd of payload.commands) {
      switch (cmd.kind) {
        case 'write':
          assert(position + cmd.ops.length <= MAX_OPS_PER_ENTRY, 'too many ops in one entry');
          out.push(await this.applyWriteOnce(cmd, index, position));
          position += cmd.ops.length;
          break;
        case 'expire': {
          if (this.frozen) {
            out.push(null);
            break;
          }
          // Keys a split moved away since the sweep chose them belong to the other cell now.
          const keys = cmd.keys.filter((k) => inKeyRange(k, this.range.start, this.range.end));
          this.expiredDeleted += await applyExpire(keys.length === cmd.keys.length ? cmd : { ...cmd, keys }, this.view());
          out.push(null);
          break;
        }
        case 'split':
        case 'mergeFreeze':
        case 'mergeCommit':
        case 'mergeAbort':
        case 'mergeRollback':
          assert(this.pendingRange === null, 'one range command per entry');
          this.pendingRange = cmd;
          out.push(null);
          break;
        case 'meta': {
          const cutoff = parseDedupeCutoff(cmd.json);
          if (cutoff !== null) this.state = { ...this.state, dedupeCutoffMs: Math.max(this.state.dedupeCutoffMs, cutoff) };
          else if (this.metaApplier) await this.metaApplier(cmd.json, index, this.ops);
          out.push(null);
          break;
        }
      }
    }
    return out;
  }

  /**
   * At most once: a retried request id gets the results of its first application, as long as
   * its record is logically alive: younger than the retention at the command's (replicated)
   * time and than the replicated cutoff. Only logical liveness decides, so replicas that
   * garbage-collect at different moments still agree.
   */
  private async applyWriteOnce(cmd: WriteCommand, index: number, position: number): Promise<OpResult[]> {
    const floor = Math.max(cmd.nowMs - this.dedupe.retentionMs, this.state.dedupeCutoffMs);
    const prior = await this.readDedupe(cmd.requestId);
    if (prior && prior.atMs >= floor) return prior.results;
    // Proposed before a split this entry comes after: the keys moved to another cell. Not
    // applied and not remembered, so the client's retry goes to the new owner.
    if (this.frozen || cmd.ops.some((op) => !inKeyRange(namespacedKey(cmd.tenant, op.key), this.range.start, this.range.end))) {
      return cmd.ops.map(() => ({ status: 'error', code: 'WRONG_RANGE', message: 'the key moved to another cell (split or merge); refresh the directory', currentVersion: null }));
    }
    const opsBefore = this.ops.length;
    // Versions count from the version base: a merged cell's stay above the absorbed cell's.
    const results = await applyWrite(cmd, index + (this.state.versionBase ?? 0), position, this.view());
    if (this.mutantDropsData) this.ops.length = opsBefore;
    const record = encodeDedupeRecord({ atMs: cmd.nowMs, results });
    this.pendingDedupe.set(cmd.requestId, record);
    this.ops.push({ type: 'put', key: dedupeKey(this.cellId, cmd.requestId), value: record });
    this.ops.push({ type: 'put', key: dedupeAgeKey(this.cellId, cmd.nowMs, cmd.requestId), value: new Uint8Array(0) });
    this.dedupeAdded++;
    return results;
  }

  private async readDedupe(requestId: string): Promise<{ atMs: number; results: OpResult[] } | null> {
    const pre = this.prefetchedDedupe.get(requestId);
    const raw =
      this.pendingDedupe.get(requestId) ?? (pre !== undefined ? pre : await this.db.get(dedupeKey(this.cellId, requestId)));
    return raw ? decodeDedupeRecord(raw) : null;
  }

  /** Garbage-collects logically dead dedupe records (bounded work per call). */
  async collectDedupe(nowMs: number, limit: number): Promise<number> {
    const floor = Math.max(nowMs - this.dedupe.retentionMs, this.state.dedupeCutoffMs);
    let removed = 0;
    for await (const [k] of this.db.iterator({ ...dedupeAgeRange(this.cellId, Math.max(0, floor)), limit })) {
      const { requestId } = parseDedupeAgeKey(this.cellId, k);
      this.ops.push({ type: 'del', key: k });
      if (!this.pendingDedupe.has(requestId)) this.ops.push({ type: 'del', key: dedupeKey(this.cellId, requestId) });
      removed++;
    }
    return removed;
  }

  /** Records added since start: the leader's hint for proposing a count cutoff. */
  get dedupeRecordsAdded(): number {
    return this.dedupeAdded;
  }

  /**
   * The batch of this apply round, ending with the applied state (atomic with the data).
   * Until it is written, reads are served from the overlay.
   */
  takeBatch(): BatchOp[] {
    this.usage.stage(this.ops);
    this.ops.push({ type: 'put', key: appliedKey(this.cellId), value: encodeAppliedState(this.state) });
    const ops = this.ops;
    this.ops = [];
    this.takenGeneration++;
    return ops;
  }

  /** Batches handed out so far; pass the value seen before a write to flushed(). */
  get generation(): number {
    return this.takenGeneration;
  }

  /**
   * Called once every batch up to `generation` is written: if nothing newer is pending, reads
   * go to LevelDB again and the overlay is dropped.
   */
  flushed(generation: number): void {
    if (this.ops.length === 0 && generation === this.takenGeneration) {
      this.overlay.clear();
      this.pendingDedupe.clear();
      this.prefetched.clear();
      this.prefetchedDedupe.clear();
    }
  }

  /** Resets in-memory state after a snapshot install rewrote the data. */
  resetTo(state: AppliedState): void {
    this.cache.clear();
    this.overlay.clear();
    this.pendingDedupe.clear();
    this.prefetched.clear();
    this.prefetchedDedupe.clear();
    this.ops = [];
    this.state = state;
    this.usage.reset();
  }
}
