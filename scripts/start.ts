// `npm start`: a local three-AZ cellkv on one machine. Starts three clustered nats-servers (one
// per AZ), three cell nodes (n1/az1, n2/az2, n3/az3, each preferring its own AZ's NATS and able
// to fail over to the others) and a gateway on 127.0.0.1:8080; prints a dev token and curl
// examples. Ctrl-C stops everything in order (gateway, nodes, NATS). All state lives in --dir
// (default ./.cellkv): node LevelDB data, NATS configs, the dev signing key, logs. With
// --canary it also runs the linearizability canary (canary/) against the gateway, as tenant
// cellkv-canary, and prints its /metrics URL; it stops first, so it can delete its keys.
// With --nodes 6 (any count from 3 to 12) nodes beyond the first three cycle through the AZs
// (n4/az1, n5/az2, n6/az3) and start empty: the meta leader's placement driver balances
// replicas onto them (README, "The fleet").
//
//   tsx scripts/start.ts [--dir ./.cellkv] [--port 8080] [--nats-ports 4222,4223,4224]
//                        [--cluster-ports 6222,6223,6224] [--nodes 3] [--no-install] [--canary]

import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { Command } from 'commander';
import { AdminClient, META_CELL } from '../cli/admin.js';
import { CANARY_TENANT } from '../canary/options.js';
import { REPO_ROOT as ROOT } from './cluster/commands.js';
import { LocalCluster } from './cluster/launcher.js';
import { portFree } from './cluster/ports.js';
import { ALL_SCOPES, ensureDevKeys, mintDevToken } from './dev-keys.js';
import { choosePorts, ensureNatsServer, parsePortList, SetupError } from './nats-cluster.js';
import { Supervisor } from './supervisor.js';

const DEV_TENANT = 'dev';
const TOKEN_TTL_S = 30 * 24 * 3600;

const opts = new Command()
  .name('cellkv-start')
  .description('run a local three-AZ cellkv cluster (3 nats-servers, 3 cell nodes or --nodes N, 1 gateway)')
  .option('--dir <dir>', 'data directory (node data, keys, logs)', './.cellkv')
  .option('--port <port>', 'gateway HTTP port', '8080')
  .option('--nats-ports <a,b,c>', 'NATS client ports for az1,az2,az3 (default 4222,4223,4224, or free ports when taken)')
  .option('--cluster-ports <a,b,c>', 'NATS route ports for az1,az2,az3 (default 6222,6223,6224, or free ports when taken)')
  .option('--nodes <n>', 'cell nodes, 3 to 12, cycling through az1..az3; beyond the first three they start empty', '3')
  .option('--no-install', 'never try to install nats-server (print how instead)')
  .option('--log-level <level>', 'log level of nodes and gateway (logs go to <dir>/logs/)', 'info')
  .option('--canary', `also run the linearizability canary against the gateway (tenant "${CANARY_TENANT}"); prints its /metrics URL`)
  .parse()
  .opts<{ dir: string; port: string; nodes: string; natsPorts?: string; clusterPorts?: string; install: boolean; logLevel: string; canary?: boolean }>();

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

async function waitHttpReady(url: string, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const ok = await fetch(`${url}/readyz`, { signal: AbortSignal.timeout(1000) }).then((r) => r.ok, () => false);
    if (ok) return true;
    await new Promise((r) => setTimeout(r, 100));
  }
  return false;
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
  const clusterPorts = await choosePorts(explicitCluster, [6222, 6223, 6224], 'NATS cluster');
  for (const n of [...client.notes, ...clusterPorts.notes]) step(`note: port ${n}`);
  // NATS configs in <dir>/nats/<az>/, logs in <dir>/logs/, node data in <dir>/nodes/<id>.
  const nodeCount = Number(opts.nodes);
  if (!Number.isInteger(nodeCount) || nodeCount < 3 || nodeCount > 12) throw new SetupError('INVALID_ARGUMENT', `--nodes must be a whole number from 3 to 12, got "${opts.nodes}"`);
  const cluster = await LocalCluster.create({
    nodes: nodeCount,
    dir,
    removeDir: false,
    dataDir: join(dir, 'nodes'),
    logDir: join(dir, 'logs'),
    runner: supervisor.runner(),
    nats: {
      layout: 'per-az',
      clientPorts: client.ports,
      clusterPorts: clusterPorts.ports,
      header: 'Written by scripts/start.ts on every start; edits are overwritten.',
      serverName: (az) => `cellkv-${az}`,
      clusterName: 'cellkv-dev',
      confFile: (az) => join(dir, 'nats', az, 'nats.conf'),
    },
    // Bootstrap only an empty data dir; a restarted node reopens its replicas from disk.
    node: { logLevel: opts.logLevel, bootstrap: 'if-empty', readyTimeoutMs: 60_000 },
  });
  for (const n of cluster.nodes) await mkdir(join(dir, 'nats', n.az), { recursive: true });
  await cluster.startNats();
  try {
    await cluster.waitMesh(10_000);
  } catch (e) {
    throw new SetupError('START_FAILED', (e as Error).message);
  }
  const allUrls = cluster.natsUrls;
  step(`NATS cluster up: ${cluster.nats.map((s) => `${s.name} :${s.clientPort}`).join(', ')} (routes ${clusterPorts.ports.join(',')})`);

  const keys = await ensureDevKeys(join(dir, 'keys'));
  step(`dev signing key ${keys.created ? 'created' : 'loaded'}: ${keys.jwksFile}`);

  await cluster.startNodes();
  // Only the first node of each AZ bootstraps; the others start empty (or reopen their data).
  const founders = cluster.nodes.slice(0, 3);
  const fresh = founders.filter((n) => n.bootstrapped).map((n) => n.id);
  const metrics = cluster.nodes.map((n) => `${n.id}/${n.az} ${n.metricsUrl}`);
  const how = fresh.length === founders.length ? 'bootstrapped a new cluster' : fresh.length === 0 ? 'reopened existing data' : `bootstrapped ${fresh.join(',')}, reopened the rest`;
  step(`cell nodes up (${how}): ${metrics.join(', ')}`);
  const extra = cluster.nodes.slice(3);
  if (extra.length > 0) {
    const empty = extra.filter((n) => n.bootstrapped).map((n) => `${n.id}/${n.az}`);
    step(`${cluster.nodes.length} nodes, ${[...new Set(cluster.nodes.map((n) => n.az))].length} AZs; ${empty.length > 0 ? `${empty.join(' ')} started empty: ` : ''}the placement driver balances replicas onto the extra nodes, one move at a time (npx cellkv nodes)`);
  }

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
    const gw = await cluster.startGateway({
      name: 'gateway',
      port: gatewayPort,
      host: '127.0.0.1',
      jwksFile: keys.jwksFile,
      issuer: keys.issuer,
      audience: keys.audience,
      extraArgs: ['--tenant-claim', 'tenant'],
      logLevel: opts.logLevel,
      readyTimeoutMs: 60_000,
    });
    gatewayUrl = gw.url || `http://127.0.0.1:${gatewayPort}`;
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
    `  nodes    ${cluster.nodes.map((n) => `${n.id}/${n.az}`).join(' ')}`,
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
    'Admin CLI: npx cellkv status | npx cellkv nodes | npx cellkv tenants list | npx cellkv get hello | npx cellkv --help',
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
  const c = await supervisor.start({
    name: 'canary',
    group: 3,
    cmd: process.execPath,
    args: ['--import', 'tsx', join(ROOT, 'canary/main.ts'), '--url', gatewayUrl, '--metrics-port', '0', '--metrics-host', '127.0.0.1', '--violations-dir', join(dir, 'canary-violations')],
    cwd: ROOT,
    env: { ...process.env, CELLKV_LOG_LEVEL: opts.logLevel, CELLKV_CANARY_TOKEN: token },
    ready: /^metrics=(\S+) run=(\S+)/,
    readyTimeoutMs: 30_000,
    stopGraceMs: 15_000,
  });
  const m = c.ready;
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
