// Deliberately broken variants of the node layer, for the whole-node simulation's mutation
// tests only (test/sim/node/): each must be caught, or the simulation has gone blind to that
// class of bug. They can be switched on only through NodeDeps (code), never by a flag,
// environment variable or config file, so no deployment can run one.

export const NODE_MUTATIONS = [
  /** Acknowledgements and votes leave before the log batch they promise is synced. */
  'ackBeforeLogSync',
  /** The core learns its entries are stable before the log sync completes (counts its own unsynced copy). */
  'advanceBeforeLogSync',
  /** Linearizable reads run as soon as their ReadIndex is confirmed, before apply reaches it. */
  'readsBeforeApply',
  /** Apply writes the data but leaves the value cache holding the old value. */
  'valueCacheNotInvalidated',
  /** A write's dedupe record reaches the disk without the data it wrote. */
  'dedupeWithoutData',
] as const;

export type NodeMutation = (typeof NODE_MUTATIONS)[number];

export const NO_MUTATIONS: ReadonlySet<NodeMutation> = new Set();
