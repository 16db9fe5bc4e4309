// The directory kept by the meta cell: which cell owns which key range, where its replicas
// are, which nodes exist and when they were last heard from. Gateways cache it and route by it.

export interface ReplicaDescriptor {
  readonly node: string;
  readonly az: string;
  readonly role: 'voter' | 'learner';
}

export interface CellDescriptor {
  readonly id: string;
  /** Inclusive start of the namespaced key range, hex-encoded ('' = the beginning). */
  readonly start: string;
  /** Exclusive end, hex-encoded; null = unbounded. */
  readonly end: string | null;
  /** Bumped by every split, merge or replica change. */
  readonly epoch: number;
  readonly replicas: readonly ReplicaDescriptor[];
}

export interface NodeRecord {
  readonly id: string;
  readonly az: string;
  readonly lastHeartbeatMs: number;
  /** Being emptied by the placement driver (`cellkv nodes drain`); absent = false. */
  readonly draining?: boolean;
}

export interface Directory {
  readonly cells: readonly CellDescriptor[];
  readonly nodes: readonly NodeRecord[];
}

/** A directory as served to clients: with each cell's leader as seen by the answering node. */
export interface DirectoryView extends Directory {
  readonly leaders: Readonly<Record<string, string>>;
  /** The node that answered. */
  readonly servedBy: string;
}

export const META_CELL_ID = 'meta';
export const FIRST_DATA_CELL_ID = 'c1';

/** A node is live when it sent a heartbeat within this window. */
export const NODE_LIVENESS_MS = 10_000;

export function hexOf(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.length).toString('hex');
}

export function bytesOfHex(h: string): Uint8Array {
  return new Uint8Array(Buffer.from(h, 'hex'));
}

/** The cell whose range holds `nsKey` (hex comparison is byte order for equal-case hex). */
export function cellForKey(dir: Directory, nsKey: Uint8Array): CellDescriptor | null {
  const k = hexOf(nsKey);
  for (const c of dir.cells) {
    if (c.id === META_CELL_ID) continue;
    if (k >= c.start && (c.end === null || k < c.end)) return c;
  }
  return null;
}
