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

  constructor(opts: { defaultMetrics?: boolean } = {}) {
    if (opts.defaultMetrics) collectDefaultMetrics({ register: this.registry });
  }
}
