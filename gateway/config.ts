// Gateway configuration: defaults and validation in one place (flags and env are mapped onto
// this by main.ts; tests build it directly).

import { z } from 'zod';
import { DEFAULT_MAX_VALUE_BYTES } from '../shared/keys.js';
import type { AuthConfig } from './auth.js';
import type { Logger } from './log.js';

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
  readonly logger?: Logger | undefined;
  /** Process-level metrics (CPU, heap, event loop) in /metrics; off for embedded test gateways. */
  readonly defaultMetrics: boolean;
}

export type GatewayConfigInput = Partial<Omit<GatewayConfig, 'auth' | 'natsServers'>> & Pick<GatewayConfig, 'auth' | 'natsServers'>;

const limits = z.object({
  port: z.number().int().min(0).max(65535),
  maxValueBytes: z.number().int().min(1).max(64 * 1024 * 1024),
  maxBatchBytes: z.number().int().min(1024).max(256 * 1024 * 1024),
  maxInflight: z.number().int().min(1).max(1_000_000),
  requestTimeoutMs: z.number().int().min(100).max(600_000),
  attemptTimeoutMs: z.number().int().min(50).max(60_000),
  maxAttempts: z.number().int().min(1).max(100),
  directoryRefreshMs: z.number().int().min(100),
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
    defaultMetrics: false,
    ...input,
  };
  const r = limits.safeParse(cfg);
  if (!r.success) {
    const i = r.error.issues[0]!;
    throw new Error(`invalid gateway config: ${i.path.join('.')}: ${i.message}`);
  }
  if (cfg.natsServers.length === 0) throw new Error('invalid gateway config: at least one NATS server URL is needed');
  return cfg;
}
