// The gateway's NATS connection to the cell tier: connects in the background and reconnects
// forever, tracks whether it is connected, and hands out a CellPort that fails fast (503)
// while NATS is down instead of letting requests wait for timeouts.

import { connect, type NatsConnection, type RequestOptions } from '@nats-io/transport-node';
import { CellClient } from '../shared/cell-client.js';
import { KvError } from '../shared/errors.js';
import { NotSentError } from '../shared/nats-errors.js';
import type { CellPort, Logger } from './ports.js';

export interface CellLinkOptions {
  readonly servers: readonly string[];
  readonly user?: string | undefined;
  readonly pass?: string | undefined;
  readonly attemptTimeoutMs: number;
  readonly maxAttempts: number;
  readonly directoryRefreshMs: number;
  /** Coalesce requests per cell node (shared/request-batcher.ts). */
  readonly coalesce?: boolean;
  readonly log: Logger;
}

/** Headroom under the server's max_payload for framing and headers. */
const PAYLOAD_HEADROOM = 16 * 1024;

export class CellLink {
  private ncRaw: NatsConnection | null = null;
  private client: CellClient | null = null;
  private connectedNow = false;
  private dirFetched = false;
  private stopped = false;
  private refreshTimer: NodeJS.Timeout | null = null;
  private readonly connectedWaiters: ((nc: NatsConnection) => void)[] = [];

  private constructor(private readonly opts: CellLinkOptions) {}

  /** Starts connecting; resolves at once (the connection comes up in the background). */
  static start(opts: CellLinkOptions): CellLink {
    const link = new CellLink(opts);
    void link.connectLoop();
    return link;
  }

  get connected(): boolean {
    return this.connectedNow;
  }

  /** Ready: connected to NATS and the directory was fetched at least once. */
  get ready(): boolean {
    return this.connectedNow && this.dirFetched;
  }

  get connection(): NatsConnection | null {
    return this.ncRaw;
  }

  /** The first connection (for subscribers that must be set up once). */
  whenConnected(): Promise<NatsConnection> {
    if (this.ncRaw) return Promise.resolve(this.ncRaw);
    return new Promise((resolve) => this.connectedWaiters.push(resolve));
  }

  /** The largest cell request NATS will carry, in bytes (unbounded until a server told us). */
  maxRequestBytes(): number {
    const max = this.ncRaw?.info?.max_payload;
    return max === undefined ? Number.POSITIVE_INFINITY : Math.max(64 * 1024, max - PAYLOAD_HEADROOM);
  }

  /** The cell tier, or UNAVAILABLE at once when NATS is down. */
  port(): CellPort {
    if (!this.client || !this.connectedNow) throw new KvError('UNAVAILABLE', 'gateway is not connected to NATS; retry shortly');
    return this.client;
  }

  private async connectLoop(): Promise<void> {
    const { log } = this.opts;
    let failures = 0;
    while (!this.stopped && !this.ncRaw) {
      try {
        const nc = await connect({
          servers: [...this.opts.servers],
          name: 'cellkv-gateway',
          // An Error (with a stack) per request only to decorate timeouts was a measurable hot-path cost.
          noAsyncTraces: true,
          maxReconnectAttempts: -1,
          reconnectTimeWait: 250,
          timeout: 2000,
          pingInterval: 5000,
          ...(this.opts.user !== undefined ? { user: this.opts.user, pass: this.opts.pass ?? '' } : {}),
        });
        if (this.stopped) {
          await nc.close();
          return;
        }
        this.ncRaw = nc;
      } catch (e) {
        // Retry forever with capped backoff; log the first failure and then every 20th.
        if (failures++ % 20 === 0) log.warn({ err: (e as Error).message, failures }, 'NATS connect failed; retrying');
        await new Promise((r) => setTimeout(r, Math.min(2000, 100 * 2 ** Math.min(failures, 5))));
      }
    }
    const nc = this.ncRaw;
    if (!nc) return;
    this.connectedNow = true;
    this.client = new CellClient(this.guarded(nc), { attemptTimeoutMs: this.opts.attemptTimeoutMs, maxAttempts: this.opts.maxAttempts, coalesce: this.opts.coalesce ?? true });
    log.info({ server: nc.getServer() }, 'connected to NATS');
    for (const w of this.connectedWaiters.splice(0)) w(nc);
    void this.watchStatus(nc);
    void this.refreshDirectory();
    this.refreshTimer = setInterval(() => void this.refreshDirectory(), this.opts.directoryRefreshMs);
    this.refreshTimer.unref();
  }

  private async watchStatus(nc: NatsConnection): Promise<void> {
    for await (const s of nc.status()) {
      if (s.type === 'disconnect') {
        this.connectedNow = false;
        this.opts.log.warn({ server: s.server }, 'NATS disconnected; answering 503 until it is back');
      } else if (s.type === 'reconnect') {
        this.connectedNow = true;
        this.opts.log.info({ server: s.server }, 'NATS reconnected');
        void this.refreshDirectory();
      } else if (s.type === 'close') {
        this.connectedNow = false;
      }
    }
  }

  private async refreshDirectory(): Promise<void> {
    if (!this.client || !this.connectedNow) return;
    try {
      await this.client.directory(true);
      this.dirFetched = true;
    } catch (e) {
      this.opts.log.warn({ err: (e as Error).message }, 'directory refresh failed');
      // Not ready until it works: retry soon rather than at the next refresh period.
      if (!this.dirFetched && !this.stopped) setTimeout(() => void this.refreshDirectory(), 500).unref();
    }
  }

  /**
   * The connection as CellClient sees it: requests fail at once while disconnected (NATS would
   * otherwise buffer them until a timeout). The trace context is CellClient's own request
   * option (see tracing.ts), so payloads pass through untouched.
   */
  private guarded(nc: NatsConnection): NatsConnection {
    const request = (subject: string, payload?: Uint8Array | string, opts?: RequestOptions) => {
      if (!this.connectedNow) return Promise.reject(new NotSentError('NATS is disconnected'));
      return nc.request(subject, payload, opts);
    };
    return new Proxy(nc, {
      get(target, prop) {
        if (prop === 'request') return request;
        const v: unknown = Reflect.get(target, prop, target);
        return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
      },
    });
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.refreshTimer) clearInterval(this.refreshTimer);
    const nc = this.ncRaw;
    if (nc && !nc.isClosed()) await nc.close().catch(() => undefined);
  }
}
