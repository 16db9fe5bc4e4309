// Runs the cellkv model over the project's history records.

import { type CheckOptions, type CheckResult, checkOperations } from './checker.js';
import { type HistoryRecord, validateRecord } from './history.js';
import { type CellkvInput, type CellkvOp, type CellkvOutput, createCellkvModel } from './models/cellkv.js';
import { cellkvFacts } from './models/cellkv-facts.js';

function toInput(r: HistoryRecord): CellkvInput {
  switch (r.op) {
    case 'get':
      return { op: 'get', key: r.key };
    case 'put':
      return { op: 'put', key: r.key, value: r.value! };
    case 'delete':
      return { op: 'delete', key: r.key };
    case 'cas':
      return { op: 'cas', key: r.key, ifVersion: BigInt(r.ifVersion!), value: r.value! };
  }
}

function toOutput(r: HistoryRecord): CellkvOutput {
  const out = r.output!;
  if ('found' in out) return out.found ? { found: true, value: out.value, version: BigInt(out.version) } : { found: false };
  if ('swapped' in out) {
    return out.swapped
      ? { swapped: true, version: BigInt(out.version) }
      : { swapped: false, currentVersion: out.currentVersion === null ? null : BigInt(out.currentVersion) };
  }
  if ('existed' in out) return { existed: out.existed };
  return { version: BigInt(out.version) };
}

/**
 * Converts records to checker ops: `fail` records are dropped (never applied), `unknown`
 * reads are dropped (no effect, nothing observed), other `unknown` records may take effect
 * at any time after `invoke`, or never. Throws Error on a malformed record (with its index).
 */
export function cellkvOperations(records: readonly HistoryRecord[]): CellkvOp[] {
  const ops: CellkvOp[] = [];
  records.forEach((raw, i) => {
    let r: HistoryRecord;
    try {
      r = validateRecord(raw);
    } catch (e) {
      throw new Error(`history record ${i}: ${(e as Error).message}`);
    }
    if (r.outcome === 'fail') return;
    if (r.outcome === 'unknown') {
      if (r.op !== 'get') ops.push({ clientId: r.client, input: toInput(r), output: undefined, call: r.invoke, return: Infinity });
      return;
    }
    ops.push({ clientId: r.client, input: toInput(r), output: toOutput(r), call: r.invoke, return: r.complete! });
  });
  return ops;
}

/**
 * Checks a cellkv history per key; `key` in a violation is the cellkv key. The model knows
 * facts of the whole history (which versions completed writes returned), so a reported
 * prefix can be illegal because a version it names belongs to a write later in the history.
 */
export function checkCellkvHistory(records: readonly HistoryRecord[], opts: CheckOptions = {}): CheckResult {
  const ops = cellkvOperations(records);
  return checkOperations(createCellkvModel(cellkvFacts(ops)), ops, opts);
}
