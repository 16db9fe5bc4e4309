// The message bus of the whole-node simulation, in the place of NATS: Raft envelopes
// between nodes, admin requests between nodes, and client requests to nodes, each delivered
// after a seeded delay, or dropped, duplicated or cut off by a partition. It also lets the
// run watch every Raft envelope a node sends (the durability checks read them).

import { assert } from '../../../shared/assert.js';
import type { NodeTransportPort, TransportHandlers } from '../../../cell/node/ports.js';
import type { Rng } from '../rng.js';
import type { SimScheduler } from './scheduler.js';

export interface BusFaults {
  readonly dropRate: number;
  readonly dupRate: number;
  readonly minDelayMs: number;
  readonly maxDelayMs: number;
  /** Probability of a long detour of up to `spikeMs`. */
  readonly spikeRate: number;
  readonly spikeMs: number;
}

export const CALM_BUS: BusFaults = { dropRate: 0, dupRate: 0, minDelayMs: 0, maxDelayMs: 2, spikeRate: 0, spikeMs: 0 };

export interface BusStats {
  sent: number;
  delivered: number;
  dropped: number;
  cut: number;
  duplicated: number;
}

/** A bound on one delivery's delay, so a healed run settles in bounded time. */
const MAX_DELAY_MS = 2000;
const BUS_OWNER = 'bus';

export class SimBus {
  private readonly handlers = new Map<string, TransportHandlers>();
  /** Per attached node: whether its endpoint is still open (a crash closes it). */
  private readonly endpoints = new Map<string, { open: boolean }>();
  private readonly blocked = new Set<string>();
  faults: BusFaults = CALM_BUS;
  readonly stats: BusStats = { sent: 0, delivered: 0, dropped: 0, cut: 0, duplicated: 0 };
  /** Sees every Raft envelope as it leaves its node (before any fault). */
  onRaftSent: (from: string, to: string, data: Uint8Array) => void = () => undefined;

  constructor(
    private readonly sched: SimScheduler,
    private readonly rng: Rng,
  ) {}

  /** The transport of one node boot; `detach` (a crash) makes it deaf and mute. */
  attach(nodeId: string, handlers: TransportHandlers): NodeTransportPort {
    assert(!this.handlers.has(nodeId), `node ${nodeId} attached twice`);
    this.handlers.set(nodeId, handlers);
    const bus = this;
    const endpoint = { open: true };
    this.endpoints.set(nodeId, endpoint);
    return {
      sendRaft(toNode, data) {
        if (!endpoint.open) return;
        bus.onRaftSent(nodeId, toNode, data);
        bus.deliver(nodeId, toNode, () => bus.handlers.get(toNode)?.onRaft(data.slice()));
      },
      requestAdmin(toNode, data, timeoutMs) {
        if (!endpoint.open) return new Promise(() => undefined);
        return bus.request(nodeId, toNode, timeoutMs, (h, reply) => h.onAdmin(data.slice(), reply));
      },
      close() {
        bus.detach(nodeId);
        return Promise.resolve();
      },
    };
  }

  detach(nodeId: string): void {
    const e = this.endpoints.get(nodeId);
    if (e) e.open = false;
    this.endpoints.delete(nodeId);
    this.handlers.delete(nodeId);
  }

  /** A client's request to a node's cell request subject; resolves with the reply bytes. */
  clientRequest(client: string, toNode: string, data: Uint8Array, timeoutMs: number): Promise<Uint8Array> {
    return this.request(client, toNode, timeoutMs, (h, reply) => h.onRequest(data.slice(), reply));
  }

  /** A client's directory lookup (any node answers, as on `cellkv.dir`). */
  clientDirectory(client: string, toNode: string, timeoutMs: number): Promise<Uint8Array> {
    return this.request(client, toNode, timeoutMs, (h, reply) => h.onDirectory(reply));
  }

  /** An operator's admin request to a node (`cellkv.admin.<node>`). */
  clientAdmin(client: string, toNode: string, data: Uint8Array, timeoutMs: number): Promise<Uint8Array> {
    return this.request(client, toNode, timeoutMs, (h, reply) => h.onAdmin(data.slice(), reply));
  }

  private request(
    from: string,
    to: string,
    timeoutMs: number,
    call: (h: TransportHandlers, reply: (b: Uint8Array) => void) => void,
  ): Promise<Uint8Array> {
    return new Promise<Uint8Array>((resolve, reject) => {
      let done = false;
      const timer = this.sched.at(timeoutMs, BUS_OWNER, () => {
        if (done) return;
        done = true;
        reject(new Error(`simulated request ${from}->${to} timed out`));
      });
      this.deliver(from, to, () => {
        const h = this.handlers.get(to);
        if (h === undefined) return; // nobody listening: the requester times out
        let replied = false;
        const endpoint = this.endpoints.get(to);
        call(h, (bytes) => {
          if (replied || endpoint?.open !== true) return;
          replied = true;
          const copy = bytes.slice();
          this.deliver(to, from, () => {
            if (done) return;
            done = true;
            timer.cancel();
            resolve(copy);
          });
        });
      });
    });
  }

  private deliver(from: string, to: string, run: () => void): void {
    this.stats.sent++;
    if (this.rng.chance(this.faults.dropRate)) {
      this.stats.dropped++;
      return;
    }
    const copies = this.rng.chance(this.faults.dupRate) ? 2 : 1;
    if (copies === 2) this.stats.duplicated++;
    for (let i = 0; i < copies; i++) {
      this.sched.at(this.delay(), BUS_OWNER, () => {
        // A partition cuts what is on the wire too.
        if (this.blocked.has(`${from}>${to}`)) {
          this.stats.cut++;
          return;
        }
        this.stats.delivered++;
        run();
      });
    }
  }

  private delay(): number {
    const f = this.faults;
    const base = this.rng.range(f.minDelayMs, Math.max(f.minDelayMs, f.maxDelayMs));
    const spike = f.spikeMs > 0 && this.rng.chance(f.spikeRate) ? this.rng.range(1, f.spikeMs) : 0;
    return Math.min(MAX_DELAY_MS, base + spike);
  }

  /** Cuts both directions between every member of `a` and every member of `b`. */
  partition(a: readonly string[], b: readonly string[]): void {
    for (const x of a) for (const y of b) {
      this.blocked.add(`${x}>${y}`);
      this.blocked.add(`${y}>${x}`);
    }
  }

  heal(): void {
    this.blocked.clear();
  }

  hasPartition(): boolean {
    return this.blocked.size > 0;
  }
}
