// Load shedding: a bounded number of requests in flight per front door. Past the bound a
// request is refused at once (503 + Retry-After) instead of queueing without limit.

import { KvError } from '../shared/errors.js';
import type { GatewayMetrics } from './metrics.js';

export class InflightLimiter {
  private n = 0;

  constructor(
    private readonly max: number,
    private readonly door: 'http' | 'nats',
    private readonly metrics: GatewayMetrics,
  ) {}

  get inflight(): number {
    return this.n;
  }

  /** Runs `fn` holding a slot, or throws UNAVAILABLE when none is free. */
  async run<T>(fn: () => Promise<T>): Promise<T> {
    if (this.n >= this.max) {
      this.metrics.shed.inc({ door: this.door });
      throw new KvError('UNAVAILABLE', `gateway is at its limit of ${this.max} requests in flight; retry shortly`);
    }
    this.n++;
    this.metrics.inflight.inc({ door: this.door });
    try {
      return await fn();
    } finally {
      this.n--;
      this.metrics.inflight.dec({ door: this.door });
    }
  }
}
