// The slice of LevelDB the state machine uses, so it can be driven by the node's real
// database (classic-level) and, in unit tests, by the same database in a temp directory.

export type BatchOp =
  | { readonly type: 'put'; readonly key: Uint8Array; readonly value: Uint8Array }
  | { readonly type: 'del'; readonly key: Uint8Array };

export interface IteratorRange {
  readonly gte?: Uint8Array;
  readonly gt?: Uint8Array;
  readonly lt?: Uint8Array;
  readonly limit?: number;
  readonly reverse?: boolean;
}

export interface KvDb {
  get(key: Uint8Array): Promise<Uint8Array | undefined>;
  /** One round trip for many keys (LevelDB reads are async and cost a thread-pool hop each). */
  getMany(keys: Uint8Array[]): Promise<(Uint8Array | undefined)[]>;
  iterator(range: IteratorRange): AsyncIterable<[Uint8Array, Uint8Array]>;
}
