// `npm start`: a local three-AZ cellkv on one machine. Starts three clustered nats-servers (one
// per AZ), three cell nodes (n1/az1, n2/az2, n3/az3, each preferring its own AZ's NATS and able
// to fail over to the others) and a gateway on 127.0.0.1:8080; prints a dev token and curl
// examples. Ctrl-C stops everything in order (gateway, nodes, NATS). All state lives in --dir
// (default ./.cellkv): node LevelDB data, NATS configs, the dev signing key, logs. With
// --canary it also runs the linearizability canary (canary/) against the gateway, as tenant
// cellkv-canary, and prints its /metrics URL; it stops first, so it can delete its keys.
//
//   tsx scripts/start.ts [--dir ./.cellkv] [--port 8080] [--nats-ports 4222,4223,4224]
//                        [--cluster-ports 6222,6223,6224] [--no-install] [--canary]

import { existsSync, readdirSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { connect as tcpConnect } from 'node:net';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command } from 'commander';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { AdminClient, META_CELL } from '../cli/admin.js';
import { CANARY_TENANT } from '../canary/options.js';
import { ALL_SCOPES, ensureDevKeys, mintDevToken } from './dev-keys.js';
import { choosePorts, ensureNatsServer, parsePortList, portFree, SetupError, writeClusterConfigs, type NatsServerSpec } from './nats-cluster.js';
import { Supervisor } from './supervisor.js';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const NODES = [
  { id: 'n1', az: 'az1' },
  { id: 'n2', az: 'az2' },
  { id: 'n3', az: 'az3' },
] as const;
const DEV_TENANT = 'dev';
const TOKEN_TTL_S = 30 * 24 * 3600;

const opts = new Command()
  .name('cellkv-start')
  .description('run a local three-AZ cellkv cluster (3 nats-servers, 3 cell nodes, 1 gateway)')
  .option('--dir <dir>', 'data directory (node data, keys, logs)', './.cellkv')
  .option('--port <port>', 'gateway HTTP port', '8080')
  .option('--nats-ports <a,b,c>', 'NATS client ports for az1,az2,az3 (default 4222,4223,4224, or free ports when taken)')
  .option('--cluster-ports <a,b,c>', 'NATS route ports for az1,az2,az3 (default 6222,6223,6224, or free ports when taken)')
  .option('--no-install', 'never try to install nats-server (print how instead)')
  .option('--log-level <level>', 'log level of nodes and gateway (logs go to <dir>/logs/)', 'info')
  .option('--canary', `also run the linearizability canary against the gateway (tenant "${CANARY_TENANT}"); prints its /metrics URL`)
  .parse()
  .opts<{ dir: string; port: string; natsPorts?: string; clusterPorts?: string; install: boolean; logLevel: string; canary?: boolean }>();

const t0 = performance.now();
// stdout may be a pipe that closes under us (terminal gone): never crash on that.
process.stdout.on('error', () => undefined);
function step(msg: string): void {
  const s = ((performance.now() - t0) / 1000).toFixed(1).padStart(5);
  process.stdout.write(`[${s}s] ${msg}\n`);
}

const dir = resolve(opts.dir);
const supervisor = new Supervisor(join(dir, 'run'), join(dir, 'logs'), (name, code, signal, logFile) => {
  step(`WARNING: ${name} exited unexpectedly (${signal ?? `code ${code}`}); the rest keeps running. See ${logFile}`);
});

// ------------------------------------------------------------------ stopping (every exit path)

let stopping: Promise<void> | null = null;
let firstSignalAt = 0;

function shutdown(reason: string, exitCode: number): Promise<void> {
  if (stopping) return stopping;
  stopping = (async () => {
    const started = supervisor.pids().length > 0;
    if (started) step(`stopping (${reason}): ${opts.canary ? 'canary, ' : ''}gateway, then cell nodes, then NATS`);
    try {
      await supervisor.stopAll(step);
      if (started) step(`stopped; data kept in ${dir}`);
    } catch (e) {
      step(`stop failed: ${(e as Error).message}; killing what is left`);
      supervisor.killAllNow();
      exitCode = exitCode || 1;
    }
    process.exit(exitCode);
  })();
  return stopping;
}

function onSignal(sig: NodeJS.Signals): void {
  // npm and tsx forward the terminal's Ctrl-C as well, so one keypress may arrive twice:
  // only a signal more than 2 s after the first one forces a kill.
  if (!stopping) {
    firstSignalAt = Date.now();
    void shutdown(sig, 0);
  } else if (firstSignalAt === 0) {
    firstSignalAt = Date.now();
    step(`${sig}: already stopping; send it again to kill everything at once`);
  } else if (Date.now() - firstSignalAt > 2000) {
    step(`${sig} again: killing everything now`);
    supervisor.killAllNow();
    process.exit(1);
  }
}

for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(sig, () => onSignal(sig));
process.on('uncaughtException', (e) => {
  step(`internal error: ${e.stack ?? e.message}`);
  void shutdown('internal error', 1);
});
process.on('unhandledRejection', (e) => {
  step(`internal error: ${(e as Error)?.stack ?? String(e)}`);
  void shutdown('internal error', 1);
});

// ------------------------------------------------------------------ helpers

function waitForTcp(port: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  return new Promise((resolvePort, reject) => {
    const attempt = () => {
      const s = tcpConnect(port, '127.0.0.1');
      s.once('connect', () => {
        s.destroy();
        resolvePort();
      });
      s.once('error', () => {
        s.destroy();
        if (Date.now() > deadline) reject(new SetupError('START_FAILED', `nothing listens on 127.0.0.1:${port} after ${timeoutMs / 1000}s`));
        else setTimeout(attempt, 50);
      });
    };
    attempt();
  });
}

/** Proves the three servers form one cluster: a subscriber on az1 answers requests sent via az2 and az3. */
async function verifyMesh(specs: readonly NatsServerSpec[], timeoutMs: number): Promise<void> {
  const conns: NatsConnection[] = [];
  try {
    for (const s of specs) conns.push(await connect({ servers: s.url, name: 'cellkv-start-probe', maxReconnectAttempts: 0 }));
    const subject = `cellkv.start.probe.${process.pid}.${Date.now()}`;
    conns[0]!.subscribe(subject, {
      callback: (_e, m) => {
        m.respond(m.data);
      },
    });
    await conns[0]!.flush();
    const deadline = Date.now() + timeoutMs;
    for (let i = 1; i < conns.length; i++) {
      for (;;) {
        try {
          await conns[i]!.request(subject, new Uint8Array(0), { timeout: 250 });
          break;
        } catch {
          if (Date.now() > deadline) throw new SetupError('START_FAILED', `NATS ${specs[i]!.az} does not reach ${specs[0]!.az} over cluster routes after ${timeoutMs / 1000}s`);
          await new Promise((r) => setTimeout(r, 50));
        }
      }
    }
  } finally {
    await Promise.all(conns.map((c) => c.close().catch(() => undefined)));
  }
}

async function waitHttpReady(url: string, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const ok = await fetch(`${url}/readyz`, { signal: AbortSignal.timeout(1000) }).then((r) => r.ok, () => false);
    if (ok) return true;
    await new Promise((r) => setTimeout(r, 100));
  }
  return false;
}

function isEmptyDir(p: string): boolean {
  return !existsSync(p) || readdirSync(p).length === 0;
}

/** Single-quotes for POSIX shells, so printed commands work when pasted. */
function sq(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

// ------------------------------------------------------------------ the steps

async function main(): Promise<void> {
  const gatewayPort = Number(opts.port);
  if (!Number.isInteger(gatewayPort) || gatewayPort < 1 || gatewayPort > 65535) throw new SetupError('INVALID_ARGUMENT', `--port must be a port number, got "${opts.port}"`);
  const explicitClient = opts.natsPorts ? parsePortList(opts.natsPorts, '--nats-ports') : null;
  const explicitCluster = opts.clusterPorts ? parsePortList(opts.clusterPorts, '--cluster-ports') : null;

  await mkdir(dir, { recursive: true });
  await supervisor.init();
  step(`cellkv dev cluster in ${dir}`);
  const reaped = await supervisor.reapStale(dir);
  if (reaped > 0) step(`stopped ${reaped} leftover process(es) of an earlier run that did not exit`);

  const gatewayMain = join(ROOT, 'gateway/main.ts');
  const haveGateway = existsSync(gatewayMain);
  if (haveGateway && !(await portFree(gatewayPort))) {
    throw new SetupError('PORT_IN_USE', `gateway port ${gatewayPort} is in use; stop what holds it or pass --port <other>`);
  }

  const nats = await ensureNatsServer(step, opts.install);
  step(`nats-server ${nats.installed ? 'installed' : 'found'}: ${nats.bin} (${nats.version})`);

  const client = await choosePorts(explicitClient, [4222, 4223, 4224], 'NATS client');
  const cluster = await choosePorts(explicitCluster, [6222, 6223, 6224], 'NATS cluster');
  for (const n of [...client.notes, ...cluster.notes]) step(`note: port ${n}`);
  const specs = await writeClusterConfigs(dir, NODES.map((n) => n.az), client.ports, cluster.ports);
  await Promise.all(
    specs.map((s) =>
      supervisor.start({ name: `nats-${s.az}`, group: 0, command: nats.bin, args: ['-c', s.confFile], ready: null, readyTimeoutMs: 0, stopGraceMs: 5000 }),
    ),
  );
  await Promise.all(specs.map((s) => waitForTcp(s.clientPort, 10_000)));
  await verifyMesh(specs, 10_000);
  const allUrls = specs.map((s) => s.url);
  step(`NATS cluster up: ${specs.map((s) => `${s.az} :${s.clientPort}`).join(', ')} (routes ${cluster.ports.join(',')})`);

  const keys = await ensureDevKeys(join(dir, 'keys'));
  step(`dev signing key ${keys.created ? 'created' : 'loaded'}: ${keys.jwksFile}`);

  const bootstrap = NODES.map((n) => `${n.id}:${n.az}`).join(',');
  const fresh: string[] = [];
  const metrics = await Promise.all(
    NODES.map(async (n, i) => {
      const dataDir = join(dir, 'nodes', n.id);
      // Bootstrap only an empty data dir; a restarted node reopens its replicas from disk.
      const isFresh = isEmptyDir(dataDir);
      if (isFresh) fresh.push(n.id);
      // Own AZ's server first, the others for failover.
      const urls = [allUrls[i]!, ...allUrls.filter((_, j) => j !== i)].join(',');
      const m = await supervisor.start({
        name: n.id,
        group: 1,
        command: process.execPath,
        args: ['--import', 'tsx', join(ROOT, 'cell/main.ts'), '--node-id', n.id, '--az', n.az, '--data-dir', dataDir, '--nats', urls, '--metrics-port', '0', ...(isFresh ? ['--bootstrap', bootstrap] : [])],
        cwd: ROOT,
        env: { ...process.env, CELLKV_LOG_LEVEL: opts.logLevel },
        ready: /cellkv-node ready node=\S+ metrics=(\S+)/,
        readyTimeoutMs: 60_000,
        stopGraceMs: 15_000,
      });
      return `${n.id}/${n.az} ${m?.[1] ?? ''}`;
    }),
  );
  const how = fresh.length === NODES.length ? 'bootstrapped a new cluster' : fresh.length === 0 ? 'reopened existing data' : `bootstrapped ${fresh.join(',')}, reopened the rest`;
  step(`cell nodes up (${how}): ${metrics.join(', ')}`);

  const admin = await AdminClient.connect(allUrls);
  try {
    const d = await admin.waitForLeaders(45_000);
    const leaders = [META_CELL, ...d.cells.map((c) => c.id)].map((c) => `${c}→${d.leaders[c]}`).join(', ');
    step(`cluster ready: ${d.cells.length} data cell(s), leaders ${leaders}`);
    // Register the dev tenant so `cellkv tenants list` shows it (quotas unset = unlimited).
    try {
      const tenants = await admin.listTenants();
      if (!tenants.some((t) => t.id === DEV_TENANT)) {
        await admin.putTenant({ id: DEV_TENANT });
        step(`tenant "${DEV_TENANT}" registered`);
      }
    } catch (e) {
      step(`note: could not register tenant "${DEV_TENANT}" (${(e as Error).message}); tokens still work`);
    }
  } finally {
    await admin.close();
  }

  let gatewayUrl: string | null = null;
  if (haveGateway) {
    const m = await supervisor.start({
      name: 'gateway',
      group: 2,
      command: process.execPath,
      args: ['--import', 'tsx', gatewayMain, '--port', String(gatewayPort), '--host', '127.0.0.1', '--nats', allUrls.join(','), '--jwks-file', keys.jwksFile, '--issuer', keys.issuer, '--audience', keys.audience, '--tenant-claim', 'tenant'],
      cwd: ROOT,
      env: { ...process.env, CELLKV_LOG_LEVEL: opts.logLevel },
      ready: /cellkv-gateway ready (\S+)/,
      readyTimeoutMs: 60_000,
      stopGraceMs: 10_000,
    });
    gatewayUrl = m?.[1] ?? `http://127.0.0.1:${gatewayPort}`;
    const ready = await waitHttpReady(gatewayUrl, 15_000);
    step(ready ? `gateway ready: ${gatewayUrl}` : `gateway started at ${gatewayUrl} but /readyz is not 200 yet (see logs/gateway.log)`);
  } else {
    step('gateway skipped: gateway/main.ts does not exist in this checkout yet (the curl examples need it)');
  }

  const canaryMetrics = opts.canary ? await startCanary(gatewayUrl, keys) : null;

  const token = await mintDevToken(keys, { tenant: DEV_TENANT, scopes: ALL_SCOPES, ttlSeconds: TOKEN_TTL_S });
  await writeFile(join(dir, 'dev-token'), `${token}\n`, { mode: 0o600 });
  const base = gatewayUrl ?? `http://127.0.0.1:${gatewayPort}`;
  await writeFile(join(dir, 'run', 'endpoints.json'), JSON.stringify({ gateway: base, nats: allUrls, keysDir: keys.dir }, null, 2));
  // The token is read from its file so each example stays one short line that works as pasted.
  const auth = `-H "Authorization: Bearer $(cat ${sq(join(dir, 'dev-token'))})"`;
  const lines = [
    '',
    `cellkv is running. Data: ${dir}  Logs: ${join(dir, 'logs')}`,
    `  gateway  ${gatewayUrl ?? '(not started)'}`,
    `  NATS     ${allUrls.join(',')}`,
    `  nodes    ${NODES.map((n) => `${n.id}/${n.az}`).join(' ')}`,
    ...(canaryMetrics ? [`  canary   ${canaryMetrics} (tenant "${CANARY_TENANT}"; failing windows in ${join(dir, 'canary-violations')})`] : []),
    '',
    `Dev token (tenant "${DEV_TENANT}", scopes "${ALL_SCOPES}", valid ${TOKEN_TTL_S / 86400} days; also in ${join(dir, 'dev-token')}):`,
    `  ${token}`,
    '',
    'Try it:',
    `  curl -sS -X PUT --data-binary 'world' ${auth} ${base}/v1/kv/hello`,
    `  curl -sS ${auth} ${base}/v1/kv/hello`,
    `  curl -sS ${auth} '${base}/v1/scan?prefix=he'`,
    '',
    'Admin CLI: npx cellkv status | npx cellkv tenants list | npx cellkv get hello | npx cellkv --help',
    '',
    `cellkv ready gateway=${gatewayUrl ?? 'none'} nats=${allUrls.join(',')}${canaryMetrics ? ` canary=${canaryMetrics}` : ''}`,
    'Press Ctrl-C to stop everything.',
    '',
  ];
  process.stdout.write(lines.join('\n'));
}

/**
 * The canary against the local gateway, as `npx cellkv canary` runs it: a token for tenant
 * cellkv-canary minted from the dev key, passed in the environment (argv is public), metrics
 * on a free loopback port. Group 3: stopped before the gateway, so it can delete its keys.
 */
async function startCanary(gatewayUrl: string | null, keys: Awaited<ReturnType<typeof ensureDevKeys>>): Promise<string | null> {
  if (gatewayUrl === null) {
    step('canary skipped: it needs the gateway');
    return null;
  }
  const token = await mintDevToken(keys, { tenant: CANARY_TENANT, scopes: 'kv:read kv:write', ttlSeconds: TOKEN_TTL_S });
  const m = await supervisor.start({
    name: 'canary',
    group: 3,
    command: process.execPath,
    args: ['--import', 'tsx', join(ROOT, 'canary/main.ts'), '--url', gatewayUrl, '--metrics-port', '0', '--metrics-host', '127.0.0.1', '--violations-dir', join(dir, 'canary-violations')],
    cwd: ROOT,
    env: { ...process.env, CELLKV_LOG_LEVEL: opts.logLevel, CELLKV_CANARY_TOKEN: token },
    ready: /^metrics=(\S+) run=(\S+)/,
    readyTimeoutMs: 30_000,
    stopGraceMs: 15_000,
  });
  // canary/metrics.ts prints the full /metrics URL.
  const metrics = m?.[1] ?? 'http://127.0.0.1:?/metrics';
  step(`canary running (run ${m?.[2] ?? '?'}): ${metrics}`);
  return metrics;
}

main().catch((e: unknown) => {
  if (stopping) return; // a signal arrived mid-start: the stop in progress reports for itself
  const code = e instanceof SetupError ? e.code : 'START_FAILED';
  process.stderr.write(`\ncellkv start failed: ${code}: ${(e as Error).message}\n\n`);
  void shutdown('start failed', 1);
});
