// The contract between the generic linearizability checker and a sequential specification.

/**
 * One client operation as the checker sees it.
 *
 * Times are compared as closed intervals: an op that returns at t and an op invoked at t are
 * concurrent (either may be linearized first). Recorders that want a strict order between two
 * ops must give them distinct timestamps (e.g. a global event counter).
 *
 * `return === Infinity` marks an op whose outcome is unknown (timeout, crash, or still pending
 * when the history was cut): it may take effect at any instant after `call`, or never. Such
 * ops usually have `output === undefined`; the model then decides what "took effect" means.
 */
export interface Operation<I, O> {
  readonly clientId: number;
  readonly input: I;
  readonly output: O | undefined;
  readonly call: number;
  readonly return: number;
}

/** Result of applying one op to a state: `ok: false` means the op's output is impossible here. */
export type StepResult<S> = { readonly ok: true; readonly state: S } | { readonly ok: false };

/** Shared failure value so a rejecting step allocates nothing. */
export const STEP_FAIL: StepResult<never> = Object.freeze({ ok: false as const });

export interface Partition<I, O> {
  readonly key: string;
  readonly ops: readonly Operation<I, O>[];
}

/**
 * A sequential specification. `step` must be deterministic, depend only on the state and the
 * op's input and output, and must not mutate `state`,
 * because the search memoizes (linearized-set, state) pairs and backtracks to old states.
 * `hash` and `equal` must agree: equal states have equal hashes.
 */
export interface Model<S, I, O> {
  readonly name: string;
  init(): S;
  step(state: S, op: Operation<I, O>): StepResult<S>;
  /** Must agree with `equal` and with `dominates`: related states hash alike. */
  hash(state: S): number;
  equal(a: S, b: S): boolean;
  /**
   * Optional: true when `a` is at least as permissive as `b`: every op sequence legal from
   * `b` is legal from `a`, and the states reached are again related (a simulation). Lets the
   * search skip a configuration when one with the same completed ops, a subset of the
   * optional ops and a dominating state was already visited. Default: `equal`.
   */
  dominates?(a: S, b: S): boolean;
  /**
   * Optional pruning hint for ops that may or may not have happened ("optional": unknown
   * outcome). Must return true unless `later` can never gain from `earlier` having been
   * linearized right before it, i.e. unless for every state s where `earlier` is legal,
   * leading to s', whenever `later` is legal at s' it is also legal at s and the state it
   * yields from s dominates (see `dominates`) the one it yields from s'. E.g. nothing gains
   * from an unknown write right before a blind write, and a read gains only from a write of
   * the value it returned. The search then never places an optional op right before an op
   * that cannot gain from it (that op could as well be dropped), and drops an optional op
   * altogether once every op that could gain from it is linearized. Default: always true.
   */
  mayBenefit?(earlier: Operation<I, O>, later: Operation<I, O>): boolean;
  /**
   * Optional: optional ops with the same key are interchangeable (swapping one for the other
   * in any linearization keeps it legal), so the search uses them in call order only.
   * undefined: the default key, the op's input and output (ops equal in those are always
   * interchangeable, since `step` looks at nothing else).
   */
  twinKey?(op: Operation<I, O>): string | undefined;
  /** Split a history into independently checkable parts (linearizability is compositional). */
  partition?(ops: readonly Operation<I, O>[]): Partition<I, O>[];
  /** Short human-readable form of input and output, e.g. `cas 2->4 ok`. */
  describe(op: Operation<I, O>): string;
}

/** A malformed input history; `line` is 1-based. */
export class HistoryParseError extends Error {
  constructor(
    readonly line: number,
    message: string,
  ) {
    super(`line ${line}: ${message}`);
    this.name = 'HistoryParseError';
  }
}

/** Groups ops by key, keeping the history order inside each group and first-seen key order. */
export function partitionByKey<I, O>(
  ops: readonly Operation<I, O>[],
  keyOf: (input: I) => string,
): Partition<I, O>[] {
  const groups = new Map<string, Operation<I, O>[]>();
  for (const op of ops) {
    const key = keyOf(op.input);
    let group = groups.get(key);
    if (group === undefined) {
      group = [];
      groups.set(key, group);
    }
    group.push(op);
  }
  return [...groups].map(([key, group]) => ({ key, ops: group }));
}

/** 32-bit FNV-1a over a string's UTF-16 code units. */
export function hashString(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h | 0;
}

/** Mixes two 32-bit hashes (order-sensitive). */
export function mixHash(a: number, b: number): number {
  let h = Math.imul(a ^ (b + 0x9e3779b9 + (a << 6) + (a >>> 2)), 0x85ebca6b);
  h ^= h >>> 13;
  return h | 0;
}
