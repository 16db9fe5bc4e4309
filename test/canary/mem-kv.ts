// An in-memory CellkvClient for the canary's unit tests: each op takes effect at one instant
// inside its call (after a random delay, before another), versions grow per store, and a few
// faults can be switched on: writes reported OUTCOME_UNKNOWN that apply later or never
// (still linearizable), and acknowledged puts that are never applied (lost writes: not).

import { CellkvError, type BatchResult, type CellkvClient, type DeleteOptions, type DeleteResult, type GetResult, type KeyInput, type PutOptions, type PutResult, type ScanPage, type ValueInput } from '../../shared/client/index.js';

export interface MemKvOptions {
  /** Random seed (xorshift), so runs repeat their choices. */
  readonly seed: number;
  /** Longest delay before and after an op's instant, ms. */
  readonly maxDelayMs: number;
  /** Every n-th write is reported OUTCOME_UNKNOWN; half apply up to lateMs later, half never. */
  readonly unknownEvery?: number;
  readonly lateMs?: number;
  /** Every n-th plain put is acknowledged without being applied (a lost write). */
  readonly loseEvery?: number;
}

const enc = new TextEncoder();
const dec = new TextDecoder();

export class MemKv implements CellkvClient {
  private readonly data = new Map<string, { value: Uint8Array; version: bigint }>();
  private version = 0n;
  private rng: number;
  private writes = 0;
  private puts = 0;
  private readonly late = new Set<Promise<void>>();
  lost = 0;

  constructor(private readonly o: MemKvOptions) {
    this.rng = o.seed | 0 || 1;
  }

  private random(): number {
    this.rng ^= this.rng << 13;
    this.rng ^= this.rng >>> 17;
    this.rng ^= this.rng << 5;
    return (this.rng >>> 0) / 2 ** 32;
  }

  private pause(): Promise<void> {
    return new Promise((r) => setTimeout(r, this.random() * this.o.maxDelayMs));
  }

  private async op<T>(isWrite: boolean, apply: () => T): Promise<T> {
    await this.pause();
    if (isWrite && this.o.unknownEvery !== undefined && ++this.writes % this.o.unknownEvery === 0) {
      if (this.random() < 0.5) {
        const p = new Promise<void>((r) => setTimeout(r, this.random() * (this.o.lateMs ?? 0))).then(() => {
          try {
            apply();
          } catch {
            // a refused late cas simply did not apply
          }
        });
        this.late.add(p);
        void p.finally(() => this.late.delete(p));
      }
      throw new CellkvError({ code: 'OUTCOME_UNKNOWN', status: 504, detail: 'mem-kv: outcome unknown' });
    }
    const out = apply();
    await this.pause();
    return out;
  }

  async get(key: KeyInput): Promise<GetResult | null> {
    const k = typeof key === 'string' ? key : dec.decode(key);
    return this.op(false, () => {
      const e = this.data.get(k);
      return e ? { value: e.value, version: e.version, createdAt: 0, updatedAt: 0, expiresAt: null, attrs: {}, session: '', staleAgeMs: null } : null;
    });
  }

  async put(key: KeyInput, value: ValueInput, opts: PutOptions = {}): Promise<PutResult> {
    const k = typeof key === 'string' ? key : dec.decode(key);
    const v = typeof value === 'string' ? enc.encode(value) : value;
    const lose = opts.ifMatch === undefined && this.o.loseEvery !== undefined && ++this.puts % this.o.loseEvery === 0;
    return this.op(true, () => {
      const cur = this.data.get(k);
      if (opts.ifMatch !== undefined && (cur === undefined || cur.version !== BigInt(opts.ifMatch))) {
        throw new CellkvError({ code: 'VERSION_MISMATCH', status: 412, detail: 'mem-kv: version mismatch', currentVersion: cur?.version ?? null });
      }
      const version = ++this.version;
      if (lose) this.lost++;
      else this.data.set(k, { value: v, version });
      return { version, created: cur === undefined, session: '' };
    });
  }

  async delete(key: KeyInput, _opts?: DeleteOptions): Promise<DeleteResult> {
    const k = typeof key === 'string' ? key : dec.decode(key);
    return this.op(true, () => ({ deleted: this.data.delete(k), session: null }));
  }

  async batch(): Promise<BatchResult> {
    throw new CellkvError({ code: 'INVALID_ARGUMENT', status: 400, detail: 'mem-kv: no batches' });
  }

  async *scan(): AsyncGenerator<ScanPage, void, undefined> {
    yield { items: [], cursor: null, session: null, staleAgeMs: null };
  }

  async close(): Promise<void> {
    while (this.late.size > 0) await Promise.all([...this.late]);
  }
}
