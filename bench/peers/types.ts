// What the harness needs from each compared system: a running cluster (started and stopped by
// the harness, with its processes and data directories for RSS/CPU/disk figures) and a
// client driver that runs inside any generator thread. Drivers are built from a plain,
// structured-cloneable TargetSpec so worker_threads can construct their own.

import type { OpKind } from '../workloads.js';

export type TargetSpec =
  | { readonly kind: 'cellkv-http'; readonly url: string; readonly token: string }
  | { readonly kind: 'cellkv-nats'; readonly servers: readonly string[]; readonly token: string }
  | { readonly kind: 'etcd'; readonly endpoints: readonly string[]; readonly apiPrefix: string }
  | { readonly kind: 'jetstream'; readonly servers: readonly string[]; readonly bucket: string };

export interface DriverOptions {
  /** Connections (HTTP pools) the driver may open: the thread's share of --concurrency. */
  readonly connections: number;
  /** Bound on one operation; past it the op counts as an error ("timeout"). */
  readonly opTimeoutMs: number;
}

export interface ReadResult {
  readonly found: boolean;
  /** The system's version of the key (cellkv version, etcd mod_revision, JetStream revision). */
  readonly version: string | null;
}

export type CasOutcome = 'applied' | 'conflict';

export interface KvEntryInput {
  readonly key: string;
  readonly value: Uint8Array;
}

/** One client of one system; every method rejects with an Error on failure (never hangs past opTimeoutMs). */
export interface KvDriver {
  get(key: string, stale: boolean): Promise<ReadResult>;
  put(key: string, value: Uint8Array): Promise<void>;
  /** Conditional write: applied only when the key's version is still `expected.version`. */
  cas(key: string, value: Uint8Array, expected: ReadResult): Promise<CasOutcome>;
  /** Reads up to `limit` keys from `startKey` in key order; resolves with how many came back. */
  scan(startKey: string, limit: number): Promise<number>;
  /** Preload: writes many keys at once (batches, transactions or pipelining); resolves with how many failed. */
  putMany(entries: readonly KvEntryInput[]): Promise<number>;
  close(): Promise<void>;
}

/** An operation failure with a short, stable label for the per-row error breakdown. */
export class OpError extends Error {
  constructor(
    readonly label: string,
    detail: string,
  ) {
    super(`${label}: ${detail}`);
    this.name = 'OpError';
  }
}

/** A short label for any error a driver let through (counted per label in each row). */
export function errorLabel(e: unknown): string {
  if (e instanceof OpError) return e.label;
  const err = e as { code?: unknown; name?: unknown; message?: unknown };
  if (typeof err?.code === 'string' && err.code.length <= 40) return err.code;
  const msg = typeof err?.message === 'string' ? err.message : String(e);
  if (/timeout|timed out/i.test(msg)) return 'timeout';
  return (typeof err?.name === 'string' ? err.name : 'Error').slice(0, 40);
}

export interface PeerProcess {
  readonly name: string;
  readonly pid: number;
}

/** A system under test, running. */
export interface RunningPeer {
  /** cellkv | etcd | jetstream */
  readonly peer: string;
  readonly version: string;
  /** One target per front door measured (cellkv: http and/or nats; others: one). */
  readonly targets: readonly { readonly front: string; readonly spec: TargetSpec }[];
  /** Ops this system cannot do honestly, with the reason shown for "n/a" rows. */
  readonly unsupported: ReadonlyMap<OpKind, string>;
  /** How it was configured (consistency, durability): printed under the table, kept in JSON. */
  readonly notes: readonly string[];
  /** Preload write batch size and how many batches in flight (per system: what its API allows). */
  readonly preload: { readonly batch: number; readonly inFlight: number };
  processes(): readonly PeerProcess[];
  /** --cpu-prof: begins the profiles' measured window (after the preload); absent when not profiling. */
  startProfiling?(): void;
  dataDirs(): readonly { readonly name: string; readonly dir: string }[];
  stop(): Promise<void>;
}

export interface PeerStartOptions {
  readonly log: (line: string) => void;
  /** Whether the harness may apt-get a missing server binary (root on Debian only). */
  readonly allowInstall: boolean;
  readonly valueBytes: number;
  readonly keys: number;
}
