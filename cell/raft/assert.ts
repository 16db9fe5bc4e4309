// Invariant checks (TIGER_STYLE): a broken invariant is a bug, so fail loudly and at once.

export class InvariantError extends Error {
  readonly code = 'INVARIANT_VIOLATED';
}

export function assert(cond: unknown, message: string): asserts cond {
  if (!cond) throw new InvariantError(message);
}
