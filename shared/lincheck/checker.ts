// Entry point of the generic checker: partitions a history, searches each part within one
// shared budget, and for a violation shrinks the report to the shortest illegal prefix.

import type { Model, Operation } from './model.js';
import { type Budget, searchPartition } from './search.js';

export const DEFAULT_TIMEOUT_MS = 10_000;

export interface CheckOptions {
  /** Wall-clock budget for the whole history (all partitions). Default 10 s. */
  readonly timeoutMs?: number;
  /** Budget in search steps for the whole history. Default: unlimited. */
  readonly maxSteps?: number;
  /** Shrink a violation to the shortest illegal prefix (extra searches). Default true. */
  readonly minimize?: boolean;
}

/** One op of a reported prefix, in a printable form. */
export interface PrefixEntry {
  readonly clientId: number;
  readonly call: number;
  /** Completion time; null when the outcome is unknown. */
  readonly return: number | null;
  /**
   * `completed`: returned within the prefix; `pending`: returned only after the prefix ends,
   * so within it the op may or may not have taken effect; `unknown`: outcome never known.
   */
  readonly status: 'completed' | 'pending' | 'unknown';
  readonly description: string;
  /** True for the op whose completion makes the prefix impossible to linearize. */
  readonly culprit: boolean;
}

export type CheckResult =
  | { readonly result: 'linearizable' }
  | {
      readonly result: 'not-linearizable';
      /** The partition (key) that failed, when the model partitions. */
      readonly key?: string;
      /** Ops invoked up to the culprit's completion, in invoke order. */
      readonly prefix: readonly PrefixEntry[];
      /** False when the budget ran out while shrinking, so a shorter prefix may exist. */
      readonly minimal: boolean;
    }
  | { readonly result: 'unknown'; readonly reason: string };

/**
 * The history as it stood at time t: ops invoked by t, where ops that had not returned by t
 * become optional (return = Infinity) but keep any output they later reported. If a history
 * is linearizable so is every such cut (keep exactly the ops whose linearization point is
 * <= t), so "cut at t is illegal" is monotone in t and can be binary-searched.
 */
function cutAt<I, O>(ops: readonly Operation<I, O>[], t: number): Operation<I, O>[] {
  const out: Operation<I, O>[] = [];
  for (const op of ops) {
    if (op.call > t) continue;
    out.push(op.return <= t ? op : { ...op, return: Infinity });
  }
  return out;
}

function budgetReason(budget: Budget, timeoutMs: number, where: string): string {
  return budget.steps >= budget.maxSteps
    ? `step limit of ${budget.maxSteps} reached ${where}`
    : `time limit of ${timeoutMs} ms reached ${where}`;
}

interface Shrunk {
  readonly cut: number;
  readonly minimal: boolean;
}

/** Smallest completion time t whose cut is already not linearizable. */
function shrink<S, I, O>(model: Model<S, I, O>, ops: readonly Operation<I, O>[], budget: Budget): Shrunk {
  const times = [...new Set(ops.filter((op) => op.return !== Infinity).map((op) => op.return))];
  times.sort((a, b) => a - b);
  let lo = 0;
  let hi = times.length - 1; // the whole history is known to be illegal
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    const outcome = searchPartition(model, cutAt(ops, times[mid]!), budget);
    if (outcome === 'budget') return { cut: times[hi]!, minimal: false };
    if (outcome === 'not-linearizable') hi = mid;
    else lo = mid + 1;
  }
  return { cut: times[hi]!, minimal: true };
}

function lastReturn<I, O>(ops: readonly Operation<I, O>[]): number {
  let t = -Infinity;
  for (const op of ops) if (op.return !== Infinity && op.return > t) t = op.return;
  return t;
}

function describePrefix<S, I, O>(
  model: Model<S, I, O>,
  ops: readonly Operation<I, O>[],
  t: number,
): PrefixEntry[] {
  const prefix = ops.filter((op) => op.call <= t);
  prefix.sort((a, b) => a.call - b.call);
  return prefix.map((op) => ({
    clientId: op.clientId,
    call: op.call,
    return: op.return === Infinity ? null : op.return,
    status: op.return === Infinity ? 'unknown' : op.return <= t ? 'completed' : 'pending',
    description: model.describe(op),
    culprit: op.return === t,
  }));
}

/** Checks a whole history against a model. Never reports `linearizable` on a budget overrun. */
export function checkOperations<S, I, O>(
  model: Model<S, I, O>,
  ops: readonly Operation<I, O>[],
  options: CheckOptions = {},
): CheckResult {
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const budget: Budget = {
    deadline: performance.now() + timeoutMs,
    maxSteps: options.maxSteps ?? Infinity,
    steps: 0,
  };
  const parts = model.partition
    ? model.partition(ops)
    : [{ key: undefined as string | undefined, ops }];
  for (const part of parts) {
    const where = part.key === undefined ? `on a history of ${part.ops.length} ops` : `on key ${JSON.stringify(part.key)} (${part.ops.length} ops)`;
    const outcome = searchPartition(model, part.ops, budget);
    if (outcome === 'budget') return { result: 'unknown', reason: budgetReason(budget, timeoutMs, where) };
    if (outcome === 'linearizable') continue;
    const shrunk =
      options.minimize === false
        ? { cut: lastReturn(part.ops), minimal: false }
        : shrink(model, part.ops, budget);
    const prefix = describePrefix(model, part.ops, shrunk.cut);
    return part.key === undefined
      ? { result: 'not-linearizable', prefix, minimal: shrunk.minimal }
      : { result: 'not-linearizable', key: part.key, prefix, minimal: shrunk.minimal };
  }
  return { result: 'linearizable' };
}
