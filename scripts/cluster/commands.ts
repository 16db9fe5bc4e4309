// The command lines and environments of cellkv's own processes, built in one place so every
// launcher user (tests, chaos, npm start, benches) passes the same flags the same way.

import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Repository root (where cell/main.ts and gateway/main.ts live). */
export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));

export const NODE_READY = /cellkv-node ready node=\S+ metrics=(\S+)/;
export const GATEWAY_READY = /cellkv-gateway ready (\S+)/;

export interface CellNodeFlags {
  readonly id: string;
  readonly az: string;
  readonly dataDir: string;
  /** Comma-separated NATS URLs, the preferred one first. */
  readonly nats: string;
  /** "n1:az1,n2:az2,..." or null to reopen the replicas on disk without bootstrapping. */
  readonly bootstrap: string | null;
  readonly tickMs?: number;
  readonly snapshotEvery?: number;
  readonly logRetain?: number;
  /** More cell/main.ts flags, last. */
  readonly extraArgs?: readonly string[];
  /** node.js flags before the script (e.g. --cpu-prof, an --import probe). */
  readonly nodeArgs?: readonly string[];
}

/** argv for `node` running cell/main.ts; the metrics port is always picked by the node. */
export function cellNodeArgs(f: CellNodeFlags, root = REPO_ROOT): string[] {
  return [
    ...(f.nodeArgs ?? []),
    '--import', 'tsx', join(root, 'cell/main.ts'),
    '--node-id', f.id, '--az', f.az, '--data-dir', f.dataDir,
    '--nats', f.nats, '--metrics-port', '0',
    ...(f.bootstrap !== null ? ['--bootstrap', f.bootstrap] : []),
    ...(f.tickMs !== undefined ? ['--tick-ms', String(f.tickMs)] : []),
    ...(f.snapshotEvery !== undefined ? ['--snapshot-every', String(f.snapshotEvery)] : []),
    ...(f.logRetain !== undefined ? ['--log-retain', String(f.logRetain)] : []),
    ...(f.extraArgs ?? []),
  ];
}

export interface GatewayFlags {
  /** 0 = the gateway picks a free port and reports it on its ready line. */
  readonly port: number;
  readonly host?: string;
  /** Comma-separated NATS URLs. */
  readonly nats: string;
  readonly jwksFile: string;
  readonly issuer: string;
  readonly audience: string;
  /** More gateway/main.ts flags, last. */
  readonly extraArgs?: readonly string[];
}

/** argv for `node` running gateway/main.ts. */
export function gatewayArgs(f: GatewayFlags, root = REPO_ROOT): string[] {
  return [
    '--import', 'tsx', join(root, 'gateway/main.ts'),
    '--port', String(f.port), ...(f.host !== undefined ? ['--host', f.host] : []),
    '--nats', f.nats,
    '--jwks-file', f.jwksFile, '--issuer', f.issuer, '--audience', f.audience,
    ...(f.extraArgs ?? []),
  ];
}

export interface ChildEnvOptions {
  /** CELLKV_LOG_LEVEL of the child. */
  readonly logLevel: string;
  /** Drop every CELLKV_* variable of our own environment first, so none arms or reconfigures a child by accident. */
  readonly scrubCellkv?: boolean;
  /** Set last (may override the log level). */
  readonly extra?: Readonly<Record<string, string>>;
}

export function childEnv(o: ChildEnvOptions): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!o.scrubCellkv || !k.startsWith('CELLKV_')) env[k] = v;
  env['CELLKV_LOG_LEVEL'] = o.logLevel;
  return { ...env, ...o.extra };
}
