// A single register that starts empty (null): the model of the Jepsen etcd histories.

import { type Model, type Operation, type StepResult, STEP_FAIL, hashString } from '../model.js';

export type RegisterValue = number | string | null;

export type RegisterInput =
  | { readonly f: 'read' }
  | { readonly f: 'write'; readonly value: RegisterValue }
  | { readonly f: 'cas'; readonly from: RegisterValue; readonly to: RegisterValue };

/**
 * `read` reports `{value}`; `write` reports `{ok: true}`; `cas` reports `{ok}` where
 * `ok: false` is a definite outcome: the register did not hold `from` at the linearization
 * point. An op with unknown outcome has output undefined and, if linearized, took effect
 * (a cas with unknown outcome that did not swap is the same as one that never happened).
 */
export type RegisterOutput = { readonly value: RegisterValue } | { readonly ok: boolean };

export type RegisterOp = Operation<RegisterInput, RegisterOutput>;

function show(v: RegisterValue): string {
  return v === null ? 'nil' : typeof v === 'string' ? JSON.stringify(v) : String(v);
}

export const registerModel: Model<RegisterValue, RegisterInput, RegisterOutput> = {
  name: 'register',
  init: () => null,
  step(state: RegisterValue, op: RegisterOp): StepResult<RegisterValue> {
    const { input, output } = op;
    switch (input.f) {
      case 'read':
        if (output === undefined) return { ok: true, state };
        return 'value' in output && output.value === state ? { ok: true, state } : STEP_FAIL;
      case 'write':
        return { ok: true, state: input.value };
      case 'cas': {
        const swapped = output === undefined || ('ok' in output && output.ok);
        if (swapped) return state === input.from ? { ok: true, state: input.to } : STEP_FAIL;
        return state !== input.from ? { ok: true, state } : STEP_FAIL;
      }
    }
  },
  // Only an earlier write of the value a later op needs can help it; nothing helps a write.
  mayBenefit(earlier: RegisterOp, later: RegisterOp): boolean {
    const e = earlier.input;
    const written = e.f === 'write' ? e.value : e.f === 'cas' ? e.to : undefined;
    if (e.f === 'read' || (e.f === 'cas' && earlier.output !== undefined && 'ok' in earlier.output && !earlier.output.ok)) return false;
    const l = later.input;
    switch (l.f) {
      case 'write':
        return false;
      case 'read':
        return later.output === undefined || !('value' in later.output) || later.output.value === written;
      case 'cas':
        // A refused cas gains from a change away from `from`; one that swapped needs `from`.
        return later.output !== undefined && 'ok' in later.output && !later.output.ok ? written !== l.from : written === l.from;
    }
  },
  hash: (s) => (s === null ? 0 : hashString(typeof s + ':' + String(s))),
  equal: (a, b) => a === b,
  describe(op: RegisterOp): string {
    const { input, output } = op;
    switch (input.f) {
      case 'read':
        return output !== undefined && 'value' in output ? `read -> ${show(output.value)}` : 'read -> ?';
      case 'write':
        return `write ${show(input.value)}${output === undefined ? ' (outcome unknown)' : ''}`;
      case 'cas': {
        const res = output === undefined ? '(outcome unknown)' : 'ok' in output && output.ok ? 'ok' : 'fail';
        return `cas ${show(input.from)}->${show(input.to)} ${res}`;
      }
    }
  },
};
