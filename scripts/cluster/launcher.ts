// The one launcher of local cellkv clusters: nats-server(s), cell node processes and gateways on
// one machine, for the tests (CellCluster), the chaos harness, `npm start` and the benches.
// Composable: each step is a method (startNats, waitMesh, startNodes, startGateway), so a user
// can put its own pieces in between (chaos puts fault proxies between nodes and NATS); every
// process goes through a Runner (default: spawned and tracked so any exit path kills it;
// `npm start` passes its Supervisor); nodes restart on the same data directory, can be killed,
// terminated, paused; stop() kills everything started and removes the temp dir it made.

import { existsSync, readdirSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, type ConnectionOptions, type NatsConnection } from '@nats-io/transport-node';
import { cellNodeArgs, childEnv, gatewayArgs, GATEWAY_READY, NODE_READY, REPO_ROOT, type GatewayFlags } from './commands.js';
import { launchNats, waitForMesh, type NatsProc } from './nats.js';
import { freePort } from './ports.js';
import { directRunner, type LauncherOptions, type Runner } from './options.js';
import { killHard, terminate, type Child } from './procs.js';

export { directRunner };
export { NodeProc } from './node-proc.js';
import { NodeProc } from './node-proc.js';
export type { LauncherOptions, NatsOptions, NodeOptions, ProcessRole, Runner } from './options.js';

export interface GatewayProc {
  readonly name: string;
  readonly url: string;
  readonly child: Child;
}

export interface CellStatus {
  readonly cell: string;
  readonly role: string;
  readonly term: number;
  readonly leader: string | null;
  readonly commit: number;
  readonly applied: number;
  readonly lastIndex: number;
  /** The cell's range (hex of namespaced keys; end null = unbounded) and epoch. */
  readonly start?: string;
  readonly end?: string | null;
  readonly epoch?: number;
}

const enc = (o: unknown) => new TextEncoder().encode(JSON.stringify(o));

export class LocalCluster {
  readonly nodes: NodeProc[] = [];
  readonly nats: NatsProc[] = [];
  readonly gateways: GatewayProc[] = [];
  /** One direct connection per nats-server (connectAdmin). */
  readonly admin: NatsConnection[] = [];
  private readonly runner: Runner;
  private readonly root: string;
  private readonly tempDirs: string[] = [];

  private constructor(
    readonly o: LauncherOptions,
    readonly dir: string,
    private readonly removeDir: boolean,
  ) {
    this.runner = o.runner ?? directRunner;
    this.root = o.root ?? REPO_ROOT;
    const logDir = o.logDir === undefined ? dir : o.logDir;
    const n = o.nodes ?? 3;
    for (let i = 0; i < n; i++) {
      const id = `n${i + 1}`;
      // Three AZs: n1..n3 are az1..az3, n4 is az1 again, and so on (two per AZ at six nodes).
      this.nodes.push(new NodeProc(id, `az${(i % 3) + 1}`, i, join(o.dataDir ?? dir, id), logDir === null ? null : join(logDir, `${id}.log`)));
    }
  }

  /** The cluster's directories and node records; no process yet. */
  static async create(o: LauncherOptions = {}): Promise<LocalCluster> {
    const dir = o.dir ?? (await mkdtemp(join(tmpdir(), 'cellkv-cluster-')));
    await mkdir(dir, { recursive: true });
    if (o.logDir) await mkdir(o.logDir, { recursive: true });
    return new LocalCluster(o, dir, o.removeDir ?? o.dir === undefined);
  }

  /** create() + every step in order, and stop() if any fails. */
  static async launch(o: LauncherOptions = {}, admin?: Partial<ConnectionOptions>): Promise<LocalCluster> {
    const c = await LocalCluster.create(o);
    try {
      await c.startNats();
      if (c.nats.length > 1) await c.waitMesh();
      await c.startNodes();
      await c.connectAdmin(admin);
    } catch (e) {
      await c.stop();
      throw e;
    }
    return c;
  }

  get natsUrls(): string[] {
    return this.nats.map((n) => n.url);
  }

  private logFile(name: string): string | undefined {
    const logDir = this.o.logDir === undefined ? this.dir : this.o.logDir;
    return logDir === null ? undefined : join(logDir, `${name}.log`);
  }

  /** Starts the server(s) and waits until each listens; clustered ones may still be meshing. */
  async startNats(): Promise<void> {
    const no = this.o.nats ?? { layout: 'single' };
    if (no.layout === 'single') {
      const port = await freePort();
      const confDir = await mkdtemp(join(tmpdir(), 'cellkv-nats-'));
      this.tempDirs.push(confDir);
      const name = 'nats';
      this.nats.push(await launchNats({ name, confFile: join(confDir, 'nats.conf'), clientPort: port, config: { listen: `127.0.0.1:${port}`, extra: no.extraConfig ?? [] }, ...this.logged(name) }, (s) => this.runner.start('nats', name, s)));
      return;
    }
    const azs = [...new Set(this.nodes.map((n) => n.az))];
    const routes = no.routes ?? ((i: number) => (no.clusterPorts ?? []).filter((_, j) => j !== i).map((p) => `nats-route://127.0.0.1:${p}`));
    const started = await Promise.all(
      azs.map((az, i) => {
        const name = `nats-${az}`;
        const client = no.clientPorts?.[i] ?? 0;
        return launchNats(
          {
            name: az,
            confFile: no.confFile?.(az, i) ?? join(this.dir, `${name}.conf`),
            clientPort: client,
            cwd: this.dir,
            config: {
              ...(no.header !== undefined ? { header: no.header } : {}),
              serverName: no.serverName?.(az) ?? name,
              listen: `127.0.0.1:${client || -1}`,
              extra: no.extraConfig ?? [],
              cluster: {
                name: no.clusterName ?? 'cellkv-local',
                listen: `127.0.0.1:${no.clusterPorts?.[i] ?? -1}`,
                routes: routes(i),
                ...(no.advertise !== undefined ? { advertise: no.advertise } : {}),
                ...(no.noAdvertise ? { noAdvertise: true } : {}),
              },
            },
            ...this.logged(name),
          },
          (s) => this.runner.start('nats', name, s),
        );
      }),
    );
    this.nats.push(...started);
  }

  private logged(name: string): { logFile?: string } {
    const f = this.logFile(name);
    return f === undefined ? {} : { logFile: f };
  }

  /** Waits until the servers reach each other (through the admin connections, or probes). */
  async waitMesh(timeoutMs = 15_000): Promise<void> {
    const names = this.nats.map((n) => n.name);
    if (this.admin.length === this.nats.length) return waitForMesh(this.admin, names, timeoutMs);
    const probes: NatsConnection[] = [];
    try {
      for (const n of this.nats) probes.push(await connect({ servers: n.url, name: 'cellkv-launcher-probe', maxReconnectAttempts: 0 }));
      await waitForMesh(probes, names, timeoutMs);
    } finally {
      await Promise.all(probes.map((c) => c.close().catch(() => undefined)));
    }
  }

  /** One direct connection per server; `name` gets "-<i>" appended. */
  async connectAdmin(o: Partial<ConnectionOptions> = {}): Promise<NatsConnection[]> {
    for (let i = this.admin.length; i < this.nats.length; i++) {
      this.admin.push(await connect({ ...o, servers: this.nats[i]!.url, ...(o.name ? { name: `${o.name}-${i}` } : {}) }));
    }
    return this.admin;
  }

  node(id: string): NodeProc {
    const n = this.nodes.find((x) => x.id === id);
    if (!n) throw new Error(`no node ${id}`);
    return n;
  }

  /** The server a node belongs to (its AZ's). */
  /** The initial voters of every cell: the first node of each AZ. */
  bootstrapSpec(): string {
    return this.nodes
      .slice(0, 3)
      .map((x) => `${x.id}:${x.az}`)
      .join(',');
  }

  serverIndexOf(n: NodeProc): number {
    return n.index % this.nats.length;
  }

  async startNodes(): Promise<void> {
    await Promise.all(this.nodes.map((n) => this.startNode(n.id)));
  }

  /** Starts (or restarts) a node on its data directory; `env` is added for this start only. */
  async startNode(id: string, o: { env?: Readonly<Record<string, string>>; label?: string } = {}): Promise<NodeProc> {
    const n = this.node(id);
    if (n.proc) throw new Error(`node ${id} is already running`);
    const no = this.o.node ?? {};
    const urls = this.natsUrls;
    const own = this.serverIndexOf(n);
    const nats = no.natsUrl?.(n) ?? [urls[own]!, ...urls.filter((_, j) => j !== own)].join(',');
    n.bootstrapped = no.bootstrap !== 'if-empty' || !existsSync(n.dataDir) || readdirSync(n.dataDir).length === 0;
    const args = cellNodeArgs(
      {
        id: n.id, az: n.az, dataDir: n.dataDir, nats,
        // The first cluster is one replica per AZ (n1..n3); nodes beyond them start empty and
        // receive replicas by moves.
        bootstrap: n.bootstrapped ? this.bootstrapSpec() : null,
        ...(no.tickMs !== undefined ? { tickMs: no.tickMs } : {}),
        ...(no.snapshotEvery !== undefined ? { snapshotEvery: no.snapshotEvery } : {}),
        ...(no.logRetain !== undefined ? { logRetain: no.logRetain } : {}),
        ...(no.extraArgs ? { extraArgs: no.extraArgs } : {}),
        ...(no.nodeArgs ? { nodeArgs: no.nodeArgs } : {}),
      },
      this.root,
    );
    n.stopping = false;
    n.paused = false;
    n.starts++;
    n.metricsUrl = '';
    n.child = null;
    const child = await this.runner.start('node', n.id, {
      label: o.label ?? `node ${id}`,
      cmd: process.execPath,
      args,
      cwd: this.root,
      env: childEnv({ logLevel: no.logLevel ?? 'warn', scrubCellkv: no.scrubEnv ?? false, extra: { ...no.env, ...o.env } }),
      ...(n.logFile ? { logFile: n.logFile } : {}),
      ready: NODE_READY,
      readyTimeoutMs: no.readyTimeoutMs ?? 30_000,
      tailChars: 20_000,
    });
    n.child = child;
    n.metricsUrl = child.ready?.[1] ?? '';
    void child.exited.then((status) => {
      if (n.child === child && !n.stopping) this.o.onNodeExit?.(n, status);
    });
    return n;
  }

  isUp(id: string): boolean {
    return this.node(id).proc !== null;
  }

  /** SIGKILL: a crash; nothing unsynced survives. */
  async kill(id: string): Promise<void> {
    const n = this.node(id);
    if (!n.child) return;
    n.stopping = true;
    await killHard(n.child);
    n.paused = false;
  }

  /** SIGTERM: a graceful stop (SIGKILL after `graceMs`); the exit code. */
  async terminate(id: string, graceMs = 15_000): Promise<number | null> {
    const n = this.node(id);
    if (!n.child) return null;
    n.stopping = true;
    return terminate(n.child, graceMs);
  }

  pause(id: string): void {
    const n = this.node(id);
    if (n.proc) {
      n.proc.kill('SIGSTOP');
      n.paused = true;
    }
  }

  resume(id: string): void {
    const n = this.node(id);
    n.proc?.kill('SIGCONT');
    n.paused = false;
  }

  /** An admin request to a node, through its own AZ's server. */
  async adminRequest<T>(id: string, req: Record<string, unknown>, timeoutMs = 2000): Promise<T> {
    const n = this.node(id);
    const m = await this.admin[this.serverIndexOf(n)]!.request(`cellkv.admin.${id}`, enc(req), { timeout: timeoutMs });
    return JSON.parse(new TextDecoder().decode(m.data)) as T;
  }

  /** A node's cells as it reports them; null when it is down, paused or does not answer. */
  async cellStatus(id: string, timeoutMs = 800): Promise<CellStatus[] | null> {
    const n = this.node(id);
    if (!n.proc || n.paused) return null;
    try {
      const body = await this.adminRequest<{ ok: boolean; cells?: CellStatus[] }>(id, { op: 'status' }, timeoutMs);
      return body.ok && body.cells ? body.cells : null;
    } catch {
      return null;
    }
  }

  /** The node leading `cell` with the highest term among the answers; null when none does. */
  async leaderNow(cell: string): Promise<string | null> {
    const all = await Promise.all(this.nodes.map(async (n) => [n.id, await this.cellStatus(n.id)] as const));
    let best: { id: string; term: number } | null = null;
    for (const [id, cells] of all) {
      const c = cells?.find((x) => x.cell === cell);
      if (c?.role === 'leader' && (!best || c.term > best.term)) best = { id, term: c.term };
    }
    return best?.id ?? null;
  }

  /** Counter value summed over a node's metrics (0 when unreachable). */
  async metric(id: string, name: string): Promise<number> {
    const n = this.node(id);
    if (!n.metricsUrl || !n.proc || n.paused) return 0;
    try {
      const text = await (await fetch(`${n.metricsUrl}/metrics`, { signal: AbortSignal.timeout(1000) })).text();
      let sum = 0;
      for (const line of text.split('\n')) if (line.startsWith(name)) sum += Number(line.split(' ').pop());
      return sum;
    } catch {
      return 0;
    }
  }

  /** A gateway process (gateway/main.ts); `nats` defaults to every server. */
  async startGateway(o: Omit<GatewayFlags, 'nats' | 'port'> & { name: string; port?: number; nats?: string; logLevel?: string; scrubEnv?: boolean; readyTimeoutMs?: number }): Promise<GatewayProc> {
    const child = await this.runner.start('gateway', o.name, {
      label: `gateway ${o.name}`,
      cmd: process.execPath,
      args: gatewayArgs({ ...o, port: o.port ?? 0, nats: o.nats ?? this.natsUrls.join(',') }, this.root),
      cwd: this.root,
      env: childEnv({ logLevel: o.logLevel ?? 'warn', scrubCellkv: o.scrubEnv ?? false }),
      ...this.logged(o.name),
      ready: GATEWAY_READY,
      readyTimeoutMs: o.readyTimeoutMs ?? 45_000,
    });
    const g = { name: o.name, url: child.ready?.[1] ?? '', child };
    this.gateways.push(g);
    return g;
  }

  async killGateways(): Promise<void> {
    for (const g of this.gateways.splice(0)) await killHard(g.child);
  }

  /** Kills every process started (gateways, nodes, then NATS) and removes the temp dirs. */
  async stop(): Promise<void> {
    for (const c of this.admin) await c.close().catch(() => undefined);
    await this.killGateways();
    await Promise.all(
      this.nodes.map(async (n) => {
        n.stopping = true;
        if (n.child) await killHard(n.child);
      }),
    );
    for (const s of this.nats) await killHard(s.child);
    for (const d of this.tempDirs) await rm(d, { recursive: true, force: true });
    if (this.removeDir) await rm(this.dir, { recursive: true, force: true });
  }
}
