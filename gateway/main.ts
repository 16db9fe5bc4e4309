// The gateway process: `tsx gateway/main.ts --nats nats://... --jwks-file jwks.json
// --issuer ... --audience ...`. Every flag has a CELLKV_GATEWAY_* environment fallback; the NATS
// password is read from CELLKV_NATS_PASSWORD and the session-token secret from
// CELLKV_GATEWAY_SESSION_SECRET only (never argv, which other users can see).
// Prints `cellkv-gateway ready http://HOST:PORT` on stdout; SIGTERM/SIGINT stop it.

import { Command } from 'commander';
import { createLogger } from './log.js';
import { startGateway } from './server.js';

const env = (name: string): string | undefined => process.env[`CELLKV_GATEWAY_${name}`];

const program = new Command()
  .name('cellkv-gateway')
  .description('cellkv gateway: HTTP API and NATS front door for tenants, routing to cells over NATS')
  .option('--port <port>', 'HTTP port (0 = any)', env('PORT') ?? '8080')
  .option('--host <host>', 'HTTP bind address', env('HOST') ?? '127.0.0.1')
  .option('--nats <urls>', 'comma-separated NATS URLs', env('NATS') ?? 'nats://127.0.0.1:4222')
  .option('--nats-user <user>', 'NATS user (password from CELLKV_NATS_PASSWORD)', env('NATS_USER'))
  .option('--jwks-file <file>', 'JWKS file with the token signing public keys', env('JWKS_FILE'))
  .option('--jwks-url <url>', 'JWKS URL (cached; takes precedence over --jwks-file)', env('JWKS_URL'))
  .option('--issuer <iss>', 'expected token issuer (iss)', env('ISSUER'))
  .option('--audience <aud>', 'expected token audience (aud)', env('AUDIENCE'))
  .option('--tenant-claim <claim>', 'token claim naming the tenant', env('TENANT_CLAIM') ?? 'tenant')
  .option('--max-value-bytes <n>', 'largest value accepted', env('MAX_VALUE_BYTES'))
  .option('--max-inflight <n>', 'requests in flight per front door before shedding', env('MAX_INFLIGHT'))
  .option('--request-timeout-ms <ms>', 'overall bound per operation', env('REQUEST_TIMEOUT_MS'))
  .option('--otlp-endpoint <url>', 'OTLP/HTTP base URL for traces (else OTEL_EXPORTER_OTLP_[TRACES_]ENDPOINT; none = off)', env('OTLP_ENDPOINT'))
  .option('--trace-sample-ratio <r>', 'share of new traces sampled, 0..1', env('TRACE_SAMPLE_RATIO'))
  .option('--quota-share <f>', "fraction of each tenant's opsPerSec this gateway admits (1/N with N gateways), 0 < f <= 1", env('QUOTA_SHARE'))
  .option('--quota-refresh-ms <ms>', 'how often tenant records and usage are refreshed', env('QUOTA_REFRESH_MS'))
  .option('--default-max-keys <n>', 'maxKeys of tenants without a record (default unlimited)', env('DEFAULT_MAX_KEYS'))
  .option('--default-max-bytes <n>', 'maxBytes of tenants without a record (default unlimited)', env('DEFAULT_MAX_BYTES'))
  .option('--default-ops-per-sec <n>', 'opsPerSec of tenants without a record (default unlimited)', env('DEFAULT_OPS_PER_SEC'))
  .option('--metrics-max-tenants <n>', 'distinct tenant label values in /metrics (later tenants: _other)', env('METRICS_MAX_TENANTS'))
  .option('--no-nats-front-door', 'serve HTTP only')
  .option('--no-coalesce', 'one NATS request per cell request (no coalescing per cell node)')
  .parse();

const o = program.opts<Record<string, string | boolean | undefined>>();
const str = (k: string): string | undefined => (typeof o[k] === 'string' ? (o[k] as string) : undefined);
const int = (k: string): number | undefined => {
  const v = str(k);
  if (v === undefined) return undefined;
  if (!/^[0-9]+$/.test(v)) throw new Error(`--${k.replace(/[A-Z]/g, (m) => `-${m.toLowerCase()}`)} must be a whole number`);
  return Number(v);
};

/** --default-* flags as a default quota, when any is set. */
function defaultQuota(): { defaultQuota?: { maxKeys?: number; maxBytes?: number; opsPerSec?: number } } {
  const q = { maxKeys: int('defaultMaxKeys'), maxBytes: int('defaultMaxBytes'), opsPerSec: int('defaultOpsPerSec') };
  const set = Object.fromEntries(Object.entries(q).filter(([, v]) => v !== undefined)) as { maxKeys?: number; maxBytes?: number; opsPerSec?: number };
  return Object.keys(set).length > 0 ? { defaultQuota: set } : {};
}

async function main(): Promise<void> {
  const log = createLogger();
  const issuer = str('issuer');
  const audience = str('audience');
  if (!issuer || !audience) throw new Error('--issuer and --audience are required (or CELLKV_GATEWAY_ISSUER / _AUDIENCE)');
  const gw = await startGateway({
    host: str('host')!,
    port: int('port')!,
    natsServers: str('nats')!.split(',').map((s) => s.trim()).filter(Boolean),
    natsUser: str('natsUser'),
    natsPass: process.env['CELLKV_NATS_PASSWORD'],
    sessionSecret: process.env['CELLKV_GATEWAY_SESSION_SECRET'],
    auth: { jwksFile: str('jwksFile'), jwksUrl: str('jwksUrl'), issuer, audience, tenantClaim: str('tenantClaim')! },
    ...(int('maxValueBytes') !== undefined ? { maxValueBytes: int('maxValueBytes')! } : {}),
    ...(int('maxInflight') !== undefined ? { maxInflight: int('maxInflight')! } : {}),
    ...(int('requestTimeoutMs') !== undefined ? { requestTimeoutMs: int('requestTimeoutMs')! } : {}),
    natsFrontDoor: o['natsFrontDoor'] !== false,
    coalesce: o['coalesce'] !== false,
    otlpEndpoint: str('otlpEndpoint'),
    ...(str('traceSampleRatio') !== undefined ? { traceSampleRatio: Number(str('traceSampleRatio')) } : {}),
    ...(str('quotaShare') !== undefined ? { quotaShare: Number(str('quotaShare')) } : {}),
    ...(int('quotaRefreshMs') !== undefined ? { quotaRefreshMs: int('quotaRefreshMs')! } : {}),
    ...(int('metricsMaxTenants') !== undefined ? { metricsMaxTenants: int('metricsMaxTenants')! } : {}),
    ...defaultQuota(),
    logger: log,
    defaultMetrics: true,
  });
  // HTTP is already serving (503 until NATS is up); announce once ready or after a bounded wait.
  if (!(await gw.waitReady(10_000))) log.warn('NATS or the directory is not available yet; serving 503 until it is');
  process.stdout.write(`cellkv-gateway ready ${gw.url}\n`);
  let stopping = false;
  const stop = (sig: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ sig }, 'stopping');
    gw.stop()
      .then(() => process.exit(0))
      .catch((e: unknown) => {
        log.error({ err: e }, 'unclean stop');
        process.exit(1);
      });
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

main().catch((e: unknown) => {
  process.stderr.write(`cellkv-gateway: ${(e as Error).message}\n`);
  process.exit(1);
});
