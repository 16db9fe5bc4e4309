// etcd as a comparison peer: three members of Debian's etcd-server (/usr/bin/etcd) as a static
// cluster on loopback free ports, each with its data in a temporary directory, driven through
// the HTTP/JSON gateway every member serves on its client port. Installed with apt-get when
// missing and we run as root on Debian; otherwise the error says how to install it.

import { execFileSync, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { distinctFreePorts } from '../../scripts/cluster/ports.js';
import { killHard, sleep, spawnChild, trackTempDir, untrackTempDir, type Child } from '../../scripts/cluster/procs.js';
import type { OpKind } from '../workloads.js';
import type { PeerStartOptions, RunningPeer } from './types.js';

export class PeerUnavailable extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PeerUnavailable';
  }
}

const HOW_TO = 'etcd is not installed. On Debian/Ubuntu: sudo apt-get update && sudo apt-get install -y etcd-server (or set ETCD_BIN to an etcd 3.4+ binary)';

export function findEtcd(): { bin: string; version: string } | null {
  const onPath = (process.env['PATH'] ?? '').split(delimiter).filter(Boolean).map((d) => join(d, 'etcd'));
  for (const bin of [process.env['ETCD_BIN'], '/usr/bin/etcd', ...onPath]) {
    if (!bin || !existsSync(bin)) continue;
    try {
      const out = execFileSync(bin, ['--version'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 5000 });
      return { bin, version: (out.split('\n')[0] ?? '').trim() };
    } catch {
      // not runnable: try the next
    }
  }
  return null;
}

function apt(args: string[], log: (l: string) => void): Promise<void> {
  return new Promise((resolve, reject) => {
    const p = spawn('apt-get', args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
    const relay = (d: Buffer) => {
      // dpkg's "(Reading database ... 5%" progress is noise in a log.
      for (const l of d.toString().split(/[\n\r]/)) if (l.trim() && !l.includes('Reading database')) log(`  apt-get: ${l.trim()}`);
    };
    p.stdout.on('data', relay);
    p.stderr.on('data', relay);
    p.once('error', reject);
    p.once('exit', (code) => (code === 0 ? resolve() : reject(new PeerUnavailable(`apt-get ${args.join(' ')} failed (exit ${code}). ${HOW_TO}`))));
  });
}

export async function ensureEtcd(log: (l: string) => void, allowInstall: boolean): Promise<{ bin: string; version: string }> {
  const found = findEtcd();
  if (found) return found;
  const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
  if (!allowInstall || !isRoot || !existsSync('/etc/debian_version') || !existsSync('/usr/bin/apt-get')) throw new PeerUnavailable(HOW_TO);
  log('etcd not found: installing etcd-server with apt-get (Debian, running as root)');
  await apt(['update', '-qq'], log);
  await apt(['install', '-y', '-qq', 'etcd-server'], log);
  const after = findEtcd();
  if (!after) throw new PeerUnavailable(`apt-get installed etcd-server but etcd cannot be run. ${HOW_TO}`);
  return after;
}

async function healthy(url: string): Promise<boolean> {
  try {
    const r = await fetch(`${url}/health`, { signal: AbortSignal.timeout(1000) });
    const j = (await r.json()) as { health?: unknown };
    return r.ok && (j.health === 'true' || j.health === true);
  } catch {
    return false;
  }
}

/** etcd 3.4 serves the gateway under /v3/ (and the older /v3beta/); use what answers. */
async function apiPrefix(url: string): Promise<string> {
  for (const p of ['/v3', '/v3beta']) {
    const r = await fetch(`${url}${p}/kv/range`, { method: 'POST', body: JSON.stringify({ key: Buffer.from('probe').toString('base64') }), signal: AbortSignal.timeout(5000) }).catch(() => null);
    if (r?.ok) return p;
  }
  throw new Error(`etcd at ${url} serves neither /v3/kv/range nor /v3beta/kv/range`);
}

export async function startEtcd(o: PeerStartOptions): Promise<RunningPeer> {
  const etcd = await ensureEtcd(o.log, o.allowInstall);
  const dir = await mkdtemp(join(tmpdir(), 'cellkv-bench-etcd-'));
  trackTempDir(dir);
  const [c1, c2, c3, p1, p2, p3] = (await distinctFreePorts(6)) as [number, number, number, number, number, number];
  const members = [
    { name: 'm1', client: c1, peer: p1 },
    { name: 'm2', client: c2, peer: p2 },
    { name: 'm3', client: c3, peer: p3 },
  ];
  const initialCluster = members.map((m) => `${m.name}=http://127.0.0.1:${m.peer}`).join(',');
  const spawned: { name: string; s: Child }[] = [];
  const stopAll = async () => {
    for (const m of spawned) await killHard(m.s);
    await rm(dir, { recursive: true, force: true });
    untrackTempDir(dir);
  };
  try {
    o.log(`etcd: starting 3 members (${etcd.version}) in ${dir}`);
    for (const m of members) {
      const s = await spawnChild({
        label: `etcd ${m.name}`,
        cmd: etcd.bin,
        args: [
          '--name', m.name,
          '--data-dir', join(dir, m.name),
          '--listen-client-urls', `http://127.0.0.1:${m.client}`,
          '--advertise-client-urls', `http://127.0.0.1:${m.client}`,
          '--listen-peer-urls', `http://127.0.0.1:${m.peer}`,
          '--initial-advertise-peer-urls', `http://127.0.0.1:${m.peer}`,
          '--initial-cluster', initialCluster,
          '--initial-cluster-token', `cellkv-bench-${process.pid}`,
          '--initial-cluster-state', 'new',
          '--logger', 'zap', '--log-level', 'warn', '--log-outputs', 'stderr',
          // Preload sends 500 puts per txn (etcd's default cap is 128); the rest stays default.
          '--max-txn-ops', '1000',
          // The 2 GiB default backend quota would stop a large scale run with "database space exceeded".
          '--quota-backend-bytes', String(16 * 1024 ** 3),
        ],
        cwd: dir,
        env: process.env,
        logFile: join(dir, `${m.name}.log`),
        ready: null,
        readyTimeoutMs: 10_000,
      });
      spawned.push({ name: m.name, s });
    }
    const urls = members.map((m) => `http://127.0.0.1:${m.client}`);
    const deadline = Date.now() + 30_000;
    for (const u of urls) {
      while (!(await healthy(u))) {
        if (Date.now() > deadline) throw new Error(`etcd member ${u} not healthy within 30 s (logs in ${dir})`);
        if (spawned.some((m) => m.s.proc.exitCode !== null)) throw new Error(`an etcd member exited while starting (logs in ${dir})`);
        await sleep(100);
      }
    }
    const prefix = await apiPrefix(urls[0]!);
    o.log(`etcd: cluster healthy, gateway prefix ${prefix}/`);
    const pids = spawned.map((m) => ({ name: `etcd-${m.name}`, pid: m.s.proc.pid ?? 0 }));
    return {
      peer: 'etcd',
      version: etcd.version,
      targets: [{ front: 'http-json', spec: { kind: 'etcd', endpoints: urls, apiPrefix: prefix } }],
      unsupported: new Map<OpKind, string>(),
      notes: [
        `etcd: ${etcd.version}, 3 members, static cluster on loopback; fsync on every commit (etcd's default);`,
        `  gRPC-JSON gateway ${prefix}/; requests rotate over the 3 members; get = linearizable range (ReadIndex),`,
        '  get-stale = serializable range (member-local), cas = txn comparing mod_revision, scan = range with limit; preload = txns of 500 puts.',
      ],
      preload: { batch: 500, inFlight: 4 },
      processes: () => pids,
      dataDirs: () => members.map((m) => ({ name: `etcd-${m.name}`, dir: join(dir, m.name) })),
      stop: async () => {
        o.log('etcd: stopping');
        await stopAll();
      },
    };
  } catch (e) {
    await stopAll();
    throw e;
  }
}
