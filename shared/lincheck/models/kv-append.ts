// Key-value store with get / put / append, all keys starting as "": the Porcupine kv model.
// Checked per key, so the state is the value of one key.

import { type Model, type Operation, type StepResult, STEP_FAIL, hashString, partitionByKey } from '../model.js';

export type KvAppendInput =
  | { readonly f: 'get'; readonly key: string }
  | { readonly f: 'put'; readonly key: string; readonly value: string }
  | { readonly f: 'append'; readonly key: string; readonly value: string };

/** `get` reports the whole value; `put` and `append` report nothing (`{}`). */
export type KvAppendOutput = { readonly value?: string };

export type KvAppendOp = Operation<KvAppendInput, KvAppendOutput>;

function clip(s: string): string {
  return s.length <= 60 ? JSON.stringify(s) : `${JSON.stringify(s.slice(0, 28))}…${JSON.stringify(s.slice(-28))} (${s.length} chars)`;
}

export const kvAppendModel: Model<string, KvAppendInput, KvAppendOutput> = {
  name: 'kv-append',
  init: () => '',
  step(state: string, op: KvAppendOp): StepResult<string> {
    const { input, output } = op;
    switch (input.f) {
      case 'get':
        if (output === undefined) return { ok: true, state };
        return output.value === state ? { ok: true, state } : STEP_FAIL;
      case 'put':
        return { ok: true, state: input.value };
      case 'append':
        return { ok: true, state: state + input.value };
    }
  },
  // Nothing helps a put (it ignores the state), and a get changes nothing.
  mayBenefit: (earlier, later) => earlier.input.f !== 'get' && later.input.f !== 'put',
  hash: hashString,
  equal: (a, b) => a === b,
  partition: (ops) => partitionByKey(ops, (input) => input.key),
  describe(op: KvAppendOp): string {
    const { input, output } = op;
    const unknown = output === undefined ? ' (outcome unknown)' : '';
    switch (input.f) {
      case 'get':
        return `get ${JSON.stringify(input.key)} -> ${output?.value === undefined ? '?' : clip(output.value)}`;
      case 'put':
        return `put ${JSON.stringify(input.key)} ${clip(input.value)}${unknown}`;
      case 'append':
        return `append ${JSON.stringify(input.key)} ${clip(input.value)}${unknown}`;
    }
  },
};
