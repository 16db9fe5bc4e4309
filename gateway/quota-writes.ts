// The write side of size quotas: what a request's writes would change (growth), reading keys'
// current sizes when that matters, and what was applied where (to account it until the cells'
// usage includes it). Used by quotas.ts and the core.

import type { CellOp } from '../shared/cell-protocol.js';
import type { BatchOpOutcome, CellPort } from './ports.js';

/** One write of a request, for quota checks: a put's stored size (key + value) or a delete. */
export type WriteIntent = { readonly op: 'put'; readonly key: Uint8Array; readonly size: number } | { readonly op: 'delete'; readonly key: Uint8Array };

/** Reads the stored size (key + value bytes) of keys; null when absent. */
export type SizeProbe = (keys: readonly Uint8Array[]) => Promise<(number | null)[]>;

/** What admission learned, to account the writes once their results are known. */
export interface WriteTicket {
  readonly tenant: string;
  readonly intents: readonly WriteIntent[];
  /** Current sizes of the intents' keys when they were read (near a quota), else null. */
  readonly before: readonly (number | null)[] | null;
}

/** How one write ended: whether it changed the key count (a put created, a delete found) and where it applied. */
export interface SettledWrite {
  readonly applied: boolean;
  /** The cell and the Raft index of the entry that carried it (null cell: not known). */
  readonly cell: string | null;
  readonly index: bigint;
}

/** A write as the quota check sees it: stored size is key + value bytes. */
export function intentOf(op: CellOp): WriteIntent {
  return op.op === 'put' ? { op: 'put', key: op.key, size: op.key.length + op.value.length } : { op: 'delete', key: op.key };
}

/**
 * What the writes change if they all apply, in order: per key, from its size before the request
 * (`before`, null = absent) to its size after the last write of it.
 */
export function growthOf(intents: readonly WriteIntent[], before: readonly (number | null)[]): { keys: number; bytes: number } {
  const keys = new Map<string, { initial: number | null; final: number | null }>();
  intents.forEach((i, n) => {
    const id = Buffer.from(i.key.buffer, i.key.byteOffset, i.key.length).toString('latin1');
    let k = keys.get(id);
    if (!k) keys.set(id, (k = { initial: before[n] ?? null, final: before[n] ?? null }));
    k.final = i.op === 'put' ? i.size : null;
  });
  const g = { keys: 0, bytes: 0 };
  for (const k of keys.values()) {
    g.keys += (k.final !== null ? 1 : 0) - (k.initial !== null ? 1 : 0);
    g.bytes += (k.final ?? 0) - (k.initial ?? 0);
  }
  return g;
}

/**
 * Reads keys' current stored sizes with one point read each, 16 at a time: only needed near a
 * quota, and a reply with one value always fits a NATS message (a many-key read might not).
 */
export function sizeProbe(port: CellPort, tenant: string, bound: <T>(work: Promise<T>) => Promise<T>): SizeProbe {
  return async (keys) => {
    const sizes: (number | null)[] = keys.map(() => null);
    for (let i = 0; i < keys.length; i += 16) {
      await Promise.all(
        keys.slice(i, i + 16).map(async (key, j) => {
          const r = (await bound(port.request(tenant, [{ op: 'get', key }], {}))).results[0];
          if (r?.status === 'ok' && r.found && r.value) sizes[i + j] = key.length + r.value.length;
        }),
      );
    }
    return sizes;
  };
}

/** settle() input for a batch's writes (at `writeIdx`) from its per-op results and where each group applied. */
export function settledWrites(
  results: readonly (BatchOpOutcome | undefined)[],
  writeIdx: readonly number[],
  where: readonly ({ readonly cell: string; readonly index: bigint } | undefined)[],
): (SettledWrite | null)[] {
  return writeIdx.map((i) => {
    const r = results[i];
    const w = where[i];
    if (!r || !r.ok || r.op === 'get' || !w) return null;
    return { applied: r.op === 'put' ? r.created : true, cell: w.cell, index: w.index };
  });
}
