// The workloads: single-operation ones (put, get, get-stale, cas, scan) and the YCSB core
// workloads A–F as the YCSB paper defines them (operation mix and request distribution), plus
// `scale` (a big load, resources, then gets). Keys are "user" + a zero-padded number, so key
// order is numeric order and scans walk neighbours, as YCSB's ordered inserts do.

import { Latest, Rng, ScrambledZipfian, Uniform } from './zipfian.js';

/** What a peer must support; a workload needing an unsupported op is "n/a" for that peer. */
export type OpKind = 'read' | 'read-stale' | 'update' | 'insert' | 'cas' | 'scan' | 'rmw';
export type Distribution = 'uniform' | 'zipfian';

export interface WorkloadDef {
  readonly name: string;
  readonly description: string;
  /** Operation mix; weights sum to 1. */
  readonly mix: readonly { readonly op: OpKind; readonly weight: number }[];
  /** 'latest' overrides the run's distribution for reads (workload D). */
  readonly readChooser?: 'latest';
  /** Scan length: fixed, or uniform 1..max (YCSB E). */
  readonly scanLength?: { readonly fixed: number } | { readonly uniformMax: number };
}

export const SCAN_KEYS = 100;

export const WORKLOADS: Readonly<Record<string, WorkloadDef>> = {
  put: { name: 'put', description: 'overwrite existing keys', mix: [{ op: 'update', weight: 1 }] },
  get: { name: 'get', description: 'linearizable reads', mix: [{ op: 'read', weight: 1 }] },
  'get-stale': { name: 'get-stale', description: 'stale / serializable reads (any replica)', mix: [{ op: 'read-stale', weight: 1 }] },
  cas: { name: 'cas', description: 'read the version, then a conditional write at it', mix: [{ op: 'cas', weight: 1 }] },
  scan: { name: 'scan', description: `ordered range scans of ${SCAN_KEYS} keys`, mix: [{ op: 'scan', weight: 1 }], scanLength: { fixed: SCAN_KEYS } },
  A: { name: 'A', description: 'YCSB A: 50% read, 50% update', mix: [{ op: 'read', weight: 0.5 }, { op: 'update', weight: 0.5 }] },
  B: { name: 'B', description: 'YCSB B: 95% read, 5% update', mix: [{ op: 'read', weight: 0.95 }, { op: 'update', weight: 0.05 }] },
  C: { name: 'C', description: 'YCSB C: 100% read', mix: [{ op: 'read', weight: 1 }] },
  D: { name: 'D', description: 'YCSB D: 95% read (latest), 5% insert', mix: [{ op: 'read', weight: 0.95 }, { op: 'insert', weight: 0.05 }], readChooser: 'latest' },
  E: { name: 'E', description: `YCSB E: 95% scan (1..${SCAN_KEYS} keys), 5% insert`, mix: [{ op: 'scan', weight: 0.95 }, { op: 'insert', weight: 0.05 }], scanLength: { uniformMax: SCAN_KEYS } },
  F: { name: 'F', description: 'YCSB F: 50% read, 50% read-modify-write', mix: [{ op: 'read', weight: 0.5 }, { op: 'rmw', weight: 0.5 }] },
  scale: { name: 'scale', description: 'load --keys with progress, report load rate, RSS and disk, then linearizable reads', mix: [{ op: 'read', weight: 1 }] },
};

export function workloadNames(): string[] {
  return Object.keys(WORKLOADS);
}

export function parseWorkloads(list: string): WorkloadDef[] {
  const out: WorkloadDef[] = [];
  for (const raw of list.split(',').map((s) => s.trim()).filter(Boolean)) {
    // YCSB letters are accepted in either case; the others are lower case.
    const w = WORKLOADS[raw] ?? WORKLOADS[raw.toUpperCase()];
    if (!w) throw new Error(`unknown workload "${raw}"; known: ${workloadNames().join(', ')}`);
    out.push(w);
  }
  if (out.length === 0) throw new Error('--workload needs at least one workload');
  return out;
}

export function opsOf(w: WorkloadDef): Set<OpKind> {
  return new Set(w.mix.map((m) => m.op));
}

const KEY_DIGITS = 12;

export function keyName(n: number): string {
  return `user${String(n).padStart(KEY_DIGITS, '0')}`;
}

/** The exclusive end of every bench key ("user" → "uses"), for range scans. */
export const KEY_SPACE_END = 'uses';

/**
 * Insert ids are handed out from one counter shared by all generator threads (a SharedArrayBuffer
 * cell) so keys are unique; `done` counts finished inserts, and "latest" reads pick among keys
 * below it, so they rarely ask for a key whose insert is still in flight.
 */
export interface InsertCounters {
  /** Next insert id, relative to the phase's first free key. */
  next(): number;
  /** Inserts finished so far (all threads). */
  done(): number;
  markDone(): void;
}

export interface ChosenOp {
  readonly op: OpKind;
  readonly key: string;
  /** Insert: the counter id to report as done. */
  readonly insertId?: number;
  readonly scanLength?: number;
}

/** Picks operations and keys for one worker: the mix, the distribution, inserts. */
export class OpChooser {
  private readonly cumulative: { op: OpKind; upTo: number }[] = [];
  private readonly uniform: Uniform;
  private readonly zipf: ScrambledZipfian | null;
  private readonly latest: Latest | null;

  constructor(
    private readonly w: WorkloadDef,
    distribution: Distribution,
    /** Keys that exist when the phase starts (preload + earlier inserts). */
    private readonly baseKeys: number,
    private readonly inserts: InsertCounters,
    private readonly rng: Rng,
  ) {
    let acc = 0;
    for (const m of w.mix) this.cumulative.push({ op: m.op, upTo: (acc += m.weight) });
    this.uniform = new Uniform(baseKeys, rng);
    this.zipf = distribution === 'zipfian' ? new ScrambledZipfian(baseKeys, rng) : null;
    this.latest = w.readChooser === 'latest' ? new Latest(baseKeys, rng) : null;
  }

  next(): ChosenOp {
    const u = this.rng.next();
    let op = this.cumulative[this.cumulative.length - 1]!.op;
    for (const c of this.cumulative) {
      if (u < c.upTo) {
        op = c.op;
        break;
      }
    }
    if (op === 'insert') {
      const id = this.inserts.next();
      return { op, key: keyName(this.baseKeys + id), insertId: id };
    }
    const existing = this.baseKeys + this.inserts.done();
    let k: number;
    if (this.latest && (op === 'read' || op === 'read-stale')) {
      k = this.latest.next(existing);
    } else if (this.zipf) {
      this.zipf.grow(existing);
      k = this.zipf.next();
    } else {
      this.uniform.grow(existing);
      k = this.uniform.next();
    }
    if (op === 'scan') {
      const len = this.w.scanLength && 'uniformMax' in this.w.scanLength ? 1 + this.rng.int(this.w.scanLength.uniformMax) : (this.w.scanLength?.fixed ?? SCAN_KEYS);
      return { op, key: keyName(k), scanLength: len };
    }
    return { op, key: keyName(k) };
  }
}

/**
 * Values for writes: each one a different slice of a pool of random bytes (no allocation per
 * op). Identical or low-entropy values would let a compressing store (LevelDB's block
 * compression) shrink its data and look better on disk than stores that do not compress.
 */
export class ValuePool {
  private readonly pool: Uint8Array;

  constructor(
    private readonly valueBytes: number,
    private readonly rng: Rng,
  ) {
    // 1 MiB of slack (16 MiB for huge values): two values in one 4 KiB block rarely overlap.
    const slack = Math.min(Math.max(1 << 20, valueBytes * 64), 16 << 20);
    this.pool = new Uint8Array(valueBytes + slack);
    for (let i = 0; i < this.pool.length; i += 4) {
      const x = Math.floor(rng.next() * 4294967296);
      this.pool[i] = x & 255;
      this.pool[i + 1] = (x >>> 8) & 255;
      this.pool[i + 2] = (x >>> 16) & 255;
      this.pool[i + 3] = x >>> 24;
    }
  }

  next(): Uint8Array {
    const at = this.rng.int(this.pool.length - this.valueBytes + 1);
    return this.pool.subarray(at, at + this.valueBytes);
  }
}
