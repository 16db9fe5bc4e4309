// Prometheus metrics of the canary (prom-client), one registry per canary so several in one
// process (tests) do not collide, served on /metrics of the canary's own port. The names are
// a contract: the alert rules use them.

import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export type CheckVerdict = 'linearizable' | 'violation' | 'unknown' | 'skipped';
export const CHECK_VERDICTS: readonly CheckVerdict[] = ['linearizable', 'violation', 'unknown', 'skipped'];
export const CANARY_OPS = ['get', 'put', 'delete', 'cas', 'barrier'] as const;
export type CanaryOpLabel = (typeof CANARY_OPS)[number];

export class CanaryMetrics {
  readonly registry = new Registry();
  readonly ops = new Counter({
    name: 'cellkv_canary_ops_total',
    help: 'Canary operations by op (get, put, delete, cas, barrier = the read that closes a window) and result (ok, fail, unknown)',
    labelNames: ['op', 'result'],
    registers: [this.registry],
  });
  readonly violations = new Counter({
    name: 'cellkv_canary_violations_total',
    help: 'Checked windows whose history is not linearizable',
    registers: [this.registry],
  });
  readonly checks = new Counter({
    name: 'cellkv_canary_checks_total',
    help: 'Window checks by verdict; unknown = the checker ran out of budget (never counted as linearizable); skipped = a key restarted without a sound cut',
    labelNames: ['verdict'],
    registers: [this.registry],
  });
  readonly lastCheck = new Gauge({
    name: 'cellkv_canary_last_check_timestamp_seconds',
    help: 'Unix time of the last completed window check (any verdict but skipped)',
    registers: [this.registry],
  });
  readonly opDuration = new Histogram({
    name: 'cellkv_canary_op_duration_seconds',
    help: 'Canary operation latency by op, as the client saw it (retries included)',
    labelNames: ['op'],
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [this.registry],
  });
  readonly checkDuration = new Histogram({
    name: 'cellkv_canary_check_duration_seconds',
    help: 'Time the checker spent on one window',
    buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10],
    registers: [this.registry],
  });
  readonly queuedWindows = new Gauge({ name: 'cellkv_canary_queued_windows', help: 'Closed windows waiting for the checker', registers: [this.registry] });
  readonly carriedWrites = new Gauge({ name: 'cellkv_canary_carried_writes', help: 'Writes of unknown outcome carried into open windows (tainted keys)', registers: [this.registry] });
  readonly retiredKeys = new Counter({ name: 'cellkv_canary_retired_keys_total', help: 'Key names given up for a fresh one because an unknown write stayed unresolved', registers: [this.registry] });

  constructor(opts: { readonly defaultMetrics?: boolean } = {}) {
    // Zero series up front, so rate() and absence alerts see every label from the start.
    for (const v of CHECK_VERDICTS) this.checks.inc({ verdict: v }, 0);
    for (const op of CANARY_OPS) for (const result of ['ok', 'fail', 'unknown']) this.ops.inc({ op, result }, 0);
    if (opts.defaultMetrics ?? false) collectDefaultMetrics({ register: this.registry, prefix: 'cellkv_canary_' });
  }
}

export interface MetricsServer {
  readonly url: string;
  close(): Promise<void>;
}

/** Serves GET /metrics and /healthz; port 0 picks a free one. */
export async function serveMetrics(metrics: CanaryMetrics, port: number, host: string): Promise<MetricsServer> {
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method === 'GET' && path === '/metrics') {
      metrics.registry.metrics().then(
        (text) => {
          res.writeHead(200, { 'content-type': metrics.registry.contentType });
          res.end(text);
        },
        (e: unknown) => {
          res.writeHead(500, { 'content-type': 'text/plain' });
          res.end(`metrics failed: ${(e as Error).message}\n`);
        },
      );
      return;
    }
    if (req.method === 'GET' && path === '/healthz') {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end('ok\n');
      return;
    }
    res.writeHead(404, { 'content-type': 'text/plain' });
    res.end('not found: use GET /metrics or /healthz\n');
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  const addr = server.address() as AddressInfo;
  const shownHost = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
  return {
    url: `http://${shownHost}:${addr.port}/metrics`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
