// Assembles one gateway: NATS link, core, HTTP server (Hono on node:http) and the NATS front
// door, and stops them in order. Used by main.ts and, in-process, by the tests.

import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { hostname } from 'node:os';
import { getRequestListener } from '@hono/node-server';
import { problem } from '../shared/http-problem.js';
import { AdminLink } from './admin-link.js';
import { initTelemetry, type Telemetry } from '../shared/telemetry.js';
import { TokenVerifier } from './auth.js';
import { CellLink } from './cell-link.js';
import { resolveConfig, type GatewayConfig, type GatewayConfigInput } from './config.js';
import { GatewayCore, type GetOutcome } from './core.js';
import { HotKeys } from './hot-keys.js';
import { createHttpApp } from './http/app.js';
import { problemResponse } from './http/context.js';
import { InflightLimiter } from './limits.js';
import { createLogger } from './log.js';
import { GatewayMetrics } from './metrics.js';
import { NatsFrontDoor } from './nats-front-door.js';
import type { Logger } from './ports.js';
import { QuotaService } from './quotas.js';
import { TenantAdmin } from './tenant-admin.js';
import { GatewayTracing } from './tracing.js';

export interface Gateway {
  readonly url: string;
  readonly port: number;
  readonly config: GatewayConfig;
  readonly link: CellLink;
  readonly core: GatewayCore;
  readonly metrics: GatewayMetrics;
  /** Tenant records, usage and rate limits as this gateway enforces them. */
  readonly quotas: QuotaService;
  readonly hotKeys: HotKeys<GetOutcome>;
  /** Tracing of this gateway (disabled unless an OTLP endpoint is configured). */
  readonly telemetry: Telemetry;
  /** Resolves when NATS is connected and the directory fetched, or after `timeoutMs`. */
  waitReady(timeoutMs: number): Promise<boolean>;
  stop(): Promise<void>;
}

export async function startGateway(input: GatewayConfigInput): Promise<Gateway> {
  const config = resolveConfig(input);
  const log: Logger = config.logger ?? createLogger();
  const metrics = new GatewayMetrics({ defaultMetrics: config.defaultMetrics, maxTenantLabels: config.metricsMaxTenants });
  const verifier = await TokenVerifier.create(config.auth);
  const telemetry = initTelemetry({
    serviceName: 'cellkv-gateway',
    instanceId: `${hostname()}/${process.pid}`,
    otlpEndpoint: config.otlpEndpoint,
    sampleRatio: config.traceSampleRatio,
    onExportError: exportErrorLogger(log),
  });
  const tracing = new GatewayTracing(telemetry);
  const link = CellLink.start({
    servers: config.natsServers,
    user: config.natsUser,
    pass: config.natsPass,
    attemptTimeoutMs: config.attemptTimeoutMs,
    maxAttempts: config.maxAttempts,
    directoryRefreshMs: config.directoryRefreshMs,
    coalesce: config.coalesce,
    log,
  });
  // Tenant records and usage come from the cells' admin subjects over the same connection.
  const adminLink = new AdminLink({ connection: () => (link.connected ? link.connection : null), directory: (refresh) => link.port().directory(refresh) }, config.attemptTimeoutMs);
  const quotas = new QuotaService(
    adminLink,
    { refreshMs: config.quotaRefreshMs, share: config.quotaShare, defaultQuota: config.defaultQuota ?? null, maxTenants: config.maxTrackedTenants },
    log,
    metrics,
  );
  metrics.quotaUsageAgeMs = () => quotas.usageAgeMs();
  metrics.quotaSaturation = () => quotas.saturation();
  const hotKeys = new HotKeys<GetOutcome>(config.hotKeys, (by) => metrics.hotKeyReads.inc({ served_by: by }));
  metrics.hotKeyCount = () => hotKeys.hotCount();
  metrics.hottestKeyCount = () => hotKeys.hottestCount();
  const core = new GatewayCore(tracing.wrapAccess(link), {
    maxValueBytes: config.maxValueBytes,
    requestTimeoutMs: config.requestTimeoutMs,
    sessionSecret: config.sessionSecret ? new TextEncoder().encode(config.sessionSecret) : undefined,
    quotas,
    hotKeys,
  });
  const app = createHttpApp({
    core,
    verifier,
    limiter: new InflightLimiter(config.maxInflight, 'http', metrics),
    metrics,
    log,
    maxBatchBytes: config.maxBatchBytes,
    health: () => ({ nats: link.connected, ready: link.ready }),
    tracing,
    admin: new TenantAdmin(adminLink, quotas, hotKeys),
  });
  const frontDoor = config.natsFrontDoor ? new NatsFrontDoor({ core, verifier, limiter: new InflightLimiter(config.maxInflight, 'nats', metrics), metrics, log, tracing }) : null;
  let stopping = false;
  void link.whenConnected().then(() => {
    if (!stopping) quotas.start();
  });
  if (frontDoor) {
    void link.whenConnected().then((nc) => {
      if (!stopping) frontDoor.start(nc);
    });
  }

  const listener = getRequestListener(app.fetch, {
    // Requests node-server cannot even turn into a Request (e.g. a backslash in the path).
    errorHandler: () => problemResponse(problem('INVALID_ARGUMENT', 'malformed request target')),
  });
  const server: Server = createServer(listener);
  // Requests Node's HTTP parser rejects still get a problem document rather than a bare 400.
  server.on('clientError', (err: NodeJS.ErrnoException, socket) => {
    if (err.code === 'ECONNRESET' || !socket.writable) return void socket.destroy();
    if (err.code === 'ERR_HTTP_REQUEST_TIMEOUT') return void socket.end('HTTP/1.1 408 Request Timeout\r\nconnection: close\r\ncontent-length: 0\r\n\r\n');
    const p = err.code === 'HPE_HEADER_OVERFLOW'
      ? problem('PAYLOAD_TOO_LARGE', 'request headers are too large')
      : problem('INVALID_ARGUMENT', 'malformed HTTP request');
    const body = JSON.stringify(p);
    socket.end(`HTTP/1.1 ${p.status} ${p.title}\r\ncontent-type: application/problem+json\r\nconnection: close\r\ncontent-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
  });
  // Slow clients cannot hold connections forever.
  server.headersTimeout = 10_000;
  server.requestTimeout = 60_000;
  server.keepAliveTimeout = 5_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.port, config.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  const host = config.host.includes(':') ? `[${config.host}]` : config.host;

  return {
    url: `http://${host}:${port}`,
    port,
    config,
    link,
    core,
    metrics,
    quotas,
    hotKeys,
    telemetry,
    async waitReady(timeoutMs: number): Promise<boolean> {
      const deadline = Date.now() + timeoutMs;
      while (!link.ready && Date.now() < deadline) await new Promise((r) => setTimeout(r, 25));
      return link.ready;
    },
    async stop(): Promise<void> {
      stopping = true;
      quotas.stop();
      await frontDoor?.stop();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
        setTimeout(() => server.closeAllConnections(), 2000).unref();
      });
      await link.stop();
      // Last: spans of the requests drained above are flushed to the collector.
      await telemetry.shutdown().catch((e: unknown) => log.warn({ err: (e as Error).message }, 'trace flush failed'));
    },
  };
}

/** Logs failed span exports: the first one, then at most one line a minute with a count. */
function exportErrorLogger(log: Logger): (err: Error) => void {
  let lastAt = 0;
  let suppressed = 0;
  return (err) => {
    const now = Date.now();
    if (now - lastAt < 60_000) {
      suppressed++;
      return;
    }
    log.warn({ err: err.message, suppressed }, 'trace export failed; spans are dropped until the collector is back');
    lastAt = now;
    suppressed = 0;
  };
}
