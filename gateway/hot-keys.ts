// Hot-key mitigation at the gateway, all of it bounded in memory:
//
// - Single-flight for linearizable point reads. A read may only share a cell read that was
//   *invoked after it arrived*: a read invoked earlier may linearize before a write that
//   completed before our request arrived, and would return a stale value. So a request that
//   finds a read of its key in flight does not join it; it waits for the *next* read, which
//   starts when the current one settles (after every waiter arrived) and is shared by all of
//   them. Per key at most one cell read runs and one is queued, however many clients ask.
// - A small cache for stale reads: a `consistency=stale` read may be answered from an entry
//   younger than its max_staleness (and than the cache's own bound), reporting the entry's
//   true age (the replica's lag when read plus the time since). Only hot keys are cached.
// - A top-k counter (top-k.ts) of the most requested keys, for the hot-key metric, the cache
//   admission and GET /v1/admin/hot-keys.

import { SpaceSaving } from './top-k.js';

export interface HotKeyOptions {
  /** Keys tracked by the top-k counter. */
  readonly topK: number;
  /** Requests per decay period (estimated) from which a key counts as hot. */
  readonly threshold: number;
  /** Counts halve every this many ms. */
  readonly decayMs: number;
  /** Single-flight for linearizable point reads. */
  readonly singleFlight: boolean;
  /** Keys with a read in flight tracked at most; past it reads go straight to the cell. */
  readonly maxFlights: number;
  /** Stale-read cache bounds: entries, total value bytes, bytes per entry, age. 0 entries = off. */
  readonly staleCacheEntries: number;
  readonly staleCacheMaxBytes: number;
  readonly staleCacheMaxEntryBytes: number;
  readonly staleCacheMaxAgeMs: number;
}

export const DEFAULT_HOT_KEY_OPTIONS: HotKeyOptions = {
  topK: 64,
  threshold: 32,
  decayMs: 10_000,
  singleFlight: true,
  maxFlights: 100_000,
  staleCacheEntries: 1024,
  staleCacheMaxBytes: 16 * 1024 * 1024,
  staleCacheMaxEntryBytes: 64 * 1024,
  staleCacheMaxAgeMs: 1000,
};

/** The identity of a (tenant, key) pair as a string (latin1 keeps every byte). */
export function keyId(tenant: string, key: Uint8Array): string {
  return `${tenant}\u0000${Buffer.from(key.buffer, key.byteOffset, key.length).toString('latin1')}`;
}

interface Waiting<T> {
  readonly read: () => Promise<T>;
  readonly promise: Promise<T>;
  resolve(v: T): void;
  reject(e: unknown): void;
}

interface Flight<T> {
  next: Waiting<T> | null;
}

export class SingleFlight<T> {
  private readonly flights = new Map<string, Flight<T>>();

  constructor(private readonly maxFlights: number) {}

  get inFlight(): number {
    return this.flights.size;
  }

  /**
   * Runs `read` for `id`, or waits for the next read of `id` to start and shares it (see the
   * top of the file). `shared` is called when this caller does not start a read of its own.
   */
  run(id: string, read: () => Promise<T>, shared?: () => void): Promise<T> {
    const f = this.flights.get(id);
    if (!f) {
      if (this.flights.size >= this.maxFlights) return read();
      const flight: Flight<T> = { next: null };
      this.flights.set(id, flight);
      return this.start(id, flight, read);
    }
    shared?.();
    if (!f.next) {
      let resolve!: (v: T) => void;
      let reject!: (e: unknown) => void;
      const promise = new Promise<T>((res, rej) => {
        resolve = res;
        reject = rej;
      });
      f.next = { read, promise, resolve, reject };
    }
    return f.next.promise;
  }

  private start(id: string, flight: Flight<T>, read: () => Promise<T>): Promise<T> {
    let p: Promise<T>;
    try {
      p = read();
    } catch (e) {
      p = Promise.reject(e);
    }
    const settled = (): void => {
      const next = flight.next;
      if (!next) {
        this.flights.delete(id);
        return;
      }
      // Everyone waiting on `next` arrived before this moment: a read started now is theirs.
      flight.next = null;
      this.start(id, flight, next.read).then(next.resolve, next.reject);
    };
    // Both branches: a failed read must still hand over to the waiters (they try again).
    p.then(settled, settled);
    return p;
  }
}

interface CacheEntry<T> {
  readonly value: T;
  readonly bytes: number;
  /** Monotonic ms when the entry was read from its cell. */
  readonly fetchedAt: number;
  /** The state's age when it was read (the replica's reported staleness). */
  readonly ageAtFetch: number;
}

/** A bounded LRU of stale-read results, by entries and by bytes. */
export class StaleCache<T> {
  private readonly entries = new Map<string, CacheEntry<T>>();
  private bytes = 0;

  constructor(private readonly o: Pick<HotKeyOptions, 'staleCacheEntries' | 'staleCacheMaxBytes' | 'staleCacheMaxEntryBytes' | 'staleCacheMaxAgeMs'>) {}

  get size(): number {
    return this.entries.size;
  }

  get totalBytes(): number {
    return this.bytes;
  }

  /** An entry at most `maxStalenessMs` old (0 = any age the cache allows), with its true age. */
  get(id: string, maxStalenessMs: number, nowMs: number): { value: T; ageMs: number } | null {
    const e = this.entries.get(id);
    if (!e) return null;
    const ageMs = e.ageAtFetch + Math.max(0, nowMs - e.fetchedAt);
    if (ageMs > this.o.staleCacheMaxAgeMs) {
      this.delete(id);
      return null;
    }
    if (maxStalenessMs > 0 && ageMs > maxStalenessMs) return null;
    this.entries.delete(id); // LRU: most recently used last
    this.entries.set(id, e);
    return { value: e.value, ageMs: Math.round(ageMs) };
  }

  set(id: string, value: T, bytes: number, ageAtFetch: number, nowMs: number): void {
    if (this.o.staleCacheEntries === 0 || bytes > this.o.staleCacheMaxEntryBytes || ageAtFetch >= this.o.staleCacheMaxAgeMs) return;
    this.delete(id);
    while (this.entries.size > 0 && (this.entries.size >= this.o.staleCacheEntries || this.bytes + bytes > this.o.staleCacheMaxBytes)) {
      const oldest = this.entries.keys().next();
      if (oldest.done) break;
      this.delete(oldest.value);
    }
    this.entries.set(id, { value, bytes, fetchedAt: nowMs, ageAtFetch });
    this.bytes += bytes;
  }

  delete(id: string): void {
    const e = this.entries.get(id);
    if (!e) return;
    this.entries.delete(id);
    this.bytes -= e.bytes;
  }
}

export interface HotKeyView {
  readonly tenant: string;
  /** The key bytes, standard base64. */
  readonly key: string;
  readonly count: number;
  readonly error: number;
  readonly hot: boolean;
}

export interface HotKeyStats {
  readonly singleFlightShared: number;
  readonly staleCacheHits: number;
}

/** The three mechanisms behind one object, as the core uses them. */
export class HotKeys<T> {
  readonly top: SpaceSaving<{ tenant: string; key: Uint8Array }>;
  readonly flights: SingleFlight<T>;
  readonly cache: StaleCache<T>;
  private shared = 0;
  private hits = 0;

  constructor(
    readonly opts: HotKeyOptions,
    private readonly onServed: (by: 'single_flight' | 'stale_cache') => void = () => {},
    private readonly clock: () => number = () => performance.now(),
  ) {
    this.top = new SpaceSaving(opts.topK, opts.decayMs, clock());
    this.flights = new SingleFlight(opts.maxFlights);
    this.cache = new StaleCache(opts);
  }

  /** Counts a request for the key; returns whether the key is hot now. */
  record(tenant: string, key: Uint8Array): boolean {
    const id = keyId(tenant, key);
    return this.top.offer(id, () => ({ tenant, key: key.slice() }), this.clock()) >= this.opts.threshold;
  }

  /** A linearizable point read, shared as described at the top of the file. */
  linearizableRead(tenant: string, key: Uint8Array, read: () => Promise<T>): Promise<T> {
    if (!this.opts.singleFlight) return read();
    return this.flights.run(keyId(tenant, key), read, () => {
      this.shared++;
      this.onServed('single_flight');
    });
  }

  /**
   * A stale read: from the cache when an entry is young enough, else from `read` (whose result
   * is cached when the key is hot). `ageOf`/`withAge` read and set the result's reported age.
   */
  async staleRead(
    tenant: string,
    key: Uint8Array,
    maxStalenessMs: number,
    hot: boolean,
    read: () => Promise<T>,
    io: { readonly ageOf: (v: T) => number; readonly withAge: (v: T, ageMs: number) => T; readonly bytesOf: (v: T) => number },
  ): Promise<T> {
    const id = keyId(tenant, key);
    const hit = this.cache.get(id, maxStalenessMs, this.clock());
    if (hit) {
      this.hits++;
      this.onServed('stale_cache');
      return io.withAge(hit.value, hit.ageMs);
    }
    const v = await read();
    if (hot) this.cache.set(id, v, io.bytesOf(v) + key.length, io.ageOf(v), this.clock());
    return v;
  }

  /** A write through this gateway: its cached stale value is dropped (not required, but kinder). */
  invalidate(tenant: string, key: Uint8Array): void {
    this.cache.delete(keyId(tenant, key));
  }

  hotCount(): number {
    return this.top.countAtLeast(this.opts.threshold, this.clock());
  }

  /** The decayed count of the hottest key, 0 when none is tracked. */
  hottestCount(): number {
    return this.top.top(1, this.clock())[0]?.count ?? 0;
  }

  view(limit: number): HotKeyView[] {
    return this.top.top(limit, this.clock()).map((e) => ({
      tenant: e.item.tenant,
      key: Buffer.from(e.item.key).toString('base64'),
      count: e.count,
      error: e.error,
      hot: e.count >= this.opts.threshold,
    }));
  }

  stats(): HotKeyStats {
    return { singleFlightShared: this.shared, staleCacheHits: this.hits };
  }
}
