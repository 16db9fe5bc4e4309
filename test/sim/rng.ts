// Seeded PRNG for the simulation. Every random choice of a run derives from its seed, so a seed
// replays bit-for-bit. sfc32 is small, fast and good enough for scheduling; splitmix32 spreads
// nearby seeds (1, 2, 3, ...) into unrelated streams.

import { assert } from '../../shared/assert.js';

function splitmix32(state: number): [number, number] {
  const s = (state + 0x9e3779b9) | 0;
  let z = s;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
  z ^= z >>> 16;
  return [s, z >>> 0];
}

/** FNV-1a over a string: derives a child stream's seed from a label. */
export function hashString(s: string, h = 0x811c9dc5): number {
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

export class Rng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  constructor(seed: number) {
    assert(Number.isFinite(seed), `bad rng seed ${seed}`);
    let s = seed | 0;
    let out: number;
    [s, out] = splitmix32(s ^ Math.floor(seed / 0x100000000));
    this.a = out;
    [s, out] = splitmix32(s);
    this.b = out;
    [s, out] = splitmix32(s);
    this.c = out;
    [, out] = splitmix32(s);
    this.d = out;
    // Warm up so the first outputs do not echo the seeding.
    for (let i = 0; i < 12; i++) this.u32();
  }

  /** An independent stream for one concern (network, clients, ...), stable across code changes elsewhere. */
  fork(label: string): Rng {
    return new Rng(hashString(label, this.u32()));
  }

  u32(): number {
    // sfc32
    const t = (((this.a + this.b) | 0) + this.d) | 0;
    this.d = (this.d + 1) | 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) | 0;
    this.c = (this.c << 21) | (this.c >>> 11);
    this.c = (this.c + t) | 0;
    return t >>> 0;
  }

  /** Uniform in [0, 1). */
  next(): number {
    return this.u32() / 0x100000000;
  }

  /** Uniform integer in [0, n). */
  int(n: number): number {
    assert(Number.isInteger(n) && n > 0, `rng.int(${n})`);
    return Math.floor(this.next() * n);
  }

  /** Uniform integer in [lo, hi] (inclusive). */
  range(lo: number, hi: number): number {
    assert(hi >= lo, `rng.range(${lo}, ${hi})`);
    return lo + this.int(hi - lo + 1);
  }

  chance(p: number): boolean {
    return p > 0 && this.next() < p;
  }

  pick<T>(items: readonly T[]): T {
    assert(items.length > 0, 'rng.pick from an empty list');
    return items[this.int(items.length)]!;
  }

  /** Fisher-Yates into a new array. */
  shuffle<T>(items: readonly T[]): T[] {
    const out = items.slice();
    for (let i = out.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      const tmp = out[i]!;
      out[i] = out[j]!;
      out[j] = tmp;
    }
    return out;
  }
}
