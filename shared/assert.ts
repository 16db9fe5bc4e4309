// Invariant checks (TIGER_STYLE): a broken invariant is a bug, so fail loudly and at once.
// The one module outside cell/raft/ that the pure Raft core may import (test/layers checks it):
// it has no imports itself, so the core stays free of I/O and of the rest of the tree.

export class InvariantError extends Error {
  readonly code = 'INVARIANT_VIOLATED';
}

export function assert(cond: unknown, message: string): asserts cond {
  if (!cond) throw new InvariantError(message);
}
