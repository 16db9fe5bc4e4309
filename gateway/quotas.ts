// Per-tenant quotas at the gateway: request rates (opsPerSec, token buckets in rate-limit.ts)
// and stored size (maxKeys, maxBytes against the usage the cells count, cell/kv/usage.ts).
//
// Tenant records (meta cell) and usage (data cells) are cached and refreshed every
// `refreshMs`. Writes admitted here are added to the cached usage, each tagged with the cell and
// Raft index it applied at, and dropped once a usage report from that cell covers that index:
// this gateway's own writes are counted exactly once. Other gateways' writes are seen one
// refresh later, so a tenant can overshoot by what the other gateways admit within one interval.
//
// A write is refused only if it would *grow* the tenant past a quota. When the cached numbers
// say it might, the gateway reads the keys' current sizes (so overwrites that do not grow and
// deletes pass), and before refusing it re-reads the tenant's usage from the cells (at most a
// few times a second per tenant), so a refusal never rests on numbers older than that.
//
// Failure policy: without fresh usage (cells unreachable for a while) maxKeys/maxBytes are not
// enforced (availability first; the rate limits still apply from the last known records), and a
// tenant without a record is unlimited unless a default quota is configured.

import { KvError } from '../shared/errors.js';
import type { TenantRecord, TenantSource, TenantUsage } from './admin-link.js';
import type { Logger } from './ports.js';
import type { GatewayMetrics, QuotaSaturation } from './metrics.js';
import { growthOf, type SettledWrite, type SizeProbe, type WriteIntent, type WriteTicket } from './quota-writes.js';
import { retryAfterSeconds, TenantRateLimiter } from './rate-limit.js';

export interface QuotaLimits {
  readonly maxKeys?: number | undefined;
  readonly maxBytes?: number | undefined;
  readonly opsPerSec?: number | undefined;
}

export interface QuotaOptions {
  readonly refreshMs: number;
  /** The fraction of each tenant's opsPerSec this gateway admits (1/N for N equal gateways). */
  readonly share: number;
  /** Limits for tenants without a record; null = unlimited. */
  readonly defaultQuota: QuotaLimits | null;
  /** Bound on tenants tracked (records, usage, rate buckets, recently active writers). */
  readonly maxTenants: number;
}

interface UsageState {
  readonly keys: number;
  readonly bytes: number;
  /** Per cell, the applied index the numbers reflect. */
  readonly asOf: ReadonlyMap<string, number>;
  /** Clock time the fetch started. */
  readonly at: number;
}

interface LocalDelta {
  readonly cell: string | null;
  readonly index: number;
  readonly keys: number;
  readonly bytes: number;
  /** An overwrite whose size change is not known (its old size was not read). */
  readonly unknown: boolean;
}

/** A tenant's local writes not yet covered by a usage report, with running sums (O(1) reads). */
interface LocalWrites {
  deltas: LocalDelta[];
  keys: number;
  bytes: number;
  unknown: number;
}

function sumUp(deltas: LocalDelta[]): LocalWrites {
  const w: LocalWrites = { deltas, keys: 0, bytes: 0, unknown: 0 };
  for (const d of deltas) {
    w.keys += d.keys;
    w.bytes += d.bytes;
    if (d.unknown) w.unknown++;
  }
  return w;
}

/** Usage older than this is not trusted for enforcement (fail open). */
const STALE_USAGE_INTERVALS = 10;
const MIN_STALE_USAGE_MS = 30_000;
/** Writes accounted locally at most (beyond it, an overshoot until the next refresh). */
const MAX_LOCAL_DELTAS = 100_000;

const sized = (l: QuotaLimits | null | undefined): boolean => !!l && (l.maxKeys !== undefined || l.maxBytes !== undefined);

export class QuotaService {
  private records = new Map<string, TenantRecord>();
  private readonly usage = new Map<string, UsageState>();
  private readonly local = new Map<string, LocalWrites>();
  private localCount = 0;
  /** Tenants without a record that wrote recently (usage is fetched for them when a default quota limits size). */
  private readonly active = new Map<string, true>();
  private readonly rates: TenantRateLimiter;
  private readonly recheck = new Map<string, { at: number; done: Promise<void> }>();
  private lastRefreshAt: number | null = null;
  private timer: NodeJS.Timeout | null = null;
  private refreshing: Promise<void> | null = null;
  private failures = 0;

  constructor(
    private readonly source: TenantSource | null,
    readonly opts: QuotaOptions,
    private readonly log: Logger | null = null,
    private readonly metrics: GatewayMetrics | null = null,
    private readonly clock: () => number = () => performance.now(),
  ) {
    this.rates = new TenantRateLimiter(opts.maxTenants);
  }

  start(): void {
    if (this.timer || !this.source) return;
    void this.refresh();
    this.timer = setInterval(() => void this.refresh(), this.opts.refreshMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  /** The limits that apply to a tenant: its record, else the default quota, else none. */
  limitsOf(tenant: string): QuotaLimits | null {
    return this.records.get(tenant) ?? this.opts.defaultQuota;
  }

  /** Usage as last reported plus this gateway's writes since; null when unknown or too old to trust. */
  usageOf(tenant: string): TenantUsage | null {
    const u = this.usage.get(tenant);
    if (!u || this.clock() - u.at > Math.max(MIN_STALE_USAGE_MS, STALE_USAGE_INTERVALS * this.opts.refreshMs)) return null;
    const l = this.local.get(tenant);
    return { keys: Math.max(0, u.keys + (l?.keys ?? 0)), bytes: Math.max(0, u.bytes + (l?.bytes ?? 0)) };
  }

  /** Milliseconds since the last complete refresh, null before the first. */
  usageAgeMs(): number | null {
    return this.lastRefreshAt === null ? null : this.clock() - this.lastRefreshAt;
  }

  /**
   * Usage / limit of every tracked tenant with a size quota whose usage is known (for the
   * saturation gauge; computed at scrape time only).
   */
  saturation(): QuotaSaturation[] {
    const out: QuotaSaturation[] = [];
    const consider = (tenant: string, lim: QuotaLimits | null): void => {
      if (!lim || !sized(lim)) return;
      const u = this.usageOf(tenant);
      if (!u) return;
      if (lim.maxKeys !== undefined) out.push({ tenant, resource: 'keys', ratio: u.keys / lim.maxKeys });
      if (lim.maxBytes !== undefined) out.push({ tenant, resource: 'bytes', ratio: u.bytes / lim.maxBytes });
    };
    for (const [tenant, rec] of this.records) consider(tenant, rec);
    for (const tenant of this.active.keys()) if (!this.records.has(tenant)) consider(tenant, this.opts.defaultQuota);
    return out;
  }

  /** Admits `cost` operations under the tenant's rate (this gateway's share), else RATE_LIMITED. */
  admitOps(tenant: string, cost: number): void {
    const ops = this.limitsOf(tenant)?.opsPerSec;
    if (ops === undefined) return;
    try {
      this.rates.admit(tenant, ops * this.opts.share, cost, this.clock());
    } catch (e) {
      this.metrics?.quotaRejections.inc({ code: 'RATE_LIMITED' });
      throw e;
    }
  }

  /**
   * Checks that the writes would not grow the tenant past maxKeys / maxBytes (deletes always
   * pass). Returns a ticket for settle(), or null when the tenant has no size quota.
   */
  async admitWrites(tenant: string, intents: readonly WriteIntent[], probe: SizeProbe): Promise<WriteTicket | null> {
    const lim = this.limitsOf(tenant);
    if (!lim || !sized(lim)) return null;
    if (!this.records.has(tenant)) this.touchActive(tenant);
    let u = this.usageOf(tenant);
    const puts = intents.filter((i) => i.op === 'put');
    if (puts.length === 0 || !u) return { tenant, intents, before: null };
    // Worst case first (every put a new key): no read needed when even that fits.
    const worst = { keys: puts.length, bytes: puts.reduce((n, p) => n + (p.op === 'put' ? p.size : 0), 0) };
    if (this.fits(lim, u, worst)) return { tenant, intents, before: null };
    const before = await probe(intents.map((i) => i.key));
    const growth = growthOf(intents, before);
    if (!this.fits(lim, u, growth)) {
      // Refuse on fresh numbers only: a shrinking overwrite we could not size, or deletes
      // through other gateways, may have made room since the last refresh.
      await this.recheckTenant(tenant);
      u = this.usageOf(tenant);
      if (u && !this.fits(lim, u, growth)) {
        this.metrics?.quotaRejections.inc({ code: 'QUOTA_EXCEEDED' });
        const overKeys = lim.maxKeys !== undefined && growth.keys > 0 && u.keys + growth.keys > lim.maxKeys;
        const which = overKeys ? `maxKeys ${lim.maxKeys} (holds ${u.keys} keys)` : `maxBytes ${lim.maxBytes} (holds ${u.bytes} bytes)`;
        throw new KvError('QUOTA_EXCEEDED', `tenant ${tenant} would exceed its quota ${which}; delete keys or ask for a larger quota`, {
          retryAfter: retryAfterSeconds(this.opts.refreshMs),
        });
      }
    }
    return { tenant, intents, before };
  }

  /** Whether `growth` keeps the tenant within its limits (shrinking never fails). */
  private fits(lim: QuotaLimits, u: TenantUsage, growth: { keys: number; bytes: number }): boolean {
    if (lim.maxKeys !== undefined && growth.keys > 0 && u.keys + growth.keys > lim.maxKeys) return false;
    if (lim.maxBytes !== undefined && growth.bytes > 0 && u.bytes + growth.bytes > lim.maxBytes) return false;
    return true;
  }

  /**
   * Accounts admitted writes until a usage report covers them. `done[i]` says how intent i
   * ended (null: not applied). An overwrite's size change is known only when admission read the
   * old size; a delete frees its key at once and its bytes when that size was read.
   */
  settle(ticket: WriteTicket | null, done: readonly (SettledWrite | null)[]): void {
    if (!ticket) return;
    let l = this.local.get(ticket.tenant);
    ticket.intents.forEach((i, n) => {
      const w = done[n];
      if (!w || this.localCount >= MAX_LOCAL_DELTAS) return;
      const old = ticket.before?.[n] ?? null;
      let keys = 0;
      let bytes = 0;
      const unknown = i.op === 'put' && !w.applied && old === null;
      if (i.op === 'put') {
        keys = w.applied ? 1 : 0;
        bytes = w.applied ? i.size : old !== null ? i.size - old : 0;
      } else if (w.applied) {
        keys = -1;
        bytes = -(old ?? 0);
      }
      if (keys === 0 && bytes === 0 && !unknown) return;
      if (!l) this.local.set(ticket.tenant, (l = sumUp([])));
      l.deltas.push({ cell: w.cell, index: Number(w.index), keys, bytes, unknown });
      l.keys += keys;
      l.bytes += bytes;
      if (unknown) l.unknown++;
      this.localCount++;
    });
  }

  private touchActive(tenant: string): void {
    this.active.delete(tenant);
    if (this.active.size >= this.opts.maxTenants) {
      const first = this.active.keys().next();
      if (!first.done) this.active.delete(first.value);
    }
    this.active.set(tenant, true);
  }

  /** Fetches tenant records and the usage of tenants with a size quota (one refresh at a time). */
  refresh(): Promise<void> {
    this.refreshing ??= this.doRefresh().finally(() => (this.refreshing = null));
    return this.refreshing;
  }

  private async doRefresh(): Promise<void> {
    const source = this.source;
    if (!source) return;
    try {
      const list = await source.listTenants();
      const records = new Map<string, TenantRecord>();
      for (const t of list.slice(0, this.opts.maxTenants)) records.set(t.id, t);
      if (list.length > this.opts.maxTenants) this.log?.warn({ tenants: list.length, max: this.opts.maxTenants }, 'more tenant records than tracked; the rest are unlimited');
      this.records = records;
      const started = this.clock();
      const wanted = [...records.values()].filter((r) => sized(r)).map((r) => r.id);
      if (sized(this.opts.defaultQuota)) for (const t of this.active.keys()) if (!records.has(t)) wanted.push(t);
      for (let i = 0; i < wanted.length; i += 1000) await this.fetchUsage(source, wanted.slice(i, i + 1000), started);
      // Tenants that lost their size quota need no usage any more (keeps the maps bounded).
      const keep = new Set(wanted);
      for (const t of this.usage.keys()) if (!keep.has(t)) this.usage.delete(t);
      for (const [t, l] of this.local) {
        if (keep.has(t)) continue;
        this.localCount -= l.deltas.length;
        this.local.delete(t);
      }
      this.lastRefreshAt = started;
      this.failures = 0;
    } catch (e) {
      this.metrics?.quotaRefreshFailures.inc();
      // Logged at the first failure and then every 30th, not every interval.
      if (this.failures++ % 30 === 0) this.log?.warn({ err: (e as Error).message, failures: this.failures }, 'quota refresh failed; using the last known tenant records and usage');
    }
  }

  private async fetchUsage(source: TenantSource, tenants: readonly string[], started: number): Promise<void> {
    const got = await source.usage(tenants);
    // A cell that did not answer would make usage look smaller than it is: keep the old numbers.
    if (got.answered < got.cells) throw new Error(`${got.cells - got.answered} of ${got.cells} cells did not report usage`);
    for (const t of tenants) this.applyUsage(t, got.usage.get(t) ?? { keys: 0, bytes: 0 }, got.applied, started);
  }

  /** Installs reported usage and drops the local writes it covers (older reports are ignored). */
  private applyUsage(tenant: string, u: TenantUsage, applied: ReadonlyMap<string, number>, started: number): void {
    const prev = this.usage.get(tenant);
    if (prev) for (const [cell, idx] of prev.asOf) if ((applied.get(cell) ?? idx) < idx) return;
    this.usage.set(tenant, { keys: u.keys, bytes: u.bytes, asOf: applied, at: started });
    const l = this.local.get(tenant);
    if (!l) return;
    const kept = l.deltas.filter((d) => {
      const a = d.cell === null ? undefined : applied.get(d.cell);
      return a !== undefined && a < d.index;
    });
    this.localCount -= l.deltas.length - kept.length;
    if (kept.length > 0) this.local.set(tenant, sumUp(kept));
    else this.local.delete(tenant);
  }

  /**
   * A fresh usage read for one tenant: at most every few tens of ms per tenant, except after an
   * overwrite of ours whose size change is unknown (then once per such write, which the read
   * settles), so a shrinking overwrite is never held against the tenant.
   */
  private recheckTenant(tenant: string): Promise<void> {
    const source = this.source;
    if (!source) return Promise.resolve();
    const now = this.clock();
    const last = this.recheck.get(tenant);
    const doubtful = (this.local.get(tenant)?.unknown ?? 0) > 0;
    if (last && !doubtful && now - last.at < Math.max(20, Math.min(250, this.opts.refreshMs / 10))) return last.done;
    if (this.recheck.size >= this.opts.maxTenants) this.recheck.clear();
    const done = this.fetchUsage(source, [tenant], now).catch(() => undefined);
    this.recheck.set(tenant, { at: now, done });
    return done;
  }
}
