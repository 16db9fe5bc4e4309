// A small real cluster for integration tests and benches, on the launcher: one nats-server and
// three cell node processes (one per AZ) with LevelDB data in a temporary directory, output
// kept in memory. Everything is stopped in stop(), which tests call from `after` so nothing is
// left running when a test fails (and the launcher's exit hook kills what a crash leaves).

import type { NatsConnection } from '@nats-io/transport-node';
import { CellClient } from '../../shared/cell-client.js';
import { LocalCluster, type GatewayProc, type NodeProc } from './launcher.js';
import type { NatsProc } from './nats.js';
import { sleep, terminate } from './procs.js';

export type { NodeProc };

export interface ClusterOptions {
  readonly nodes?: number;
  readonly extraArgs?: string[];
  readonly env?: Record<string, string>;
  /** Extra arguments for node itself (e.g. --cpu-prof). */
  readonly nodeArgs?: string[];
  /** Start on existing data directories <dataRoot>/<node-id> (e.g. restored ones); removed by stop(). */
  readonly dataRoot?: string;
}

type StatusBody = { cells: { cell: string; role: string; term: number; commit: number; applied: number; lastIndex: number }[] };

export class CellCluster {
  nc!: NatsConnection;
  client!: CellClient;

  private constructor(readonly launcher: LocalCluster) {}

  static async start(opts: ClusterOptions = {}): Promise<CellCluster> {
    const launcher = await LocalCluster.launch({
      ...(opts.dataRoot !== undefined ? { dir: opts.dataRoot, removeDir: true } : {}),
      logDir: null,
      nodes: opts.nodes ?? 3,
      nats: { layout: 'single' },
      node: { tickMs: 20, logLevel: 'warn', readyTimeoutMs: 30_000, ...(opts.extraArgs ? { extraArgs: opts.extraArgs } : {}), ...(opts.nodeArgs ? { nodeArgs: opts.nodeArgs } : {}), ...(opts.env ? { env: opts.env } : {}) },
    });
    const c = new CellCluster(launcher);
    try {
      c.nc = launcher.admin[0]!;
      c.client = new CellClient(c.nc, { attemptTimeoutMs: 1500, maxAttempts: 12 });
      await c.client.directory(true);
    } catch (e) {
      await c.stop();
      throw e;
    }
    return c;
  }

  get nodes(): readonly NodeProc[] {
    return this.launcher.nodes;
  }

  get nats(): NatsProc {
    return this.launcher.nats[0]!;
  }

  get dir(): string {
    return this.launcher.dir;
  }

  node(id: string): NodeProc {
    return this.launcher.node(id);
  }

  async startNode(id: string, env: Record<string, string> = {}): Promise<void> {
    await this.launcher.startNode(id, { env });
  }

  /** SIGKILL: no chance to flush anything (a crash). */
  kill(id: string): Promise<void> {
    return this.launcher.kill(id);
  }

  /** SIGTERM: graceful stop. */
  terminate(id: string): Promise<number | null> {
    return this.launcher.terminate(id);
  }

  /** The node that leads `cellId`, per the nodes' own status (majority view). */
  async leaderOf(cellId: string, timeoutMs = 15_000): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      const leader = await this.launcher.leaderNow(cellId);
      if (leader) return leader;
      await sleep(100);
    }
    throw new Error(`no leader for ${cellId} within ${timeoutMs}ms`);
  }

  status(id: string): Promise<StatusBody> {
    return this.launcher.adminRequest<StatusBody>(id, { op: 'status' }, 1000);
  }

  /** A gateway process (gateway/main.ts) on a free port against this cluster's NATS. */
  startGateway(auth: { jwksFile: string; issuer: string; audience: string }): Promise<GatewayProc> {
    return this.launcher.startGateway({ name: 'gateway', jwksFile: auth.jwksFile, issuer: auth.issuer, audience: auth.audience, logLevel: 'warn', readyTimeoutMs: 30_000 });
  }

  /** Gateways get SIGTERM (a clean stop, 5 s grace); the nodes and NATS are killed. */
  async stop(): Promise<void> {
    await Promise.all(this.launcher.gateways.map((g) => terminate(g.child, 5000)));
    await this.launcher.stop();
  }
}
