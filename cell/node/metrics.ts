// Prometheus metrics of a cell node (prom-client), one registry per process.

import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export class NodeMetrics {
  readonly registry = new Registry();
  readonly proposals = new Counter({ name: 'cellkv_proposals_total', help: 'Raft entries proposed', labelNames: ['cell'], registers: [this.registry] });
  readonly proposedCommands = new Counter({ name: 'cellkv_proposed_commands_total', help: 'Client commands proposed', registers: [this.registry] });
  readonly commits = new Counter({ name: 'cellkv_committed_entries_total', help: 'Entries applied after commit', labelNames: ['cell'], registers: [this.registry] });
  readonly applyLag = new Gauge({ name: 'cellkv_apply_lag_entries', help: 'Committed but not applied entries', labelNames: ['cell'], registers: [this.registry] });
  readonly elections = new Counter({ name: 'cellkv_elections_total', help: 'Campaigns started by this node', labelNames: ['cell'], registers: [this.registry] });
  readonly leaderChanges = new Counter({ name: 'cellkv_leader_changes_total', help: 'Leader changes seen', labelNames: ['cell'], registers: [this.registry] });
  readonly isLeader = new Gauge({ name: 'cellkv_is_leader', help: '1 when this node leads the cell', labelNames: ['cell'], registers: [this.registry] });
  readonly commandsPerEntry = new Histogram({
    name: 'cellkv_commands_per_entry',
    help: 'Client commands batched into one Raft entry',
    buckets: [1, 2, 5, 10, 20, 50, 100, 200, 500],
    registers: [this.registry],
  });
  readonly raftMessagesOut = new Counter({ name: 'cellkv_raft_messages_sent_total', help: 'Raft messages sent', registers: [this.registry] });
  readonly raftEnvelopesOut = new Counter({ name: 'cellkv_raft_envelopes_sent_total', help: 'NATS messages carrying Raft messages', registers: [this.registry] });
  readonly snapshotSends = new Counter({ name: 'cellkv_snapshot_chunks_sent_total', help: 'Snapshot chunks sent', registers: [this.registry] });
  readonly snapshotInstalls = new Counter({ name: 'cellkv_snapshots_installed_total', help: 'Snapshots installed', registers: [this.registry] });
  readonly requests = new Counter({ name: 'cellkv_requests_total', help: 'Cell requests by outcome', labelNames: ['outcome'], registers: [this.registry] });
  readonly shed = new Counter({ name: 'cellkv_requests_shed_total', help: 'Requests refused because a queue was full', registers: [this.registry] });
  readonly expiredKeys = new Counter({ name: 'cellkv_expired_keys_deleted_total', help: 'Expired keys reclaimed', registers: [this.registry] });

  constructor() {
    collectDefaultMetrics({ register: this.registry });
  }
}
