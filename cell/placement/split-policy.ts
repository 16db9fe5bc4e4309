// When to split a cell and when to merge two adjacent cells (rules: cell/placement/README.md).
// Pure and deterministic: no I/O, no timers, no clock; time comes in as `nowMs`. decideSplit
// and decideMerge are functions of their arguments; RebalancePolicy adds the one piece of
// state, the time of the last merge it proposed (the merge rate limit).

import { compareBytes } from '../../shared/keys.js';
import { keyLabel, type LoadCut, type LoadStats } from './load-sampler.js';
import { DEFAULT_REBALANCE_CONFIG, type RebalanceConfig } from './rebalance-config.js';

/**
 * A point of a scan of the cell in key order: `bytesBefore` / `keysBefore` are the bytes and
 * keys of the cell strictly below `key` (what the left half would hold if the cell were cut at
 * `key`). Sorted by key; a few dozen spread over the cell are enough for a size split. For a
 * load split include the sampler's cut keys (load.split.cuts) to check their halves exactly;
 * otherwise the policy bounds the halves from the nearest samples either side (conservative:
 * a cut between distant samples may be refused).
 */
export interface SizeSample {
  readonly key: Uint8Array;
  readonly bytesBefore: number;
  readonly keysBefore: number;
}

/** What the policy knows of one cell at `nowMs`. */
export interface CellObservation {
  readonly cellId: string;
  /** Inclusive start of the cell's range. */
  readonly start: Uint8Array;
  /** Exclusive end; null = unbounded. */
  readonly end: Uint8Array | null;
  readonly sizeBytes: number;
  readonly keyCount: number;
  /** Null until needed: a split that needs them answers `needs-size-samples`. */
  readonly sizeSamples: readonly SizeSample[] | null;
  /** From the cell leader's LoadSampler; null when unknown (no load split, no merge). */
  readonly load: LoadStats | null;
  /** Last time this cell took part in a split (either half), of any reason; null = never. */
  readonly lastSplitAtMs: number | null;
  /** Last time it took part in a load split; null = never. */
  readonly lastLoadSplitAtMs: number | null;
  /** Last time it was the result of a merge; null = never. */
  readonly lastMergeAtMs: number | null;
}

export interface SplitDecision {
  readonly kind: 'split';
  readonly cellId: string;
  readonly reason: 'size' | 'load';
  /** The new cell takes [splitKey, end). */
  readonly splitKey: Uint8Array;
  readonly detail: string;
}

export interface MergeDecision {
  readonly kind: 'merge';
  /** The left cell absorbs `right` (its right neighbour). */
  readonly left: string;
  readonly right: string;
  readonly reason: 'small' | 'empty';
  readonly detail: string;
}

export type NoneReason =
  | 'within-limits'
  | 'split-cooldown'
  | 'needs-size-samples'
  | 'no-valid-split-key'
  | 'load-not-sustained'
  | 'too-few-load-samples'
  | 'hot-key'
  | 'no-neighbour'
  | 'not-adjacent'
  | 'too-large-to-merge'
  | 'too-loaded-to-merge'
  | 'load-unknown'
  | 'merge-cooldown'
  | 'load-split-cooldown'
  | 'merge-rate-limited';

export interface NoDecision {
  readonly kind: 'none';
  readonly reason: NoneReason;
  readonly detail: string;
}

export type RebalanceDecision = SplitDecision | MergeDecision | NoDecision;

const none = (reason: NoneReason, detail: string): NoDecision => ({ kind: 'none', reason, detail });
const since = (nowMs: number, atMs: number | null): number => (atMs === null ? Infinity : nowMs - atMs);
const pct = (share: number): string => `${(share * 100).toFixed(1)}%`;

function insideRange(key: Uint8Array, cell: CellObservation): boolean {
  return compareBytes(key, cell.start) > 0 && (cell.end === null || compareBytes(key, cell.end) < 0);
}

/** Intervals at the end of the window, the newest included, above the load threshold. */
export function sustainedHotIntervals(load: LoadStats, threshold: number): number {
  let n = 0;
  for (let i = load.intervals.length - 1; i >= 0 && load.intervals[i]!.qps > threshold; i--) n++;
  return n;
}

export function maxQps(load: LoadStats): number {
  return load.intervals.reduce((m, iv) => Math.max(m, iv.qps), 0);
}

interface Halves {
  readonly leftBytes: number;
  readonly rightBytes: number;
  readonly leftKeys: number;
  readonly rightKeys: number;
}

/** Lower bounds of both halves of a cut at `key`, from the samples bracketing it. */
function halvesAt(cell: CellObservation, samples: readonly SizeSample[], key: Uint8Array): Halves {
  let below: SizeSample | null = null;
  let above: SizeSample | null = null;
  for (const s of samples) {
    const c = compareBytes(s.key, key);
    if (c <= 0) below = s;
    if (c >= 0 && above === null) above = s;
  }
  return {
    leftBytes: below?.bytesBefore ?? 0,
    leftKeys: below?.keysBefore ?? 0,
    rightBytes: above === null ? 0 : Math.max(0, cell.sizeBytes - above.bytesBefore),
    rightKeys: above === null ? 0 : Math.max(0, cell.keyCount - above.keysBefore),
  };
}

function halvesAreBigEnough(h: Halves, cfg: RebalanceConfig): boolean {
  return Math.min(h.leftBytes, h.rightBytes) >= cfg.minSplitBytes && Math.min(h.leftKeys, h.rightKeys) >= cfg.minSplitKeys;
}

function checkSamples(samples: readonly SizeSample[]): void {
  for (let i = 1; i < samples.length; i++) {
    if (compareBytes(samples[i - 1]!.key, samples[i]!.key) >= 0) throw new RangeError('sizeSamples must be sorted by key, without duplicates');
  }
}

/** Whether, and where, to split this cell now. Size goes first, then load. */
export function decideSplit(cell: CellObservation, nowMs: number, cfg: RebalanceConfig = DEFAULT_REBALANCE_CONFIG): RebalanceDecision {
  const last = Math.min(since(nowMs, cell.lastSplitAtMs), since(nowMs, cell.lastMergeAtMs));
  if (last < cfg.splitCooldownMs) return none('split-cooldown', `split or merged ${last} ms ago (cool-down ${cfg.splitCooldownMs} ms)`);
  if (cell.sizeSamples !== null) checkSamples(cell.sizeSamples);
  let sizeRefusal: NoDecision | null = null;
  if (cell.sizeBytes > cfg.maxSizeBytes) {
    const d = sizeSplit(cell, cfg);
    if (d.kind === 'split') return d;
    sizeRefusal = d;
  }
  const load = loadSplit(cell, cfg);
  if (load.kind === 'split') return load;
  return sizeRefusal ?? load;
}

function sizeSplit(cell: CellObservation, cfg: RebalanceConfig): SplitDecision | NoDecision {
  if (cell.sizeSamples === null) return none('needs-size-samples', `${cell.sizeBytes} bytes > ${cfg.maxSizeBytes}: scan for size samples`);
  const target = Math.min(cfg.splitSizeBytes, cell.sizeBytes / 2);
  let best: SizeSample | null = null;
  for (const s of cell.sizeSamples) {
    if (!insideRange(s.key, cell)) continue;
    const halves = { leftBytes: s.bytesBefore, leftKeys: s.keysBefore, rightBytes: cell.sizeBytes - s.bytesBefore, rightKeys: cell.keyCount - s.keysBefore };
    if (!halvesAreBigEnough(halves, cfg)) continue;
    if (best === null || Math.abs(s.bytesBefore - target) < Math.abs(best.bytesBefore - target)) best = s;
  }
  if (best === null) {
    return none('no-valid-split-key', `${cell.sizeBytes} bytes > ${cfg.maxSizeBytes}, but no sample leaves both halves >= ${cfg.minSplitBytes} bytes and >= ${cfg.minSplitKeys} keys`);
  }
  return {
    kind: 'split',
    cellId: cell.cellId,
    reason: 'size',
    splitKey: best.key,
    detail: `${cell.sizeBytes} bytes > ${cfg.maxSizeBytes}: cut at ${keyLabel(best.key)} (${best.bytesBefore} bytes left, ${cell.sizeBytes - best.bytesBefore} right)`,
  };
}

function loadSplit(cell: CellObservation, cfg: RebalanceConfig): SplitDecision | NoDecision {
  const load = cell.load;
  if (load === null) return none('within-limits', `${cell.sizeBytes} bytes, load unknown`);
  const hot = sustainedHotIntervals(load, cfg.loadThreshold);
  if (hot === 0) return none('within-limits', `${cell.sizeBytes} bytes, max ${maxQps(load).toFixed(1)} qps over the window`);
  if (hot < cfg.loadSustainIntervals) {
    return none('load-not-sustained', `above ${cfg.loadThreshold} qps for ${hot} of the ${cfg.loadSustainIntervals} intervals needed`);
  }
  const est = load.split;
  if (est.samples < cfg.minLoadSamples) return none('too-few-load-samples', `${est.samples} sampled accesses, ${cfg.minLoadSamples} needed`);
  const even = (c: LoadCut): number => Math.min(c.leftShare, 1 - c.leftShare);
  // The smaller side's share, less the sampling noise margin.
  const surely = (c: LoadCut): number => even(c) - cfg.loadShareMarginSigmas * Math.sqrt((even(c) * (1 - even(c))) / est.samples);
  const anyBalanced = est.cuts.filter((c) => surely(c) >= cfg.minLoadShare);
  if (anyBalanced.length === 0) {
    const top = est.topKey;
    const who = top === null ? 'one key' : `key ${keyLabel(top.key)} holds ${pct(top.share)} of the sampled load`;
    return none('hot-key', `${who}: a single hot key cannot be split (no cut surely leaves each half >= ${pct(cfg.minLoadShare)})`);
  }
  const balanced = anyBalanced.filter((c) => insideRange(c.splitKey, cell));
  if (balanced.length === 0) return none('no-valid-split-key', `the balanced load cuts are not inside the cell's range`);
  const samples = cell.sizeSamples;
  if (samples === null) return none('needs-size-samples', `load split: scan for size samples at ${balanced.length} candidate cuts`);
  // The most even cut whose halves are big enough (no salami cells); ties: the first.
  let chosen: LoadCut | null = null;
  for (const c of balanced) {
    if (halvesAreBigEnough(halvesAt(cell, samples, c.splitKey), cfg) && (chosen === null || even(c) > even(chosen))) chosen = c;
  }
  if (chosen === null) {
    return none(
      'no-valid-split-key',
      `none of ${balanced.length} balanced load cuts leaves both halves >= ${cfg.minSplitBytes} bytes and >= ${cfg.minSplitKeys} keys`,
    );
  }
  return {
    kind: 'split',
    cellId: cell.cellId,
    reason: 'load',
    splitKey: chosen.splitKey,
    detail: `above ${cfg.loadThreshold} qps for ${hot} intervals: cut at ${keyLabel(chosen.splitKey)} (${pct(chosen.leftShare)} of the load left)`,
  };
}

/**
 * Whether `left` should absorb its right neighbour `right` now. `lastMergeAtMs` is the last
 * merge this policy instance proposed (null = none): merges are rate-limited by it.
 */
export function decideMerge(
  left: CellObservation,
  right: CellObservation,
  nowMs: number,
  lastMergeAtMs: number | null,
  cfg: RebalanceConfig = DEFAULT_REBALANCE_CONFIG,
): RebalanceDecision {
  if (left.end === null || compareBytes(left.end, right.start) !== 0) return none('not-adjacent', `${left.cellId} does not end where ${right.cellId} starts`);
  const bytes = left.sizeBytes + right.sizeBytes;
  const keys = left.keyCount + right.keyCount;
  if (bytes >= cfg.mergeMaxBytes || keys >= cfg.mergeMaxKeys) {
    return none('too-large-to-merge', `together ${bytes} bytes, ${keys} keys (limits ${cfg.mergeMaxBytes} bytes, ${cfg.mergeMaxKeys} keys)`);
  }
  if (left.load === null || right.load === null) return none('load-unknown', 'the load of one cell is unknown');
  const warm = Math.min(left.load.intervals.length, right.load.intervals.length);
  if (warm < cfg.loadSustainIntervals) return none('load-unknown', `only ${warm} intervals of load known, ${cfg.loadSustainIntervals} needed`);
  const qps = maxQps(left.load) + maxQps(right.load);
  if (qps >= cfg.mergeMaxLoad) return none('too-loaded-to-merge', `together up to ${qps.toFixed(1)} qps (limit ${cfg.mergeMaxLoad})`);
  // A cell this small was emptied by deletes (no split leaves one): it need not wait as long.
  const empty = Math.min(left.sizeBytes, right.sizeBytes) < cfg.emptyBytes;
  const loadSplitAgo = Math.min(since(nowMs, left.lastLoadSplitAtMs), since(nowMs, right.lastLoadSplitAtMs));
  const splitAgo = Math.min(since(nowMs, left.lastSplitAtMs), since(nowMs, right.lastSplitAtMs));
  if (empty) {
    if (splitAgo < cfg.emptyMergeDelayMs) return none('merge-cooldown', `emptied cell split ${splitAgo} ms ago (delay ${cfg.emptyMergeDelayMs} ms)`);
  } else {
    if (loadSplitAgo < cfg.mergeCooldownAfterLoadSplitMs) {
      return none('load-split-cooldown', `split by load ${loadSplitAgo} ms ago (cool-down ${cfg.mergeCooldownAfterLoadSplitMs} ms)`);
    }
    if (splitAgo < cfg.mergeCooldownMs) return none('merge-cooldown', `split ${splitAgo} ms ago (cool-down ${cfg.mergeCooldownMs} ms)`);
  }
  const lastMerge = since(nowMs, lastMergeAtMs);
  if (lastMerge < cfg.mergeIntervalMs) return none('merge-rate-limited', `last merge ${lastMerge} ms ago (one per ${cfg.mergeIntervalMs} ms)`);
  return {
    kind: 'merge',
    left: left.cellId,
    right: right.cellId,
    reason: empty ? 'empty' : 'small',
    detail: `together ${bytes} bytes, ${keys} keys, up to ${qps.toFixed(1)} qps`,
  };
}

/**
 * The policy of one node (or of the cluster): decideSplit/decideMerge plus the merge rate
 * limit. A merge it proposes counts against the limit whether or not it then succeeds, so a
 * failing merge is not retried in a storm.
 */
export class RebalancePolicy {
  private lastMergeAtMs: number | null = null;

  constructor(readonly config: RebalanceConfig = DEFAULT_REBALANCE_CONFIG) {}

  /** For one cell (as its leader sees it) and its right neighbour: a split, else a merge. */
  decideCell(nowMs: number, cell: CellObservation, right: CellObservation | null): RebalanceDecision {
    const split = decideSplit(cell, nowMs, this.config);
    if (split.kind === 'split') return split;
    if (right === null) return split.reason === 'within-limits' ? none('no-neighbour', 'no right neighbour to merge with') : split;
    const merge = decideMerge(cell, right, nowMs, this.lastMergeAtMs, this.config);
    if (merge.kind === 'merge') this.lastMergeAtMs = nowMs;
    // The split's reason says more when something was wrong on that side.
    return merge.kind === 'none' && split.reason !== 'within-limits' ? split : merge;
  }

  /**
   * One round over cells sorted by start: every split, and at most one merge (rate limit).
   * A cell takes part in one action per round. Only actions are returned.
   */
  decideAll(nowMs: number, cells: readonly CellObservation[]): (SplitDecision | MergeDecision)[] {
    const actions: (SplitDecision | MergeDecision)[] = [];
    const busy = new Set<string>();
    for (let i = 0; i < cells.length; i++) {
      const cell = cells[i]!;
      if (i > 0 && compareBytes(cells[i - 1]!.start, cell.start) >= 0) throw new RangeError('cells must be sorted by start');
      if (busy.has(cell.cellId)) continue;
      const right = cells[i + 1] ?? null;
      const d = this.decideCell(nowMs, cell, right !== null && !wouldSplit(right, nowMs, this.config) ? right : null);
      if (d.kind === 'none') continue;
      actions.push(d);
      busy.add(cell.cellId);
      if (d.kind === 'merge') busy.add(d.right);
    }
    return actions;
  }
}

function wouldSplit(cell: CellObservation, nowMs: number, cfg: RebalanceConfig): boolean {
  return decideSplit(cell, nowMs, cfg).kind === 'split';
}
