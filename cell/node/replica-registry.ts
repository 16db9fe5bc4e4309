// Which cells this node hosts (so a restarted node reopens them from disk): 0x14 | cellId.

import type { KvDb } from '../kv/kv-db.js';
import type { GroupCommit } from '../storage/group-commit.js';

export interface ReplicaRecord {
  readonly cellId: string;
  /** Hex of the namespaced range start; '' = the beginning. */
  readonly start: string;
  /** Hex of the exclusive end; null = unbounded. */
  readonly end: string | null;
  readonly epoch: number;
}

const PREFIX = 0x14;
const encoder = new TextEncoder();
const decoder = new TextDecoder();

function key(cellId: string): Uint8Array {
  const c = encoder.encode(cellId);
  const k = new Uint8Array(c.length + 1);
  k[0] = PREFIX;
  k.set(c, 1);
  return k;
}

export class ReplicaRegistry {
  constructor(private readonly db: KvDb) {}

  async list(): Promise<ReplicaRecord[]> {
    const out: ReplicaRecord[] = [];
    for await (const [, v] of this.db.iterator({ gte: Uint8Array.of(PREFIX), lt: Uint8Array.of(PREFIX + 1) })) {
      out.push(JSON.parse(decoder.decode(v)) as ReplicaRecord);
    }
    return out;
  }

  stage(gc: GroupCommit, rec: ReplicaRecord): void {
    gc.put(key(rec.cellId), encoder.encode(JSON.stringify(rec)));
  }
}
