// Assembles one gateway: NATS link, core, HTTP server (Hono on node:http) and the NATS front
// door, and stops them in order. Used by main.ts and, in-process, by the tests.

import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { getRequestListener } from '@hono/node-server';
import { problem } from '../shared/http-problem.js';
import { TokenVerifier } from './auth.js';
import { CellLink } from './cell-link.js';
import { resolveConfig, type GatewayConfig, type GatewayConfigInput } from './config.js';
import { GatewayCore } from './core.js';
import { createHttpApp } from './http/app.js';
import { problemResponse } from './http/context.js';
import { InflightLimiter } from './limits.js';
import { createLogger, type Logger } from './log.js';
import { GatewayMetrics } from './metrics.js';
import { NatsFrontDoor } from './nats-front-door.js';

export interface Gateway {
  readonly url: string;
  readonly port: number;
  readonly config: GatewayConfig;
  readonly link: CellLink;
  readonly core: GatewayCore;
  readonly metrics: GatewayMetrics;
  /** Resolves when NATS is connected and the directory fetched, or after `timeoutMs`. */
  waitReady(timeoutMs: number): Promise<boolean>;
  stop(): Promise<void>;
}

export async function startGateway(input: GatewayConfigInput): Promise<Gateway> {
  const config = resolveConfig(input);
  const log: Logger = config.logger ?? createLogger();
  const metrics = new GatewayMetrics({ defaultMetrics: config.defaultMetrics });
  const verifier = await TokenVerifier.create(config.auth);
  const link = CellLink.start({
    servers: config.natsServers,
    user: config.natsUser,
    pass: config.natsPass,
    attemptTimeoutMs: config.attemptTimeoutMs,
    maxAttempts: config.maxAttempts,
    directoryRefreshMs: config.directoryRefreshMs,
    log,
  });
  const core = new GatewayCore(link, {
    maxValueBytes: config.maxValueBytes,
    requestTimeoutMs: config.requestTimeoutMs,
    sessionSecret: config.sessionSecret ? new TextEncoder().encode(config.sessionSecret) : undefined,
  });
  const app = createHttpApp({
    core,
    verifier,
    limiter: new InflightLimiter(config.maxInflight, 'http', metrics),
    metrics,
    log,
    maxBatchBytes: config.maxBatchBytes,
    health: () => ({ nats: link.connected, ready: link.ready }),
  });
  const frontDoor = config.natsFrontDoor ? new NatsFrontDoor({ core, verifier, limiter: new InflightLimiter(config.maxInflight, 'nats', metrics), metrics, log }) : null;
  let stopping = false;
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
    async waitReady(timeoutMs: number): Promise<boolean> {
      const deadline = Date.now() + timeoutMs;
      while (!link.ready && Date.now() < deadline) await new Promise((r) => setTimeout(r, 25));
      return link.ready;
    },
    async stop(): Promise<void> {
      stopping = true;
      await frontDoor?.stop();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
        setTimeout(() => server.closeAllConnections(), 2000).unref();
      });
      await link.stop();
    },
  };
}
