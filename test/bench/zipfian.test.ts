// The bench's key choosers: FNV-1a 64 on split 32-bit halves agrees with BigInt arithmetic,
// ζ for large n (Euler–Maclaurin) agrees with the exact sum, zipfian ranks follow 1/i^θ where
// Gray's method is exact,
// scrambled and latest stay in range, and a workload's op mix comes out in its proportions.

import { strict as assert } from 'node:assert';
import { test } from 'node:test';
import { Latest, Rng, ScrambledZipfian, Zipfian, fnv1a64Mod, zeta, zetaLarge } from '../../bench/zipfian.js';
import { OpChooser, WORKLOADS, keyName, parseWorkloads, type InsertCounters } from '../../bench/workloads.js';

function fnvRef(v: number, m: number): number {
  let h = 0xcbf29ce484222325n;
  let x = BigInt(v);
  for (let i = 0; i < 8; i++) {
    h ^= x & 0xffn;
    x >>= 8n;
    h = (h * 0x100000001b3n) & 0xffffffffffffffffn;
  }
  return Number(h % BigInt(m));
}

test('fnv1a64Mod matches 64-bit BigInt FNV-1a', () => {
  const r = new Rng(42);
  for (let i = 0; i < 20_000; i++) {
    const v = Math.floor(r.next() * 1e10);
    const m = 1 + Math.floor(r.next() * 1e9);
    assert.equal(fnv1a64Mod(v, m), fnvRef(v, m), `value ${v} mod ${m}`);
  }
  assert.equal(fnv1a64Mod(0, 2 ** 36), fnvRef(0, 2 ** 36));
});

test('zetaLarge agrees with the exact sum', () => {
  for (const n of [10, 999, 1000, 1001, 50_000, 1_000_000]) {
    const exact = zeta(n, 0.99);
    assert.ok(Math.abs(zetaLarge(n, 0.99) - exact) / exact < 1e-10, `n=${n}`);
  }
});

// Gray's method is exact for ranks 0 and 1 and approximates the rest with a continuous
// inverse (ranks 2..4 come out 8-17% heavy, as with YCSB's generator): check what it promises.
test('zipfian ranks 0 and 1 follow 1/(i+1)^theta; the head holds its share', () => {
  const n = 1000;
  const z = new Zipfian(n, new Rng(3));
  const counts = new Array<number>(n).fill(0);
  const draws = 200_000;
  for (let i = 0; i < draws; i++) counts[z.next()]!++;
  const zn = zeta(n, 0.99);
  for (const rank of [0, 1]) {
    const expected = draws / Math.pow(rank + 1, 0.99) / zn;
    assert.ok(Math.abs(counts[rank]! - expected) < 5 * Math.sqrt(expected), `rank ${rank}: ${counts[rank]} vs ${expected.toFixed(0)}`);
  }
  const head = counts.slice(0, 100).reduce((a, b) => a + b, 0) / draws;
  const headExpected = zeta(100, 0.99) / zn;
  assert.ok(Math.abs(head - headExpected) < 0.03, `top 100 ranks: ${head.toFixed(3)} vs ${headExpected.toFixed(3)}`);
});

test('scrambled zipfian and latest stay in range; latest prefers the newest keys', () => {
  const s = new ScrambledZipfian(500, new Rng(1));
  const seen = new Set<number>();
  for (let i = 0; i < 20_000; i++) {
    const k = s.next();
    assert.ok(k >= 0 && k < 500);
    seen.add(k);
  }
  assert.ok(seen.size > 300, `scrambled zipfian reaches most keys (${seen.size})`);
  const l = new Latest(100, new Rng(2));
  let newest = 0;
  for (let i = 0; i < 10_000; i++) {
    const k = l.next(200);
    assert.ok(k >= 0 && k < 200);
    if (k === 199) newest++;
  }
  assert.ok(newest > 1000, `the newest key is the most popular (${newest}/10000)`);
});

test('OpChooser follows the workload mix and hands out unique insert keys', () => {
  let next = 0;
  let done = 0;
  const inserts: InsertCounters = { next: () => next++, done: () => done, markDone: () => void done++ };
  const c = new OpChooser(WORKLOADS['D']!, 'zipfian', 1000, inserts, new Rng(9));
  const ops = new Map<string, number>();
  const keys = new Set<string>();
  for (let i = 0; i < 20_000; i++) {
    const op = c.next();
    ops.set(op.op, (ops.get(op.op) ?? 0) + 1);
    if (op.op === 'insert') {
      assert.ok(!keys.has(op.key), 'insert keys are unique');
      keys.add(op.key);
      assert.ok(op.key > keyName(999), 'inserts go past the preloaded keys');
      inserts.markDone();
    }
  }
  const insertShare = (ops.get('insert') ?? 0) / 20_000;
  assert.ok(Math.abs(insertShare - 0.05) < 0.01, `D inserts ~5% (${insertShare})`);
  const e = new OpChooser(WORKLOADS['E']!, 'uniform', 1000, inserts, new Rng(10));
  for (let i = 0; i < 1000; i++) {
    const op = e.next();
    if (op.op === 'scan') assert.ok(op.scanLength! >= 1 && op.scanLength! <= 100);
  }
  assert.deepEqual(parseWorkloads('put, a ,get-stale').map((w) => w.name), ['put', 'A', 'get-stale']);
  assert.throws(() => parseWorkloads('Z'), /unknown workload/);
});
