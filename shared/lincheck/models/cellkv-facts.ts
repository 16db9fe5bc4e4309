// Facts the whole cellkv history establishes, which let the model rule out explanations that
// a single step cannot: versions are never reused, and values identify writes.

import type { CellkvOp } from './cellkv-ops.js';

export interface CellkvFacts {
  /**
   * True if `version` was returned to some completed write of `key`. No other write can have
   * it, so a write whose outcome is unknown cannot "explain" a version some cas names.
   */
  versionTaken(key: string, version: bigint): boolean;
  /** True if some read of `key` returned `value`: otherwise no one can tell that write's value. */
  valueRead(key: string, value: string): boolean;
}

/** Knowing nothing: always sound, just less pruning. */
export const NO_FACTS: CellkvFacts = {
  versionTaken: () => false,
  valueRead: () => true,
};

function add<T>(map: Map<string, Set<T>>, key: string, item: T): void {
  let set = map.get(key);
  if (set === undefined) map.set(key, (set = new Set()));
  set.add(item);
}

export function cellkvFacts(ops: readonly CellkvOp[]): CellkvFacts {
  const versions = new Map<string, Set<bigint>>();
  const values = new Map<string, Set<string>>();
  for (const { input, output } of ops) {
    if (output === undefined) continue;
    if ('found' in output) {
      if (output.found) add(values, input.key, output.value);
    } else if ((input.op === 'put' || input.op === 'cas') && 'version' in output) {
      add(versions, input.key, output.version);
    }
  }
  return {
    versionTaken: (key, version) => versions.get(key)?.has(version) ?? false,
    valueRead: (key, value) => values.get(key)?.has(value) ?? false,
  };
}
