// A fault-injecting TCP proxy (node:net) placed in front of every connection that matters
// to the chaos harness: each cell node's link to its NATS server and every NATS cluster route.
//
// It never drops bytes inside a stream: TCP guarantees order and delivery, so losing a chunk
// would corrupt the protocol rather than model a lossy network. Instead:
//   - partition: existing connections are reset and new ones are reset at once (like an
//     unreachable peer answered by a firewall RST, so clients retry quickly after a heal);
//   - hold (one direction): data in that direction stops being delivered (queued, then
//     backpressured) and flows again on release, which is what a one-way cut looks like to
//     TCP (retransmits until the path returns); connections that the peer gives up on close;
//   - delay: every chunk is delayed (FIFO, so order holds), plus jitter;
//   - "packet loss": latency spikes (a stalled chunk stalls everything behind it, as a
//     retransmission does) and, rarely, a connection reset.

import { createServer, Socket, type Server } from 'node:net';
import type { Rng } from './rng.js';

export interface LinkFaults {
  /** Reset existing connections and every new one. */
  readonly partitioned: boolean;
  /** Stop delivering data from the connecting side to the target ("up") / back ("down"). */
  readonly holdUp: boolean;
  readonly holdDown: boolean;
  /** Added latency per chunk, plus uniform jitter in [0, jitterMs). */
  readonly delayMs: number;
  readonly jitterMs: number;
  /** Chance per chunk of a latency spike of spikeMs. */
  readonly spikeProb: number;
  readonly spikeMs: number;
  /** Chance per chunk that its connection is reset. */
  readonly resetProb: number;
}

export const HEALTHY: LinkFaults = Object.freeze({
  partitioned: false,
  holdUp: false,
  holdDown: false,
  delayMs: 0,
  jitterMs: 0,
  spikeProb: 0,
  spikeMs: 0,
  resetProb: 0,
});

export interface ProxyStats {
  accepted: number;
  refused: number;
  resets: number;
  spikes: number;
  bytesUp: number;
  bytesDown: number;
}

/** Past this many queued bytes in one direction the source is paused (bounded memory). */
const MAX_QUEUED_BYTES = 4 << 20;

/** One direction of one proxied connection. */
class Pipe {
  private readonly queue: { buf: Buffer; due: number }[] = [];
  private queuedBytes = 0;
  private lastDue = 0;
  private timer: NodeJS.Timeout | null = null;
  private waitingDrain = false;
  private srcEnded = false;

  constructor(
    private readonly src: Socket,
    private readonly dst: Socket,
    private readonly proxy: FaultProxy,
    private readonly dir: 'up' | 'down',
    private readonly onReset: () => void,
  ) {
    src.on('data', (chunk: Buffer) => this.onData(chunk));
    src.on('end', () => {
      this.srcEnded = true;
      this.drain();
    });
  }

  private held(): boolean {
    const f = this.proxy.faults;
    return this.dir === 'up' ? f.holdUp : f.holdDown;
  }

  private onData(chunk: Buffer): void {
    const f = this.proxy.faults;
    const st = this.proxy.stats;
    if (this.dir === 'up') st.bytesUp += chunk.length;
    else st.bytesDown += chunk.length;
    if (f.resetProb > 0 && this.proxy.rng.chance(f.resetProb)) {
      st.resets++;
      this.onReset();
      return;
    }
    let extra = f.delayMs + (f.jitterMs > 0 ? this.proxy.rng.next() * f.jitterMs : 0);
    if (f.spikeProb > 0 && this.proxy.rng.chance(f.spikeProb)) {
      st.spikes++;
      extra += f.spikeMs;
    }
    const now = performance.now();
    // FIFO: a chunk is never delivered before the one ahead of it.
    const due = Math.max(now + extra, this.lastDue);
    this.lastDue = due;
    this.queue.push({ buf: chunk, due });
    this.queuedBytes += chunk.length;
    if (this.queuedBytes > MAX_QUEUED_BYTES) this.src.pause();
    this.drain();
  }

  /** Delivers what is due; called on data, timers, 'drain' and fault changes. */
  drain(): void {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    if (this.waitingDrain || this.dst.destroyed) return;
    if (this.held()) return;
    const now = performance.now();
    while (this.queue.length > 0) {
      const head = this.queue[0]!;
      if (head.due > now) {
        this.timer = setTimeout(() => this.drain(), Math.max(1, Math.ceil(head.due - now)));
        return;
      }
      this.queue.shift();
      this.queuedBytes -= head.buf.length;
      if (!this.dst.write(head.buf)) {
        this.waitingDrain = true;
        this.dst.once('drain', () => {
          this.waitingDrain = false;
          this.drain();
        });
        return;
      }
    }
    if (this.queuedBytes <= MAX_QUEUED_BYTES && this.src.isPaused() && !this.src.destroyed) this.src.resume();
    if (this.srcEnded && this.queue.length === 0 && !this.dst.destroyed) this.dst.end();
  }

  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.queue.length = 0;
  }
}

class Conn {
  readonly up: Pipe;
  readonly down: Pipe;
  private closed = false;

  constructor(
    readonly client: Socket,
    readonly target: Socket,
    private readonly proxy: FaultProxy,
  ) {
    const reset = () => this.reset();
    this.up = new Pipe(client, target, proxy, 'up', reset);
    this.down = new Pipe(target, client, proxy, 'down', reset);
    for (const s of [client, target]) {
      s.on('error', () => this.close());
      s.on('close', () => this.close());
    }
  }

  /** Abortive close of both sides (RST where the platform allows). */
  reset(): void {
    if (this.closed) return;
    for (const s of [this.client, this.target]) if (!s.destroyed) s.resetAndDestroy();
    this.close();
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.up.stop();
    this.down.stop();
    this.client.destroy();
    this.target.destroy();
    this.proxy.forget(this);
  }
}

export interface ProxyOptions {
  /** For progress lines and errors, e.g. "n1->nats1" or "route az1-az2". */
  readonly name: string;
  readonly targetPort: number;
  readonly targetHost?: string;
  /** 0 (default) = any free port. */
  readonly listenPort?: number;
  readonly rng: Rng;
}

export class FaultProxy {
  faults: LinkFaults = HEALTHY;
  readonly stats: ProxyStats = { accepted: 0, refused: 0, resets: 0, spikes: 0, bytesUp: 0, bytesDown: 0 };
  readonly name: string;
  readonly rng: Rng;
  private readonly conns = new Set<Conn>();
  private readonly targetHost: string;
  private targetPort: number;

  private constructor(
    private readonly server: Server,
    opts: ProxyOptions,
  ) {
    this.name = opts.name;
    this.rng = opts.rng;
    this.targetHost = opts.targetHost ?? '127.0.0.1';
    this.targetPort = opts.targetPort;
  }

  static async start(opts: ProxyOptions): Promise<FaultProxy> {
    const server = createServer({ noDelay: true });
    const proxy = new FaultProxy(server, opts);
    server.on('connection', (s) => proxy.accept(s));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(opts.listenPort ?? 0, '127.0.0.1', () => resolve());
    });
    return proxy;
  }

  get port(): number {
    const a = this.server.address();
    return typeof a === 'object' && a ? a.port : 0;
  }

  get connectionCount(): number {
    return this.conns.size;
  }

  private accept(client: Socket): void {
    if (this.faults.partitioned) {
      this.stats.refused++;
      client.on('error', () => undefined);
      client.resetAndDestroy();
      return;
    }
    this.stats.accepted++;
    client.setNoDelay(true);
    const target = new Socket();
    target.setNoDelay(true);
    const conn = new Conn(client, target, this);
    this.conns.add(conn);
    target.connect(this.targetPort, this.targetHost);
  }

  /** Replaces the link's faults (fields not given are healthy). */
  set(faults: Partial<LinkFaults>): void {
    this.faults = { ...HEALTHY, ...faults };
    if (this.faults.partitioned) for (const c of [...this.conns]) c.reset();
    // A released hold or a lowered delay may make queued data due now.
    for (const c of this.conns) {
      c.up.drain();
      c.down.drain();
    }
  }

  heal(): void {
    this.set(HEALTHY);
  }

  /** Points new connections at another port (when the target's port is learned late). */
  retarget(port: number): void {
    this.targetPort = port;
  }

  /** Resets every current connection (they may reconnect at once). */
  resetAll(): void {
    for (const c of [...this.conns]) c.reset();
  }

  forget(c: Conn): void {
    this.conns.delete(c);
  }

  async close(): Promise<void> {
    for (const c of [...this.conns]) c.reset();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
