// The project's versioned key-value store, checked per key.
//
// Versions are chosen by the system: per key they strictly increase along the linearization
// (every write gets a version above all earlier ones, across delete-and-recreate) but their
// exact values are not predictable. A write whose outcome is unknown therefore installs a
// version the checker does not know. Along one linearization the possible values of the
// versions not yet seen always form an up-set, so one lower bound per key is exact:
//   - after a known version v, the largest version so far is exactly v;
//   - each unknown write raises the bound by one (it needs a fresh, larger integer);
//   - a later read of that write's value reveals its version u, which is possible iff u >= bound;
//   - a later known write v is possible iff v > bound (some u in [bound, v-1] exists, and an
//     overwritten version can never be observed again, so nothing else constrains it).

import { type Model, type StepResult, STEP_FAIL, hashString, partitionByKey } from '../model.js';
import { type CellkvFacts, NO_FACTS } from './cellkv-facts.js';
import type { CellkvInput, CellkvOp, CellkvOutput } from './cellkv-ops.js';

export type { CellkvInput, CellkvOp, CellkvOutput } from './cellkv-ops.js';

export interface CellkvState {
  readonly present: boolean;
  /** Current value; null when absent. */
  readonly value: string | null;
  /**
   * The largest version the key has had (-1n: none yet). When `exact` is false it is only a
   * lower bound, and (while present) the current version is that unknown number.
   */
  readonly top: bigint;
  /** Always true while absent: an unknown bound behaves exactly like a known one then. */
  readonly exact: boolean;
}

const INITIAL: CellkvState = Object.freeze({ present: false, value: null, top: -1n, exact: true });

function absent(top: bigint): CellkvState {
  return { present: false, value: null, top, exact: true };
}

function present(value: string, top: bigint, exact: boolean): CellkvState {
  return { present: true, value, top, exact };
}

/** Can the current (present) version be v? An unknown one can be any untaken v >= bound. */
function versionCanBe(s: CellkvState, v: bigint, key: string, facts: CellkvFacts): boolean {
  return s.exact ? s.top === v : v >= s.top && !facts.versionTaken(key, v);
}

function ok(state: CellkvState): StepResult<CellkvState> {
  return { ok: true, state };
}

function stepGet(s: CellkvState, key: string, out: CellkvOutput | undefined, facts: CellkvFacts): StepResult<CellkvState> {
  if (out === undefined) return ok(s);
  if (!('found' in out)) return STEP_FAIL;
  if (!out.found) return s.present ? STEP_FAIL : ok(s);
  if (!s.present || s.value !== out.value || !versionCanBe(s, out.version, key, facts)) return STEP_FAIL;
  return s.exact ? ok(s) : ok({ ...s, top: out.version, exact: true });
}

function stepPut(s: CellkvState, value: string, out: CellkvOutput | undefined): StepResult<CellkvState> {
  if (out === undefined) return ok(present(value, s.top + 1n, false));
  if (!('version' in out) || 'swapped' in out || 'found' in out) return STEP_FAIL;
  return out.version > s.top ? ok(present(value, out.version, true)) : STEP_FAIL;
}

function stepDelete(s: CellkvState, out: CellkvOutput | undefined): StepResult<CellkvState> {
  if (out === undefined) return ok(s.present ? absent(s.top) : s);
  if (!('existed' in out) || out.existed !== s.present) return STEP_FAIL;
  return ok(s.present ? absent(s.top) : s);
}

function stepCas(
  s: CellkvState,
  input: { readonly key: string; readonly ifVersion: bigint; readonly value: string },
  out: CellkvOutput | undefined,
  facts: CellkvFacts,
): StepResult<CellkvState> {
  const { key, ifVersion, value } = input;
  // An unknown cas that took effect swapped; one that did not swap changed nothing, which is
  // the same as never being linearized.
  if (out === undefined) {
    return s.present && versionCanBe(s, ifVersion, key, facts) ? ok(present(value, ifVersion + 1n, false)) : STEP_FAIL;
  }
  if (!('swapped' in out)) return STEP_FAIL;
  if (out.swapped) {
    if (!s.present || !versionCanBe(s, ifVersion, key, facts) || out.version <= ifVersion) return STEP_FAIL;
    return ok(present(value, out.version, true));
  }
  if (out.currentVersion === null) return s.present ? STEP_FAIL : ok(s);
  const current = out.currentVersion;
  if (!s.present || current === ifVersion || !versionCanBe(s, current, key, facts)) return STEP_FAIL;
  return s.exact ? ok(s) : ok({ ...s, top: current, exact: true });
}

/** The version a write installs: known, 'unknown', or null when the op installs none. */
function installs(op: CellkvOp): bigint | 'unknown' | null {
  const { input, output } = op;
  if (input.op !== 'put' && input.op !== 'cas') return null;
  if (output === undefined) return 'unknown';
  if ('swapped' in output) return output.swapped ? output.version : null;
  return 'version' in output ? output.version : null;
}

/**
 * See Model.mayBenefit. Every op only raises `top`, so ops that depend on the prior state
 * only through "version > top" (put, unknown delete) gain from nothing. Otherwise only a
 * write can help an op that needs the key present (with its value, or with a version it
 * could have), and only a delete one that needs it absent; a read or refused cas changes
 * nothing but what is known.
 */
function mayBenefit(earlier: CellkvOp, later: CellkvOp, facts: CellkvFacts): boolean {
  const version = installs(earlier);
  const writes = version !== null;
  const deletes = earlier.input.op === 'delete';
  if (!writes && !deletes) return false;
  const { input, output } = later;
  if (output === undefined) {
    // Unknown outcome: a put or delete ignores the state; a cas, if it took effect, swapped.
    return input.op === 'cas' ? writes && couldBe(version, input.key, input.ifVersion, facts) : input.op === 'get';
  }
  switch (input.op) {
    case 'put':
      return false;
    case 'delete':
      return 'existed' in output && output.existed ? writes : deletes;
    case 'get':
      if (!('found' in output) || !output.found) return deletes;
      return writes && 'value' in earlier.input && earlier.input.value === output.value;
    case 'cas':
      if (!('swapped' in output)) return true;
      if (output.swapped) return writes && couldBe(version, input.key, input.ifVersion, facts);
      return output.currentVersion === null ? deletes : writes && couldBe(version, input.key, output.currentVersion, facts);
  }
}

/** Could a write that installs `version` have installed v? */
function couldBe(version: bigint | 'unknown' | null, key: string, v: bigint, facts: CellkvFacts): boolean {
  return version === 'unknown' ? !facts.versionTaken(key, v) : version === v;
}

function showVersion(v: bigint | null): string {
  return v === null ? 'absent' : `v${v}`;
}

function describeOutput(out: CellkvOutput | undefined): string {
  if (out === undefined) return '? (outcome unknown)';
  if ('found' in out) return out.found ? `${JSON.stringify(out.value)} ${showVersion(out.version)}` : 'absent';
  if ('swapped' in out) return out.swapped ? `swapped ${showVersion(out.version)}` : `not swapped, current ${showVersion(out.currentVersion)}`;
  if ('existed' in out) return out.existed ? 'existed' : 'did not exist';
  return showVersion(out.version);
}

/**
 * The model. Given the facts of the history being checked (`cellkvFacts(ops)`) it prunes far
 * more; without them it is just as sound.
 */
export function createCellkvModel(facts: CellkvFacts = NO_FACTS): Model<CellkvState, CellkvInput, CellkvOutput> {
  return {
    name: 'cellkv',
    init: () => INITIAL,
    step(s: CellkvState, op: CellkvOp): StepResult<CellkvState> {
      const { input, output } = op;
      switch (input.op) {
        case 'get':
          return stepGet(s, input.key, output, facts);
        case 'put':
          return stepPut(s, input.value, output);
        case 'delete':
          return stepDelete(s, output);
        case 'cas':
          return stepCas(s, input, output, facts);
      }
    },
    mayBenefit: (earlier, later) => mayBenefit(earlier, later, facts),
    // A write whose outcome is unknown and whose value no read returned is interchangeable
    // with any like it: nothing can tell their values apart.
    twinKey: (op) => {
      const { input, output } = op;
      if (output !== undefined || input.op === 'get' || input.op === 'delete' || facts.valueRead(input.key, input.value)) return undefined;
      return input.op === 'put' ? 'unread put' : `unread cas ${input.ifVersion}`;
    },
    // Only presence and value: states that differ just in versions must share a hash,
    // because a lower (or unknown) version bound dominates a higher one.
    hash: (s) => (s.present ? hashString(s.value ?? '') : 0x2545f491),
    equal: (a, b) => a.present === b.present && a.exact === b.exact && a.top === b.top && a.value === b.value,
    dominates: (a, b) => {
      if (a.present !== b.present || a.value !== b.value) return false;
      if (!a.present) return a.top <= b.top; // only "version > top" checks remain
      // An unknown version may not take a taken one, so it is only compared with unknown ones.
      return a.exact === b.exact && (a.exact ? a.top === b.top : a.top <= b.top);
    },
    partition: (ops) => partitionByKey(ops, (input) => input.key),
    describe(op: CellkvOp): string {
      const { input, output } = op;
      const res = describeOutput(output);
      switch (input.op) {
        case 'get':
          return `get ${JSON.stringify(input.key)} -> ${res}`;
        case 'put':
          return `put ${JSON.stringify(input.key)} ${JSON.stringify(input.value)} -> ${res}`;
        case 'delete':
          return `delete ${JSON.stringify(input.key)} -> ${res}`;
        case 'cas':
          return `cas ${JSON.stringify(input.key)} if ${showVersion(input.ifVersion)} ${JSON.stringify(input.value)} -> ${res}`;
      }
    },
  };
}

/** The model without knowledge of the whole history (sound, but slower with many timeouts). */
export const cellkvModel = createCellkvModel();
