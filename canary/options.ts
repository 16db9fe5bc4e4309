// The canary's flags, shared by `node --import tsx canary/main.ts` and `npx cellkv canary`:
// one definition, parsed into a CanaryConfig plus the transport to use.

import { readFileSync } from 'node:fs';
import { Command, InvalidArgumentError, Option } from 'commander';
import { CellkvHttpClient, CellkvNatsClient, type CellkvClient } from '../shared/client/index.js';
import { CanaryConfigError, type CanaryConfig } from './canary.js';

export const DEFAULT_PREFIX = '__canary/';
/** The tenant the canary's token should name; reserved for it (see canary/README.md). */
export const CANARY_TENANT = 'cellkv-canary';

export interface CanaryCliOptions {
  url?: string;
  nats?: string;
  token?: string;
  tokenFile?: string;
  prefix: string;
  keys: number;
  concurrency: number;
  rate: number;
  window: number;
  windowOps: number;
  maxWindowRecords?: number;
  maxCarried: number;
  taint: number;
  checkTimeoutMs: number;
  maxQueuedWindows: number;
  violationsDir: string;
  maxViolationFiles: number;
  opTimeoutMs: number;
  retries: number;
  metricsPort: number;
  metricsHost: string;
  maxOps: number;
  maxWindows: number;
  cleanup: boolean;
  logLevel: string;
}

function wholeNumber(name: string, min: number): (v: string) => number {
  return (v) => {
    const n = Number(v);
    if (!/^[0-9]+$/.test(v) || !Number.isSafeInteger(n) || n < min) throw new InvalidArgumentError(`${name} must be a whole number >= ${min}, got "${v}"`);
    return n;
  };
}

function positiveNumber(name: string): (v: string) => number {
  return (v) => {
    const n = Number(v);
    if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError(`${name} must be a number > 0, got "${v}"`);
    return n;
  };
}

/** Adds the canary's flags to `cmd` (defaults shown in --help). */
export function addCanaryOptions(cmd: Command): Command {
  return cmd
    .addOption(new Option('--url <url>', 'gateway base URL (HTTP front door), e.g. http://127.0.0.1:8080'))
    .addOption(new Option('--nats <urls>', 'NATS URLs (comma-separated): use the NATS front door cellkv.api.v1.* instead of HTTP'))
    .addOption(new Option('--token <jwt>', `bearer token with kv:read kv:write for tenant "${CANARY_TENANT}" (env CELLKV_CANARY_TOKEN)`))
    .addOption(new Option('--token-file <file>', 'read the token from this file'))
    .addOption(new Option('--prefix <p>', 'reserved key prefix').default(DEFAULT_PREFIX))
    .addOption(new Option('--keys <n>', 'keys exercised at once').default(8).argParser(wholeNumber('--keys', 1)))
    .addOption(new Option('--concurrency <n>', 'concurrent workers').default(4).argParser(wholeNumber('--concurrency', 1)))
    .addOption(new Option('--rate <ops/s>', 'op rate limit across workers').default(50).argParser(positiveNumber('--rate')))
    .addOption(new Option('--window <seconds>', "cut a key's window after this long").default(10).argParser(positiveNumber('--window')))
    .addOption(new Option('--window-ops <n>', "cut a key's window after this many ops").default(100).argParser(wholeNumber('--window-ops', 1)))
    .addOption(new Option('--max-window-records <n>', 'hard bound on one window (default window-ops + concurrency + 1)').argParser(wholeNumber('--max-window-records', 2)))
    .addOption(new Option('--max-carried <n>', 'unknown writes carried into a window before the key restarts').default(16).argParser(wholeNumber('--max-carried', 0)))
    .addOption(new Option('--taint <seconds>', 'how long a write of unknown outcome may still take effect; then its key restarts').default(60).argParser(positiveNumber('--taint')))
    .addOption(new Option('--check-timeout-ms <ms>', "checker budget per window (past it: verdict unknown)").default(2000).argParser(wholeNumber('--check-timeout-ms', 1)))
    .addOption(new Option('--max-queued-windows <n>', 'windows waiting for the checker before keys pause').default(16).argParser(wholeNumber('--max-queued-windows', 1)))
    .addOption(new Option('--violations-dir <dir>', 'where failing windows are written').default('./canary-violations'))
    .addOption(new Option('--max-violation-files <n>', 'files kept in --violations-dir (oldest removed)').default(50).argParser(wholeNumber('--max-violation-files', 1)))
    .addOption(new Option('--op-timeout-ms <ms>', "client timeout per attempt (then a write's outcome is unknown)").default(5000).argParser(wholeNumber('--op-timeout-ms', 1)))
    .addOption(new Option('--retries <n>', 'client retries per op (writes with an idempotency key)').default(2).argParser(wholeNumber('--retries', 0)))
    .addOption(new Option('--metrics-port <port>', 'port of /metrics (0: any free port)').default(9108).argParser(wholeNumber('--metrics-port', 0)))
    .addOption(new Option('--metrics-host <host>', 'address /metrics listens on').default('0.0.0.0'))
    .addOption(new Option('--max-ops <n>', 'stop after this many ops (0: run until SIGTERM)').default(0).argParser(wholeNumber('--max-ops', 0)))
    .addOption(new Option('--max-windows <n>', 'stop after this many checked windows (0: never)').default(0).argParser(wholeNumber('--max-windows', 0)))
    .addOption(new Option('--no-cleanup', "keep this run's keys when stopping"))
    .addOption(new Option('--log-level <level>', 'pino level').default(process.env['CELLKV_LOG_LEVEL'] ?? 'info'));
}

export function canaryConfig(o: CanaryCliOptions): CanaryConfig {
  if (o.metricsPort > 65535) throw new CanaryConfigError(`--metrics-port must be at most 65535, got ${o.metricsPort}`);
  return {
    prefix: o.prefix,
    keys: o.keys,
    concurrency: o.concurrency,
    ratePerSec: o.rate,
    windowOps: o.windowOps,
    windowMs: o.window * 1000,
    maxWindowRecords: o.maxWindowRecords ?? o.windowOps + o.concurrency + 1,
    maxCarried: o.maxCarried,
    taintMs: o.taint * 1000,
    checkTimeoutMs: o.checkTimeoutMs,
    maxQueuedWindows: o.maxQueuedWindows,
    violationsDir: o.violationsDir,
    maxViolationFiles: o.maxViolationFiles,
    barrierRetryMaxMs: 2000,
    maxOps: o.maxOps,
    maxWindows: o.maxWindows,
    cleanup: o.cleanup,
  };
}

/** The token from --token, --token-file or CELLKV_CANARY_TOKEN; null when none was given. */
export function canaryToken(o: CanaryCliOptions): string | null {
  if (o.token !== undefined) return o.token;
  if (o.tokenFile !== undefined) {
    try {
      return readFileSync(o.tokenFile, 'utf8').trim();
    } catch (e) {
      throw new CanaryConfigError(`cannot read --token-file ${o.tokenFile}: ${(e as Error).message}`);
    }
  }
  return process.env['CELLKV_CANARY_TOKEN'] ?? null;
}

/** The client for the chosen front door. */
export function canaryClient(o: CanaryCliOptions, token: string): CellkvClient {
  if ((o.url === undefined) === (o.nats === undefined)) throw new CanaryConfigError('give exactly one of --url (HTTP front door) or --nats (NATS front door)');
  const common = { token, retries: o.retries, timeoutMs: o.opTimeoutMs };
  if (o.nats !== undefined) {
    const servers = o.nats.split(',').map((s) => s.trim()).filter((s) => s !== '');
    if (servers.length === 0) throw new CanaryConfigError('--nats needs at least one URL');
    return new CellkvNatsClient({ servers, ...common });
  }
  return new CellkvHttpClient({ url: o.url!, ...common });
}
