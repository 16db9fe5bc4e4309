// Bounded top-k frequency counter (the Space-Saving algorithm, Metwally et al.): at most `k`
// counters, whatever the number of distinct items. An item that is not tracked replaces the
// one with the smallest count and inherits that count as its possible overestimate (`error`),
// so every item whose true count exceeds N/k (N = total weight) is guaranteed to be tracked.
// Counts decay (halve) every `decayMs` so the table follows what is hot now, not since start.

export interface TopKEntry<T> {
  readonly id: string;
  /** What the caller attached to the id (e.g. tenant and key bytes). */
  readonly item: T;
  /** Estimated count since the last decays; true count is in [count - error, count]. */
  readonly count: number;
  readonly error: number;
}

interface Slot<T> {
  item: T;
  count: number;
  error: number;
}

export class SpaceSaving<T> {
  private readonly slots = new Map<string, Slot<T>>();
  private lastDecay: number;

  constructor(
    readonly k: number,
    private readonly decayMs: number,
    nowMs: number,
  ) {
    if (!Number.isInteger(k) || k < 1) throw new Error('top-k needs k >= 1');
    this.lastDecay = nowMs;
  }

  /** Counts one occurrence (or `weight`) of `id`; returns its estimated count. */
  offer(id: string, item: () => T, nowMs: number, weight = 1): number {
    this.maybeDecay(nowMs);
    const s = this.slots.get(id);
    if (s) {
      s.count += weight;
      return s.count;
    }
    if (this.slots.size < this.k) {
      this.slots.set(id, { item: item(), count: weight, error: 0 });
      return weight;
    }
    // O(k) scan for the minimum: k is small (tens to hundreds), cheaper than keeping a heap
    // consistent on every increment.
    let minId = '';
    let min = Infinity;
    for (const [sid, slot] of this.slots) {
      if (slot.count < min) {
        min = slot.count;
        minId = sid;
      }
    }
    this.slots.delete(minId);
    this.slots.set(id, { item: item(), count: min + weight, error: min });
    return min + weight;
  }

  /** The estimated count of `id` (0 when not tracked). */
  estimate(id: string, nowMs: number): number {
    this.maybeDecay(nowMs);
    return this.slots.get(id)?.count ?? 0;
  }

  /** Tracked items by estimated count, largest first. */
  top(n: number, nowMs: number): TopKEntry<T>[] {
    this.maybeDecay(nowMs);
    return [...this.slots]
      .map(([id, s]) => ({ id, item: s.item, count: s.count, error: s.error }))
      .sort((a, b) => b.count - a.count)
      .slice(0, n);
  }

  /** How many tracked items have an estimated count of at least `threshold`. */
  countAtLeast(threshold: number, nowMs: number): number {
    this.maybeDecay(nowMs);
    let n = 0;
    for (const s of this.slots.values()) if (s.count >= threshold) n++;
    return n;
  }

  private maybeDecay(nowMs: number): void {
    if (nowMs - this.lastDecay < this.decayMs) return;
    // Several periods may have passed: halve once per period (at most 32 times: then all is 0).
    const periods = Math.min(32, Math.floor((nowMs - this.lastDecay) / this.decayMs));
    this.lastDecay += periods * this.decayMs;
    const f = 2 ** -periods;
    for (const [id, s] of this.slots) {
      s.count = Math.floor(s.count * f);
      s.error = Math.floor(s.error * f);
      if (s.count === 0) this.slots.delete(id);
    }
  }
}
