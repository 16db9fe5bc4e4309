// Prometheus metrics of one gateway (prom-client): a registry per instance, so several
// gateways in one process (tests) do not collide.

import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export class GatewayMetrics {
  readonly registry = new Registry();
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
  // Quotas and hot keys: no tenant or key labels (unbounded cardinality); the admin routes
  // (/v1/admin/tenants/{id}/usage, /v1/admin/hot-keys) give the per-tenant and per-key view.
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

  constructor(opts: { defaultMetrics?: boolean } = {}) {
    if (opts.defaultMetrics) collectDefaultMetrics({ register: this.registry });
  }
}
