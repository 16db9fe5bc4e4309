// The request/response model between gateways (or any internal client) and cells, carried
// over NATS request-reply in the binary codec of shared/codec/cell-codec.ts.

import type { ErrorCode } from './errors.js';

export type Consistency = 'linearizable' | 'session' | 'stale';

/** Attributes of a key: small string map set by X-KV-Attr-* headers. */
export type Attrs = Readonly<Record<string, string>>;

export interface KeyMeta {
  /** Strictly increasing per key, never reused (u64). */
  readonly version: bigint;
  /** Milliseconds since the epoch, from the leader's clock at proposal time. */
  readonly createdAt: number;
  readonly updatedAt: number;
  readonly expiresAt: number | null;
  readonly attrs: Attrs;
}

export type CellOp =
  | { readonly op: 'get'; readonly key: Uint8Array }
  | {
      readonly op: 'put';
      readonly key: Uint8Array;
      readonly value: Uint8Array;
      /** Time to live in milliseconds; null = no expiry. */
      readonly ttlMs: number | null;
      /** Compare-and-set: apply only if the current version equals this. */
      readonly ifVersion: bigint | null;
      /** Create only: apply only if the key is absent. */
      readonly ifAbsent: boolean;
      readonly attrs: Attrs | null;
    }
  | { readonly op: 'delete'; readonly key: Uint8Array; readonly ifVersion: bigint | null };

export interface ScanRequest {
  /** Inclusive start of the range (namespaced by the cell with the tenant). */
  readonly start: Uint8Array;
  /** Exclusive end; null = to the end of the tenant's keyspace. */
  readonly end: Uint8Array | null;
  readonly limit: number;
  readonly keysOnly: boolean;
}

export interface CellRequest {
  readonly cellId: string;
  /** The directory epoch the sender routed by; a stale one may get WRONG_RANGE. */
  readonly epoch: number;
  /** Unique per logical write; a retry reuses it so the write applies at most once. */
  readonly requestId: string;
  readonly tenant: string;
  readonly consistency: Consistency;
  /** session reads: the raft index from the session token; 0 = none. */
  readonly sessionIndex: bigint;
  /** stale reads: the oldest acceptable state, in milliseconds; 0 = any. */
  readonly maxStalenessMs: number;
  /** All ops in one cell apply atomically when true. */
  readonly atomic: boolean;
  readonly ops: readonly CellOp[];
  readonly scan: ScanRequest | null;
  /** W3C traceparent of the caller's span, '' when none. */
  readonly traceparent: string;
}

export type OpResult =
  | {
      readonly status: 'ok';
      /** get: whether the key exists (and is unexpired); delete: whether it existed. */
      readonly found: boolean;
      readonly value: Uint8Array | null;
      readonly meta: KeyMeta | null;
    }
  | {
      readonly status: 'error';
      readonly code: ErrorCode;
      readonly message: string;
      /** VERSION_MISMATCH / ALREADY_EXISTS: the current version, null when absent. */
      readonly currentVersion: bigint | null;
    };

export interface ScanItem {
  readonly key: Uint8Array;
  readonly value: Uint8Array | null;
  readonly meta: KeyMeta;
}

export interface CellResponse {
  readonly status: 'ok' | 'error';
  /** When status is 'error': why the whole request failed. */
  readonly code: ErrorCode | null;
  readonly message: string;
  /** NOT_LEADER: the node believed to lead the cell, '' when unknown. */
  readonly leaderHint: string;
  readonly results: readonly OpResult[];
  readonly scanItems: readonly ScanItem[];
  /** Scan: the key to resume from, null when the range is exhausted within this cell. */
  readonly scanResumeKey: Uint8Array | null;
  /** The raft index this response reflects (a session token for later reads). */
  readonly index: bigint;
  /** stale reads: how old the served state may be, in milliseconds. */
  readonly staleAgeMs: number;
}

/** A client write as replicated through a cell's Raft log. */
export interface WriteCommand {
  readonly kind: 'write';
  readonly requestId: string;
  readonly tenant: string;
  /** The leader's clock at proposal time: createdAt/updatedAt/expiresAt derive from it. */
  readonly nowMs: number;
  readonly atomic: boolean;
  /** put and delete only (reads in a batch are served after the write commits). */
  readonly ops: readonly CellOp[];
}

/** Deletes keys whose expiry passed (proposed by the leader from its expiry index). */
export interface ExpireCommand {
  readonly kind: 'expire';
  readonly nowMs: number;
  /** Namespaced keys (tenant + 0x00 + key). */
  readonly keys: readonly Uint8Array[];
}

/** Directory and registry updates of the meta cell; rare, so JSON inside. */
export interface MetaCommand {
  readonly kind: 'meta';
  readonly json: string;
}

/**
 * Splits the cell at `splitKey` (namespaced): the cell keeps [start, splitKey), a new cell
 * `newCellId` takes [splitKey, end) with the same replicas, its log starting at this entry's
 * index. Applied only if the cell's epoch still is `epoch` and the key lies strictly inside.
 */
export interface SplitCommand {
  readonly kind: 'split';
  readonly splitKey: Uint8Array;
  readonly newCellId: string;
  readonly epoch: number;
}

/**
 * The first step of a merge, in the cell that is absorbed (the right one): from this entry on
 * the cell takes no writes and serves no reads (its epoch goes up), so its state is fixed at
 * this index. Applied only if the cell's epoch still is `epoch`; `into` (at `intoEpoch`) is the
 * left neighbour that will absorb it.
 */
export interface MergeFreezeCommand {
  readonly kind: 'mergeFreeze';
  readonly into: string;
  readonly intoEpoch: number;
  readonly epoch: number;
  /** The proposer's clock: a merge whose runner died is finished soon after, by any leader. */
  readonly atMs: number;
}

/**
 * The second step, in the absorbing (left) cell: it takes over [its end, `sourceEnd`) from
 * `source`, whose replica on each node has applied `freezeIndex` (the freeze) first. Applied only
 * if the cell's epoch still is `epoch` and its range ends where the source's starts.
 * `sourceVersionTop` is the source's last version index (freeze index plus its version base):
 * every later version of the merged cell is above it.
 */
export interface MergeCommitCommand {
  readonly kind: 'mergeCommit';
  readonly source: string;
  readonly sourceStart: Uint8Array;
  /** null = unbounded. */
  readonly sourceEnd: Uint8Array | null;
  readonly sourceEpoch: number;
  readonly freezeIndex: number;
  readonly sourceVersionTop: number;
  readonly epoch: number;
}

/**
 * In the absorbing cell: gives up a merge that did not commit. The epoch goes up (if still
 * `epoch`), so a commit of `source` at that epoch, still in flight, can never apply; after it,
 * the source may be rolled back.
 */
export interface MergeAbortCommand {
  readonly kind: 'mergeAbort';
  readonly source: string;
  readonly epoch: number;
}

/** Undoes a freeze whose merge can no longer commit (the left cell's epoch moved on without it). */
export interface MergeRollbackCommand {
  readonly kind: 'mergeRollback';
  readonly epoch: number;
}

/** Commands that change a cell's range: each is an entry of its own. */
export type RangeCommand = SplitCommand | MergeFreezeCommand | MergeCommitCommand | MergeAbortCommand | MergeRollbackCommand;

export function isRangeCommand(c: CellCommand): c is RangeCommand {
  return c.kind === 'split' || c.kind === 'mergeFreeze' || c.kind === 'mergeCommit' || c.kind === 'mergeAbort' || c.kind === 'mergeRollback';
}

export type CellCommand = WriteCommand | ExpireCommand | MetaCommand | RangeCommand;

/** One Raft entry carries a batch of commands (proposals are batched per cell). */
export interface CellEntryPayload {
  readonly commands: readonly CellCommand[];
}
