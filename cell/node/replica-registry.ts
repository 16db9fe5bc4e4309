// Which cells this node hosts (so a restarted node reopens them from disk); the record format
// (0x14 | cellId -> JSON) is in cell/storage/records.ts.

import type { KvDb } from '../kv/kv-db.js';
import type { GroupCommit } from '../storage/group-commit.js';
import { decodeReplicaRecord, encodeReplicaRecord, recordKindRange, replicaKey, type ReplicaRecord } from '../storage/records.js';

export type { ReplicaRecord } from '../storage/records.js';

export class ReplicaRegistry {
  constructor(private readonly db: KvDb) {}

  async list(): Promise<ReplicaRecord[]> {
    const out: ReplicaRecord[] = [];
    for await (const [, v] of this.db.iterator(recordKindRange('replica'))) out.push(decodeReplicaRecord(v));
    return out;
  }

  stage(gc: GroupCommit, rec: ReplicaRecord): void {
    gc.put(replicaKey(rec.cellId), encodeReplicaRecord(rec));
  }
}
