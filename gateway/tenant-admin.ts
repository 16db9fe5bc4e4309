// Operator operations on tenants, quotas and hot keys (scope kv:admin), independent of HTTP:
// list / get / put / delete tenant records in the meta cell, a tenant's usage summed over the
// cells, and the hot-key view. kv:admin is an operator scope: it reaches every tenant, as the
// cells and nodes admin routes do.

import { z } from 'zod';
import { KvError } from '../shared/errors.js';
import { validateTenant } from '../shared/keys.js';
import type { TenantRecord, TenantSource } from './admin-link.js';
import { requireScope, type Principal } from './auth.js';
import { zodMessage } from './batch.js';
import type { HotKeys, HotKeyView } from './hot-keys.js';
import type { QuotaLimits, QuotaService } from './quotas.js';

const limit = (max: number) => z.number().int().positive().max(max).nullable().optional();

/** PUT body: each quota a positive whole number; absent or null = unlimited. */
const QuotaBody = z.strictObject({
  maxKeys: limit(Number.MAX_SAFE_INTEGER),
  maxBytes: limit(Number.MAX_SAFE_INTEGER),
  opsPerSec: limit(1_000_000_000),
});

export interface TenantUsageView {
  readonly tenant: string;
  readonly keys: number;
  readonly bytes: number;
  /** The limits that apply and where they come from (null: unlimited). */
  readonly limits: QuotaLimits | null;
  readonly limitsFrom: 'record' | 'default' | null;
  /** Data cells, and how many reported (complete when equal). */
  readonly cells: number;
  readonly cellsAnswered: number;
  readonly complete: boolean;
}

export interface HotKeysView {
  readonly threshold: number;
  readonly decayMs: number;
  readonly keys: readonly HotKeyView[];
  readonly singleFlightShared: number;
  readonly staleCacheHits: number;
  readonly staleCacheEntries: number;
}

function tenantId(id: string): string {
  try {
    validateTenant(id);
  } catch {
    throw new KvError('INVALID_ARGUMENT', `tenant id "${id.slice(0, 80)}" must match [a-z0-9][a-z0-9_-]{0,62}`);
  }
  return id;
}

function clean(id: string, q: { maxKeys?: number | null | undefined; maxBytes?: number | null | undefined; opsPerSec?: number | null | undefined }): TenantRecord {
  return {
    id,
    ...(q.maxKeys != null ? { maxKeys: q.maxKeys } : {}),
    ...(q.maxBytes != null ? { maxBytes: q.maxBytes } : {}),
    ...(q.opsPerSec != null ? { opsPerSec: q.opsPerSec } : {}),
  };
}

export class TenantAdmin {
  constructor(
    private readonly source: TenantSource | null,
    private readonly quotas: QuotaService | null,
    private readonly hotKeys: Pick<HotKeys<unknown>, 'opts' | 'stats' | 'view' | 'cache'> | null,
  ) {}

  private src(): TenantSource {
    if (!this.source) throw new KvError('UNAVAILABLE', 'this gateway has no admin link to the cells');
    return this.source;
  }

  async list(p: Principal): Promise<{ tenants: TenantRecord[] }> {
    requireScope(p, 'kv:admin');
    return { tenants: (await this.src().listTenants()).map((t) => clean(t.id, t)) };
  }

  async get(p: Principal, id: string): Promise<TenantRecord> {
    requireScope(p, 'kv:admin');
    tenantId(id);
    const t = (await this.src().listTenants()).find((x) => x.id === id);
    if (!t) throw new KvError('NOT_FOUND', `tenant ${id} has no record (it is unlimited or uses the default quota)`);
    return clean(t.id, t);
  }

  /** Creates or replaces the record; `created` tells which. */
  async put(p: Principal, id: string, body: unknown): Promise<{ record: TenantRecord; created: boolean }> {
    requireScope(p, 'kv:admin');
    tenantId(id);
    const parsed = QuotaBody.safeParse(body);
    if (!parsed.success) throw new KvError('INVALID_ARGUMENT', zodMessage(parsed.error));
    const record = clean(id, parsed.data);
    const src = this.src();
    const existed = (await src.listTenants()).some((t) => t.id === id);
    await src.putTenant(record);
    // This gateway enforces the new record at once; the others at their next refresh.
    await this.quotas?.refresh();
    return { record, created: !existed };
  }

  async delete(p: Principal, id: string): Promise<void> {
    requireScope(p, 'kv:admin');
    tenantId(id);
    const src = this.src();
    if (!(await src.listTenants()).some((t) => t.id === id)) throw new KvError('NOT_FOUND', `tenant ${id} has no record`);
    await src.deleteTenant(id);
    await this.quotas?.refresh();
  }

  /** Current usage, asked of the cells now (not the quota cache). */
  async usage(p: Principal, id: string): Promise<TenantUsageView> {
    requireScope(p, 'kv:admin');
    tenantId(id);
    const src = this.src();
    const [records, totals] = await Promise.all([src.listTenants(), src.usage([id])]);
    const record = records.find((t) => t.id === id);
    const def = this.quotas?.opts.defaultQuota ?? null;
    const u = totals.usage.get(id) ?? { keys: 0, bytes: 0 };
    return {
      tenant: id,
      keys: u.keys,
      bytes: u.bytes,
      limits: record ? { maxKeys: record.maxKeys, maxBytes: record.maxBytes, opsPerSec: record.opsPerSec } : def,
      limitsFrom: record ? 'record' : def ? 'default' : null,
      cells: totals.cells,
      cellsAnswered: totals.answered,
      complete: totals.answered === totals.cells,
    };
  }

  hotKeyView(p: Principal, max: number): HotKeysView {
    requireScope(p, 'kv:admin');
    const hk = this.hotKeys;
    if (!hk) return { threshold: 0, decayMs: 0, keys: [], singleFlightShared: 0, staleCacheHits: 0, staleCacheEntries: 0 };
    const s = hk.stats();
    return { threshold: hk.opts.threshold, decayMs: hk.opts.decayMs, keys: hk.view(max), ...s, staleCacheEntries: hk.cache.size };
  }
}
