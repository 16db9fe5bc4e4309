// A client whose every n-th write is reported OUTCOME_UNKNOWN at once and applied only
// `delayMs` later, as a write stuck in a retry loop or a slow log can land after its caller
// gave up. Such a history is linearizable; the canary must carry those writes across window
// cuts (no false alarm), or retire the key when they stay unresolved past its taint bound.

import { CellkvError, type BatchOp, type BatchOptions, type BatchResult, type CellkvClient, type DeleteOptions, type DeleteResult, type GetResult, type KeyInput, type PutOptions, type PutResult, type ReadOptions, type ScanOptions, type ScanPage, type ValueInput } from '../../shared/client/index.js';

export class LateWriteClient implements CellkvClient {
  private writes = 0;
  private readonly pending = new Set<Promise<void>>();
  /** Writes reported unknown, and how many of them were applied later. */
  reportedUnknown = 0;
  landedLate = 0;

  constructor(
    private readonly inner: CellkvClient,
    private readonly every: number,
    private readonly delayMs: number,
  ) {}

  get(key: KeyInput, opts?: ReadOptions): Promise<GetResult | null> {
    return this.inner.get(key, opts);
  }

  put(key: KeyInput, value: ValueInput, opts?: PutOptions): Promise<PutResult> {
    return this.maybeLate(() => this.inner.put(key, value, opts));
  }

  delete(key: KeyInput, opts?: DeleteOptions): Promise<DeleteResult> {
    return this.maybeLate(() => this.inner.delete(key, opts));
  }

  batch(ops: readonly BatchOp[], opts?: BatchOptions): Promise<BatchResult> {
    return this.inner.batch(ops, opts);
  }

  scan(opts?: ScanOptions): AsyncGenerator<ScanPage, void, undefined> {
    return this.inner.scan(opts);
  }

  /** Waits for every delayed write to be applied (or refused). */
  async settle(): Promise<void> {
    while (this.pending.size > 0) await Promise.all([...this.pending]);
  }

  async close(): Promise<void> {
    await this.settle();
    await this.inner.close();
  }

  private async maybeLate<T>(apply: () => Promise<T>): Promise<T> {
    if (++this.writes % this.every !== 0) return apply();
    this.reportedUnknown++;
    const p = new Promise((r) => setTimeout(r, this.delayMs))
      .then(apply)
      .then(
        () => void this.landedLate++,
        () => undefined, // a refused cas or a failed late attempt: it simply never applied
      );
    this.pending.add(p);
    void p.finally(() => this.pending.delete(p));
    throw new CellkvError({ code: 'OUTCOME_UNKNOWN', status: 504, detail: 'test transport: reported unknown, applied later' });
  }
}
