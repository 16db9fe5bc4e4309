// Wing & Gong's search with Lowe's memoization, as in Porcupine, for one partition.
//
// Completed ops form a doubly linked list of call/return entries in time order. The ops whose
// call entries come before the first remaining return entry are exactly the completed ops
// that may be linearized next. Linearizing an op "lifts" its entries out of the list; once
// no candidate works, the op owning that first return can no longer be placed in this
// branch, so the search backtracks. Lowe's cache of (set of linearized ops, state) prunes
// configurations already explored: what can still happen depends only on that pair.
//
// Optional ops (unknown outcome, return = Infinity) may take effect any time after their
// call, or never: they sit in a separate list, never force a backtrack, and the search
// succeeds once every *completed* op is linearized. They are tried only after the completed
// candidates, so a linearizable history rarely pays for them, and these rules keep them from
// multiplying the search space (each keeps some legal linearization whenever there is one):
//   - of interchangeable optional ops (Model.twinKey) the earliest-called goes first;
//   - an optional op that leaves the state unchanged is never placed (the same
//     configuration without it is at least as good);
//   - an optional op is never placed right before an op that cannot gain from it
//     (Model.mayBenefit): dropping it keeps that linearization legal. Which successors a
//     configuration has then depends on whether the last op was optional, so cache entries
//     carry that flag, and a configuration first explored right after an optional op is
//     explored again when reached otherwise;
//   - for the same reason an optional op is dropped once every completed op that could
//     gain from it (directly or through other optional ops) is linearized;
//   - the cache compares configurations with the same completed ops by dominance: fewer
//     optional ops used and an at least as permissive state (Model.dominates) is better.

import type { Model, Operation, StepResult } from './model.js';
import { Links, NIL, buildIndex, usefulUntil } from './search-index.js';

/** Shared, mutable search budget: one per checked history. */
export interface Budget {
  readonly deadline: number; // performance.now() value
  readonly maxSteps: number;
  steps: number;
}

export type SearchOutcome = 'linearizable' | 'not-linearizable' | 'budget';

// How often the clock is read: often enough to stop within a millisecond or so.
const CLOCK_EVERY = 1024;

/** Deterministic per-op random words for Zobrist hashing of the linearized set. */
function zobrist(i: number): number {
  let z = (Math.imul(i + 1, 0x9e3779b1) ^ 0x5bd1e995) | 0;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
  return (z ^ (z >>> 16)) | 0;
}

interface CacheEntry<S> {
  readonly bits: Uint32Array;
  readonly state: S;
  /** Reached only right after an optional op so far (so explored with pruning). */
  afterOptional: boolean;
}

function sameBits(a: Uint32Array, b: Uint32Array): boolean {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Same completed ops (bits outside `optMask`) and cached optional ops a subset of current. */
function covers(cached: Uint32Array, current: Uint32Array, optMask: Uint32Array): boolean {
  for (let i = 0; i < cached.length; i++) {
    const c = cached[i]!;
    const b = current[i]!;
    const m = optMask[i]!;
    if (((c ^ b) & ~m) !== 0 || (c & m & ~b) !== 0) return false;
  }
  return true;
}

export function searchPartition<S, I, O>(
  model: Model<S, I, O>,
  ops: readonly Operation<I, O>[],
  budget: Budget,
): SearchOutcome {
  const ix = buildIndex(model, ops);
  const { isCall, owner, time, callEntry, returnEntry, optional, optSlot, optCall, twinBefore } = ix;
  let remaining = isCall.length / 2; // completed ops not yet linearized
  if (remaining === 0) return 'linearizable';
  const list = new Links(isCall.length);
  const optList = new Links(optional.length);
  const mayBenefit = model.mayBenefit;
  const until = usefulUntil(model, ops, optional);

  const dominates = model.dominates ?? model.equal;
  const bits = new Uint32Array((ops.length + 31) >>> 5);
  const optMask = new Uint32Array(bits.length);
  for (const op of optional) optMask[op >>> 5]! |= 1 << (op & 31);
  // Only completed ops enter the hash, so configurations differing in optional ops meet in
  // one bucket and the dominance check can compare them.
  const zob = Int32Array.from(ops, (_, i) => (returnEntry[i] === NIL ? 0 : zobrist(i)));
  let bitsHash = 0;
  const cache = new Map<number, CacheEntry<S>[]>();

  // The stack of choices; `limits` keeps the candidate horizon an optional op was chosen under.
  const stackOps: number[] = [];
  const stackStates: S[] = [];
  const stackLimits: number[] = [];
  let state = model.init();
  // Cursor: phase 0 walks completed entries, phase 1 optional ops called by `limit`.
  let phase = 0;
  let entry = list.next[list.head]!;
  let slot = NIL;
  let limit = 0;
  let sinceClock = 0;

  /** Tries to linearize op next; true if it was pushed. */
  const tryOp = (opIndex: number, isOptional: boolean): boolean => {
    const last = stackOps.length > 0 ? stackOps[stackOps.length - 1]! : NIL;
    if (mayBenefit !== undefined && last !== NIL && returnEntry[last] === NIL && !mayBenefit(ops[last]!, ops[opIndex]!)) {
      return false;
    }
    // Of interchangeable optional ops use the earliest-called first: any use can be swapped to it.
    const twin = twinBefore[opIndex]!;
    if (twin !== NIL && (bits[twin >>> 5]! & (1 << (twin & 31))) === 0 && until[twin]! >= limit) return false;
    const res: StepResult<S> = model.step(state, ops[opIndex]!);
    if (!res.ok) return false;
    if (isOptional && model.equal(res.state, state)) return false;
    const word = opIndex >>> 5;
    const mask = 1 << (opIndex & 31);
    bits[word]! |= mask;
    const newBitsHash = bitsHash ^ zob[opIndex]!;
    const key = (newBitsHash ^ Math.imul(model.hash(res.state), 0x9e3779b1)) | 0;
    let bucket = cache.get(key);
    let exact: CacheEntry<S> | undefined;
    if (bucket !== undefined) {
      for (const c of bucket) {
        if (!covers(c.bits, bits, optMask) || !dominates(c.state, res.state)) continue;
        // Explored (or being explored) from an at least as good configuration, unless that
        // was only the pruned after-optional variant and this one is not.
        if (!c.afterOptional || isOptional) {
          bits[word]! &= ~mask;
          return false;
        }
        if (sameBits(c.bits, bits) && model.equal(c.state, res.state)) exact = c;
      }
    }
    if (exact !== undefined) {
      exact.afterOptional = false;
    } else {
      if (bucket === undefined) {
        bucket = [];
        cache.set(key, bucket);
      }
      bucket.push({ bits: bits.slice(), state: res.state, afterOptional: isOptional });
    }
    stackOps.push(opIndex);
    stackStates.push(state);
    stackLimits.push(limit);
    state = res.state;
    bitsHash = newBitsHash;
    if (isOptional) {
      optList.unlink(optSlot[opIndex]!);
    } else {
      list.unlink(callEntry[opIndex]!);
      list.unlink(returnEntry[opIndex]!);
      remaining--;
    }
    phase = 0;
    entry = list.next[list.head]!;
    return true;
  };

  for (;;) {
    if (remaining === 0) return 'linearizable';
    if (++budget.steps >= budget.maxSteps) return 'budget';
    if (++sinceClock >= CLOCK_EVERY) {
      sinceClock = 0;
      if (performance.now() >= budget.deadline) return 'budget';
    }
    if (phase === 0) {
      // While completed ops remain, a return entry remains, so the walk meets one.
      if (isCall[entry] === 1) {
        if (!tryOp(owner[entry]!, false)) entry = list.next[entry]!;
      } else {
        phase = 1;
        limit = time[entry]!;
        slot = optList.next[optList.head]!;
      }
      continue;
    }
    if (slot !== NIL && optCall[slot]! <= limit) {
      const u = optional[slot]!;
      // Useless once every op that could gain from it (all return before `limit`) is placed.
      if (until[u]! < limit || !tryOp(u, true)) slot = optList.next[slot]!;
      continue;
    }
    // No candidate left: the op owning the first return cannot be placed. Undo the last choice.
    if (stackOps.length === 0) return 'not-linearizable';
    const opIndex = stackOps.pop()!;
    state = stackStates.pop()!;
    limit = stackLimits.pop()!;
    bits[opIndex >>> 5]! &= ~(1 << (opIndex & 31));
    bitsHash ^= zob[opIndex]!;
    if (returnEntry[opIndex] === NIL) {
      const s = optSlot[opIndex]!;
      optList.relink(s);
      phase = 1;
      slot = optList.next[s]!;
    } else {
      list.relink(returnEntry[opIndex]!);
      list.relink(callEntry[opIndex]!);
      remaining++;
      phase = 0;
      entry = list.next[callEntry[opIndex]!]!;
    }
  }
}
