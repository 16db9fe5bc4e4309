// The current value of a cell's recently written or read keys, bounded in bytes, so reads
// and the apply loop's prefetch skip LevelDB for them (see the class comment for coherence).

import type { StoredValue } from '../storage/records.js';

/** Default bound of a cell's value cache, in (approximate) bytes. */
export const DEFAULT_VALUE_CACHE_BYTES = 32 * 1024 * 1024;
const CACHE_ENTRY_OVERHEAD = 96;

function cachedSize(h: string, v: StoredValue | null): number {
  return h.length + CACHE_ENTRY_OVERHEAD + (v === null ? 0 : v.value.length);
}

/**
 * The current value of recently written or read keys (null = known absent): reads and the
 * apply loop's prefetch skip LevelDB (a thread-pool round trip each) for them. It always
 * equals what the overlay or LevelDB would answer: every staged write goes through it, a
 * snapshot install clears it, and a LevelDB read is only cached when no write happened while
 * it was in flight (else the read may have seen an older value).
 */
export class ValueCache {
  private readonly map = new Map<string, StoredValue | null>();
  private bytes = 0;
  /** Bumped by every write: a read begun before a write must not fill the cache. */
  writeEpoch = 0;

  constructor(private readonly maxBytes: number) {}

  /** Approximate bytes held: at most the bound once a write or fill returns. */
  get sizeBytes(): number {
    return this.bytes;
  }

  /** Keys held (absent keys included). */
  get size(): number {
    return this.map.size;
  }

  get(h: string): StoredValue | null | undefined {
    return this.map.get(h);
  }

  /** A staged write: the new current value. */
  write(h: string, v: StoredValue | null): void {
    this.writeEpoch++;
    this.set(h, v);
  }

  /** A value read from LevelDB at `epoch`: kept only if nothing was written since. */
  fill(h: string, v: StoredValue | null, epoch: number): void {
    if (epoch === this.writeEpoch) this.set(h, v);
  }

  private set(h: string, v: StoredValue | null): void {
    if (this.maxBytes <= 0) return;
    const old = this.map.get(h);
    if (old !== undefined) {
      this.bytes -= cachedSize(h, old);
      this.map.delete(h); // re-inserted last: eviction takes the least recently written
    }
    this.map.set(h, v);
    this.bytes += cachedSize(h, v);
    while (this.bytes > this.maxBytes && this.map.size > 0) {
      const [k, ov] = this.map.entries().next().value as [string, StoredValue | null];
      this.map.delete(k);
      this.bytes -= cachedSize(k, ov);
    }
  }

  clear(): void {
    this.writeEpoch++;
    this.map.clear();
    this.bytes = 0;
  }
}
