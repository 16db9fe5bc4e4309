// Prometheus metrics of one gateway (prom-client): a registry per instance, so several
// gateways in one process (tests) do not collide. The catalog with alerting advice is
// docs/metrics.md. Tenant labels are bounded by `TenantLabels` (the first `maxTenantLabels`
// tenants seen get their own series, later ones share `_other`); keys are never labels.

import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** Label of requests without an authenticated tenant, and of tenants past the cap. */
export const ANONYMOUS_TENANT = '_anonymous';
export const OTHER_TENANTS = '_other';
export const DEFAULT_MAX_TENANT_LABELS = 100;

/** Tenant ids as metric labels, at most `cap` distinct ones for the life of the process. */
export class TenantLabels {
  private readonly known = new Set<string>();

  constructor(readonly cap: number) {
    if (!Number.isInteger(cap) || cap < 0) throw new RangeError(`tenant label cap must be a non-negative integer, got ${cap}`);
  }

  of(tenant: string | undefined): string {
    if (tenant === undefined) return ANONYMOUS_TENANT;
    if (this.known.has(tenant)) return tenant;
    if (this.known.size >= this.cap) return OTHER_TENANTS;
    this.known.add(tenant);
    return tenant;
  }
}

/** A tenant's usage against one of its size quotas. */
export interface QuotaSaturation {
  readonly tenant: string;
  readonly resource: 'keys' | 'bytes';
  /** usage / limit (may exceed 1 briefly: other gateways' writes are seen one refresh later). */
  readonly ratio: number;
}

/** Tenant API operations as labels: a fixed set. */
export type ApiOpLabel = 'get' | 'put' | 'delete' | 'batch' | 'scan' | 'admin' | 'other';
export type DoorLabel = 'http' | 'nats';

export interface GatewayMetricsOptions {
  readonly defaultMetrics?: boolean;
  /** Distinct tenant label values at most (requests and quota saturation). */
  readonly maxTenantLabels?: number;
}

export class GatewayMetrics {
  readonly registry = new Registry();
  readonly tenants: TenantLabels;
  /** RED per operation and tenant, both front doors; status is the HTTP status (also for NATS replies). */
  readonly requests = new Counter({
    name: 'cellkv_gateway_requests_total',
    help: 'Tenant API requests by front door, operation, tenant (capped, see docs/metrics.md) and HTTP status',
    labelNames: ['door', 'op', 'tenant', 'status'],
    registers: [this.registry],
  });
  readonly requestDuration = new Histogram({
    name: 'cellkv_gateway_request_duration_seconds',
    help: 'Tenant API request latency by front door and operation',
    labelNames: ['door', 'op'],
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [this.registry],
  });
  readonly httpRequests = new Counter({
    name: 'cellkv_gateway_http_requests_total',
    help: 'HTTP requests by route, method and status',
    labelNames: ['route', 'method', 'status'],
    registers: [this.registry],
  });
  readonly httpDuration = new Histogram({
    name: 'cellkv_gateway_http_request_duration_seconds',
    help: 'HTTP request latency by route',
    labelNames: ['route'],
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [this.registry],
  });
  readonly natsRequests = new Counter({
    name: 'cellkv_gateway_nats_requests_total',
    help: 'NATS front-door requests by operation and status',
    labelNames: ['op', 'status'],
    registers: [this.registry],
  });
  readonly inflight = new Gauge({ name: 'cellkv_gateway_inflight_requests', help: 'Requests being served', labelNames: ['door'], registers: [this.registry] });
  readonly shed = new Counter({ name: 'cellkv_gateway_shed_total', help: 'Requests refused because the in-flight limit was reached', labelNames: ['door'], registers: [this.registry] });
  readonly authFailures = new Counter({ name: 'cellkv_gateway_auth_failures_total', help: 'Requests refused by authentication', labelNames: ['door'], registers: [this.registry] });
  // Quotas and hot keys: no key labels (unbounded cardinality); the admin routes
  // (/v1/admin/tenants/{id}/usage, /v1/admin/hot-keys) give the per-key view.
  readonly quotaRejections = new Counter({ name: 'cellkv_gateway_quota_rejections_total', help: 'Requests refused by a tenant quota (RATE_LIMITED or QUOTA_EXCEEDED)', labelNames: ['code'], registers: [this.registry] });
  readonly quotaRefreshFailures = new Counter({ name: 'cellkv_gateway_quota_refresh_failures_total', help: 'Failed refreshes of tenant records and usage', registers: [this.registry] });
  /** Set by the quota cache: milliseconds since usage was refreshed, null before the first time. */
  quotaUsageAgeMs: () => number | null = () => null;
  readonly quotaUsageAge: Gauge = new Gauge({
    name: 'cellkv_gateway_quota_usage_age_seconds',
    help: 'Age of the cached tenant usage that maxKeys/maxBytes are enforced against (-1: never fetched)',
    registers: [this.registry],
    collect: (): void => {
      const ms = this.quotaUsageAgeMs();
      this.quotaUsageAge.set(ms === null ? -1 : ms / 1000);
    },
  });
  /** Set by the hot-key tracker: keys whose recent request count is at or above the threshold. */
  hotKeyCount: () => number = () => 0;
  readonly hotKeys: Gauge = new Gauge({
    name: 'cellkv_gateway_hot_keys',
    help: 'Keys currently counted as hot by the top-k tracker',
    registers: [this.registry],
    collect: (): void => this.hotKeys.set(this.hotKeyCount()),
  });
  readonly hotKeyReads = new Counter({
    name: 'cellkv_gateway_hot_key_reads_total',
    help: 'Point reads answered without a cell read of their own, by mechanism (single_flight, stale_cache)',
    labelNames: ['served_by'],
    registers: [this.registry],
  });

  /** Set by the quota service: tenants' usage against maxKeys / maxBytes. */
  quotaSaturation: () => readonly QuotaSaturation[] = () => [];
  readonly quotaUsageRatio: Gauge = new Gauge({
    name: 'cellkv_gateway_tenant_quota_usage_ratio',
    help: 'Usage / limit of tenants with a maxKeys or maxBytes quota (the most saturated, capped like tenant labels)',
    labelNames: ['tenant', 'resource'],
    registers: [this.registry],
    collect: (): void => {
      this.quotaUsageRatio.reset();
      const top = [...this.quotaSaturation()].sort((a, b) => b.ratio - a.ratio).slice(0, this.tenants.cap);
      for (const q of top) this.quotaUsageRatio.set({ tenant: q.tenant, resource: q.resource }, q.ratio);
    },
  });
  /** Set by the hot-key tracker: the decayed request count of the hottest key (0 when none). */
  hottestKeyCount: () => number = () => 0;
  readonly hotKeyTopCount: Gauge = new Gauge({
    name: 'cellkv_gateway_hot_key_top_count',
    help: 'Decayed recent request count of the hottest key in the top-k tracker (the key itself: /v1/admin/hot-keys)',
    registers: [this.registry],
    collect: (): void => this.hotKeyTopCount.set(this.hottestKeyCount()),
  });

  constructor(opts: GatewayMetricsOptions = {}) {
    this.tenants = new TenantLabels(opts.maxTenantLabels ?? DEFAULT_MAX_TENANT_LABELS);
    if (opts.defaultMetrics) collectDefaultMetrics({ register: this.registry });
  }

  /** One finished tenant API request (both front doors). */
  observeRequest(door: DoorLabel, op: ApiOpLabel, tenant: string | undefined, status: number, seconds: number): void {
    this.requests.inc({ door, op, tenant: this.tenants.of(tenant), status: String(status) });
    this.requestDuration.observe({ door, op }, seconds);
  }
}
