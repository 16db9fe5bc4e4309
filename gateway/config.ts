// Gateway configuration: defaults and validation in one place (flags and env are mapped onto
// this by main.ts; tests build it directly).

import { z } from 'zod';
import { DEFAULT_MAX_VALUE_BYTES } from '../shared/keys.js';
import type { AuthConfig } from './auth.js';
import { DEFAULT_HOT_KEY_OPTIONS, type HotKeyOptions } from './hot-keys.js';
import type { Logger } from './ports.js';
import { DEFAULT_MAX_TENANT_LABELS } from './metrics.js';
import type { QuotaLimits } from './quotas.js';

export interface GatewayConfig {
  readonly host: string;
  /** 0 = any free port. */
  readonly port: number;
  readonly natsServers: readonly string[];
  readonly natsUser?: string | undefined;
  readonly natsPass?: string | undefined;
  readonly auth: AuthConfig;
  readonly maxValueBytes: number;
  /** Bound on a POST /v1/batch body (JSON, values base64 or text). */
  readonly maxBatchBytes: number;
  /** Requests in flight per front door before shedding with 503. */
  readonly maxInflight: number;
  /** Overall bound per operation, retries included. */
  readonly requestTimeoutMs: number;
  /** HMAC secret for session tokens, shared by all gateways (random per process when unset). */
  readonly sessionSecret?: string | undefined;
  /** Per NATS attempt inside the cell client, and how many attempts. */
  readonly attemptTimeoutMs: number;
  readonly maxAttempts: number;
  readonly directoryRefreshMs: number;
  /** Serve the NATS front door (cellkv.api.v1.>) as well as HTTP. */
  readonly natsFrontDoor: boolean;
  /** Coalesce requests bound for one cell node into one NATS message per event-loop turn. */
  readonly coalesce: boolean;
  readonly logger?: Logger | undefined;
  /** Process-level metrics (CPU, heap, event loop) in /metrics; off for embedded test gateways. */
  readonly defaultMetrics: boolean;
  /**
   * OTLP/HTTP base URL for traces (e.g. http://collector:4318). Unset: the standard
   * OTEL_EXPORTER_OTLP_TRACES_ENDPOINT / OTEL_EXPORTER_OTLP_ENDPOINT, else tracing is off.
   */
  readonly otlpEndpoint?: string | undefined;
  /** Share of new traces sampled when tracing is on (0..1); callers' decisions are followed. */
  readonly traceSampleRatio: number;
  /**
   * The fraction of each tenant's opsPerSec that this gateway admits. Every gateway enforces
   * rates locally, so with N gateways behind an even load balancer set 1/N (default 1: each
   * gateway admits the full rate, and a tenant may reach N times it in total).
   */
  readonly quotaShare: number;
  /** Quotas of tenants without a tenant record (unset: unlimited). */
  readonly defaultQuota?: QuotaLimits | undefined;
  /** How often tenant records and usage are re-read (size quotas lag by about this much). */
  readonly quotaRefreshMs: number;
  /** Tenants tracked at most by the quota cache and the rate limiter. */
  readonly maxTrackedTenants: number;
  /** Hot-key mitigation (hot-keys.ts); fields not given take their defaults. */
  readonly hotKeys: HotKeyOptions;
  /** Distinct tenant label values in /metrics; later tenants share `_other` (docs/metrics.md). */
  readonly metricsMaxTenants: number;
}

export type GatewayConfigInput = Partial<Omit<GatewayConfig, 'auth' | 'natsServers' | 'hotKeys'>> &
  Pick<GatewayConfig, 'auth' | 'natsServers'> & { readonly hotKeys?: Partial<HotKeyOptions> | undefined };

const positive = z.number().int().positive().max(Number.MAX_SAFE_INTEGER);

const limits = z.object({
  port: z.number().int().min(0).max(65535),
  maxValueBytes: z.number().int().min(1).max(64 * 1024 * 1024),
  maxBatchBytes: z.number().int().min(1024).max(256 * 1024 * 1024),
  maxInflight: z.number().int().min(1).max(1_000_000),
  requestTimeoutMs: z.number().int().min(100).max(600_000),
  attemptTimeoutMs: z.number().int().min(50).max(60_000),
  maxAttempts: z.number().int().min(1).max(100),
  directoryRefreshMs: z.number().int().min(100),
  traceSampleRatio: z.number().min(0).max(1),
  quotaShare: z.number().gt(0).max(1),
  defaultQuota: z.strictObject({ maxKeys: positive.optional(), maxBytes: positive.optional(), opsPerSec: positive.optional() }).optional(),
  quotaRefreshMs: z.number().int().min(100).max(600_000),
  maxTrackedTenants: z.number().int().min(1).max(10_000_000),
  metricsMaxTenants: z.number().int().min(0).max(10_000),
  hotKeys: z.strictObject({
    topK: z.number().int().min(1).max(10_000),
    threshold: z.number().int().min(1),
    decayMs: z.number().int().min(100),
    singleFlight: z.boolean(),
    maxFlights: z.number().int().min(1).max(10_000_000),
    staleCacheEntries: z.number().int().min(0).max(10_000_000),
    staleCacheMaxBytes: z.number().int().min(0),
    staleCacheMaxEntryBytes: z.number().int().min(0),
    staleCacheMaxAgeMs: z.number().int().min(0).max(3_600_000),
  }),
});

export function resolveConfig(input: GatewayConfigInput): GatewayConfig {
  const cfg: GatewayConfig = {
    host: '127.0.0.1',
    port: 8080,
    maxValueBytes: DEFAULT_MAX_VALUE_BYTES,
    maxBatchBytes: 8 * 1024 * 1024,
    maxInflight: 1024,
    requestTimeoutMs: 10_000,
    attemptTimeoutMs: 2000,
    maxAttempts: 5,
    directoryRefreshMs: 30_000,
    natsFrontDoor: true,
    coalesce: true,
    defaultMetrics: false,
    traceSampleRatio: 1,
    quotaShare: 1,
    quotaRefreshMs: 1000,
    maxTrackedTenants: 100_000,
    metricsMaxTenants: DEFAULT_MAX_TENANT_LABELS,
    ...input,
    hotKeys: { ...DEFAULT_HOT_KEY_OPTIONS, ...(input.hotKeys ?? {}) },
  };
  const r = limits.safeParse(cfg);
  if (!r.success) {
    const i = r.error.issues[0]!;
    throw new Error(`invalid gateway config: ${i.path.join('.')}: ${i.message}`);
  }
  if (cfg.natsServers.length === 0) throw new Error('invalid gateway config: at least one NATS server URL is needed');
  return cfg;
}
