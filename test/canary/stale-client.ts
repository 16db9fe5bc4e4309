// A deliberately broken client for the canary's failure test: it wraps a real client and
// answers every n-th read from a cache of the first value it ever read for the key, as a
// buggy stale cache in front of a store would. Writes pass through unchanged.

import type { BatchOp, BatchOptions, BatchResult, CellkvClient, DeleteOptions, DeleteResult, GetResult, KeyInput, PutOptions, PutResult, ReadOptions, ScanOptions, ScanPage, ValueInput } from '../../shared/client/index.js';

const dec = new TextDecoder();

export class StaleReadClient implements CellkvClient {
  private readonly firstRead = new Map<string, GetResult>();
  private reads = 0;
  /** How many reads were answered from the stale cache. */
  staleServed = 0;

  constructor(
    private readonly inner: CellkvClient,
    private readonly every: number,
  ) {}

  async get(key: KeyInput, opts?: ReadOptions): Promise<GetResult | null> {
    const k = typeof key === 'string' ? key : dec.decode(key);
    const cached = this.firstRead.get(k);
    if (cached !== undefined && ++this.reads % this.every === 0) {
      this.staleServed++;
      return cached;
    }
    const r = await this.inner.get(key, opts);
    if (r !== null && cached === undefined) this.firstRead.set(k, r);
    return r;
  }

  put(key: KeyInput, value: ValueInput, opts?: PutOptions): Promise<PutResult> {
    return this.inner.put(key, value, opts);
  }

  delete(key: KeyInput, opts?: DeleteOptions): Promise<DeleteResult> {
    return this.inner.delete(key, opts);
  }

  batch(ops: readonly BatchOp[], opts?: BatchOptions): Promise<BatchResult> {
    return this.inner.batch(ops, opts);
  }

  scan(opts?: ScanOptions): AsyncGenerator<ScanPage, void, undefined> {
    return this.inner.scan(opts);
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}
