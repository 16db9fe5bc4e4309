// The cellkv Grafana dashboards, written as JSON into infra/grafana/dashboards/:
//   npx tsx infra/grafana/dashboards.ts          (rewrites the JSON files)
//   npx tsx infra/grafana/dashboards.ts --check  (exit 1 when a file differs from this source)
// Every metric used here is described in docs/metrics.md; test/infra/dashboards.test.ts checks
// that the processes expose each one.

import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { dashboardJson, type DashboardSpec, type PanelSpec } from './dashboard-model.js';

const RI = '$__rate_interval';
const GW = 'cellkv_gateway_requests_total{door=~"$door", op=~"$op", tenant=~"$tenant"}';
const GW_5XX = 'cellkv_gateway_requests_total{door=~"$door", op=~"$op", tenant=~"$tenant", status=~"5.."}';

/** p50 / p90 / p99 of a histogram, grouped by `by` (plus le). */
function percentiles(histogram: string, by: string, legend: string): PanelSpec['queries'] {
  return [0.5, 0.9, 0.99].map((q) => ({
    expr: `histogram_quantile(${q}, sum by (${by}, le) (rate(${histogram}[${RI}])))`,
    legend: `p${q * 100} ${legend}`,
  }));
}

const overview: DashboardSpec = {
  uid: 'cellkv-overview',
  title: 'cellkv / overview',
  description: 'Tenant API: rate, errors and duration by operation and tenant (both front doors), the SLO, the gateways and the canary.',
  variables: [
    { name: 'door', label: 'front door', metric: 'cellkv_gateway_requests_total', labelName: 'door' },
    { name: 'op', label: 'operation', metric: 'cellkv_gateway_requests_total', labelName: 'op' },
    { name: 'tenant', label: 'tenant', metric: 'cellkv_gateway_requests_total', labelName: 'tenant' },
  ],
  rows: [
    {
      title: 'Requests by operation (RED)',
      panels: [
        { title: 'Rate by operation', unit: 'reqps', queries: [{ expr: `sum by (op) (rate(${GW}[${RI}]))`, legend: '{{op}}' }] },
        {
          title: 'Error ratio (5xx) by operation',
          unit: 'percentunit',
          redFrom: 0.001,
          queries: [{ expr: `sum by (op) (rate(${GW_5XX}[${RI}])) / sum by (op) (rate(${GW}[${RI}]))`, legend: '{{op}}' }],
        },
        { title: 'Latency percentiles by operation', unit: 's', queries: percentiles('cellkv_gateway_request_duration_seconds_bucket{door=~"$door", op=~"$op"}', 'op', '{{op}}') },
        { title: 'Answers by status', unit: 'reqps', queries: [{ expr: `sum by (status) (rate(${GW}[${RI}]))`, legend: '{{status}}' }] },
      ],
    },
    {
      title: 'Requests by tenant',
      panels: [
        { title: 'Rate by tenant (top 10)', unit: 'reqps', queries: [{ expr: `topk(10, sum by (tenant) (rate(${GW}[${RI}])))`, legend: '{{tenant}}' }] },
        { title: '5xx by tenant (top 10)', unit: 'reqps', queries: [{ expr: `topk(10, sum by (tenant) (rate(${GW_5XX}[${RI}])))`, legend: '{{tenant}}' }] },
        {
          title: '4xx by tenant and status (top 10)',
          description: 'Client errors: bad requests, auth, version mismatches, quotas. Not counted against the SLO.',
          unit: 'reqps',
          queries: [{ expr: `topk(10, sum by (tenant, status) (rate(cellkv_gateway_requests_total{door=~"$door", op=~"$op", tenant=~"$tenant", status=~"4.."}[${RI}])))`, legend: '{{tenant}} {{status}}' }],
        },
        { title: 'Latency by front door', unit: 's', queries: percentiles('cellkv_gateway_request_duration_seconds_bucket{door=~"$door", op=~"$op"}', 'door', '{{door}}') },
      ],
    },
    {
      title: 'Availability SLO (99.9%)',
      panels: [
        {
          title: 'Error budget burn rate',
          description: '1 = the budget lasts exactly 30 days. CellkvErrorBudgetBurnFast fires at 14.4 (1h and 5m) or 6 (6h and 30m).',
          unit: 'none',
          redFrom: 14.4,
          queries: [
            { expr: 'cellkv:gateway_error_ratio:rate5m / 0.001', legend: '5m' },
            { expr: 'cellkv:gateway_error_ratio:rate1h / 0.001', legend: '1h' },
            { expr: 'cellkv:gateway_error_ratio:rate6h / 0.001', legend: '6h' },
            { expr: 'cellkv:gateway_error_ratio:rate1d / 0.001', legend: '1d' },
          ],
        },
        { title: 'Availability, last day', kind: 'stat', unit: 'percentunit', width: 6, queries: [{ expr: '1 - cellkv:gateway_error_ratio:rate1d', legend: 'availability' }] },
        { title: 'Availability, last 3 days', kind: 'stat', unit: 'percentunit', width: 6, queries: [{ expr: '1 - cellkv:gateway_error_ratio:rate3d', legend: 'availability' }] },
      ],
    },
    {
      title: 'Gateways',
      panels: [
        { title: 'Gateways up', kind: 'stat', width: 6, queries: [{ expr: 'sum(up{job="cellkv-gateway"})', legend: 'up' }] },
        { title: 'In flight by front door', width: 9, queries: [{ expr: 'sum by (door) (cellkv_gateway_inflight_requests)', legend: '{{door}}' }] },
        { title: 'Shed and auth failures', unit: 'reqps', width: 9, queries: [
          { expr: `sum by (door) (rate(cellkv_gateway_shed_total[${RI}]))`, legend: 'shed {{door}}' },
          { expr: `sum by (door) (rate(cellkv_gateway_auth_failures_total[${RI}]))`, legend: 'auth failed {{door}}' },
        ] },
        { title: 'HTTP latency p99 by route', unit: 's', queries: [{ expr: `histogram_quantile(0.99, sum by (route, le) (rate(cellkv_gateway_http_request_duration_seconds_bucket[${RI}])))`, legend: '{{route}}' }] },
        { title: 'NATS front door by operation and status', unit: 'reqps', queries: [{ expr: `sum by (op, status) (rate(cellkv_gateway_nats_requests_total[${RI}]))`, legend: '{{op}} {{status}}' }] },
        { title: 'Gateway event-loop lag p99', unit: 's', queries: [{ expr: 'max by (instance) (nodejs_eventloop_lag_p99_seconds{job="cellkv-gateway"})', legend: '{{instance}}' }] },
        { title: 'Cell requests by outcome', unit: 'reqps', queries: [{ expr: `sum by (outcome) (rate(cellkv_requests_total[${RI}]))`, legend: '{{outcome}}' }] },
      ],
    },
    {
      title: 'Canary',
      panels: [
        { title: 'Canary operations by result', unit: 'ops', width: 8, queries: [{ expr: `sum by (result) (rate(cellkv_canary_ops_total[${RI}]))`, legend: '{{result}}' }] },
        { title: 'Canary violations', width: 8, redFrom: 1, queries: [{ expr: `sum(increase(cellkv_canary_violations_total[${RI}]))`, legend: 'violations' }] },
        { title: 'Since the last canary check', unit: 's', width: 8, queries: [
          { expr: 'time() - max(cellkv_canary_last_check_timestamp_seconds)', legend: 'age' },
          { expr: `sum(rate(cellkv_canary_checks_total[${RI}]))`, legend: 'checks/s' },
        ] },
      ],
    },
  ],
};

const raft: DashboardSpec = {
  uid: 'cellkv-raft',
  title: 'cellkv / raft',
  description: 'Raft health of every cell: leaders, terms, elections, commit and apply progress, replication lag, fsync, liveness.',
  variables: [{ name: 'cell', label: 'cell', metric: 'cellkv_raft_term', labelName: 'cell' }],
  rows: [
    {
      title: 'Leaders',
      panels: [
        { title: 'Cells without a leader', kind: 'stat', width: 6, redFrom: 1, queries: [{ expr: 'count(max by (cell) (cellkv_is_leader{cell=~"$cell"}) == 0) or vector(0)', legend: 'leaderless' }] },
        { title: 'Replicas that see no leader', kind: 'stat', width: 6, redFrom: 1, queries: [{ expr: 'count(cellkv_raft_has_leader{cell=~"$cell"} == 0) or vector(0)', legend: 'no leader known' }] },
        { title: 'Cells led per node', description: 'Leadership balance across nodes and AZs.', queries: [{ expr: 'sum by (instance) (cellkv_is_leader{cell=~"$cell"})', legend: '{{instance}}' }] },
        { title: 'Leader of each cell', queries: [{ expr: 'max by (cell, instance) (cellkv_is_leader{cell=~"$cell"}) == 1', legend: '{{cell}} on {{instance}}' }] },
        { title: 'Term by cell', queries: [{ expr: 'max by (cell) (cellkv_raft_term{cell=~"$cell"})', legend: '{{cell}}' }] },
      ],
    },
    {
      title: 'Elections',
      panels: [
        { title: 'Campaigns started by node', queries: [{ expr: `sum by (instance) (increase(cellkv_elections_total{cell=~"$cell"}[${RI}]))`, legend: '{{instance}}' }] },
        { title: 'Leader changes seen by cell', queries: [{ expr: `sum by (cell) (increase(cellkv_leader_changes_total{cell=~"$cell"}[${RI}]))`, legend: '{{cell}}' }] },
      ],
    },
    {
      title: 'Commit and apply',
      panels: [
        { title: 'Entries applied per second by cell', unit: 'ops', queries: [{ expr: `max by (cell) (rate(cellkv_committed_entries_total{cell=~"$cell"}[${RI}]))`, legend: '{{cell}}' }] },
        { title: 'Proposals and client commands', unit: 'ops', queries: [
          { expr: `sum(rate(cellkv_proposals_total{cell=~"$cell"}[${RI}]))`, legend: 'entries proposed' },
          { expr: `sum(rate(cellkv_proposed_commands_total[${RI}]))`, legend: 'commands proposed' },
        ] },
        { title: 'Commands per entry (batching)', queries: percentiles('cellkv_commands_per_entry_bucket', 'instance', '{{instance}}') },
        { title: 'Commit index by cell', queries: [{ expr: 'max by (cell) (cellkv_raft_commit_index{cell=~"$cell"})', legend: '{{cell}}' }] },
        {
          title: 'Apply lag (committed, not applied)',
          redFrom: 1000,
          queries: [
            { expr: 'max by (cell, instance) (cellkv_raft_commit_index{cell=~"$cell"} - cellkv_raft_applied_index{cell=~"$cell"})', legend: '{{cell}} {{instance}}' },
            { expr: 'max by (cell) (cellkv_apply_lag_entries{cell=~"$cell"})', legend: 'after last round {{cell}}' },
          ],
        },
        { title: 'Follower lag behind the leader', redFrom: 10000, queries: [{ expr: 'max by (cell, follower) (cellkv_raft_follower_lag_entries{cell=~"$cell"})', legend: '{{cell}} → {{follower}}' }] },
      ],
    },
    {
      title: 'Transport, snapshots, durability',
      panels: [
        { title: 'Raft messages and NATS envelopes sent', unit: 'ops', queries: [
          { expr: `sum by (instance) (rate(cellkv_raft_messages_sent_total[${RI}]))`, legend: 'messages {{instance}}' },
          { expr: `sum by (instance) (rate(cellkv_raft_envelopes_sent_total[${RI}]))`, legend: 'envelopes {{instance}}' },
        ] },
        { title: 'Snapshots', queries: [
          { expr: `sum by (instance) (increase(cellkv_snapshot_chunks_sent_total[${RI}]))`, legend: 'chunks sent {{instance}}' },
          { expr: `sum by (instance) (increase(cellkv_snapshots_installed_total[${RI}]))`, legend: 'installed {{instance}}' },
        ] },
        { title: 'fsync latency (group commit)', unit: 's', redFrom: 0.05, queries: percentiles('cellkv_group_commit_fsync_seconds_bucket', 'instance', '{{instance}}') },
        { title: 'Node heartbeat age (meta leader view)', unit: 's', redFrom: 30, queries: [{ expr: 'max by (node, az) (cellkv_meta_node_heartbeat_age_seconds)', legend: '{{node}} {{az}}' }] },
        { title: 'Nodes up', kind: 'stat', width: 6, queries: [{ expr: 'sum(up{job="cellkv-node"})', legend: 'up' }] },
        { title: 'Nodes by AZ', kind: 'stat', width: 6, queries: [{ expr: 'count by (az) (cellkv_node_info)', legend: '{{az}}' }] },
      ],
    },
  ],
};

const storage: DashboardSpec = {
  uid: 'cellkv-storage',
  title: 'cellkv / storage',
  description: 'Group commit and LevelDB on each cell node: fsync, batches, data directory and filesystem, expiry, process resources.',
  variables: [{ name: 'instance', label: 'node', metric: 'cellkv_data_dir_bytes', labelName: 'instance' }],
  rows: [
    {
      title: 'Group commit',
      panels: [
        { title: 'fsync latency', unit: 's', redFrom: 0.05, queries: percentiles('cellkv_group_commit_fsync_seconds_bucket{instance=~"$instance"}', 'instance', '{{instance}}') },
        { title: 'fsyncs per second', unit: 'ops', queries: [{ expr: `sum by (instance) (rate(cellkv_group_commit_fsync_seconds_count{instance=~"$instance"}[${RI}]))`, legend: '{{instance}}' }] },
        { title: 'LevelDB ops per synced batch', queries: percentiles('cellkv_group_commit_batch_ops_bucket{instance=~"$instance"}', 'instance', '{{instance}}') },
        { title: 'Mean ops per synced batch', queries: [{ expr: `sum by (instance) (rate(cellkv_group_commit_batch_ops_sum{instance=~"$instance"}[${RI}])) / sum by (instance) (rate(cellkv_group_commit_batch_ops_count{instance=~"$instance"}[${RI}]))`, legend: '{{instance}}' }] },
      ],
    },
    {
      title: 'Data directory (LevelDB)',
      panels: [
        { title: 'Data directory size', unit: 'bytes', queries: [{ expr: 'max by (instance) (cellkv_data_dir_bytes{instance=~"$instance"})', legend: '{{instance}}' }] },
        { title: 'LevelDB table files', description: 'A steadily rising count means compaction falls behind writes.', queries: [
          { expr: 'max by (instance) (cellkv_leveldb_sst_files{instance=~"$instance"})', legend: 'tables {{instance}}' },
          { expr: 'max by (instance) (cellkv_data_dir_files{instance=~"$instance"})', legend: 'all files {{instance}}' },
        ] },
        { title: 'Filesystem free', unit: 'percentunit', queries: [{ expr: 'max by (instance) (cellkv_data_fs_free_bytes{instance=~"$instance"} / cellkv_data_fs_size_bytes{instance=~"$instance"})', legend: '{{instance}}' }] },
        { title: 'Free bytes predicted in 6 hours', unit: 'bytes', redFrom: 0, queries: [{ expr: 'predict_linear(cellkv_data_fs_free_bytes{instance=~"$instance"}[1h], 6 * 3600)', legend: '{{instance}}' }] },
      ],
    },
    {
      title: 'Background work and load',
      panels: [
        { title: 'Expired keys reclaimed', unit: 'ops', queries: [{ expr: `sum by (instance) (rate(cellkv_expired_keys_deleted_total{instance=~"$instance"}[${RI}]))`, legend: '{{instance}}' }] },
        { title: 'Cell requests shed (queues full)', unit: 'reqps', queries: [{ expr: `sum by (instance) (rate(cellkv_requests_shed_total{instance=~"$instance"}[${RI}]))`, legend: '{{instance}}' }] },
        { title: 'Node CPU', unit: 'percentunit', width: 8, queries: [{ expr: `rate(process_cpu_seconds_total{job="cellkv-node", instance=~"$instance"}[${RI}])`, legend: '{{instance}}' }] },
        { title: 'Node memory (RSS, heap used)', unit: 'bytes', width: 8, queries: [
          { expr: 'process_resident_memory_bytes{job="cellkv-node", instance=~"$instance"}', legend: 'rss {{instance}}' },
          { expr: 'sum by (instance) (nodejs_heap_size_used_bytes{job="cellkv-node", instance=~"$instance"})', legend: 'heap {{instance}}' },
        ] },
        { title: 'Node event-loop lag p99', unit: 's', width: 8, queries: [{ expr: 'nodejs_eventloop_lag_p99_seconds{job="cellkv-node", instance=~"$instance"}', legend: '{{instance}}' }] },
      ],
    },
  ],
};

const quotas: DashboardSpec = {
  uid: 'cellkv-quotas',
  title: 'cellkv / quotas and hot keys',
  description: 'Tenant quota saturation and rejections, quota cache freshness, hot keys and how their reads are absorbed.',
  variables: [{ name: 'tenant', label: 'tenant', metric: 'cellkv_gateway_requests_total', labelName: 'tenant' }],
  rows: [
    {
      title: 'Quotas',
      panels: [
        { title: 'Most saturated tenants (usage / limit)', unit: 'percentunit', redFrom: 0.9, queries: [{ expr: 'topk(20, max by (tenant, resource) (cellkv_gateway_tenant_quota_usage_ratio{tenant=~"$tenant"}))', legend: '{{tenant}} {{resource}}' }] },
        { title: 'Quota rejections by code', unit: 'reqps', queries: [{ expr: `sum by (code) (rate(cellkv_gateway_quota_rejections_total[${RI}]))`, legend: '{{code}}' }] },
        { title: '429 answers by tenant (top 10)', unit: 'reqps', queries: [{ expr: `topk(10, sum by (tenant) (rate(cellkv_gateway_requests_total{tenant=~"$tenant", status="429"}[${RI}])))`, legend: '{{tenant}}' }] },
        { title: 'Quota usage age and refresh failures', unit: 's', redFrom: 60, queries: [
          { expr: 'max by (instance) (cellkv_gateway_quota_usage_age_seconds)', legend: 'age {{instance}}' },
          { expr: `sum by (instance) (increase(cellkv_gateway_quota_refresh_failures_total[${RI}]))`, legend: 'failures {{instance}}' },
        ] },
      ],
    },
    {
      title: 'Hot keys',
      panels: [
        { title: 'Hot keys tracked', width: 8, queries: [{ expr: 'max by (instance) (cellkv_gateway_hot_keys)', legend: '{{instance}}' }] },
        { title: 'Hottest key, recent requests', description: 'Which key: GET /v1/admin/hot-keys.', width: 8, queries: [{ expr: 'max by (instance) (cellkv_gateway_hot_key_top_count)', legend: '{{instance}}' }] },
        { title: 'Reads absorbed without a cell read', unit: 'reqps', width: 8, queries: [{ expr: `sum by (served_by) (rate(cellkv_gateway_hot_key_reads_total[${RI}]))`, legend: '{{served_by}}' }] },
        { title: 'Rate by tenant (top 10)', unit: 'reqps', width: 24, queries: [{ expr: `topk(10, sum by (tenant) (rate(cellkv_gateway_requests_total{tenant=~"$tenant"}[${RI}])))`, legend: '{{tenant}}' }] },
      ],
    },
  ],
};

export const DASHBOARDS: readonly DashboardSpec[] = [overview, raft, storage, quotas];
export const DASHBOARD_OUT_DIR = fileURLToPath(new URL('./dashboards/', import.meta.url));

export function renderDashboards(): Map<string, string> {
  return new Map(DASHBOARDS.map((d) => [join(DASHBOARD_OUT_DIR, `${d.uid}.json`), `${JSON.stringify(dashboardJson(d), null, 2)}\n`]));
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const check = process.argv.includes('--check');
  let stale = 0;
  for (const [file, text] of renderDashboards()) {
    let current = '';
    try {
      current = readFileSync(file, 'utf8');
    } catch {
      // missing: written below, or reported with --check
    }
    if (current === text) continue;
    if (check) {
      stale++;
      process.stderr.write(`${file} differs from infra/grafana/dashboards.ts; run: npx tsx infra/grafana/dashboards.ts\n`);
    } else {
      writeFileSync(file, text);
      process.stderr.write(`wrote ${file}\n`);
    }
  }
  process.exit(stale > 0 ? 1 : 0);
}
