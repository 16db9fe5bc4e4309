// Builders for the placement tests: cell observations, size samples and load stats as plain data.

import type { CellObservation, SizeSample } from '../../../cell/placement/split-policy.js';
import type { LoadSplitEstimate, LoadStats } from '../../../cell/placement/load-sampler.js';

export const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
export const dec = (b: Uint8Array): string => new TextDecoder().decode(b);
export const MiB = 1024 * 1024;

/** Key number i, ordered like i (fixed width). */
export const keyOf = (i: number): Uint8Array => enc(`k${String(i).padStart(6, '0')}`);
export const indexOfKey = (key: Uint8Array): number => Number(dec(key).slice(1));

export function observation(o: Partial<CellObservation> = {}): CellObservation {
  return {
    cellId: 'a',
    start: new Uint8Array(0),
    end: null,
    sizeBytes: 0,
    keyCount: 0,
    sizeSamples: null,
    load: null,
    lastSplitAtMs: null,
    lastLoadSplitAtMs: null,
    lastMergeAtMs: null,
    ...o,
  };
}

/** A sample at every `every`-th of `keys` keys of `bytesPerKey` each, keys k000000... */
export function uniformSamples(keys: number, bytesPerKey: number, every = 1): SizeSample[] {
  const out: SizeSample[] = [];
  for (let i = 0; i < keys; i += every) out.push({ key: keyOf(i), bytesBefore: i * bytesPerKey, keysBefore: i });
  return out;
}

/** A cell of `keys` uniform keys, sampled at every key. */
export function uniformCell(keys: number, bytesPerKey: number, o: Partial<CellObservation> = {}): CellObservation {
  return observation({ sizeBytes: keys * bytesPerKey, keyCount: keys, sizeSamples: uniformSamples(keys, bytesPerKey), ...o });
}

/** A split estimate with cuts at these key numbers ([key, left share]) and this top key. */
export function estimate(samples: number, cuts: readonly (readonly [number, number])[], top: readonly [number, number] | null = null): LoadSplitEstimate {
  const all = cuts.map(([k, leftShare]) => ({ splitKey: keyOf(k), leftShare }));
  const even = (c: { leftShare: number }) => Math.min(c.leftShare, 1 - c.leftShare);
  const best = all.reduce<(typeof all)[number] | null>((b, c) => (b === null || even(c) > even(b) ? c : b), null);
  return { samples, cuts: all, best, topKey: top === null ? null : { key: keyOf(top[0]), share: top[1] } };
}

const BALANCED: LoadSplitEstimate = estimate(500, [[250, 0.25], [500, 0.5], [750, 0.75]], [3, 0.01]);

/** Load stats with these per-interval QPS (oldest first) and split estimate. */
export function loadOf(qps: readonly number[], split: LoadSplitEstimate = BALANCED): LoadStats {
  return { intervalMs: 1000, intervals: qps.map((q, i) => ({ startMs: i * 1000, accesses: q, weight: q, qps: q })), split };
}

export const repeat = (n: number, v: number): number[] => Array.from({ length: n }, () => v);
