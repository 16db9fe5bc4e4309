// Deterministic application of committed cell commands to the key-value data. Every replica
// applies the same entries in the same order with the same inputs (the leader's clock travels
// in the command), so every replica computes the same results and the same writes.

import { assert } from '../../shared/assert.js';
import type { CellOp, KeyMeta, OpResult, WriteCommand, ExpireCommand } from '../../shared/cell-protocol.js';
import { namespacedKey } from '../../shared/keys.js';
import type { StoredValue } from '../../shared/codec/index.js';

/** Ops per entry are bounded so that (index, position) fits a version. */
export const MAX_OPS_PER_ENTRY = 1 << 16;

/**
 * Versions are `raftIndex * 2^16 + position`: unique per cell and strictly increasing in log
 * order, so a key's version strictly increases across overwrite, delete-and-recreate, leader
 * change and restart, and a version is never reused (no ABA for compare-and-set).
 */
export function versionFor(index: number, position: number): bigint {
  assert(position >= 0 && position < MAX_OPS_PER_ENTRY, `op position ${position} out of range`);
  return (BigInt(index) << 16n) | BigInt(position);
}

/** The view of current data that apply needs: values by namespaced key, with pending writes. */
export interface ApplyView {
  get(nsKey: Uint8Array): Promise<StoredValue | null>;
  put(nsKey: Uint8Array, v: StoredValue): Promise<void>;
  del(nsKey: Uint8Array): Promise<void>;
}

export function isLive(v: StoredValue | null, nowMs: number): v is StoredValue {
  return v !== null && (v.meta.expiresAt === null || v.meta.expiresAt > nowMs);
}

function mismatch(code: 'VERSION_MISMATCH' | 'ALREADY_EXISTS', message: string, current: StoredValue | null): OpResult {
  return { status: 'error', code, message, currentVersion: current ? current.meta.version : null };
}

/** Checks one op's precondition against the current value; null when it may proceed. */
function precondition(op: CellOp, current: StoredValue | null): OpResult | null {
  if (op.op === 'put') {
    if (op.ifAbsent && current !== null) {
      return mismatch('ALREADY_EXISTS', 'key exists (If-None-Match: *); read it and retry with If-Match', current);
    }
    if (op.ifVersion !== null && (current === null || current.meta.version !== op.ifVersion)) {
      return mismatch('VERSION_MISMATCH', 'version does not match; read the current version and retry', current);
    }
  } else if (op.op === 'delete') {
    if (op.ifVersion !== null && (current === null || current.meta.version !== op.ifVersion)) {
      return mismatch('VERSION_MISMATCH', 'version does not match; read the current version and retry', current);
    }
  }
  return null;
}

/**
 * Applies a client write. With `atomic`, all ops apply or none does (the first failed
 * precondition fails the batch); otherwise each op stands alone.
 */
export async function applyWrite(
  cmd: WriteCommand,
  index: number,
  firstPosition: number,
  view: ApplyView,
): Promise<OpResult[]> {
  const keys = cmd.ops.map((op) => namespacedKey(cmd.tenant, op.key));
  const currents: (StoredValue | null)[] = [];
  for (const k of keys) {
    const v = await view.get(k);
    currents.push(isLive(v, cmd.nowMs) ? v : null);
  }
  if (cmd.atomic) {
    // Ops on the same key within one atomic batch see each other's effects.
    const sim = new Map<string, StoredValue | null>();
    for (let i = 0; i < cmd.ops.length; i++) {
      const hex = Buffer.from(keys[i]!).toString('hex');
      const cur = sim.has(hex) ? sim.get(hex)! : currents[i]!;
      const failed = precondition(cmd.ops[i]!, cur);
      if (failed) {
        return cmd.ops.map((_, j) =>
          j === i
            ? failed
            : { status: 'error', code: failed.status === 'error' ? failed.code : 'VERSION_MISMATCH', message: `not applied: op ${i} of the atomic batch failed`, currentVersion: null },
        );
      }
      sim.set(hex, fakeAfter(cmd.ops[i]!, cur, cmd.nowMs, versionFor(index, firstPosition + i)));
    }
  }
  const results: OpResult[] = [];
  const latest = new Map<string, StoredValue | null>();
  for (let i = 0; i < cmd.ops.length; i++) {
    const op = cmd.ops[i]!;
    const hex = Buffer.from(keys[i]!).toString('hex');
    const current = latest.has(hex) ? latest.get(hex)! : currents[i]!;
    const failed = precondition(op, current);
    if (failed) {
      results.push(failed);
      continue;
    }
    const after = fakeAfter(op, current, cmd.nowMs, versionFor(index, firstPosition + i));
    latest.set(hex, after);
    if (after === null) {
      await view.del(keys[i]!);
      results.push({ status: 'ok', found: current !== null, value: null, meta: current ? current.meta : null });
    } else {
      await view.put(keys[i]!, after);
      results.push({ status: 'ok', found: current !== null, value: null, meta: after.meta });
    }
  }
  return results;
}

/** The value a put or delete leaves behind (null: deleted). */
function fakeAfter(op: CellOp, current: StoredValue | null, nowMs: number, version: bigint): StoredValue | null {
  if (op.op === 'delete') return null;
  if (op.op === 'get') return current;
  const meta: KeyMeta = {
    version,
    createdAt: current ? current.meta.createdAt : nowMs,
    updatedAt: nowMs,
    expiresAt: op.ttlMs !== null ? nowMs + op.ttlMs : null,
    attrs: op.attrs ?? {},
  };
  if (current) assert(version > current.meta.version, 'versions must increase');
  return { value: op.value, meta };
}

/** Deletes the listed keys that are still expired at the command's time. */
export async function applyExpire(cmd: ExpireCommand, view: ApplyView): Promise<number> {
  let n = 0;
  for (const k of cmd.keys) {
    const v = await view.get(k);
    if (v !== null && v.meta.expiresAt !== null && v.meta.expiresAt <= cmd.nowMs) {
      await view.del(k);
      n++;
    }
  }
  return n;
}
