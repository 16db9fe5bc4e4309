// Per-tenant request rate limits: a token bucket per tenant, refilled continuously at the
// tenant's rate with a burst of one second's worth. Buckets live in a bounded map (least
// recently used evicted first), so a flood of distinct tenants cannot grow memory.
//
// A request costs its number of operations (a batch of 50 costs 50). A request that costs more
// than the whole burst is admitted when the bucket is full and leaves it in debt, so a big batch
// is slowed down rather than refused forever; requests behind it wait for the debt to clear.

import { KvError } from '../shared/errors.js';

export class TokenBucket {
  private tokens: number;
  private last: number;

  constructor(
    private ratePerSec: number,
    private burst: number,
    nowMs: number,
  ) {
    this.tokens = burst;
    this.last = nowMs;
  }

  /** Changes the rate (a tenant's quota was updated); tokens above the new burst are dropped. */
  reconfigure(ratePerSec: number, burst: number, nowMs: number): void {
    if (ratePerSec === this.ratePerSec && burst === this.burst) return;
    this.refill(nowMs);
    this.ratePerSec = ratePerSec;
    this.burst = burst;
    this.tokens = Math.min(this.tokens, burst);
  }

  private refill(nowMs: number): void {
    // A clock that steps back (it should not: callers pass a monotonic clock) adds nothing.
    const elapsed = Math.max(0, nowMs - this.last);
    this.tokens = Math.min(this.burst, this.tokens + (elapsed * this.ratePerSec) / 1000);
    this.last = Math.max(this.last, nowMs);
  }

  /** Takes `cost` tokens: 0 when admitted, else how many ms until the same request would be. */
  take(cost: number, nowMs: number): number {
    this.refill(nowMs);
    const need = Math.min(cost, this.burst);
    if (this.tokens >= need) {
      this.tokens -= cost;
      return 0;
    }
    return ((need - this.tokens) * 1000) / this.ratePerSec;
  }
}

/** Retry-After in whole seconds, at least 1 (the header has no finer unit). */
export function retryAfterSeconds(waitMs: number): number {
  return Math.max(1, Math.ceil(waitMs / 1000));
}

export class TenantRateLimiter {
  private readonly buckets = new Map<string, TokenBucket>();
  evictions = 0;

  constructor(private readonly maxBuckets: number) {}

  get size(): number {
    return this.buckets.size;
  }

  /**
   * Admits `cost` operations of `tenant` at `ratePerSec` (burst: one second's worth, at least
   * one operation), or throws RATE_LIMITED with the wait in `retryAfter` seconds.
   */
  admit(tenant: string, ratePerSec: number, cost: number, nowMs: number): void {
    const burst = Math.max(1, ratePerSec);
    let b = this.buckets.get(tenant);
    if (b) {
      // Map order is insertion order: re-inserting keeps the least recently used first.
      this.buckets.delete(tenant);
      b.reconfigure(ratePerSec, burst, nowMs);
    } else {
      if (this.buckets.size >= this.maxBuckets) this.evictOne();
      b = new TokenBucket(ratePerSec, burst, nowMs);
    }
    this.buckets.set(tenant, b);
    const waitMs = b.take(cost, nowMs);
    if (waitMs > 0) {
      const s = retryAfterSeconds(waitMs);
      throw new KvError('RATE_LIMITED', `tenant ${tenant} is over its rate of ${round(ratePerSec)} operations/s at this gateway; retry after ${s}s`, { retryAfter: s });
    }
  }

  /** Forgets a tenant's bucket (its limit was removed). */
  forget(tenant: string): void {
    this.buckets.delete(tenant);
  }

  private evictOne(): void {
    // The least recently used bucket has most likely refilled (idle for a second or more), so
    // dropping it forgives nothing; if it has not, that tenant gets a fresh burst: bounded leniency.
    const first = this.buckets.keys().next();
    if (first.done) return;
    this.buckets.delete(first.value);
    this.evictions++;
  }
}

function round(n: number): string {
  return Number.isInteger(n) ? String(n) : n.toFixed(2);
}
