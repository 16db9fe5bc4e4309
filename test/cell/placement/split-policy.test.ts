// The split/merge rules of cell/placement/split-policy.ts on hand-built observations, with the
// default configuration (TiKV-like sizes): size splits, no salami cells, load hysteresis, hot
// keys, cool-downs, the merge rate limit and delete-aware merges.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { DEFAULT_REBALANCE_CONFIG as CFG, rebalanceConfig, scaledForTests } from '../../../cell/placement/rebalance-config.js';
import { RebalancePolicy, decideMerge, decideSplit, type CellObservation, type RebalanceDecision } from '../../../cell/placement/split-policy.js';
import { MiB, estimate, indexOfKey, keyOf, loadOf, observation, repeat, uniformCell, uniformSamples } from './support.js';

const NOW = 100_000_000;
const HOUR = 3_600_000;

function assertSplit(d: RebalanceDecision, reason: 'size' | 'load'): number {
  assert.equal(d.kind, 'split', JSON.stringify(d));
  assert.ok(d.kind === 'split');
  assert.equal(d.reason, reason);
  return indexOfKey(d.splitKey);
}

function assertNone(d: RebalanceDecision, reason: string): string {
  assert.equal(d.kind, 'none', JSON.stringify(d));
  assert.ok(d.kind === 'none');
  assert.equal(d.reason, reason, d.detail);
  return d.detail;
}

/** Two adjacent small, cold cells: [start, k000500) and [k000500, end). */
function smallPair(o: { left?: Partial<CellObservation>; right?: Partial<CellObservation> } = {}): [CellObservation, CellObservation] {
  const left = observation({ cellId: 'L', end: keyOf(500), sizeBytes: 4 * MiB, keyCount: 1000, load: loadOf(repeat(16, 10)), ...o.left });
  const right = observation({ cellId: 'R', start: keyOf(500), sizeBytes: 4 * MiB, keyCount: 1000, load: loadOf(repeat(16, 10)), ...o.right });
  return [left, right];
}

describe('size splits', () => {
  it('a cell at or below maxSizeBytes does not split; above it splits near splitSizeBytes from the start', () => {
    const kb = 144 * 1024; // 1 MiB / 1024 keys: 144 KiB per key puts maxSizeBytes at key 1024
    assertNone(decideSplit(uniformCell(1024, kb), NOW), 'within-limits');
    const at = assertSplit(decideSplit(uniformCell(1025, kb), NOW), 'size');
    // bytesBefore(k) = k × 144 KiB; min(96 MiB, half) = the half here (72 MiB + 72 KiB): key 512.
    assert.equal(at, 512);
    // A cell far above the limit cuts at splitSizeBytes (96 MiB = key 682.67 → nearest 683).
    assert.equal(assertSplit(decideSplit(uniformCell(3000, kb), NOW), 'size'), 683);
  });

  it('asks for size samples when it has none, and never cuts at the start of the range', () => {
    assertNone(decideSplit(observation({ sizeBytes: 200 * MiB, keyCount: 10_000 }), NOW), 'needs-size-samples');
    // Only one sample, at the range's start: no cut there.
    const cell = observation({ start: keyOf(0), sizeBytes: 200 * MiB, keyCount: 10_000, sizeSamples: [{ key: keyOf(0), bytesBefore: 0, keysBefore: 0 }] });
    assertNone(decideSplit(cell, NOW), 'no-valid-split-key');
  });

  it('no salami cells: a cut never leaves a half below minSplitKeys keys or minSplitBytes bytes', () => {
    // 150 keys of 1 MiB: 150 MiB > max, but a half of >= 100 keys on both sides is impossible.
    const few = uniformCell(150, MiB);
    assert.ok(few.sizeBytes > CFG.maxSizeBytes);
    assertNone(decideSplit(few, NOW), 'no-valid-split-key');
    // One huge key at the end holds almost everything: the only cuts leave a tiny left or right.
    const samples = [...uniformSamples(300, 10), { key: keyOf(300), bytesBefore: 3000, keysBefore: 300 }];
    const lopsided = observation({ sizeBytes: 3000 + 200 * MiB, keyCount: 301, sizeSamples: samples });
    assertNone(decideSplit(lopsided, NOW), 'no-valid-split-key');
    // Property: whatever the samples, a size split's halves respect both minima.
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1, max: 4 * MiB }), { minLength: 2, maxLength: 400 }), (sizes) => {
        const samples = sizes.map((_, i) => ({ key: keyOf(i), bytesBefore: sizes.slice(0, i).reduce((a, b) => a + b, 0), keysBefore: i }));
        const total = sizes.reduce((a, b) => a + b, 0);
        const d = decideSplit(observation({ sizeBytes: total, keyCount: sizes.length, sizeSamples: samples }), NOW);
        if (total <= CFG.maxSizeBytes) return d.kind === 'none';
        if (d.kind !== 'split') return true;
        const i = indexOfKey(d.splitKey);
        const left = samples[i]!.bytesBefore;
        return i >= CFG.minSplitKeys && sizes.length - i >= CFG.minSplitKeys && left >= CFG.minSplitBytes && total - left >= CFG.minSplitBytes;
      }),
      { seed: 10, numRuns: 200 },
    );
  });

  it('rejects unsorted size samples', () => {
    const cell = observation({ sizeBytes: 200 * MiB, keyCount: 10, sizeSamples: [{ key: keyOf(2), bytesBefore: 0, keysBefore: 0 }, { key: keyOf(1), bytesBefore: 1, keysBefore: 1 }] });
    assert.throws(() => decideSplit(cell, NOW), /sorted/);
  });
});

describe('load splits', () => {
  const hotCell = (qps: number[], o: Partial<CellObservation> = {}) => uniformCell(1000, 10_000, { load: loadOf(qps), ...o });

  it('splits at the load median only after loadSustainIntervals consecutive hot intervals', () => {
    const sustain = CFG.loadSustainIntervals;
    assertNone(decideSplit(hotCell([...repeat(6, 100), ...repeat(sustain - 1, 5000)]), NOW), 'load-not-sustained');
    assert.equal(assertSplit(decideSplit(hotCell([...repeat(6, 100), ...repeat(sustain, 5000)]), NOW), 'load'), 500);
  });

  it('a short spike does not split, however high; a dip inside the window restarts the count', () => {
    assertNone(decideSplit(hotCell([...repeat(8, 100), ...repeat(3, 1e9), ...repeat(5, 100)]), NOW), 'within-limits');
    assertNone(decideSplit(hotCell([...repeat(3, 100), ...repeat(8, 1e6)]), NOW), 'load-not-sustained');
    const dip = [...repeat(5, 5000), 2999, ...repeat(CFG.loadSustainIntervals - 1, 5000)];
    assertNone(decideSplit(hotCell(dip), NOW), 'load-not-sustained');
    // Exactly at the threshold is not above it.
    assertNone(decideSplit(hotCell(repeat(16, CFG.loadThreshold)), NOW), 'within-limits');
  });

  it('a single hot key is not split, and the reason names the key', () => {
    const load = loadOf(repeat(16, 50_000), estimate(512, [[100, 0.01], [900, 0.03], [901, 0.93]], [900, 0.9]));
    const detail = assertNone(decideSplit(hotCell([], { load }), NOW), 'hot-key');
    assert.match(detail, /0x6b303030393030/); // k000900
    assert.match(detail, /90\.0%/);
    assert.match(detail, /single hot key cannot be split/);
    // All samples on one key: no cut at all.
    const one = loadOf(repeat(16, 50_000), estimate(512, [], [7, 1]));
    assertNone(decideSplit(hotCell([], { load: one }), NOW), 'hot-key');
    // A hot key with room beside it: a cut that isolates it still balances enough, so it splits.
    // (0.35 is 0.29 less three standard errors of 512 samples: at least minLoadShare.)
    const isolate = loadOf(repeat(16, 50_000), estimate(512, [[100, 0.1], [800, 0.35], [801, 0.995]], [800, 0.65]));
    assert.equal(assertSplit(decideSplit(hotCell([], { load: isolate }), NOW), 'load'), 800);
  });

  it('needs enough samples, a cut inside the range, size samples, and big enough halves', () => {
    const few = loadOf(repeat(16, 5000), estimate(CFG.minLoadSamples - 1, [[500, 0.5]]));
    assertNone(decideSplit(hotCell([], { load: few }), NOW), 'too-few-load-samples');
    assertNone(decideSplit(hotCell(repeat(16, 5000), { start: keyOf(800) }), NOW), 'no-valid-split-key');
    assertNone(decideSplit(hotCell(repeat(16, 5000), { sizeSamples: null }), NOW), 'needs-size-samples');
    // 150 keys: a cut at key 75 leaves 75 < minSplitKeys on each side.
    const small = uniformCell(150, 10_000, { load: loadOf(repeat(16, 5000), estimate(500, [[75, 0.5]])) });
    assertNone(decideSplit(small, NOW), 'no-valid-split-key');
    // Coarse samples: the halves are bounded from the samples either side of the cut, so a cut
    // between two far-apart samples is refused when the bound is too low...
    const coarse = (every: number) =>
      observation({ sizeBytes: 300 * 10_000, keyCount: 300, sizeSamples: uniformSamples(300, 10_000, every), load: loadOf(repeat(16, 5000), estimate(500, [[150, 0.5]])) });
    assertNone(decideSplit(coarse(160), NOW), 'no-valid-split-key');
    // ...and accepted when a sample sits at the cut.
    assert.equal(assertSplit(decideSplit(coarse(50), NOW), 'load'), 150);
  });

  it('a cut must keep minLoadShare with a margin for sampling noise', () => {
    const at = (share: number, samples: number) => decideSplit(hotCell([], { load: loadOf(repeat(16, 5000), estimate(samples, [[500, share]])) }), NOW);
    assertNone(at(0.27, 512), 'hot-key'); // 0.27 - 3 × 0.0196 < 0.25
    assertSplit(at(0.27, 20_000), 'load'); // 0.27 - 3 × 0.0031 >= 0.25
    assertNone(at(0.5, 30), 'hot-key'); // too few samples to be sure even of 50 %
    assertSplit(decideSplit(hotCell([], { load: loadOf(repeat(16, 5000), estimate(512, [[500, 0.26]])) }), NOW, rebalanceConfig({ loadShareMarginSigmas: 0 })), 'load');
  });

  it('takes the most even load cut that leaves big enough halves', () => {
    // The most even cut (after key 0, which holds 55 %) would leave one key on the left.
    const load = loadOf(repeat(16, 5000), estimate(500, [[1, 0.55], [150, 0.6], [500, 0.64], [900, 0.95]], [0, 0.55]));
    assert.equal(assertSplit(decideSplit(hotCell([], { load }), NOW), 'load'), 150);
  });

  it('size takes precedence over load', () => {
    const cell = uniformCell(3000, 144 * 1024, { load: loadOf(repeat(16, 5000)) });
    assertSplit(decideSplit(cell, NOW), 'size');
  });
});

describe('split cool-down', () => {
  it('no split within splitCooldownMs of the last split or merge', () => {
    const cell = (o: Partial<CellObservation>) => uniformCell(3000, 144 * 1024, o);
    const d = CFG.splitCooldownMs;
    assertNone(decideSplit(cell({ lastSplitAtMs: NOW - d + 1 }), NOW), 'split-cooldown');
    assertNone(decideSplit(cell({ lastMergeAtMs: NOW - d + 1 }), NOW), 'split-cooldown');
    assertSplit(decideSplit(cell({ lastSplitAtMs: NOW - d, lastMergeAtMs: NOW - d }), NOW), 'size');
  });
});

describe('merges', () => {
  it('merges two small, cold, adjacent cells', () => {
    const d = decideMerge(...smallPair(), NOW, null);
    assert.deepEqual({ kind: d.kind, ...(d.kind === 'merge' ? { left: d.left, right: d.right, reason: d.reason } : {}) }, { kind: 'merge', left: 'L', right: 'R', reason: 'small' });
  });

  it('refuses cells that are not adjacent, too big together, too loaded together, or of unknown load', () => {
    assertNone(decideMerge(...smallPair({ right: { start: keyOf(501) } }), NOW, null), 'not-adjacent');
    assertNone(decideMerge(...smallPair({ left: { end: null } }), NOW, null), 'not-adjacent');
    assertNone(decideMerge(...smallPair({ left: { sizeBytes: 16 * MiB } }), NOW, null), 'too-large-to-merge');
    assertNone(decideMerge(...smallPair({ left: { keyCount: CFG.mergeMaxKeys } }), NOW, null), 'too-large-to-merge');
    // Loads add up: 600 + 600 qps is over mergeMaxLoad (1000) though each alone is under.
    assertNone(decideMerge(...smallPair({ left: { load: loadOf([...repeat(15, 1), 600]) }, right: { load: loadOf([600, ...repeat(15, 1)]) } }), NOW, null), 'too-loaded-to-merge');
    assertNone(decideMerge(...smallPair({ right: { load: null } }), NOW, null), 'load-unknown');
    assertNone(decideMerge(...smallPair({ right: { load: loadOf(repeat(CFG.loadSustainIntervals - 1, 1)) } }), NOW, null), 'load-unknown');
  });

  it('no merge right after a load split (mergeCooldownAfterLoadSplitMs), nor soon after any split (mergeCooldownMs)', () => {
    const afterLoad = (ago: number) => smallPair({ left: { lastSplitAtMs: NOW - ago, lastLoadSplitAtMs: NOW - ago } });
    assertNone(decideMerge(...afterLoad(CFG.mergeCooldownAfterLoadSplitMs - 1), NOW, null), 'load-split-cooldown');
    assert.equal(decideMerge(...afterLoad(CFG.mergeCooldownAfterLoadSplitMs), NOW, null).kind, 'merge');
    const afterSize = (ago: number) => smallPair({ right: { lastSplitAtMs: NOW - ago } });
    assertNone(decideMerge(...afterSize(CFG.mergeCooldownMs - 1), NOW, null), 'merge-cooldown');
    assert.equal(decideMerge(...afterSize(CFG.mergeCooldownMs), NOW, null).kind, 'merge');
    // A cell that was itself merged may merge again at once (subject to the rate limit).
    assert.equal(decideMerge(...smallPair({ left: { lastMergeAtMs: NOW - 1 } }), NOW, null).kind, 'merge');
  });

  it('delete-aware: a cell emptied below emptyBytes merges after emptyMergeDelayMs, skipping the cool-downs', () => {
    const emptied = (ago: number) =>
      smallPair({ left: { sizeBytes: CFG.emptyBytes - 1, lastSplitAtMs: NOW - ago, lastLoadSplitAtMs: NOW - ago }, right: { lastSplitAtMs: NOW - ago } });
    assertNone(decideMerge(...emptied(CFG.emptyMergeDelayMs - 1), NOW, null), 'merge-cooldown');
    const d = decideMerge(...emptied(CFG.emptyMergeDelayMs), NOW, null);
    assert.equal(d.kind === 'merge' && d.reason, 'empty');
    // At emptyBytes it is not "empty": the full load-split cool-down applies.
    const notEmpty = smallPair({ left: { sizeBytes: CFG.emptyBytes, lastSplitAtMs: NOW - CFG.emptyMergeDelayMs, lastLoadSplitAtMs: NOW - CFG.emptyMergeDelayMs } });
    assertNone(decideMerge(...notEmpty, NOW, null), 'load-split-cooldown');
    // Still rate-limited, and still not while loaded.
    assertNone(decideMerge(...emptied(HOUR), NOW, NOW - CFG.mergeIntervalMs + 1), 'merge-rate-limited');
    assertNone(decideMerge(...smallPair({ left: { sizeBytes: 0, load: loadOf(repeat(16, 2000)) } }), NOW, null), 'too-loaded-to-merge');
  });

  it('rate limit: one merge per mergeIntervalMs per policy, however many candidates', () => {
    // 40 empty adjacent cells: a mass delete.
    const cells = Array.from({ length: 40 }, (_, i) =>
      observation({ cellId: `c${i}`, start: i === 0 ? new Uint8Array(0) : keyOf(i * 10), end: i === 39 ? null : keyOf((i + 1) * 10), load: loadOf(repeat(16, 0)) }),
    );
    const policy = new RebalancePolicy();
    const mergesAt: number[] = [];
    for (let t = 0; t < 120_000; t += 1000) {
      for (const a of policy.decideAll(NOW + t, cells)) {
        assert.equal(a.kind, 'merge');
        mergesAt.push(t);
      }
    }
    assert.equal(mergesAt.length, 120_000 / CFG.mergeIntervalMs);
    for (let i = 1; i < mergesAt.length; i++) assert.ok(mergesAt[i]! - mergesAt[i - 1]! >= CFG.mergeIntervalMs);
  });
});

describe('RebalancePolicy', () => {
  it('decideCell: a split first, else a merge with the right neighbour, else the reason', () => {
    const policy = new RebalancePolicy();
    const [l, r] = smallPair();
    assert.equal(policy.decideCell(NOW, l, r).kind, 'merge');
    assertNone(policy.decideCell(NOW + 1, l, r), 'merge-rate-limited');
    assertNone(policy.decideCell(NOW, r, null), 'no-neighbour');
    const big = uniformCell(3000, 144 * 1024, { end: keyOf(500) });
    assertSplit(policy.decideCell(NOW + HOUR, big, r), 'size');
    // A refused split says why, rather than the merge side's "too large".
    assertNone(policy.decideCell(NOW + HOUR, { ...big, sizeSamples: null }, r), 'needs-size-samples');
  });

  it('decideAll: a cell takes part in one action per round; a cell about to split is not merged into', () => {
    const policy = new RebalancePolicy();
    const [l, r] = smallPair();
    const bigRight = uniformCell(3000, 144 * 1024, { cellId: 'R', start: keyOf(500) });
    const bigSamples = bigRight.sizeSamples!.map((s) => ({ ...s, key: keyOf(indexOfKey(s.key) + 500) }));
    const actions = policy.decideAll(NOW, [l, { ...bigRight, sizeSamples: bigSamples, sizeBytes: bigRight.sizeBytes }]);
    assert.deepEqual(actions.map((a) => a.kind), ['split']);
    assert.throws(() => policy.decideAll(NOW, [r, l]), /sorted/);
  });

  it('the same inputs give the same decisions', () => {
    fc.assert(
      fc.property(
        fc.record({
          size: fc.integer({ min: 0, max: 300 * MiB }),
          keys: fc.integer({ min: 0, max: 5000 }),
          qps: fc.array(fc.integer({ min: 0, max: 10_000 }), { maxLength: 16 }),
          ago: fc.integer({ min: 0, max: 2 * HOUR }),
          rightSize: fc.integer({ min: 0, max: 30 * MiB }),
        }),
        (g) => {
          const samples = uniformSamples(200, Math.ceil(g.size / 200), 1).map((s) => ({ ...s, keysBefore: Math.floor((s.keysBefore * g.keys) / 200) }));
          const cell = observation({ cellId: 'L', end: keyOf(500), sizeBytes: g.size, keyCount: g.keys, sizeSamples: samples, load: loadOf(g.qps), lastSplitAtMs: NOW - g.ago });
          const right = observation({ cellId: 'R', start: keyOf(500), sizeBytes: g.rightSize, keyCount: 10, load: loadOf(g.qps) });
          const run = () => {
            const p = new RebalancePolicy();
            return [0, 1000, 20_000].map((t) => p.decideCell(NOW + t, cell, right));
          };
          assert.deepEqual(run(), run());
          assert.deepEqual(decideSplit(cell, NOW), decideSplit(cell, NOW));
        },
      ),
      { seed: 11, numRuns: 200 },
    );
  });
});

describe('RebalanceConfig', () => {
  it('has the documented defaults', () => {
    assert.equal(CFG.maxSizeBytes, 144 * MiB);
    assert.equal(CFG.splitSizeBytes, 96 * MiB);
    assert.equal(CFG.mergeMaxBytes, 20 * MiB);
    assert.equal(CFG.loadThreshold, 3000);
    assert.equal(CFG.loadSustainIntervals, 10);
  });

  it('rejects settings that would let split and merge fight, and unknown settings', () => {
    assert.throws(() => rebalanceConfig({ mergeMaxBytes: 100 * MiB }), /mergeMaxBytes/);
    assert.throws(() => rebalanceConfig({ mergeMaxLoad: 2000 }), /mergeMaxLoad/);
    assert.throws(() => rebalanceConfig({ splitSizeBytes: 200 * MiB }), /splitSizeBytes/);
    assert.throws(() => rebalanceConfig({ emptyBytes: MiB }), /emptyBytes/);
    assert.throws(() => rebalanceConfig({ minLoadShare: 0.6 }));
    assert.throws(() => rebalanceConfig({ maxSizeByte: 1 } as never));
  });

  it('scaledForTests gives a valid configuration for any factor', () => {
    fc.assert(
      fc.property(fc.double({ min: 1e-9, max: 1, noNaN: true }), fc.double({ min: 1e-6, max: 1, noNaN: true }), (f, t) => {
        const c = scaledForTests(f, t);
        return c.maxSizeBytes <= CFG.maxSizeBytes && c.mergeIntervalMs <= CFG.mergeIntervalMs;
      }),
      { seed: 12, numRuns: 300 },
    );
    assert.equal(scaledForTests(1 / 1024).maxSizeBytes, 144 * 1024);
    assert.throws(() => scaledForTests(2));
  });
});
