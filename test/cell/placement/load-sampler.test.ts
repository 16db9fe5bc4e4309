// The per-key access sampler (cell/placement/load-sampler.ts): interval roll-up, exact QPS,
// bounds on everything kept, the weighted-median split key whatever the access order, hot
// keys, and determinism.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { LoadSampler, MAX_LOAD_CUTS, accessWeight, loadSamplerConfig } from '../../../cell/placement/load-sampler.js';
import { compareBytes } from '../../../shared/keys.js';
import { mulberry32 } from '../../../cell/node/random.js';
import { indexOfKey, keyOf } from './support.js';

/** `perInterval` accesses spread over each of `intervals` seconds, keys from `keyAt(j)`. */
function feed(s: LoadSampler, intervals: number, perInterval: number, keyAt: (j: number) => Uint8Array, weight = 1): void {
  for (let t = 0; t < intervals; t++) {
    for (let j = 0; j < perInterval; j++) s.record(keyAt(t * perInterval + j), t * 1000 + Math.floor((j * 1000) / perInterval), weight);
  }
}

describe('LoadSampler intervals', () => {
  it('reports exact accesses, weight and QPS per completed interval, oldest first', () => {
    const s = new LoadSampler({ intervalMs: 500 });
    for (let i = 0; i < 30; i++) s.record(keyOf(i), 100, 2);
    s.record(keyOf(1), 600, 1);
    const st = s.stats(1000);
    assert.deepEqual(st.intervals, [
      { startMs: 0, accesses: 30, weight: 60, qps: 120 },
      { startMs: 500, accesses: 1, weight: 1, qps: 2 },
    ]);
    // The open interval is not reported.
    s.record(keyOf(1), 1200);
    assert.equal(s.stats(1499).intervals.length, 2);
  });

  it('fills idle intervals with zero and keeps only windowIntervals', () => {
    const s = new LoadSampler({ windowIntervals: 4 });
    s.record(keyOf(1), 0);
    assert.deepEqual(s.stats(3000).intervals.map((i) => i.accesses), [1, 0, 0]);
    s.record(keyOf(1), 3500);
    assert.deepEqual(s.stats(1_000_000).intervals.map((i) => [i.startMs, i.accesses]), [[996_000, 0], [997_000, 0], [998_000, 0], [999_000, 0]]);
  });

  it('counts an access with an earlier time in the open interval, ignores non-positive weights, and resets', () => {
    const s = new LoadSampler();
    s.record(keyOf(1), 5000);
    s.record(keyOf(1), 10);
    s.record(keyOf(1), 5000, 0);
    s.record(keyOf(1), 5000, Number.NaN);
    assert.deepEqual(s.stats(6000).intervals.map((i) => i.accesses), [2]);
    s.reset();
    assert.deepEqual(s.stats(9000).intervals, []);
  });

  it('rejects configurations without bounds', () => {
    assert.throws(() => loadSamplerConfig({ samplesPerInterval: 100_000 }));
    assert.throws(() => loadSamplerConfig({ windowIntervals: 600, samplesPerInterval: 1024 }), /16384/);
    assert.throws(() => new LoadSampler({ maxSampledKeyBytes: 0 }));
  });

  it('access weights: reads 1, writes 1 plus one per started 64 KiB', () => {
    assert.deepEqual([accessWeight('read', 1e6), accessWeight('write'), accessWeight('write', 1), accessWeight('write', 65_537)], [1, 1, 2, 3]);
  });
});

describe('LoadSampler split estimate', () => {
  it('uniform load over 10 000 keys accessed in key order: the cut is near the middle', () => {
    // A sequential access order is the case a heavy-hitters sketch gets wrong (it keeps the last keys).
    const s = new LoadSampler();
    feed(s, 16, 625, (j) => keyOf(j));
    const { split } = s.stats(16_000);
    assert.equal(split.samples, 16 * 32);
    assert.ok(split.best !== null);
    const at = indexOfKey(split.best.splitKey);
    assert.ok(at > 3500 && at < 6500, `cut at ${at}`);
    assert.ok(Math.abs(split.best.leftShare - 0.5) < 0.01, `left share ${split.best.leftShare}`);
    assert.ok(split.topKey !== null && split.topKey.share < 0.02);
    // Cuts near every 1/64 quantile of the load.
    assert.ok(split.cuts.length >= 60 && split.cuts.length <= MAX_LOAD_CUTS, `${split.cuts.length} cuts`);
    assert.ok(split.cuts.every((c, i) => i === 0 || c.leftShare - split.cuts[i - 1]!.leftShare < 0.05));
  });

  it('weights count: heavy writes on the upper keys move the cut down', () => {
    const s = new LoadSampler({ seed: 3 });
    const rnd = mulberry32(9);
    for (let t = 0; t < 16; t++) {
      for (let j = 0; j < 400; j++) {
        const k = Math.floor(rnd() * 1000);
        s.record(keyOf(k), t * 1000 + j, k >= 500 ? accessWeight('write', 4 * 65_536) : accessWeight('read'));
      }
    }
    const at = indexOfKey(s.stats(16_000).split.best!.splitKey);
    // 5 : 1 to the upper half: the median sits at about 500 + 500 × 2/5 = 700.
    assert.ok(at > 600 && at < 800, `cut at ${at}`);
  });

  it('intervals with more traffic weigh more', () => {
    const s = new LoadSampler();
    feed(s, 1, 1000, () => keyOf(10));
    for (let t = 1; t < 4; t++) for (let j = 0; j < 10; j++) s.record(keyOf(900 + j), t * 1000);
    const top = s.stats(4000).split.topKey!;
    assert.equal(indexOfKey(top.key), 10);
    assert.ok(top.share > 0.95, `share ${top.share}`);
  });

  it('one hot key: its share is reported, and all-one-key samples give no cut', () => {
    const s = new LoadSampler();
    feed(s, 10, 500, (j) => (j % 10 === 0 ? keyOf(j) : keyOf(77)));
    const { split } = s.stats(10_000);
    assert.equal(indexOfKey(split.topKey!.key), 77);
    assert.ok(split.topKey!.share > 0.8);
    const only = new LoadSampler();
    feed(only, 3, 100, () => keyOf(5));
    assert.deepEqual(only.stats(3000).split.best, null);
    assert.deepEqual(only.stats(3000).split.cuts, []);
    assert.deepEqual(new LoadSampler().stats(0).split, { samples: 0, cuts: [], best: null, topKey: null });
  });

  it('keeps a bounded prefix of long keys, copied (the caller may reuse its buffer)', () => {
    const s = new LoadSampler({ maxSampledKeyBytes: 8 });
    const buf = new Uint8Array(4096).fill(0x61);
    s.record(buf, 0);
    buf.fill(0x62);
    s.record(buf, 1);
    const { split } = s.stats(1000);
    assert.deepEqual(split.best?.splitKey, new Uint8Array(8).fill(0x62));
    assert.deepEqual(split.topKey?.key.length, 8);
  });

  it('property: bounded samples, exact totals, a cut from the recorded keys, deterministic by seed', () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ key: fc.integer({ min: 0, max: 300 }), dt: fc.integer({ min: 0, max: 700 }), w: fc.integer({ min: 1, max: 5 }) }), { maxLength: 600 }),
        fc.integer({ min: 1, max: 8 }),
        fc.integer({ min: 1, max: 6 }),
        (accesses, samplesPerInterval, windowIntervals) => {
          const run = () => {
            const s = new LoadSampler({ samplesPerInterval, windowIntervals, seed: 5 });
            let now = 0;
            for (const a of accesses) s.record(keyOf(a.key), (now += a.dt), a.w);
            return s.stats(now + 1000);
          };
          const st = run();
          assert.deepEqual(run(), st);
          assert.ok(st.intervals.length <= windowIntervals);
          assert.ok(st.split.samples <= samplesPerInterval * st.intervals.length);
          const keys = new Set(accesses.map((a) => a.key));
          if (st.split.best !== null) {
            assert.ok(keys.has(indexOfKey(st.split.best.splitKey)));
            assert.ok(st.split.best.leftShare > 0 && st.split.best.leftShare < 1);
          }
          // Cuts: bounded, in key order, the best among them, each a share strictly inside (0, 1).
          const cuts = st.split.cuts;
          assert.ok(cuts.length <= MAX_LOAD_CUTS);
          for (let i = 1; i < cuts.length; i++) assert.ok(compareBytes(cuts[i - 1]!.splitKey, cuts[i]!.splitKey) < 0 && cuts[i - 1]!.leftShare < cuts[i]!.leftShare);
          if (st.split.best !== null) assert.ok(cuts.some((c) => compareBytes(c.splitKey, st.split.best!.splitKey) === 0));
          if (st.split.topKey !== null) assert.ok(st.split.topKey.share > 0 && st.split.topKey.share <= 1 + 1e-9);
          // Every access lands in exactly one interval; those kept are the newest.
          const total = st.intervals.reduce((a, i) => a + i.accesses, 0);
          assert.ok(total <= accesses.length);
          if (accesses.length > 0 && windowIntervals === 6 && accesses.reduce((a, x) => a + x.dt, 0) < 5000) assert.equal(total, accesses.length);
        },
      ),
      { seed: 21, numRuns: 300 },
    );
  });
});
