// cellkv as a system under test: a fresh local cluster started exactly as `npm start` starts
// one (scripts/start.ts as a child: three clustered nats-servers, three cell nodes, a gateway)
// in a temporary directory on free ports, with its dev token; or an existing gateway
// (--url/--token, optionally --nats-url for the NATS front door). Stopped with SIGINT, as
// Ctrl-C stops `npm start`, so every child exits cleanly (and writes CPU profiles if asked).

import { readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { distinctFreePorts } from '../../scripts/cluster/ports.js';
import { killHard, killPids, spawnChild, trackTempDir, untrackTempDir, type Child } from '../../scripts/cluster/procs.js';
import type { OpKind } from '../workloads.js';
import type { PeerProcess, PeerStartOptions, RunningPeer, TargetSpec } from './types.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const PKG_VERSION = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;

export type Front = 'http' | 'nats';

export interface CellkvStartOptions extends PeerStartOptions {
  readonly fronts: readonly Front[];
  /** Directory for V8 CPU profiles of every cellkv process (bench/cpu-profiler.mjs), or null. */
  readonly cpuProfDir: string | null;
}

export interface ExistingCellkv {
  readonly url: string;
  readonly token: string;
  readonly natsUrl: string | null;
}

const NOTES = [
  'cellkv: writes are acknowledged once a majority of the cell\'s replicas has them fsynced (group commit);',
  '  get = linearizable (leader ReadIndex, batched), get-stale = consistency=stale (any replica); every request carries a JWT the gateway verifies;',
  '  HTTP: undici Pool, keep-alive, one connection per worker; NATS: the front door via shared/client (no retries, no idempotency keys).',
];

/** Children of scripts/start.ts as its supervisor records them (run/state.json). */
function childrenOf(dir: string): PeerProcess[] {
  try {
    const s = JSON.parse(readFileSync(join(dir, 'run', 'state.json'), 'utf8')) as { children: { name: string; pid: number }[] };
    return s.children.filter((c) => c.pid > 0);
  } catch {
    return [];
  }
}

function targetsFor(fronts: readonly Front[], gateway: string, nats: readonly string[] | null, token: string): { front: string; spec: TargetSpec }[] {
  return fronts.map((f) => {
    if (f === 'http') return { front: 'http', spec: { kind: 'cellkv-http', url: gateway, token } };
    if (!nats || nats.length === 0) throw new Error('--front nats needs the NATS URL of the cluster (--nats-url with --url)');
    return { front: 'nats', spec: { kind: 'cellkv-nats', servers: [...nats], token } };
  });
}

export async function startCellkv(o: CellkvStartOptions): Promise<RunningPeer> {
  const dir = await mkdtemp(join(tmpdir(), 'cellkv-bench-'));
  trackTempDir(dir);
  const ports = await distinctFreePorts(7);
  const env: NodeJS.ProcessEnv = { ...process.env };
  // Nothing from our own environment may reconfigure the nodes by accident.
  for (const k of Object.keys(env)) if (k.startsWith('CELLKV_')) delete env[k];
  if (o.cpuProfDir) {
    // Every node process below start.ts (nodes, gateway) inherits this and profiles itself.
    env['NODE_OPTIONS'] = `${env['NODE_OPTIONS'] ?? ''} --import ${new URL('../cpu-profiler.mjs', import.meta.url).href}`.trim();
    env['BENCH_CPU_PROF_DIR'] = o.cpuProfDir;
  }
  o.log(`cellkv: starting scripts/start.ts in ${dir} (gateway :${ports[0]}, NATS :${ports.slice(1, 4).join(',')})`);
  let proc: Child;
  try {
    proc = await spawnChild({
      label: 'cellkv (scripts/start.ts)',
      cmd: process.execPath,
      args: ['--import', 'tsx', join(ROOT, 'scripts/start.ts'), '--dir', dir, '--port', String(ports[0]), '--nats-ports', ports.slice(1, 4).join(','), '--cluster-ports', ports.slice(4, 7).join(','), '--log-level', 'warn', ...(o.allowInstall ? [] : ['--no-install'])],
      cwd: ROOT,
      env,
      logFile: join(dir, 'start.log'),
      // start.ts prints its steps then this line; the match spans both (matched on the recent output as a whole).
      ready: /cluster ready: ([^\n]*)[\s\S]*cellkv ready gateway=(\S+) nats=(\S+)/,
      readyTimeoutMs: 120_000,
    });
  } catch (e) {
    killPids(childrenOf(dir).map((c) => c.pid));
    // The temp dir goes away: keep what explains the failure (start.ts and each child's log tail).
    const tail = async (file: string, n: number) => (await readFile(file, 'utf8').catch(() => '')).trimEnd().split('\n').slice(-n).join('\n');
    const parts = [await tail(join(dir, 'start.log'), 15)];
    for (const name of ['n1', 'n2', 'n3', 'gateway']) {
      const t = await tail(join(dir, 'logs', `${name}.log`), 5);
      if (t) parts.push(`--- ${name}.log (last lines)\n${t}`);
    }
    await rm(dir, { recursive: true, force: true });
    untrackTempDir(dir);
    throw new Error(`${(e as Error).message}\n${parts.join('\n')}`);
  }
  // Last resort if we die without stopping it: start.ts's children live in their own process groups.
  const known = childrenOf(dir);
  const onExit = () => killPids(childrenOf(dir).concat(known).map((c) => c.pid));
  process.on('exit', onExit);
  const cells = proc.ready![1]!;
  const gateway = proc.ready![2]!;
  const nats = proc.ready![3]!.split(',');
  const token = (await readFile(join(dir, 'dev-token'), 'utf8')).trim();
  let stopped = false;
  return {
    peer: 'cellkv',
    version: `cellkv ${PKG_VERSION} (scripts/start.ts: 3 nats-server, 3 cell nodes, 1 gateway)`,
    targets: targetsFor(o.fronts, gateway, nats, token),
    unsupported: new Map<OpKind, string>(),
    notes: [...NOTES, `  cluster: ${cells}; data in ${dir} (removed at the end)`],
    preload: { batch: 500, inFlight: 4 },
    processes: () => known,
    ...(o.cpuProfDir
      ? {
          // Node processes only: SIGUSR2 puts a nats-server into lame-duck mode.
          startProfiling: () => {
            for (const c of known) {
              if (c.name.startsWith('nats')) continue;
              try {
                process.kill(c.pid, 'SIGUSR2');
              } catch {
                // exited
              }
            }
          },
        }
      : {}),
    dataDirs: () => ['n1', 'n2', 'n3'].map((n) => ({ name: n, dir: join(dir, 'nodes', n) })),
    stop: async () => {
      if (stopped) return;
      stopped = true;
      o.log('cellkv: stopping (SIGINT to scripts/start.ts: gateway, nodes, then NATS)');
      proc.proc.kill('SIGINT');
      const exited = await Promise.race([proc.exited.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), 45_000))]);
      if (!exited) {
        o.log('cellkv: scripts/start.ts did not stop within 45 s: killing it and its children');
        await killHard(proc);
      }
      killPids(known.map((c) => c.pid));
      process.off('exit', onExit);
      await rm(dir, { recursive: true, force: true });
      untrackTempDir(dir);
    },
  };
}

/** An already running gateway: nothing to start or stop, no process figures. */
export function attachCellkv(e: ExistingCellkv, fronts: readonly Front[]): RunningPeer {
  return {
    peer: 'cellkv',
    version: `cellkv at ${e.url}`,
    targets: targetsFor(fronts, e.url, e.natsUrl ? e.natsUrl.split(',') : null, e.token),
    unsupported: new Map<OpKind, string>(),
    notes: [...NOTES, `  cluster: an existing one at ${e.url} (not started by the harness; no RSS/CPU/disk figures)`],
    preload: { batch: 500, inFlight: 4 },
    processes: () => [],
    dataDirs: () => [],
    stop: async () => undefined,
  };
}
