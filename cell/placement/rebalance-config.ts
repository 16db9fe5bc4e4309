// Every threshold of the split/merge policy in one place (cell/placement/README.md explains
// each). Size defaults follow TiKV: region-max-size 144 MiB, region-split-size 96 MiB,
// max-merge-region-size 20 MiB / -keys 200 000, split.qps-threshold 3000, split.detect-times 10,
// split.sample-num 20. Cross-field rules keep split and merge apart, so a merged cell is never
// a split candidate and a split's halves are never merge candidates while the reason holds.

import { z } from 'zod';

const MiB = 1024 * 1024;
const bytes = () => z.number().int().min(1);
const count = () => z.number().int().min(1);
const ms = () => z.number().int().min(0);

export const RebalanceConfigSchema = z
  .strictObject({
    /** Split by size once a cell holds more than this. */
    maxSizeBytes: bytes().default(144 * MiB),
    /** A size split cuts this far from the start (or at the middle, if that is nearer). */
    splitSizeBytes: bytes().default(96 * MiB),
    /** No split leaves a half smaller than this (no "salami" cells)... */
    minSplitBytes: bytes().default(1 * MiB),
    /** ...or with fewer keys than this. */
    minSplitKeys: count().default(100),
    /** No split of a cell split or merged less than this long ago. */
    splitCooldownMs: ms().default(10_000),
    /** Split by load above this many weighted operations per second (reads 1, writes 1+). */
    loadThreshold: z.number().positive().default(3000),
    /** ...sustained this many consecutive intervals, the newest included (hysteresis). */
    loadSustainIntervals: count().max(600).default(10),
    /** Each half of a load split keeps at least this share of the sampled load. */
    minLoadShare: z.number().gt(0).max(0.5).default(0.25),
    /**
     * ...with this many standard errors of margin for sampling noise (a cut's share is checked
     * as share - z·sqrt(share·(1-share)/samples)): a cut just under minLoadShare is not taken
     * later by a lucky sample.
     */
    loadShareMarginSigmas: z.number().min(0).max(10).default(3),
    /** Fewer sampled accesses than this over the window: no load split. */
    minLoadSamples: count().default(20),
    /** Merge two adjacent cells only if together they hold less than this... */
    mergeMaxBytes: bytes().default(20 * MiB),
    /** ...fewer keys than this... */
    mergeMaxKeys: count().default(200_000),
    /** ...and carry less than this load (sum of both cells' max QPS over the window). */
    mergeMaxLoad: z.number().positive().default(1000),
    /** No merge of a cell split less than this long ago. */
    mergeCooldownMs: ms().default(10 * 60_000),
    /** No merge of a cell split by load less than this long ago (no merge waves). */
    mergeCooldownAfterLoadSplitMs: ms().default(60 * 60_000),
    /** A cell below this size was emptied by deletes (splits never leave one this small)... */
    emptyBytes: bytes().default(256 * 1024),
    /** ...and may merge this long after its last split, whatever the cool-downs above. */
    emptyMergeDelayMs: ms().default(60_000),
    /** At most one merge per this long per policy instance (per node or per cluster). */
    mergeIntervalMs: ms().default(10_000),
  })
  .superRefine((c, ctx) => {
    const need = (ok: boolean, message: string, path: string): void => {
      if (!ok) ctx.addIssue({ code: 'custom', message, path: [path] });
    };
    need(c.splitSizeBytes <= c.maxSizeBytes, 'splitSizeBytes must be <= maxSizeBytes', 'splitSizeBytes');
    need(c.minSplitBytes * 2 <= c.maxSizeBytes, 'minSplitBytes must be <= maxSizeBytes / 2', 'minSplitBytes');
    // A merged cell must be far from a split: no split/merge flapping.
    need(c.mergeMaxBytes * 2 <= c.maxSizeBytes, 'mergeMaxBytes must be <= maxSizeBytes / 2', 'mergeMaxBytes');
    need(c.mergeMaxLoad * 2 <= c.loadThreshold, 'mergeMaxLoad must be <= loadThreshold / 2', 'mergeMaxLoad');
    need(c.mergeMaxKeys > 2 * c.minSplitKeys, 'mergeMaxKeys must be > 2 × minSplitKeys', 'mergeMaxKeys');
    // "Empty" must mean emptied by deletes: a split never leaves a half below minSplitBytes.
    need(c.emptyBytes * 4 <= c.minSplitBytes, 'emptyBytes must be <= minSplitBytes / 4', 'emptyBytes');
    need(c.emptyMergeDelayMs <= c.mergeCooldownMs, 'emptyMergeDelayMs must be <= mergeCooldownMs', 'emptyMergeDelayMs');
  });

export type RebalanceConfig = z.infer<typeof RebalanceConfigSchema>;

/** Defaults with these overrides, validated (throws a ZodError naming the bad setting). */
export function rebalanceConfig(overrides: Partial<RebalanceConfig> = {}): RebalanceConfig {
  return RebalanceConfigSchema.parse(overrides);
}

export const DEFAULT_REBALANCE_CONFIG: RebalanceConfig = rebalanceConfig();

/**
 * The defaults with sizes, key counts and loads multiplied by `factor` (e.g. 1/1024: cells
 * split at 144 KiB) and durations by `timeFactor`, for tests and simulations. Then `overrides`.
 */
export function scaledForTests(factor: number, timeFactor = 1, overrides: Partial<RebalanceConfig> = {}): RebalanceConfig {
  if (!(factor > 0 && factor <= 1) || !(timeFactor > 0 && timeFactor <= 1)) {
    throw new RangeError('scaledForTests: factor and timeFactor must be in (0, 1]');
  }
  const d = DEFAULT_REBALANCE_CONFIG;
  const n = (v: number, min = 1): number => Math.max(min, Math.round(v * factor));
  const t = (v: number): number => Math.round(v * timeFactor);
  const minSplitBytes = n(d.minSplitBytes, 4);
  return rebalanceConfig({
    ...d,
    maxSizeBytes: n(d.maxSizeBytes, 16),
    splitSizeBytes: n(d.splitSizeBytes, 8),
    minSplitBytes,
    minSplitKeys: n(d.minSplitKeys, 2),
    loadThreshold: Math.max(2, d.loadThreshold * factor),
    mergeMaxBytes: n(d.mergeMaxBytes, 8),
    mergeMaxKeys: n(d.mergeMaxKeys, 8),
    mergeMaxLoad: Math.max(1, d.mergeMaxLoad * factor),
    emptyBytes: Math.max(1, Math.min(n(d.emptyBytes), Math.floor(minSplitBytes / 4))),
    splitCooldownMs: t(d.splitCooldownMs),
    mergeCooldownMs: t(d.mergeCooldownMs),
    mergeCooldownAfterLoadSplitMs: t(d.mergeCooldownAfterLoadSplitMs),
    emptyMergeDelayMs: t(d.emptyMergeDelayMs),
    mergeIntervalMs: t(d.mergeIntervalMs),
    ...overrides,
  });
}
