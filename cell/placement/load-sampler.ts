// Per-key access sampling for a cell leader, the input of load-based splits
// (cell/placement/README.md). Pure and bounded: no I/O, no timers, time comes in as numbers,
// randomness from a seeded PRNG, so the same accesses at the same times give the same stats.
//
// Each fixed interval (1 s by default) keeps the exact access count and weight, and a uniform
// reservoir sample (Vitter's Algorithm L: cheap per access, a key is copied only when it is
// taken) of at most `samplesPerInterval` accesses. A window of the last `windowIntervals`
// completed intervals is kept. Memory is bounded by
// windowIntervals × samplesPerInterval × maxSampledKeyBytes whatever the traffic.
//
// The split estimate is the weighted median of the sampled keys: each sample stands for
// (interval accesses / interval samples) accesses of its weight, so intervals with more traffic
// count for more. A reservoir rather than a heavy-hitters sketch because the median of a
// sketch follows the access order (the last keys seen), while a reservoir is uniform over the
// accesses whatever their order.

import { z } from 'zod';
import { compareBytes } from '../../shared/keys.js';
import { hexOf } from '../../shared/directory.js';
import { mulberry32 } from '../node/random.js';

export const LoadSamplerConfigSchema = z.strictObject({
  /** Length of one interval; QPS is reported per interval. */
  intervalMs: z.number().int().min(10).max(60_000).default(1000),
  /** Completed intervals kept (the window the policy sees). */
  windowIntervals: z.number().int().min(1).max(600).default(16),
  /** Reservoir size per interval (accesses sampled uniformly). */
  samplesPerInterval: z.number().int().min(1).max(1024).default(32),
  /** Longer keys are kept as this prefix (a prefix is still a valid split boundary). */
  maxSampledKeyBytes: z.number().int().min(1).max(4096).default(256),
  /** Seed of the sampling PRNG (deterministic sampling). */
  seed: z.number().int().default(1),
});

export type LoadSamplerConfig = z.infer<typeof LoadSamplerConfigSchema>;

/** Samples kept over the whole window at most: bounds memory and the sort of the estimate. */
export const MAX_WINDOW_SAMPLES = 16_384;

export function loadSamplerConfig(overrides: Partial<LoadSamplerConfig> = {}): LoadSamplerConfig {
  const cfg = LoadSamplerConfigSchema.parse(overrides);
  if (cfg.windowIntervals * cfg.samplesPerInterval > MAX_WINDOW_SAMPLES) {
    throw new RangeError(`load sampler: windowIntervals × samplesPerInterval must be <= ${MAX_WINDOW_SAMPLES}`);
  }
  return cfg;
}

/** One completed interval. `qps` is weighted operations per second. */
export interface IntervalLoad {
  readonly startMs: number;
  readonly accesses: number;
  readonly weight: number;
  readonly qps: number;
}

/** A cut before `splitKey` (which goes right) leaving `leftShare` of the sampled load left. */
export interface LoadCut {
  readonly splitKey: Uint8Array;
  readonly leftShare: number;
}

/**
 * Where the sampled load could be cut. `cuts`: in key order, at most MAX_LOAD_CUTS, at the
 * sampled keys where the load crosses each 1/64 quantile, plus the cuts either side of the
 * top key and the most even one (`best`, null when every sample is one key). `topKey`: the
 * single key with the most load.
 */
export interface LoadSplitEstimate {
  readonly samples: number;
  readonly cuts: readonly LoadCut[];
  readonly best: LoadCut | null;
  readonly topKey: { readonly key: Uint8Array; readonly share: number } | null;
}

/** Quantiles of the load offered as cuts (plus up to three more: see LoadSplitEstimate). */
const CUT_QUANTILES = 64;
export const MAX_LOAD_CUTS = CUT_QUANTILES + 3;

/** What the policy reads: completed intervals oldest first, and the split estimate over them. */
export interface LoadStats {
  readonly intervalMs: number;
  readonly intervals: readonly IntervalLoad[];
  readonly split: LoadSplitEstimate;
}

/** Conventional access weights: a read counts 1, a write 1 plus 1 per started 64 KiB. */
export function accessWeight(kind: 'read' | 'write', bytes = 0): number {
  return kind === 'read' ? 1 : 1 + Math.ceil(Math.max(0, bytes) / 65_536);
}

interface Sample {
  readonly key: Uint8Array;
  readonly weight: number;
}

interface OpenInterval {
  readonly index: number;
  accesses: number;
  weight: number;
  readonly reservoir: Sample[];
  /** Algorithm L state: the running W and the access number taken next. */
  w: number;
  nextTaken: number;
}

interface ClosedInterval {
  readonly load: IntervalLoad;
  readonly reservoir: readonly Sample[];
}

export class LoadSampler {
  readonly config: LoadSamplerConfig;
  private readonly random: () => number;
  private open: OpenInterval | null = null;
  private readonly closed: ClosedInterval[] = [];

  constructor(config: Partial<LoadSamplerConfig> = {}) {
    this.config = loadSamplerConfig(config);
    this.random = mulberry32(this.config.seed);
  }

  /** One access to `key` at `nowMs`. A time before the open interval counts in it. */
  record(key: Uint8Array, nowMs: number, weight = 1): void {
    if (!(weight > 0) || !Number.isFinite(weight)) return;
    const cur = this.rollTo(nowMs);
    cur.accesses += 1;
    cur.weight += weight;
    const k = this.config.samplesPerInterval;
    if (cur.accesses <= k) {
      cur.reservoir.push(this.sampleOf(key, weight));
      if (cur.accesses === k) {
        cur.w = Math.exp(Math.log(this.uniform()) / k);
        cur.nextTaken = k + this.skip(cur.w);
      }
    } else if (cur.accesses === cur.nextTaken) {
      cur.reservoir[Math.floor(this.random() * k)] = this.sampleOf(key, weight);
      cur.w *= Math.exp(Math.log(this.uniform()) / k);
      cur.nextTaken += this.skip(cur.w);
    }
  }

  /** The window as of `nowMs` (closing the intervals that ended by then). */
  stats(nowMs: number): LoadStats {
    this.rollTo(nowMs);
    return {
      intervalMs: this.config.intervalMs,
      intervals: this.closed.map((c) => c.load),
      split: estimateSplit(this.closed),
    };
  }

  /** Forgets everything (after this cell splits or merges, its past load is another range's). */
  reset(): void {
    this.open = null;
    this.closed.length = 0;
  }

  private sampleOf(key: Uint8Array, weight: number): Sample {
    return { key: key.slice(0, this.config.maxSampledKeyBytes), weight };
  }

  /** In (0, 1]: log() of it is finite. */
  private uniform(): number {
    return 1 - this.random();
  }

  private skip(w: number): number {
    const s = Math.floor(Math.log(this.uniform()) / Math.log(1 - w));
    return (Number.isFinite(s) && s > 0 ? s : 0) + 1;
  }

  private rollTo(nowMs: number): OpenInterval {
    const index = Math.floor(nowMs / this.config.intervalMs);
    const cur = this.open;
    if (cur !== null && index <= cur.index) return cur;
    if (cur !== null) {
      this.close(cur);
      // Intervals without traffic are part of the window too (bounded: the window drops them).
      const gaps = Math.min(index - cur.index - 1, this.config.windowIntervals);
      for (let i = index - gaps; i < index; i++) this.close(emptyInterval(i));
    }
    const next = emptyInterval(index);
    this.open = next;
    return next;
  }

  private close(iv: OpenInterval): void {
    const { intervalMs } = this.config;
    this.closed.push({
      load: { startMs: iv.index * intervalMs, accesses: iv.accesses, weight: iv.weight, qps: (iv.weight * 1000) / intervalMs },
      reservoir: iv.reservoir,
    });
    while (this.closed.length > this.config.windowIntervals) this.closed.shift();
  }
}

function emptyInterval(index: number): OpenInterval {
  return { index, accesses: 0, weight: 0, reservoir: [], w: 0, nextTaken: 0 };
}

/** The weighted median cut over the window's samples (see the header). */
function estimateSplit(intervals: readonly ClosedInterval[]): LoadSplitEstimate {
  const weighted: Sample[] = [];
  for (const iv of intervals) {
    if (iv.reservoir.length === 0) continue;
    const scale = iv.load.accesses / iv.reservoir.length;
    for (const s of iv.reservoir) weighted.push({ key: s.key, weight: s.weight * scale });
  }
  if (weighted.length === 0) return { samples: 0, cuts: [], best: null, topKey: null };
  weighted.sort((a, b) => compareBytes(a.key, b.key));
  const keys: Uint8Array[] = [];
  const weights: number[] = [];
  for (const s of weighted) {
    const last = keys.length - 1;
    if (last >= 0 && compareBytes(keys[last]!, s.key) === 0) weights[last]! += s.weight;
    else {
      keys.push(s.key);
      weights.push(s.weight);
    }
  }
  const total = weights.reduce((a, b) => a + b, 0);
  let top = 0;
  for (let i = 1; i < keys.length; i++) if (weights[i]! > weights[top]!) top = i;
  // leftShares[i]: the share below keys[i], the load left of a cut at keys[i] (i >= 1).
  const leftShares: number[] = [0];
  for (let i = 1; i < keys.length; i++) leftShares.push(leftShares[i - 1]! + weights[i - 1]! / total);
  let best = -1;
  for (let i = 1; i < keys.length; i++) {
    const even = (j: number): number => Math.min(leftShares[j]!, 1 - leftShares[j]!);
    if (best < 0 || even(i) > even(best)) best = i;
  }
  const picked = new Set<number>([best, top, top + 1]);
  for (let q = 1, i = 1; q < CUT_QUANTILES && i < keys.length; q++) {
    while (i < keys.length - 1 && leftShares[i]! < q / CUT_QUANTILES) i++;
    picked.add(i);
  }
  const cuts = [...picked]
    .filter((i) => i >= 1 && i < keys.length)
    .sort((a, b) => a - b)
    .map((i) => ({ splitKey: keys[i]!, leftShare: leftShares[i]! }));
  return {
    samples: weighted.length,
    cuts,
    best: best < 0 ? null : { splitKey: keys[best]!, leftShare: leftShares[best]! },
    topKey: { key: keys[top]!, share: weights[top]! / total },
  };
}

/** A short printable form of a key for decision details. */
export function keyLabel(key: Uint8Array): string {
  return key.length <= 16 ? `0x${hexOf(key)}` : `0x${hexOf(key.subarray(0, 16))}… (${key.length} bytes)`;
}
