// Precomputed structure of one partition for the search: the time-ordered entry list of
// completed ops, the optional ops in call order, and facts about optional ops.

import type { Model, Operation } from './model.js';

export const NIL = -1;

/** An injective text encoding of plain data (with bigint), to find identical ops. */
function canonical(v: unknown): string {
  switch (typeof v) {
    case 'string':
      return JSON.stringify(v);
    case 'number':
      return `n${v}`;
    case 'bigint':
      return `b${v}`;
    case 'boolean':
      return v ? 'T' : 'F';
    case 'undefined':
      return 'U';
    case 'object':
      if (v === null) return 'N';
      if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
      return `{${Object.keys(v)
        .sort()
        .map((k) => `${JSON.stringify(k)}:${canonical((v as Record<string, unknown>)[k])}`)
        .join(',')}}`;
    default:
      return `?${String(v)}`;
  }
}

/** Doubly linked list over slots 0..n-1 in order, with head sentinel n (dancing links). */
export class Links {
  readonly head: number;
  readonly next: Int32Array;
  readonly prev: Int32Array;
  constructor(n: number) {
    this.head = n;
    this.next = new Int32Array(n + 1);
    this.prev = new Int32Array(n + 1);
    for (let i = 0; i < n; i++) {
      this.next[i] = i + 1 < n ? i + 1 : NIL;
      this.prev[i] = i === 0 ? n : i - 1;
    }
    this.next[n] = n > 0 ? 0 : NIL;
    this.prev[n] = NIL;
  }
  unlink(x: number): void {
    const p = this.prev[x]!;
    const n = this.next[x]!;
    this.next[p] = n;
    if (n !== NIL) this.prev[n] = p;
  }
  /** Must undo unlinks in reverse order. */
  relink(x: number): void {
    const p = this.prev[x]!;
    const n = this.next[x]!;
    this.next[p] = x;
    if (n !== NIL) this.prev[n] = x;
  }
}

/**
 * Entries of completed ops by time; at equal times calls before returns, so intervals are
 * closed (an op returning at t and one called at t overlap and may go in either order).
 * Optional ops are ordered by call time.
 */
export function buildIndex<S, I, O>(model: Model<S, I, O>, ops: readonly Operation<I, O>[]) {
  const raw: { time: number; isCall: number; op: number }[] = [];
  const optional: number[] = [];
  for (let i = 0; i < ops.length; i++) {
    const op = ops[i]!;
    if (!Number.isFinite(op.call) || Number.isNaN(op.return) || op.return < op.call) {
      throw new RangeError(`operation has an invalid interval [${op.call}, ${op.return}]`);
    }
    if (op.return === Infinity) {
      optional.push(i);
      continue;
    }
    raw.push({ time: op.call, isCall: 1, op: i }, { time: op.return, isCall: 0, op: i });
  }
  raw.sort((a, b) => a.time - b.time || b.isCall - a.isCall || a.op - b.op);
  optional.sort((a, b) => ops[a]!.call - ops[b]!.call || a - b);
  const isCall = Uint8Array.from(raw, (e) => e.isCall);
  const owner = Int32Array.from(raw, (e) => e.op);
  const time = Float64Array.from(raw, (e) => e.time);
  const callEntry = new Int32Array(ops.length).fill(NIL);
  const returnEntry = new Int32Array(ops.length).fill(NIL);
  raw.forEach((e, pos) => {
    if (e.isCall) callEntry[e.op] = pos;
    else returnEntry[e.op] = pos;
  });
  const optSlot = new Int32Array(ops.length).fill(NIL);
  optional.forEach((op, slot) => (optSlot[op] = slot));
  const optCall = Float64Array.from(optional, (op) => ops[op]!.call);
  // Identical optional ops are interchangeable: each points at its latest earlier twin.
  const twinBefore = new Int32Array(ops.length).fill(NIL);
  const lastOfKind = new Map<string, number>();
  for (const op of optional) {
    const kind = model.twinKey?.(ops[op]!) ?? canonical([ops[op]!.input, ops[op]!.output]);
    twinBefore[op] = lastOfKind.get(kind) ?? NIL;
    lastOfKind.set(kind, op);
  }
  return { isCall, owner, time, callEntry, returnEntry, optional: Int32Array.from(optional), optSlot, optCall, twinBefore };
}

/**
 * For each optional op, the latest completion time of a completed op that could gain from
 * it, directly or through a chain of optional ops; -Infinity when there is none.
 */
export function usefulUntil<S, I, O>(model: Model<S, I, O>, ops: readonly Operation<I, O>[], optional: Int32Array): Float64Array {
  const until = new Float64Array(ops.length).fill(Infinity);
  const mayBenefit = model.mayBenefit;
  if (mayBenefit === undefined) return until;
  const gainers: number[][] = [];
  for (const u of optional) {
    const earlier = ops[u]!;
    const mine: number[] = [];
    let t = -Infinity;
    for (let y = 0; y < ops.length; y++) {
      const later = ops[y]!;
      if (y === u || later.return < earlier.call || !mayBenefit(earlier, later)) continue;
      if (later.return === Infinity) mine.push(y);
      else if (later.return > t) t = later.return;
    }
    until[u] = t;
    gainers.push(mine);
  }
  for (let changed = true; changed; ) {
    changed = false;
    optional.forEach((u, i) => {
      for (const v of gainers[i]!) {
        if (until[v]! > until[u]!) {
          until[u] = until[v]!;
          changed = true;
        }
      }
    });
  }
  return until;
}
