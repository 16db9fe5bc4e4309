// Connects a node's replicas and meta state to the scrape-time gauges of metrics.ts.

import { META_CELL_ID } from '../../shared/directory.js';
import type { MetaState } from './meta.js';
import type { HeartbeatView, NodeMetricsSource, ReplicaMetricsView } from './metrics.js';
import type { Replica } from './replica.js';

export interface MetricsSubject {
  readonly cfg: { readonly nodeId: string; readonly az: string; readonly dataDir: string };
  readonly replicas: ReadonlyMap<string, Replica>;
  readonly meta: MetaState | null;
}

export function nodeMetricsSource(node: MetricsSubject): NodeMetricsSource {
  return {
    nodeId: node.cfg.nodeId,
    az: node.cfg.az,
    dataDir: node.cfg.dataDir,
    *replicas(): Iterable<ReplicaMetricsView> {
      for (const r of node.replicas.values()) {
        const st = r.raft.status();
        yield { cell: r.cellId, term: st.term, commit: st.commit, applied: st.applied, hasLeader: st.leader !== null, followerLag: r.raft.replicationLag() };
      }
    },
    heartbeats(): readonly HeartbeatView[] | null {
      if (!node.replicas.get(META_CELL_ID)?.isLeader || !node.meta) return null;
      return node.meta.directory().nodes.map((n) => ({ node: n.id, az: n.az, lastHeartbeatMs: n.lastHeartbeatMs }));
    },
  };
}
