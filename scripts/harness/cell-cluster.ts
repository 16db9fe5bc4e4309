// A real local cluster for integration tests and benches: one nats-server and three cell node
// processes (one per AZ) with LevelDB data in a temporary directory. Everything is stopped in
// stop(), which tests call from `after` so nothing is left running when a test fails.

import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { CellClient } from '../../shared/cell-client.js';
import { startNatsServer, type NatsServer } from './nats-server.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

export interface NodeProc {
  readonly id: string;
  readonly az: string;
  readonly dataDir: string;
  proc: ChildProcess | null;
  metricsUrl: string;
  output: string;
}

export interface ClusterOptions {
  readonly nodes?: number;
  readonly extraArgs?: string[];
  readonly env?: Record<string, string>;
  /** Extra arguments for node itself (e.g. --cpu-prof). */
  readonly nodeArgs?: string[];
  /** Start on existing data directories <dataRoot>/<node-id> (e.g. restored ones). */
  readonly dataRoot?: string;
}

export class CellCluster {
  readonly nodes: NodeProc[] = [];
  nc!: NatsConnection;
  client!: CellClient;
  nats!: NatsServer;
  dir = '';

  static async start(opts: ClusterOptions = {}): Promise<CellCluster> {
    const c = new CellCluster();
    try {
      await c.init(opts);
    } catch (e) {
      await c.stop();
      throw e;
    }
    return c;
  }

  private opts: ClusterOptions = {};

  private async init(opts: ClusterOptions): Promise<void> {
    this.opts = opts;
    this.dir = opts.dataRoot ?? (await mkdtemp(join(tmpdir(), 'cellkv-cluster-')));
    this.nats = await startNatsServer();
    const n = opts.nodes ?? 3;
    for (let i = 1; i <= n; i++) {
      this.nodes.push({ id: `n${i}`, az: `az${i}`, dataDir: join(this.dir, `n${i}`), proc: null, metricsUrl: '', output: '' });
    }
    await Promise.all(this.nodes.map((p) => this.startNode(p.id)));
    this.nc = await connect({ servers: this.nats.url });
    this.client = new CellClient(this.nc, { attemptTimeoutMs: 1500, maxAttempts: 12 });
    await this.client.directory(true);
  }

  node(id: string): NodeProc {
    const p = this.nodes.find((n) => n.id === id);
    if (!p) throw new Error(`no node ${id}`);
    return p;
  }

  async startNode(id: string, env: Record<string, string> = {}): Promise<void> {
    const p = this.node(id);
    const bootstrap = this.nodes.map((n) => `${n.id}:${n.az}`).join(',');
    const args = [
      ...(this.opts.nodeArgs ?? []),
      '--import', 'tsx', join(ROOT, 'cell/main.ts'),
      '--node-id', p.id, '--az', p.az, '--data-dir', p.dataDir,
      '--nats', this.nats.url, '--metrics-port', '0', '--bootstrap', bootstrap,
      '--tick-ms', '20',
      ...(this.opts.extraArgs ?? []),
    ];
    const proc = spawn(process.execPath, args, {
      cwd: ROOT,
      env: { ...process.env, CELLKV_LOG_LEVEL: 'warn', ...this.opts.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    p.proc = proc;
    p.output = '';
    const onData = (d: Buffer) => (p.output = (p.output + d.toString()).slice(-20000));
    proc.stderr?.on('data', onData);
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`node ${id} did not start:\n${p.output}`)), 30_000);
      proc.stdout?.on('data', (d: Buffer) => {
        onData(d);
        const m = /metrics=(\S+)/.exec(p.output);
        if (m) {
          p.metricsUrl = m[1]!;
          clearTimeout(timer);
          resolve();
        }
      });
      proc.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`node ${id} exited with ${code} while starting:\n${p.output}`));
      });
    });
  }

  /** SIGKILL: no chance to flush anything (a crash). */
  async kill(id: string): Promise<void> {
    const p = this.node(id);
    if (!p.proc || p.proc.exitCode !== null || p.proc.signalCode !== null) return;
    const exited = new Promise<void>((r) => p.proc!.once('exit', () => r()));
    p.proc.kill('SIGKILL');
    await exited;
    p.proc = null;
  }

  /** SIGTERM: graceful stop. */
  async terminate(id: string): Promise<number | null> {
    const p = this.node(id);
    if (!p.proc || p.proc.exitCode !== null) return p.proc?.exitCode ?? null;
    const exited = new Promise<number | null>((r) => p.proc!.once('exit', (code) => r(code)));
    p.proc.kill('SIGTERM');
    const t = setTimeout(() => p.proc?.kill('SIGKILL'), 15_000);
    const code = await exited;
    clearTimeout(t);
    p.proc = null;
    return code;
  }

  /** The node that leads `cellId`, per the nodes' own status (majority view). */
  async leaderOf(cellId: string, timeoutMs = 15_000): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      for (const n of this.nodes) {
        if (!n.proc) continue;
        const st = await this.status(n.id).catch(() => null);
        const cell = st?.cells.find((c) => c.cell === cellId);
        if (cell?.role === 'leader') return n.id;
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`no leader for ${cellId} within ${timeoutMs}ms`);
  }

  async status(id: string): Promise<{ cells: { cell: string; role: string; term: number; commit: number; applied: number; lastIndex: number }[] }> {
    const m = await this.nc.request(`cellkv.admin.${id}`, new TextEncoder().encode(JSON.stringify({ op: 'status' })), { timeout: 1000 });
    return JSON.parse(new TextDecoder().decode(m.data)) as { cells: { cell: string; role: string; term: number; commit: number; applied: number; lastIndex: number }[] };
  }

  async stop(): Promise<void> {
    await this.nc?.close().catch(() => undefined);
    await Promise.all(this.nodes.map((n) => this.kill(n.id).catch(() => undefined)));
    await this.nats?.stop();
    if (this.dir) await rm(this.dir, { recursive: true, force: true });
  }
}
