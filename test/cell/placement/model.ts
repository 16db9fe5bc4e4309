// A model keyspace driven by the real LoadSampler and RebalancePolicy, one interval at a time:
// keys 0..n-1 with a size and a stable per-interval access rate each, cells owning contiguous
// key ranges. Splits and merges are applied to the model, and every split's halves are checked
// against the exact sizes (the policy only sees samples).

import { LoadSampler } from '../../../cell/placement/load-sampler.js';
import { RebalancePolicy, type CellObservation, type SizeSample } from '../../../cell/placement/split-policy.js';
import type { RebalanceConfig } from '../../../cell/placement/rebalance-config.js';
import { mulberry32 } from '../../../cell/node/random.js';
import { indexOfKey, keyOf } from './support.js';

export interface ModelCell {
  readonly id: string;
  lo: number;
  hi: number;
  sampler: LoadSampler;
  lastSplitAtMs: number | null;
  lastLoadSplitAtMs: number | null;
  lastMergeAtMs: number | null;
}

export interface ModelEvent {
  readonly interval: number;
  readonly kind: 'split' | 'merge';
  readonly reason: string;
  /** The key index of the boundary created (split) or removed (merge). */
  readonly boundary: number;
}

const INTERVAL_MS = 1000;
/** Size samples per cell, as a caller's scan would give. */
const SAMPLES_PER_CELL = 64;

export class KeyspaceModel {
  readonly cells: ModelCell[];
  readonly events: ModelEvent[] = [];
  /** Splits whose exact halves broke minSplitBytes / minSplitKeys. */
  readonly salami: string[] = [];
  readonly policy: RebalancePolicy;
  interval = 0;
  private nextId = 1;
  private readonly random: () => number;

  /** `bounds`: initial cell boundaries (key indexes), e.g. [] for one cell. */
  constructor(
    readonly sizes: number[],
    readonly rates: number[],
    readonly cfg: RebalanceConfig,
    seed: number,
    bounds: readonly number[] = [],
    createdAtMs: number | null = null,
  ) {
    this.policy = new RebalancePolicy(cfg);
    this.random = mulberry32(seed);
    const edges = [0, ...bounds, sizes.length];
    this.cells = edges.slice(1).map((hi, i) => this.newCell(edges[i]!, hi, createdAtMs));
  }

  get nowMs(): number {
    return this.interval * INTERVAL_MS;
  }

  /** Runs `n` intervals: accesses, then one policy round at the interval's end. */
  run(n: number): void {
    for (let i = 0; i < n; i++) this.step();
  }

  step(): void {
    this.feedInterval();
    this.interval++;
    const actions = this.policy.decideAll(this.nowMs, this.cells.map((c) => this.observe(c)));
    for (const a of actions) {
      if (a.kind === 'split') this.split(a.cellId, indexOfKey(a.splitKey), a.reason);
      else this.merge(a.left, a.right, a.reason);
    }
  }

  /** Deletes keys [lo, hi) (size 0, no accesses). */
  deleteRange(lo: number, hi: number): void {
    for (let i = lo; i < hi; i++) {
      this.sizes[i] = 0;
      this.rates[i] = 0;
    }
    this.prefix = null;
  }

  private newCell(lo: number, hi: number, at: number | null): ModelCell {
    const id = `c${this.nextId++}`;
    return { id, lo, hi, sampler: new LoadSampler({ seed: this.nextId }), lastSplitAtMs: at, lastLoadSplitAtMs: null, lastMergeAtMs: null };
  }

  private feedInterval(): void {
    const owner: ModelCell[] = [];
    for (const c of this.cells) for (let i = c.lo; i < c.hi; i++) owner[i] = c;
    const accesses: number[] = [];
    this.rates.forEach((r, k) => {
      for (let j = 0; j < r; j++) accesses.push(k);
    });
    for (let i = accesses.length - 1; i > 0; i--) {
      const j = Math.floor(this.random() * (i + 1));
      [accesses[i], accesses[j]] = [accesses[j]!, accesses[i]!];
    }
    accesses.forEach((k, j) => owner[k]!.sampler.record(keyOf(k), this.nowMs + Math.floor((j * INTERVAL_MS) / accesses.length)));
  }

  /** prefix[i]: bytes and live keys of keys [0, i) (recomputed when sizes change). */
  private prefix: { bytes: number[]; keys: number[] } | null = null;

  private exact(lo: number, hi: number): { bytes: number; keys: number } {
    if (this.prefix === null) {
      const bytes = [0];
      const keys = [0];
      this.sizes.forEach((size, i) => {
        bytes.push(bytes[i]! + size);
        keys.push(keys[i]! + (size > 0 ? 1 : 0));
      });
      this.prefix = { bytes, keys };
    }
    return { bytes: this.prefix.bytes[hi]! - this.prefix.bytes[lo]!, keys: this.prefix.keys[hi]! - this.prefix.keys[lo]! };
  }

  observe(c: ModelCell): CellObservation {
    const load = c.sampler.stats(this.nowMs);
    const live: number[] = [];
    for (let i = c.lo; i < c.hi; i++) if (this.sizes[i]! > 0) live.push(i);
    const every = Math.max(1, Math.floor(live.length / SAMPLES_PER_CELL));
    const picks = new Set(live.filter((_, j) => j % every === 0));
    for (const cut of load.split.cuts) picks.add(indexOfKey(cut.splitKey));
    const sizeSamples: SizeSample[] = [...picks].sort((a, b) => a - b).map((k) => {
      const before = this.exact(c.lo, k);
      return { key: keyOf(k), bytesBefore: before.bytes, keysBefore: before.keys };
    });
    const { bytes, keys } = this.exact(c.lo, c.hi);
    return {
      cellId: c.id,
      start: c.lo === 0 ? new Uint8Array(0) : keyOf(c.lo),
      end: c.hi === this.sizes.length ? null : keyOf(c.hi),
      sizeBytes: bytes,
      keyCount: keys,
      sizeSamples,
      load,
      lastSplitAtMs: c.lastSplitAtMs,
      lastLoadSplitAtMs: c.lastLoadSplitAtMs,
      lastMergeAtMs: c.lastMergeAtMs,
    };
  }

  private split(cellId: string, at: number, reason: string): void {
    const i = this.cells.findIndex((c) => c.id === cellId);
    const c = this.cells[i]!;
    if (!(at > c.lo && at < c.hi)) throw new Error(`split of ${cellId} [${c.lo}, ${c.hi}) at ${at}: outside the cell`);
    const left = this.exact(c.lo, at);
    const right = this.exact(at, c.hi);
    const { minSplitBytes, minSplitKeys } = this.cfg;
    if (Math.min(left.bytes, right.bytes) < minSplitBytes || Math.min(left.keys, right.keys) < minSplitKeys) {
      this.salami.push(`${reason} split of ${cellId} at ${at}: ${left.bytes}/${right.bytes} bytes, ${left.keys}/${right.keys} keys`);
    }
    const next = this.newCell(at, c.hi, this.nowMs);
    c.hi = at;
    c.sampler.reset();
    for (const half of [c, next]) {
      half.lastSplitAtMs = this.nowMs;
      if (reason === 'load') half.lastLoadSplitAtMs = this.nowMs;
    }
    this.cells.splice(i + 1, 0, next);
    this.events.push({ interval: this.interval, kind: 'split', reason, boundary: at });
  }

  private merge(leftId: string, rightId: string, reason: string): void {
    const i = this.cells.findIndex((c) => c.id === leftId);
    const left = this.cells[i]!;
    const right = this.cells[i + 1]!;
    if (right.id !== rightId || left.hi !== right.lo) throw new Error(`merge of ${leftId} and ${rightId}: not neighbours`);
    this.events.push({ interval: this.interval, kind: 'merge', reason, boundary: right.lo });
    left.hi = right.hi;
    left.lastMergeAtMs = this.nowMs;
    left.sampler.reset();
    this.cells.splice(i + 1, 1);
  }
}
