// Public types of the cellkv client, shared by the HTTP and NATS clients. Keys and values are
// bytes (a string is taken as its UTF-8 encoding); versions are bigint (unsigned 64-bit);
// times are milliseconds since the epoch.

import type { CellkvError } from './errors.js';

export type KeyInput = Uint8Array | string;
export type ValueInput = Uint8Array | string;
export type Consistency = 'linearizable' | 'session' | 'stale';
export type Attrs = Readonly<Record<string, string>>;

/** A bearer token, or a function returning the current one (for rotation). */
export type TokenSource = string | (() => string | Promise<string>);

export interface RetryOptions {
  /** Retries after the first attempt (default 3). */
  readonly retries?: number;
  /** First backoff step; doubles per retry with jitter (default 50 ms). */
  readonly baseDelayMs?: number;
  /** Backoff cap (default 2000 ms). */
  readonly maxDelayMs?: number;
  /** Longest Retry-After honored; longer asks are capped (default 30 s). */
  readonly maxRetryAfterMs?: number;
}

export interface CallOptions {
  readonly signal?: AbortSignal;
}

export interface ReadOptions extends CallOptions {
  /** Default linearizable; `session` with a token from an earlier answer gives read-your-writes. */
  readonly consistency?: Consistency;
  /** A session token returned by an earlier call; implies consistency `session` unless set. */
  readonly session?: string;
  /** stale reads: the oldest acceptable state in milliseconds. */
  readonly maxStalenessMs?: number;
}

export interface WriteOptions extends CallOptions {
  /**
   * Makes retries safe: the write applies at most once per key. When omitted the client makes
   * one per logical write (unless `autoIdempotencyKeys: false`) and reuses it across retries.
   */
  readonly idempotencyKey?: string;
}

export interface PutOptions extends WriteOptions {
  readonly ttlSeconds?: number;
  /** Compare-and-set: apply only when the current version is this one. */
  readonly ifMatch?: bigint | string;
  /** Create only: apply only when the key is absent. */
  readonly ifNoneMatch?: boolean;
  readonly attrs?: Attrs;
}

export interface DeleteOptions extends WriteOptions {
  readonly ifMatch?: bigint | string;
}

export interface Entry {
  readonly value: Uint8Array;
  readonly version: bigint;
  readonly createdAt: number;
  readonly updatedAt: number;
  readonly expiresAt: number | null;
  readonly attrs: Attrs;
}

export interface GetResult extends Entry {
  /** Pass to later reads with consistency `session` for read-your-writes. */
  readonly session: string;
  /** stale reads: how old the served state may be; null otherwise. */
  readonly staleAgeMs: number | null;
}

export interface PutResult {
  readonly version: bigint;
  readonly created: boolean;
  readonly session: string;
}

export interface DeleteResult {
  /** False when the key was absent (the server answered 404). */
  readonly deleted: boolean;
  readonly session: string | null;
}

export type BatchOp =
  | { readonly op: 'get'; readonly key: KeyInput }
  | {
      readonly op: 'put';
      readonly key: KeyInput;
      readonly value: ValueInput;
      readonly ttlSeconds?: number;
      readonly ifVersion?: bigint | string;
      readonly ifAbsent?: boolean;
      readonly attrs?: Attrs;
    }
  | { readonly op: 'cas'; readonly key: KeyInput; readonly value: ValueInput; readonly ifVersion: bigint | string; readonly ttlSeconds?: number; readonly attrs?: Attrs }
  | { readonly op: 'delete'; readonly key: KeyInput; readonly ifVersion?: bigint | string };

export interface BatchOptions extends WriteOptions {
  /** All or nothing; the keys must fall in one cell or the batch is rejected. */
  readonly atomic?: boolean;
  readonly consistency?: Consistency;
  readonly session?: string;
  readonly maxStalenessMs?: number;
}

export type BatchOpResult =
  | ({ readonly ok: true; readonly op: 'get'; readonly session: string } & Entry)
  | { readonly ok: true; readonly op: 'put'; readonly version: bigint; readonly created: boolean; readonly session: string }
  | { readonly ok: true; readonly op: 'delete'; readonly session: string }
  | { readonly ok: false; readonly op: string; readonly error: CellkvError };

export interface BatchResult {
  readonly results: readonly BatchOpResult[];
  /** Set when the whole batch fell in one cell. */
  readonly session: string | null;
  /** Atomic batches: whether the writes were applied. */
  readonly applied: boolean | null;
}

export interface ScanOptions extends ReadOptions {
  /** Keys starting with these bytes; or use start/end. */
  readonly prefix?: KeyInput;
  /** Inclusive start. */
  readonly start?: KeyInput;
  /** Exclusive end. */
  readonly end?: KeyInput;
  /** Items per page (server default 100, at most 1000). */
  readonly limit?: number;
  /** Resume from a cursor an earlier page returned. */
  readonly cursor?: string;
  readonly keysOnly?: boolean;
}

export interface ScanItem {
  readonly key: Uint8Array;
  /** null with keysOnly. */
  readonly value: Uint8Array | null;
  readonly version: bigint;
  readonly createdAt: number;
  readonly updatedAt: number;
  readonly expiresAt: number | null;
  readonly attrs: Attrs;
}

export interface ScanPage {
  readonly items: readonly ScanItem[];
  /** Pass as `cursor` to continue; null on the last page. */
  readonly cursor: string | null;
  readonly session: string | null;
  readonly staleAgeMs: number | null;
}

/** What both clients offer. */
export interface CellkvClient {
  get(key: KeyInput, opts?: ReadOptions): Promise<GetResult | null>;
  put(key: KeyInput, value: ValueInput, opts?: PutOptions): Promise<PutResult>;
  delete(key: KeyInput, opts?: DeleteOptions): Promise<DeleteResult>;
  batch(ops: readonly BatchOp[], opts?: BatchOptions): Promise<BatchResult>;
  /** Pages in key order, following cursors until the range is exhausted. */
  scan(opts?: ScanOptions): AsyncGenerator<ScanPage, void, undefined>;
  close(): Promise<void>;
}
