// Node configuration from a JSON file, then environment (CELLKV_*), then flags; validated
// with zod so a bad setting fails at start with a message naming it.

import { readFileSync } from 'node:fs';
import { z } from 'zod';

const NodeSpec = z.object({ id: z.string().regex(/^[a-z0-9-]{1,32}$/), az: z.string().min(1).max(32) });

export const NodeConfigSchema = z.object({
  nodeId: z.string().regex(/^[a-z0-9-]{1,32}$/, 'node id: 1-32 of [a-z0-9-]'),
  az: z.string().min(1).max(32),
  dataDir: z.string().min(1),
  natsUrls: z.array(z.string().min(1)).min(1),
  /** NATS user of the cells in the server's authorization block (gateway/nats-permissions.ts). */
  natsUser: z.string().min(1).max(256).optional(),
  /** Its password: from CELLKV_NATS_PASSWORD or a config file only, never a flag (argv is public). */
  natsPass: z.string().min(1).max(1024).optional(),
  /** Port of the /metrics and /healthz HTTP endpoint; 0 = any free port. */
  metricsPort: z.number().int().min(0).max(65535).default(0),
  metricsHost: z.string().default('127.0.0.1'),
  /** The initial cluster, used only when the data directory is empty. */
  bootstrap: z.array(NodeSpec).default([]),
  tickMs: z.number().int().min(1).max(1000).default(50),
  electionTicks: z.number().int().min(2).max(1000).default(20),
  heartbeatTicks: z.number().int().min(1).max(100).default(2),
  /** Log entries kept after a snapshot before compaction. */
  logRetainEntries: z.number().int().min(1).default(2000),
  /** Compact once this many entries accumulate past the last snapshot. */
  snapshotEveryEntries: z.number().int().min(2).default(10000),
  maxValueBytes: z.number().int().min(1).default(1 << 20),
  /** Commands batched into one Raft entry. */
  maxCommandsPerEntry: z.number().int().min(1).max(4096).default(512),
  /** Pending client operations per node before new ones are shed. */
  maxPendingOps: z.number().int().min(1).default(20000),
  requestTimeoutMs: z.number().int().min(10).default(5000),
  /** How often the leader looks for expired keys, and how many it deletes per command. */
  expiryScanMs: z.number().int().min(10).default(1000),
  expiryBatch: z.number().int().min(1).max(10000).default(256),
  /** Request ids remembered for at-most-once writes: age and count bounds. */
  dedupeRetentionMs: z.number().int().min(1000).default(10 * 60 * 1000),
  dedupeMaxEntries: z.number().int().min(1).default(100000),
  /**
   * Automatic splits (cell/placement/README.md): a cell splits by size above splitMaxBytes (at
   * about splitSizeBytes from its start) and by load above splitLoadQps weighted ops/s sustained
   * for 10 intervals; halves keep at least splitMinKeys keys. rebalanceIntervalMs 0 = off.
   */
  rebalanceIntervalMs: z.number().int().min(0).default(1000),
  splitMaxBytes: z.number().int().min(16).default(144 * 1024 * 1024),
  splitSizeBytes: z.number().int().min(8).default(96 * 1024 * 1024),
  splitMinKeys: z.number().int().min(1).default(100),
  splitLoadQps: z.number().min(1).default(3000),
  /**
   * How long after a split two small neighbours wait before an automatic merge (the emptied-cell
   * delay, the rate limit and the load-split cool-down scale with it; see rebalanceConfigFor).
   */
  mergeCooldownMs: z.number().int().min(0).default(10 * 60_000),
  /**
   * Fleet placement (cell/placement/README.md, "Placement"): the meta leader plans replica moves
   * and leadership transfers every placementIntervalMs (0 = off); a node silent for
   * deadNodeTimeoutMs has its replicas re-created elsewhere in its AZ; at most placementMaxMoves
   * moves run at once; a cell moved for balance is not moved again within placementMoveCooldownMs.
   */
  placementIntervalMs: z.number().int().min(0).default(5000),
  deadNodeTimeoutMs: z.number().int().min(1000).default(30_000),
  placementMaxMoves: z.number().int().min(1).max(16).default(1),
  placementMoveCooldownMs: z.number().int().min(0).default(60_000),
  /** Leaderships move for load when two leaders' led load differs by this many ops/s (0 = off). */
  placementLoadGapQps: z.number().min(0).default(0),
  /** Snapshot chunks sent to other nodes are paced to this many bytes per second (replica moves). */
  snapshotMaxBytesPerSec: z.number().int().min(1024).default(64 * 1024 * 1024),
  /** Test-only failpoints, e.g. "beforeApply=panic" (inert unless set). */
  failpoints: z.string().default(''),
  /**
   * OTLP/HTTP base URL for traces (e.g. http://collector:4318). Unset: the standard
   * OTEL_EXPORTER_OTLP_TRACES_ENDPOINT / OTEL_EXPORTER_OTLP_ENDPOINT, else tracing is off.
   */
  otlpEndpoint: z.url({ protocol: /^https?$/ }).optional(),
  /** Share of new traces sampled (0..1); a caller's sampled flag is always followed. */
  traceSampleRatio: z.number().min(0).max(1).default(1),
});

export type NodeConfig = z.infer<typeof NodeConfigSchema>;

/** Parses "n1:az1,n2:az2,n3:az3". */
export function parseBootstrap(spec: string): { id: string; az: string }[] {
  if (spec.trim() === '') return [];
  return spec.split(',').map((part) => {
    const [id, az] = part.split(':');
    return { id: (id ?? '').trim(), az: (az ?? '').trim() };
  });
}

export function loadNodeConfig(flags: Record<string, unknown>, env: NodeJS.ProcessEnv = process.env): NodeConfig {
  let fromFile: Record<string, unknown> = {};
  const file = (flags['config'] as string | undefined) ?? env['CELLKV_CONFIG'];
  if (file) fromFile = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
  const fromEnv: Record<string, unknown> = {};
  if (env['CELLKV_NODE_ID']) fromEnv['nodeId'] = env['CELLKV_NODE_ID'];
  if (env['CELLKV_AZ']) fromEnv['az'] = env['CELLKV_AZ'];
  if (env['CELLKV_DATA_DIR']) fromEnv['dataDir'] = env['CELLKV_DATA_DIR'];
  if (env['CELLKV_NATS_URLS']) fromEnv['natsUrls'] = env['CELLKV_NATS_URLS'].split(',');
  if (env['CELLKV_NATS_USER']) fromEnv['natsUser'] = env['CELLKV_NATS_USER'];
  if (env['CELLKV_NATS_PASSWORD']) fromEnv['natsPass'] = env['CELLKV_NATS_PASSWORD'];
  if (env['CELLKV_BOOTSTRAP']) fromEnv['bootstrap'] = parseBootstrap(env['CELLKV_BOOTSTRAP']);
  if (env['CELLKV_FAILPOINTS']) fromEnv['failpoints'] = env['CELLKV_FAILPOINTS'];
  if (env['CELLKV_OTLP_ENDPOINT']) fromEnv['otlpEndpoint'] = env['CELLKV_OTLP_ENDPOINT'];
  if (env['CELLKV_TRACE_SAMPLE_RATIO']) fromEnv['traceSampleRatio'] = Number(env['CELLKV_TRACE_SAMPLE_RATIO']);
  const merged: Record<string, unknown> = { ...fromFile, ...fromEnv };
  for (const [k, v] of Object.entries(flags)) if (v !== undefined && k !== 'config') merged[k] = v;
  const parsed = NodeConfigSchema.refine((c) => c.natsPass === undefined || c.natsUser !== undefined, {
    message: 'a NATS password needs a NATS user (--nats-user or CELLKV_NATS_USER)',
    path: ['natsUser'],
  }).safeParse(merged);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => `  ${i.path.join('.')}: ${i.message}`).join('\n');
    throw new Error(`invalid node configuration:\n${issues}\nset it by --flag, CELLKV_* env or --config file`);
  }
  return parsed.data;
}
