// The chaos cluster, on the launcher (scripts/cluster/): three clustered nats-servers (one per
// AZ), three or four cell nodes (n1..n3 in az1..az3 bootstrap every cell; n4, in az1, starts
// empty and receives replicas by moves; a node talks ONLY to its AZ's server) and optional
// gateways, with a FaultProxy on every link that a partition must be able to cut: each node ->
// its AZ's server, and each cluster route i -> j.
//
// Route gossip would let servers bypass the proxies (a server learns its peers' real route
// addresses and connects to them directly), so every server advertises a "black hole"
// address for routes, and `no_advertise` keeps clients (nodes) on their one configured URL.

import type { NatsConnection } from '@nats-io/transport-node';
import { LocalCluster, type CellStatus, type GatewayProc, type NodeProc } from '../scripts/cluster/launcher.js';
import { sleep } from '../scripts/cluster/procs.js';
import { FaultProxy } from './proxy.js';
import type { Rng } from './rng.js';

export { sleep };
export type { CellStatus };

export const AZS = ['az1', 'az2', 'az3'] as const;
export type NodeId = string;

export interface ClusterConfig {
  /** Repository root (where cell/main.ts lives). */
  readonly root: string;
  /** Run directory: data, configs, logs. */
  readonly dir: string;
  readonly tickMs: number;
  readonly snapshotEvery: number;
  readonly logRetain: number;
  readonly rng: Rng;
  readonly progress: (line: string) => void;
  /** Extra node.js arguments for the cell nodes (e.g. --cpu-prof, or an --import probe). */
  readonly nodeArgs?: readonly string[];
  /** 3 (n1..n3), or 4: n4 in az1, empty at start, for replica moves. */
  readonly nodes: 3 | 4;
}

export interface ProcessEvent {
  readonly node: NodeId;
  readonly atMs: number;
  readonly kind: 'failpoint-panic' | 'unexpected-exit';
  readonly detail: string;
}

export class ChaosCluster {
  /** Route proxies by "i-j" (i < j, AZ indices): server i dials server j through it. */
  readonly routes = new Map<string, FaultProxy>();
  /** Link of node i (index in nodeIds) -> its AZ's nats-server ("up" = node to server). */
  readonly links: FaultProxy[] = [];
  readonly events: ProcessEvent[] = [];
  /** Failpoints each running node was started with ('' = none). */
  private readonly failpoints = new Map<string, string>();
  private blackhole: FaultProxy | null = null;
  private readonly t0 = Date.now();
  private lc!: LocalCluster;

  private constructor(readonly cfg: ClusterConfig) {}

  static async start(cfg: ClusterConfig): Promise<ChaosCluster> {
    const c = new ChaosCluster(cfg);
    try {
      await c.init();
    } catch (e) {
      await c.stop().catch(() => undefined);
      throw e;
    }
    return c;
  }

  /** One direct (unproxied) admin connection per nats-server. */
  get admin(): readonly NatsConnection[] {
    return this.lc.admin;
  }

  natsUrl(i: number): string {
    return this.lc.nats[i]!.url;
  }

  node(id: string): NodeProc {
    return this.lc.node(id);
  }

  link(id: string): FaultProxy {
    return this.links[this.node(id).index]!;
  }

  get nodeIds(): string[] {
    return this.lc.nodes.map((n) => n.id);
  }

  /** The AZ index (0..2) of a node: its server's index. */
  azIndex(id: string): number {
    return this.lc.serverIndexOf(this.node(id));
  }

  /** The nodes of AZ `i`, in id order. */
  nodesInAz(i: number): string[] {
    return this.lc.nodes.filter((n) => this.lc.serverIndexOf(n) === i).map((n) => n.id);
  }

  get allProxies(): FaultProxy[] {
    return [...this.links, ...this.routes.values()];
  }

  private async init(): Promise<void> {
    const { rng } = this.cfg;
    this.blackhole = await FaultProxy.start({ name: 'blackhole', targetPort: 1, rng: rng.fork('blackhole') });
    this.blackhole.set({ partitioned: true });
    // Servers pick their own ports (no race with other processes for "free" ports); the
    // route proxies learn their targets once the servers say where they listen.
    for (let i = 0; i < 3; i++) {
      for (let j = i + 1; j < 3; j++) {
        this.routes.set(`${i}-${j}`, await FaultProxy.start({ name: `route ${AZS[i]}->${AZS[j]}`, targetPort: 0, rng: rng.fork(`route${i}${j}`) }));
      }
    }
    this.lc = await LocalCluster.create({
      dir: this.cfg.dir,
      removeDir: false,
      root: this.cfg.root,
      nats: {
        layout: 'per-az',
        clusterName: 'cellkv-chaos',
        // Stale peers (a paused process, a one-way cut) are noticed within seconds.
        extraConfig: ['ping_interval: "2s"', 'ping_max: 3', 'write_deadline: "3s"'],
        routes: (i) => [1, 2].filter((j) => j > i).map((j) => `nats-route://127.0.0.1:${this.routes.get(`${i}-${j}`)!.port}`),
        advertise: `127.0.0.1:${this.blackhole.port}`,
        noAdvertise: true,
      },
      nodes: this.cfg.nodes,
      node: {
        tickMs: this.cfg.tickMs,
        snapshotEvery: this.cfg.snapshotEvery,
        logRetain: this.cfg.logRetain,
        nodeArgs: this.cfg.nodeArgs ?? [],
        // With an empty n4 the meta leader's placement would move replicas to it on its own
        // (balance); moves then happen only when the schedule says.
        ...(this.cfg.nodes > 3 ? { extraArgs: ['--placement-interval-ms', '0'] } : {}),
        logLevel: 'info',
        scrubEnv: true,
        readyTimeoutMs: 45_000,
        natsUrl: (n) => `nats://127.0.0.1:${this.links[n.index]!.port}`,
      },
      onNodeExit: (n, { code, signal }) => {
        const fp = this.failpoints.get(n.id) ?? '';
        if (fp && signal === 'SIGKILL') this.record(n.id as NodeId, 'failpoint-panic', `${fp} fired`);
        else this.record(n.id as NodeId, 'unexpected-exit', `exited with ${signal ?? `code ${code}`} (log: ${n.logFile})`);
      },
    });
    await this.lc.startNats();
    for (const [k, p] of this.routes) p.retarget(this.lc.nats[Number(k.split('-')[1])]!.routePort);
    await this.lc.connectAdmin({ name: 'chaos-admin', maxReconnectAttempts: -1, reconnectTimeWait: 250 });
    await this.lc.waitMesh();
    for (const n of this.lc.nodes) {
      this.links.push(await FaultProxy.start({ name: `${n.id}->nats-${n.az}`, targetPort: this.lc.nats[this.lc.serverIndexOf(n)]!.clientPort, rng: rng.fork(`link-${n.id}`) }));
    }
    await Promise.all(this.nodeIds.map((id) => this.startNode(id)));
  }

  /** Gateway `name` on AZ `i`'s server (isolating that AZ strands it too). */
  startGateway(name: string, i: number, auth: { jwksFile: string; issuer: string; audience: string }): Promise<GatewayProc> {
    return this.lc.startGateway({
      name, host: '127.0.0.1', nats: this.natsUrl(i), ...auth,
      extraArgs: ['--request-timeout-ms', '6000', '--no-nats-front-door'],
      logLevel: 'warn', scrubEnv: true, readyTimeoutMs: 45_000,
    });
  }

  killGateways(): Promise<void> {
    return this.lc.killGateways();
  }

  /** Starts (or restarts) a node from its data directory, optionally with failpoints armed. */
  async startNode(id: string, failpoints = ''): Promise<void> {
    this.failpoints.set(id, failpoints);
    try {
      await this.lc.startNode(id, { env: failpoints ? { CELLKV_FAILPOINTS: failpoints } : {}, label: `node ${id}${failpoints ? ` (${failpoints})` : ''}` });
    } catch (e) {
      // A failpoint may legitimately fire during recovery, before the ready line.
      if (!failpoints) throw e;
      this.record(id as NodeId, 'failpoint-panic', `${failpoints} fired while starting`);
    }
  }

  private record(node: NodeId, kind: ProcessEvent['kind'], detail: string): void {
    this.events.push({ node, atMs: Date.now() - this.t0, kind, detail });
    this.cfg.progress(`[chaos] ${node}: ${kind}: ${detail}`);
  }

  isUp(id: string): boolean {
    return this.lc.isUp(id);
  }

  /** SIGKILL: a crash; nothing unsynced survives. */
  killNode(id: string): Promise<void> {
    return this.lc.kill(id);
  }

  pause(id: string): void {
    this.lc.pause(id);
  }

  resume(id: string): void {
    this.lc.resume(id);
  }

  /** Admin status of one node, asked through its own AZ's server; null when it does not answer. */
  status(id: string, timeoutMs = 800): Promise<CellStatus[] | null> {
    return this.lc.cellStatus(id, timeoutMs);
  }

  adminRequest<T>(id: string, req: Record<string, unknown>, timeoutMs = 2000): Promise<T> {
    return this.lc.adminRequest<T>(id, req, timeoutMs);
  }

  /** The node leading `cell` with the highest term among the answers; null when none does. */
  leaderOf(cell: string): Promise<string | null> {
    return this.lc.leaderNow(cell);
  }

  route(a: number, b: number): FaultProxy {
    const p = this.routes.get(`${Math.min(a, b)}-${Math.max(a, b)}`);
    if (!p) throw new Error(`no route ${a}-${b}`);
    return p;
  }

  /** Node cut off from its NATS server (so from everything). */
  isolateNode(id: string): void {
    this.link(id).set({ partitioned: true });
  }

  /** A whole AZ cut off: its server's routes and its nodes' links. */
  isolateAz(index: number): void {
    for (const id of this.nodesInAz(index)) this.link(id).set({ partitioned: true });
    for (let j = 0; j < 3; j++) if (j !== index) this.route(index, j).set({ partitioned: true });
  }

  /** The route between two AZs cut: their nodes can no longer talk, both still reach the third. */
  cutRoute(a: number, b: number): void {
    this.route(a, b).set({ partitioned: true });
  }

  /** One-way cut on a node's link: 'out' stops what the node sends, 'in' what it receives. */
  holdNode(id: string, dir: 'in' | 'out'): void {
    this.link(id).set(dir === 'out' ? { holdUp: true } : { holdDown: true });
  }

  /** One-way cut on a route: traffic from AZ `from` to AZ `to` stops, the reverse flows. */
  holdRoute(from: number, to: number): void {
    // "up" on route proxy i-j (i < j) is i -> j.
    this.route(from, to).set(from < to ? { holdUp: true } : { holdDown: true });
  }

  healNetwork(): void {
    for (const p of this.allProxies) p.heal();
  }

  /** Network whole, nothing paused, every node running without failpoints. */
  async healAll(): Promise<void> {
    this.healNetwork();
    for (const n of this.lc.nodes) if (n.paused) this.resume(n.id);
    for (const n of this.lc.nodes) {
      if (this.failpoints.get(n.id) && this.isUp(n.id)) await this.killNode(n.id);
      if (!this.isUp(n.id)) await this.startNode(n.id);
    }
  }

  /** Counter value summed over a node's metrics (0 when unreachable). */
  metric(id: string, name: string): Promise<number> {
    return this.lc.metric(id, name);
  }

  async stop(): Promise<void> {
    await this.lc?.stop(); // unset when init failed before the launcher existed
    for (const p of this.allProxies) await p.close();
    await this.blackhole?.close();
  }
}
