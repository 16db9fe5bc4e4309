// The sampler and the policy together over a model keyspace (./model.ts), one policy round per
// 1 s interval, with the test scale of the configuration: sustained load splits once and a
// spike never, a load split's halves do not merge back, a mass delete merges one pair at a
// time, and stable workloads (property) split at most as needed and never flap.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { scaledForTests } from '../../../cell/placement/rebalance-config.js';
import { KeyspaceModel, type ModelEvent } from './model.js';

// 144 KiB cells, 60 qps load threshold, cool-downs / 20 (merge 30 s, after a load split 180 s).
const SIM = scaledForTests(1 / 1024, 1 / 20, { loadThreshold: 60, mergeMaxLoad: 20, minSplitKeys: 8, mergeIntervalMs: 5000, splitCooldownMs: 5000 });

const fill = (n: number, f: (i: number) => number): number[] => Array.from({ length: n }, (_, i) => f(i));
const kinds = (events: readonly ModelEvent[]) => events.map((e) => `${e.kind}:${e.reason}`);

describe('load over time', () => {
  it('a sustained load splits once, near the load median, after loadSustainIntervals', () => {
    // 1000 keys of 50 B (cold size), 100 qps spread over every 10th key: halves of ~50 qps stay below 60.
    const m = new KeyspaceModel(fill(1000, () => 50), fill(1000, (i) => (i % 10 === 0 ? 1 : 0)), SIM, 1);
    m.run(SIM.loadSustainIntervals - 1);
    assert.equal(m.events.length, 0, JSON.stringify(m.events));
    m.run(300);
    assert.deepEqual(kinds(m.events), ['split:load']);
    const e = m.events[0]!;
    assert.ok(e.interval <= SIM.loadSustainIntervals + 1, `split at interval ${e.interval}`);
    assert.ok(e.boundary > 350 && e.boundary < 650, `cut at ${e.boundary}`);
    assert.deepEqual(m.salami, []);
  });

  it('a short spike, however high, does not split', () => {
    const rates = fill(1000, (i) => (i % 10 === 0 ? 1 : 0));
    const m = new KeyspaceModel(fill(1000, () => 50), rates.map((r) => r * 20), SIM, 2);
    m.run(SIM.loadSustainIntervals - 1);
    rates.forEach((_, i) => (m.rates[i] = i % 20 === 0 ? 1 : 0)); // back to 50 qps
    m.run(300);
    assert.equal(m.events.length, 0, JSON.stringify(m.events));
  });

  it('a single hot key above the threshold is never split', () => {
    const m = new KeyspaceModel(fill(1000, () => 50), fill(1000, (i) => (i === 400 ? 500 : i % 100 === 0 ? 1 : 0)), SIM, 3);
    m.run(200);
    assert.equal(m.events.length, 0, JSON.stringify(m.events));
  });

  it('no merge right after a load split: the halves merge only once the cool-down has passed', () => {
    // 150 keys of 20 B (together under mergeMaxKeys and mergeMaxBytes), 75 qps.
    const m = new KeyspaceModel(fill(150, () => 20), fill(150, (i) => (i % 2 === 0 ? 1 : 0)), SIM, 4);
    m.run(50);
    assert.deepEqual(kinds(m.events), ['split:load']);
    const splitMs = m.events[0]!.interval * 1000;
    m.rates.fill(0); // the load goes away; both halves are now small and cold
    while (m.nowMs < splitMs + SIM.mergeCooldownAfterLoadSplitMs - 1000) m.step();
    assert.deepEqual(kinds(m.events), ['split:load']);
    m.run(5);
    assert.deepEqual(kinds(m.events), ['split:load', 'merge:small']);
    assert.equal(m.events[1]!.boundary, m.events[0]!.boundary);
  });
});

describe('mass delete', () => {
  it('emptied cells merge soon (not after the full cool-down), one merge per mergeIntervalMs, without storms', () => {
    // 20 cold cells of 200 keys × 100 B, all split at 15 s: the normal cool-down lasts until 45 s.
    const bounds = fill(19, (i) => (i + 1) * 200);
    const m = new KeyspaceModel(fill(4000, () => 100), fill(4000, () => 0), SIM, 5, bounds, 15_000);
    m.run(20);
    assert.equal(m.events.length, 0, JSON.stringify(m.events));
    m.deleteRange(5 * 200, 15 * 200);
    m.run(120);
    // The 10 emptied cells merge into one (9 merges); a 200-key live cell is over mergeMaxKeys
    // with any neighbour, so nothing else merges.
    assert.equal(m.events.length, 9, JSON.stringify(m.events));
    assert.ok(m.events.every((e) => e.kind === 'merge' && e.reason === 'empty'));
    assert.ok(m.events[0]!.interval * 1000 < 15_000 + SIM.mergeCooldownMs, `first merge at ${m.events[0]!.interval} s`);
    for (let i = 1; i < m.events.length; i++) assert.ok((m.events[i]!.interval - m.events[i - 1]!.interval) * 1000 >= SIM.mergeIntervalMs);
    assert.equal(m.cells.length, 11);
    m.run(100);
    assert.equal(m.events.length, 9);
  });
});

describe('stable workloads (property)', () => {
  type Mode = 'quiet' | 'size' | 'load' | 'hot';
  const workload = (mode: Mode) =>
    fc.record({
      keys: fc.integer({ min: 400, max: 1500 }),
      sizeScale: mode === 'size' ? fc.double({ min: 1.05, max: 1.5, noNaN: true }) : fc.double({ min: 0.05, max: 0.95, noNaN: true }),
      loadScale: mode === 'load' ? fc.double({ min: 1.1, max: 1.6, noNaN: true }) : mode === 'hot' ? fc.double({ min: 1.2, max: 4, noNaN: true }) : fc.double({ min: 0, max: 0.9, noNaN: true }),
      hotKey: fc.double({ min: 0, max: 0.999, noNaN: true }),
      seed: fc.integer({ min: 1, max: 1 << 30 }),
    });

  /** Per-key sizes summing to about sizeScale × maxSizeBytes, and integer rates summing to about loadScale × threshold. */
  function build(mode: Mode, g: { keys: number; sizeScale: number; loadScale: number; hotKey: number }) {
    const per = (g.sizeScale * SIM.maxSizeBytes) / g.keys;
    const sizes = fill(g.keys, (i) => Math.max(1, Math.round(per * (0.5 + ((i * 7919) % 101) / 100))));
    const load = Math.round(g.loadScale * SIM.loadThreshold);
    const rates = fill(g.keys, () => 0);
    if (mode === 'hot') {
      // At least 80 % on one key: no cut leaves 25 % on each side.
      const hot = Math.floor(g.hotKey * g.keys);
      rates[hot] = Math.ceil(load * 0.8);
      for (let j = 0; j < load - rates[hot]!; j++) rates[Math.floor((j * g.keys) / Math.max(1, load - rates[hot]!))]! += 1;
    } else {
      for (let j = 0; j < load; j++) rates[Math.floor((j * g.keys) / load)]! += 1;
    }
    return { sizes, rates };
  }

  for (const mode of ['quiet', 'size', 'load', 'hot'] as const) {
    it(`${mode}: at most one split, no merge, the split where the mode needs it`, () => {
      fc.assert(
        fc.property(workload(mode), (g) => {
          const { sizes, rates } = build(mode, g);
          const m = new KeyspaceModel(sizes, rates, SIM, g.seed);
          m.run(100);
          assert.deepEqual(m.salami, []);
          const expected = mode === 'size' ? ['split:size'] : mode === 'load' ? ['split:load'] : [];
          assert.deepEqual(kinds(m.events), expected);
        }),
        { seed: 30, numRuns: 8, endOnFailure: true },
      );
    });
  }

  it('any stable workload: no salami, no merges, no boundary twice, no runaway splitting', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 300, max: 1500 }),
        fc.double({ min: 0.05, max: 4, noNaN: true }),
        fc.array(fc.record({ at: fc.double({ min: 0, max: 0.999, noNaN: true }), qps: fc.integer({ min: 1, max: 150 }) }), { maxLength: 6 }),
        fc.integer({ min: 0, max: 3 }),
        fc.integer({ min: 1, max: 1 << 30 }),
        (keys, sizeScale, spots, background, seed) => {
          const per = (sizeScale * SIM.maxSizeBytes) / keys;
          const sizes = fill(keys, (i) => Math.max(1, Math.round(per * (0.5 + ((i * 104_729) % 97) / 96))));
          const rates = fill(keys, (i) => (i % 7 === 0 ? background : 0));
          for (const s of spots) rates[Math.floor(s.at * keys)]! += s.qps;
          const m = new KeyspaceModel(sizes, rates, SIM, seed);
          m.run(250);
          assert.deepEqual(m.salami, []);
          assert.ok(m.events.every((e) => e.kind === 'split'), JSON.stringify(m.events));
          const boundaries = m.events.map((e) => e.boundary);
          assert.equal(new Set(boundaries).size, boundaries.length);
          // No runaway splitting: a size split's halves hold about a third of maxSizeBytes or
          // more, a load split's a quarter of the threshold's load or more. (It need not settle
          // by a given time: a cut whose share is near minLoadShare can be taken late, once,
          // when the sampled share happens to clear the margin; see the README.)
          const size = sizes.reduce((a, b) => a + b, 0);
          const load = rates.reduce((a, b) => a + b, 0);
          const bound = 1 + Math.ceil(size / (SIM.maxSizeBytes / 3)) + Math.ceil(load / (SIM.loadThreshold / 5));
          assert.ok(m.cells.length <= bound, `${m.cells.length} cells > ${bound}`);
        },
      ),
      { seed: 31, numRuns: 8, endOnFailure: true },
    );
  });

  it('is deterministic: the same workload and seed give the same history', () => {
    const run = () => {
      const m = new KeyspaceModel(fill(3000, (i) => 60 + (i % 50)), fill(3000, (i) => (i % 9 === 0 ? 1 : 0) + (i === 2000 ? 40 : 0)), SIM, 77);
      m.run(200);
      return { events: m.events, cells: m.cells.map((c) => [c.lo, c.hi]) };
    };
    const a = run();
    assert.ok(a.events.length >= 2, JSON.stringify(a.events));
    assert.deepEqual(run(), a);
  });
});
