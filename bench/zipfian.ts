// Key choosers of the YCSB core workloads, implemented from the papers rather than from any
// code: the zipfian generator of Gray et al., "Quickly Generating Billion-Record Synthetic
// Databases" (SIGMOD '94), as the YCSB paper (Cooper et al., SoCC '10) uses it: θ = 0.99,
// "scrambled" by hashing the drawn rank (FNV-1a 64) so the popular keys are spread over the
// key space instead of clustering at its start, and the "latest" variant that prefers the most
// recently inserted keys (workload D). Also a small fast seeded PRNG, so a worker's key
// sequence does not depend on Math.random's shared state and costs next to nothing.

/** xoshiro128** (Blackman & Vigna): four 32-bit words of state, uniform doubles in [0, 1). */
export class Rng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  constructor(seed: number) {
    // splitmix32 expands one seed into four non-zero state words.
    let s = seed >>> 0;
    const next = (): number => {
      s = (s + 0x9e3779b9) >>> 0;
      let z = s;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
      return (z ^ (z >>> 16)) >>> 0;
    };
    this.a = next() || 1;
    this.b = next();
    this.c = next();
    this.d = next();
  }

  private nextU32(): number {
    const r = Math.imul(rotl(Math.imul(this.b, 5), 7), 9) >>> 0;
    const t = this.b << 9;
    this.c ^= this.a;
    this.d ^= this.b;
    this.b ^= this.c;
    this.a ^= this.d;
    this.c ^= t;
    this.d = rotl(this.d, 11);
    return r;
  }

  /** Uniform in [0, 1) with 53 random bits. */
  next(): number {
    return ((this.nextU32() >>> 5) * 67108864 + (this.nextU32() >>> 6)) / 9007199254740992;
  }

  /** Uniform integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}

export const ZIPFIAN_THETA = 0.99;

/** ζ(n, θ) = Σ_{i=1..n} 1/i^θ, continued from an earlier (from, ζ(from)) so growth is cheap. */
export function zeta(n: number, theta: number, from = 0, zetaFrom = 0): number {
  let sum = zetaFrom;
  for (let i = from + 1; i <= n; i++) sum += 1 / Math.pow(i, theta);
  return sum;
}

/**
 * Ranks 0..n-1 with P(rank i) ∝ 1/(i+1)^θ: rank 0 is the most popular. The item count may grow
 * (inserts); ζ(n) is then extended incrementally instead of recomputed.
 */
export class Zipfian {
  private n: number;
  private zetan: number;
  private readonly zeta2: number;
  private readonly alpha: number;
  private eta: number;

  constructor(
    items: number,
    private readonly rng: Rng,
    private readonly theta = ZIPFIAN_THETA,
    /** Precomputed ζ(items, θ) when known (avoids an O(items) sum). */
    zetaOfItems?: number,
  ) {
    if (!(items >= 1)) throw new Error(`zipfian needs at least one item, got ${items}`);
    this.n = items;
    this.zeta2 = zeta(2, theta);
    this.alpha = 1 / (1 - theta);
    // zetaLarge is exact up to 1000 items and within ~1e-12 beyond, in O(1000) instead of O(n).
    this.zetan = zetaOfItems ?? zetaLarge(items, theta);
    this.eta = this.etaOf(items);
  }

  private etaOf(n: number): number {
    return (1 - Math.pow(2 / n, 1 - this.theta)) / (1 - this.zeta2 / this.zetan);
  }

  get items(): number {
    return this.n;
  }

  /** Grows the item count (never shrinks: ζ would have to be recomputed). */
  grow(items: number): void {
    if (items <= this.n) return;
    this.zetan = zeta(items, this.theta, this.n, this.zetan);
    this.n = items;
    this.eta = this.etaOf(items);
  }

  /** A rank in [0, items). */
  next(): number {
    const u = this.rng.next();
    const uz = u * this.zetan;
    if (uz < 1) return 0;
    if (uz < 1 + Math.pow(0.5, this.theta)) return 1;
    const r = Math.floor(this.n * Math.pow(this.eta * u - this.eta + 1, this.alpha));
    return r >= this.n ? this.n - 1 : r;
  }
}

const TWO32 = 4294967296;

/**
 * FNV-1a over the 8 little-endian bytes of a non-negative integer < 2^53, as 64-bit arithmetic
 * on two 32-bit halves (BigInt would cost ~1 µs per key). Returns the hash modulo `mod`.
 */
export function fnv1a64Mod(value: number, mod: number): number {
  // offset basis 0xcbf29ce484222325
  let hi = 0xcbf29ce4;
  let lo = 0x84222325;
  let v = value;
  for (let i = 0; i < 8; i++) {
    const octet = v % 256;
    v = Math.floor(v / 256);
    lo = (lo ^ octet) >>> 0;
    // × prime 0x100000001b3 = 2^40 + 0x1b3, mod 2^64
    const l = lo * 0x1b3;
    const carry = Math.floor(l / TWO32);
    const newLo = l >>> 0;
    hi = (hi * 0x1b3 + carry + ((lo << 8) >>> 0)) >>> 0;
    lo = newLo;
  }
  // (hi·2^32 + lo) mod m without leaving exact double range (m < 2^37).
  let r = ((hi % mod) * 65536) % mod;
  r = (r * 65536) % mod;
  return (r + lo) % mod;
}

/**
 * ζ(n, θ) for large n in O(1000): the first terms summed exactly, the tail by Euler–Maclaurin
 * (integral + endpoint average + the B2 and B4 derivative terms); for n = 10^6 it agrees with
 * the exact sum to ~1e-12 (test/bench/zipfian.test.ts).
 */
export function zetaLarge(n: number, theta: number): number {
  const m = 1000;
  if (n <= m) return zeta(n, theta);
  const head = zeta(m - 1, theta);
  const f = (x: number) => Math.pow(x, -theta);
  const f1 = (x: number) => -theta * Math.pow(x, -theta - 1);
  const f3 = (x: number) => -theta * (theta + 1) * (theta + 2) * Math.pow(x, -theta - 3);
  const integral = (Math.pow(n, 1 - theta) - Math.pow(m, 1 - theta)) / (1 - theta);
  return head + integral + (f(m) + f(n)) / 2 + (f1(n) - f1(m)) / 12 - (f3(n) - f3(m)) / 720;
}

/**
 * The scrambled generator draws ranks from a zipfian over 10^10 items (as YCSB does) and
 * hashes them into the key space, so the skew does not depend on the key count.
 */
export const SCRAMBLED_ITEMS = 10_000_000_000;
let zetaScrambled: number | null = null;

/** Scrambled zipfian over [0, keys): skewed like zipfian, hot keys spread by hash. */
export class ScrambledZipfian {
  private readonly z: Zipfian;

  constructor(
    private keys: number,
    rng: Rng,
  ) {
    zetaScrambled ??= zetaLarge(SCRAMBLED_ITEMS, ZIPFIAN_THETA);
    this.z = new Zipfian(SCRAMBLED_ITEMS, rng, ZIPFIAN_THETA, zetaScrambled);
  }

  /** Inserted keys become choosable (workload E's scans and D's latest use their own logic). */
  grow(keys: number): void {
    if (keys > this.keys) this.keys = keys;
  }

  next(): number {
    return fnv1a64Mod(this.z.next(), this.keys);
  }
}

/**
 * Workload D's "latest": the most recently inserted key is the most popular, then the one
 * before it, and so on (zipfian over the age of a key).
 */
export class Latest {
  private readonly z: Zipfian;

  constructor(keys: number, rng: Rng) {
    this.z = new Zipfian(keys, rng);
  }

  /** `newestExclusive` = how many keys exist now (keys 0..newestExclusive-1). */
  next(newestExclusive: number): number {
    this.z.grow(newestExclusive);
    const age = this.z.next();
    const k = newestExclusive - 1 - age;
    return k < 0 ? 0 : k;
  }
}

export class Uniform {
  constructor(
    private keys: number,
    private readonly rng: Rng,
  ) {}

  grow(keys: number): void {
    if (keys > this.keys) this.keys = keys;
  }

  next(): number {
    return this.rng.int(this.keys);
  }
}
