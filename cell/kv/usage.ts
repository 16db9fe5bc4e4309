// Per-tenant usage of one cell (live keys and key+value bytes), kept by the state machine so
// that gateways can enforce maxKeys / maxBytes quotas.
//
// The counters change only at apply time, from the stored value a put or delete replaces, so
// every replica that applied the same entries holds the same counters. They are written to
// LevelDB in the same batch as the data they describe (the applied index covers them), live in
// the cell's own key range of usage records (so snapshots carry them) and are part of the
// replica digest. Counted is what is *stored*: an expired key counts until the leader's expiry
// sweep deletes it, which keeps the counters a pure function of the stored data.
//
// A marker record says "the counters are complete". A cell whose data predates usage
// accounting (no marker) recounts once from its data range when the counters are first needed;
// a recount yields exactly what the counters would have been, so replicas still agree.

import {
  USAGE_MARKER_VALUE,
  dataKeyToNs,
  dataRange,
  decodeStoredValue,
  decodeUsage,
  encodeUsage,
  usageKey,
  usageKeyTenant,
  usageMarkerKey,
  usageRange,
  type StoredValue,
  type TenantUsage,
} from '../storage/records.js';
import type { BatchOp, KvDb } from './kv-db.js';

const tenantDecoder = new TextDecoder();

/**
 * The tenant of a namespaced key (tenant UTF-8 | 0x00 | user key) and the size the key counts
 * for: user key bytes plus value bytes (metadata is not counted). On the apply path, so no
 * allocation beyond the tenant string.
 */
function split(nsKey: Uint8Array): { tenant: string; keyBytes: number } | null {
  const sep = nsKey.indexOf(0);
  if (sep <= 0) return null;
  return { tenant: tenantDecoder.decode(nsKey.subarray(0, sep)), keyBytes: nsKey.length - sep - 1 };
}

interface Loaded {
  readonly counters: Map<string, { keys: number; bytes: number }>;
  readonly markerStored: boolean;
}

export class UsageCounters {
  /** null until loaded (lazily: see ensureLoaded). */
  private counters: Map<string, { keys: number; bytes: number }> | null = null;
  private loading: Promise<Loaded> | null = null;
  /** Bumped by reset(): a load that started before a snapshot install must not land after it. */
  private generation = 0;
  /** Whether LevelDB holds the marker (else the first change writes it with every counter). */
  private markerStored = false;
  private markerPending = false;
  private readonly dirty = new Set<string>();
  private range: { start: Uint8Array; end: Uint8Array | null } = { start: new Uint8Array(0), end: null };

  constructor(
    private readonly cellId: string,
    private readonly db: KvDb,
  ) {}

  /** The cell's key range, for a recount of data that predates the counters. */
  setRange(start: Uint8Array, end: Uint8Array | null): void {
    this.range = { start, end };
  }

  /**
   * Loads the counters from LevelDB. Called before the first change is staged (and by reads),
   * so nothing the counters describe is pending unwritten at that moment: every data change goes
   * through apply(), which needs the counters loaded first.
   */
  ensureLoaded(): Promise<void> {
    // The common case costs no extra promise per staged op.
    return this.counters ? Promise.resolve() : this.loadNow();
  }

  private async loadNow(): Promise<void> {
    while (!this.counters) {
      const gen = this.generation;
      const p = (this.loading ??= this.load());
      let loaded: Loaded;
      try {
        loaded = await p;
      } finally {
        if (this.loading === p) this.loading = null;
      }
      if (gen === this.generation && !this.counters) {
        this.counters = loaded.counters;
        this.markerStored = loaded.markerStored;
      }
    }
  }

  private async load(): Promise<Loaded> {
    const counters = new Map<string, { keys: number; bytes: number }>();
    if (await this.db.get(usageMarkerKey(this.cellId))) {
      for await (const [k, v] of this.db.iterator(usageRange(this.cellId))) {
        const tenant = usageKeyTenant(this.cellId, k);
        if (tenant !== null) counters.set(tenant, { ...decodeUsage(v) });
      }
      return { counters, markerStored: true };
    }
    // No marker: a fresh cell (empty range, cheap) or data from before usage accounting.
    for await (const [k, v] of this.db.iterator(dataRange(this.range.start, this.range.end))) {
      const s = split(dataKeyToNs(k));
      if (!s) continue;
      const c = counters.get(s.tenant) ?? { keys: 0, bytes: 0 };
      c.keys += 1;
      c.bytes += s.keyBytes + decodeStoredValue(v).value.length;
      counters.set(s.tenant, c);
    }
    return { counters, markerStored: false };
  }

  /** Accounts one stored change of `nsKey`: `before`/`after` are the stored values (null: absent). */
  apply(nsKey: Uint8Array, before: StoredValue | null, after: StoredValue | null): void {
    const counters = this.counters;
    if (!counters) throw new Error(`usage of cell ${this.cellId} changed before it was loaded`);
    const s = split(nsKey);
    if (!s) return;
    const t = s.tenant;
    const dKeys = (after ? 1 : 0) - (before ? 1 : 0);
    const dBytes = (after ? s.keyBytes + after.value.length : 0) - (before ? s.keyBytes + before.value.length : 0);
    if (!this.markerStored) {
      // Written with the first change (an apply-time event, the same entry on every replica),
      // never by a read: replicas at one applied index must hold the same records.
      this.markerStored = true;
      this.markerPending = true;
      for (const name of counters.keys()) this.dirty.add(name);
    }
    if (dKeys === 0 && dBytes === 0) return;
    const c = counters.get(t) ?? { keys: 0, bytes: 0 };
    // Clamped, not asserted: every replica computes the same clamp, and a quota counter must
    // never take a node down.
    c.keys = Math.max(0, c.keys + dKeys);
    c.bytes = Math.max(0, c.bytes + dBytes);
    counters.set(t, c);
    this.dirty.add(t);
  }

  /**
   * Stages the records that changed since the last call into the apply batch: one record per
   * tenant per batch however many writes it had; a tenant with nothing left loses its record
   * (so the table stays as small as the set of tenants with data in this cell).
   */
  stage(ops: BatchOp[]): void {
    if (!this.counters) return;
    if (this.markerPending) {
      ops.push({ type: 'put', key: usageMarkerKey(this.cellId), value: USAGE_MARKER_VALUE });
      this.markerPending = false;
    }
    for (const t of this.dirty) {
      const c = this.counters.get(t);
      if (!c || (c.keys === 0 && c.bytes === 0)) {
        this.counters.delete(t);
        ops.push({ type: 'del', key: usageKey(this.cellId, t) });
      } else {
        ops.push({ type: 'put', key: usageKey(this.cellId, t), value: encodeUsage(c) });
      }
    }
    this.dirty.clear();
  }

  /** Forgets the in-memory counters (a snapshot install replaced the records). */
  reset(): void {
    this.generation++;
    this.counters = null;
    this.loading = null;
    this.markerStored = false;
    this.markerPending = false;
    this.dirty.clear();
  }

  /** Current counters (including changes not yet written), for the listed tenants or all, by name, at most `limit`. */
  async read(tenants: readonly string[] | null, limit: number): Promise<{ usage: Record<string, TenantUsage>; truncated: boolean }> {
    await this.ensureLoaded();
    return this.readLoaded(tenants, limit);
  }

  /** read() once loaded, synchronously: callers pair it with the applied index of the same moment. */
  readLoaded(tenants: readonly string[] | null, limit: number): { usage: Record<string, TenantUsage>; truncated: boolean } {
    const counters = this.counters;
    if (!counters) throw new Error(`usage of cell ${this.cellId} read before it was loaded`);
    const usage: Record<string, TenantUsage> = {};
    const names = tenants ?? [...counters.keys()].sort();
    let n = 0;
    for (const t of names) {
      const c = counters.get(t);
      if (!c) continue;
      if (n++ === limit) return { usage, truncated: true };
      usage[t] = { keys: c.keys, bytes: c.bytes };
    }
    return { usage, truncated: false };
  }
}
