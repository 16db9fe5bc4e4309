// The simulated network: a virtual clock in ticks, per-message delay, drops, duplication,
// reordering, partitions (symmetric, one-way, bridge) and a bounded queue per link. Generic
// over the payload so Raft traffic and client traffic use the same machinery.

import { assert } from '../../shared/assert.js';
import type { Rng } from './rng.js';

export interface Addressed {
  readonly from: string;
  readonly to: string;
}

export interface NetConditions {
  /** Probability that a message is lost. */
  readonly dropRate: number;
  /** Probability that a message is delivered twice (the copy gets its own delay). */
  readonly dupRate: number;
  readonly minDelay: number;
  readonly maxDelay: number;
  /** Probability that a message takes a long detour of up to `spikeDelay` ticks. */
  readonly spikeRate: number;
  readonly spikeDelay: number;
  /** When false each link is FIFO; when true messages overtake each other freely. */
  readonly reorder: boolean;
  /**
   * Probability that sending a message also re-sends an old one (from the last REPLAY_WINDOW
   * sent): a duplicate after an arbitrary delay, so stale responses of earlier rounds and terms
   * reach their destination long after the fact.
   */
  readonly replayRate: number;
}

/** How many recently sent messages a replay may pick from. */
export const REPLAY_WINDOW = 512;

export const CALM: NetConditions = {
  dropRate: 0,
  dupRate: 0,
  minDelay: 1,
  maxDelay: 2,
  spikeRate: 0,
  spikeDelay: 0,
  reorder: false,
  replayRate: 0,
};

/** Hard ceiling on any delay, so the bucket map and "heal then settle" stay bounded. */
export const MAX_DELAY_TICKS = 200;

export interface NetStats {
  sent: number;
  delivered: number;
  dropped: number;
  partitioned: number;
  overflowed: number;
  duplicated: number;
  replayed: number;
}

function linkKey(from: string, to: string): string {
  return `${from}>${to}`;
}

export class SimNetwork<T extends Addressed> {
  private conditions: NetConditions = CALM;
  private readonly blocked = new Set<string>();
  private readonly buckets = new Map<number, T[]>();
  private readonly inFlight = new Map<string, number>();
  private readonly lastDeliverAt = new Map<string, number>();
  private pending = 0;
  /** Ring buffer of recently sent messages (kept only while replays are on). */
  private readonly recent: T[] = [];
  private recentNext = 0;
  /** A uniform sample of every message sent while replays were on (reservoir sampling). */
  private readonly archive: T[] = [];
  private archived = 0;
  readonly stats: NetStats = { sent: 0, delivered: 0, dropped: 0, partitioned: 0, overflowed: 0, duplicated: 0, replayed: 0 };

  constructor(
    private readonly rng: Rng,
    /** Messages one directed link may hold in flight; past it new ones are dropped. */
    private readonly linkCapacity: number,
  ) {
    assert(linkCapacity > 0, 'link capacity must be positive');
  }

  setConditions(c: NetConditions): void {
    assert(c.minDelay >= 1 && c.maxDelay >= c.minDelay, 'bad delay range');
    assert(c.maxDelay <= MAX_DELAY_TICKS && c.spikeDelay <= MAX_DELAY_TICKS, 'delay above ceiling');
    assert(c.dropRate >= 0 && c.dropRate < 1 && c.dupRate >= 0 && c.dupRate < 1, 'bad rates');
    assert(c.replayRate >= 0 && c.replayRate < 1, 'bad replay rate');
    this.conditions = c;
  }

  getConditions(): NetConditions {
    return this.conditions;
  }

  /** Cuts every link between the two groups, both ways. */
  partition(a: readonly string[], b: readonly string[]): void {
    this.oneWay(a, b);
    this.oneWay(b, a);
  }

  /** Cuts only the links from `from` to `to` (an asymmetric partition). */
  oneWay(from: readonly string[], to: readonly string[]): void {
    for (const f of from) for (const t of to) if (f !== t) this.blocked.add(linkKey(f, t));
  }

  /** Two halves that cannot talk, both talking to `bridge`. */
  bridge(a: readonly string[], b: readonly string[], bridge: string): void {
    assert(!a.includes(bridge) && !b.includes(bridge), 'bridge node inside a half');
    this.partition(a, b);
  }

  /** Isolates one node from everybody in `others`. */
  isolate(node: string, others: readonly string[]): void {
    this.partition([node], others.filter((o) => o !== node));
  }

  heal(): void {
    this.blocked.clear();
  }

  isBlocked(from: string, to: string): boolean {
    return this.blocked.has(linkKey(from, to));
  }

  hasPartition(): boolean {
    return this.blocked.size > 0;
  }

  /** Returns false when the message was lost at once (the caller may report the peer unreachable). */
  send(msg: T, now: number): boolean {
    this.stats.sent++;
    if (this.isBlocked(msg.from, msg.to)) {
      this.stats.partitioned++;
      return false;
    }
    if (this.rng.chance(this.conditions.dropRate)) {
      this.stats.dropped++;
      return true; // a silent loss: the sender cannot tell
    }
    this.enqueue(msg, now);
    if (this.rng.chance(this.conditions.dupRate)) {
      this.stats.duplicated++;
      this.enqueue(msg, now);
    }
    if (this.conditions.replayRate > 0) this.replay(msg, now);
    return true;
  }

  private replay(msg: T, now: number): void {
    if (this.recent.length > 0 && this.rng.chance(this.conditions.replayRate)) {
      const old = this.recent[this.rng.range(0, this.recent.length - 1)]!;
      if (!this.isBlocked(old.from, old.to)) {
        this.stats.replayed++;
        this.enqueue(old, now);
      }
    }
    if (this.recent.length < REPLAY_WINDOW) this.recent.push(msg);
    else this.recent[this.recentNext] = msg;
    this.recentNext = (this.recentNext + 1) % REPLAY_WINDOW;
    this.archived++;
    if (this.archive.length < REPLAY_WINDOW) this.archive.push(msg);
    else if (this.rng.chance(REPLAY_WINDOW / this.archived)) this.archive[this.rng.range(0, REPLAY_WINDOW - 1)] = msg;
  }

  /**
   * Delivers again one old message (from the whole run so far) that `pick` selects, unless a
   * partition cuts its link: a response of an earlier term reaching a node long after the fact.
   */
  replayOld(pick: (m: T) => boolean, now: number): T | null {
    const candidates = this.archive.filter(pick);
    if (candidates.length === 0) return null;
    const old = this.rng.pick(candidates);
    if (this.isBlocked(old.from, old.to)) return null;
    this.stats.replayed++;
    this.enqueue(old, now);
    return old;
  }

  private enqueue(msg: T, now: number): void {
    const key = linkKey(msg.from, msg.to);
    const held = this.inFlight.get(key) ?? 0;
    if (held >= this.linkCapacity) {
      this.stats.overflowed++;
      return;
    }
    const c = this.conditions;
    let delay = this.rng.range(c.minDelay, c.maxDelay);
    if (this.rng.chance(c.spikeRate)) delay = this.rng.range(c.maxDelay, Math.max(c.maxDelay, c.spikeDelay));
    let at = now + delay;
    if (!c.reorder) {
      // FIFO per link: never deliver before an earlier message on the same link.
      at = Math.max(at, this.lastDeliverAt.get(key) ?? 0);
      this.lastDeliverAt.set(key, at);
    }
    assert(at > now && at - now <= MAX_DELAY_TICKS * 2, `delivery time ${at} out of range at ${now}`);
    let bucket = this.buckets.get(at);
    if (bucket === undefined) {
      bucket = [];
      this.buckets.set(at, bucket);
    }
    bucket.push(msg);
    this.inFlight.set(key, held + 1);
    this.pending++;
  }

  /** Messages due at `now`, minus those a partition cut while they were in flight. */
  deliverDue(now: number): T[] {
    const bucket = this.buckets.get(now);
    if (bucket === undefined) return [];
    this.buckets.delete(now);
    const out: T[] = [];
    const ordered = this.conditions.reorder ? this.rng.shuffle(bucket) : bucket;
    for (const msg of ordered) {
      const key = linkKey(msg.from, msg.to);
      const held = this.inFlight.get(key) ?? 0;
      assert(held > 0, `in-flight count underflow on ${key}`);
      this.inFlight.set(key, held - 1);
      this.pending--;
      if (this.blocked.has(key)) {
        this.stats.partitioned++;
        continue;
      }
      this.stats.delivered++;
      out.push(msg);
    }
    return out;
  }

  /** Messages still in flight (for "the network has drained" checks). */
  inFlightCount(): number {
    return this.pending;
  }

  /** Drops everything in flight to or from `node` (it was removed from the cluster for good). */
  forget(node: string): void {
    for (const [at, bucket] of this.buckets) {
      const keep = bucket.filter((m) => m.from !== node && m.to !== node);
      for (const m of bucket) {
        if (m.from !== node && m.to !== node) continue;
        const key = linkKey(m.from, m.to);
        this.inFlight.set(key, (this.inFlight.get(key) ?? 1) - 1);
        this.pending--;
      }
      if (keep.length === 0) this.buckets.delete(at);
      else this.buckets.set(at, keep);
    }
  }
}
