// The chaos cluster: three clustered nats-servers (one per AZ), three cell nodes (node i
// talks ONLY to AZ i's server) and optional gateways, with a FaultProxy on every link that a
// partition must be able to cut: node i -> nats i, and each cluster route i -> j.
//
// Route gossip would let servers bypass the proxies (a server learns its peers' real route
// addresses and connects to them directly), so every server advertises a "black hole"
// address for routes, and `no_advertise` keeps clients (nodes) on their one configured URL.

import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { connect as natsConnect, type NatsConnection } from '@nats-io/transport-node';
import { FaultProxy } from './proxy.js';
import { isRunning, killHard, natsServerBinary, sleep, spawnReady, type Spawned } from './procs.js';
import type { Rng } from './rng.js';

export { sleep };

export const AZS = ['az1', 'az2', 'az3'] as const;
export const NODE_IDS = ['n1', 'n2', 'n3'] as const;
export type NodeId = (typeof NODE_IDS)[number];

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
}

export interface CellStatus {
  readonly cell: string;
  readonly role: string;
  readonly term: number;
  readonly leader: string | null;
  readonly commit: number;
  readonly applied: number;
  readonly lastIndex: number;
}

export interface NodeHandle {
  readonly id: NodeId;
  readonly az: string;
  readonly index: number;
  readonly dataDir: string;
  readonly logFile: string;
  /** Link node -> its AZ's nats-server ("up" = node to server). */
  readonly link: FaultProxy;
  spawned: Spawned | null;
  metricsUrl: string;
  /** Failpoints the running process was started with ('' = none). */
  failpoints: string;
  paused: boolean;
  /** Set while the harness itself stops the process, so the exit is not a crash. */
  stopping: boolean;
  starts: number;
}

export interface ProcessEvent {
  readonly node: NodeId;
  readonly atMs: number;
  readonly kind: 'failpoint-panic' | 'unexpected-exit';
  readonly detail: string;
}

interface NatsHandle {
  readonly az: string;
  clientPort: number;
  routePort: number;
  spawned: Spawned | null;
}

export class ChaosCluster {
  readonly nodes: NodeHandle[] = [];
  readonly nats: NatsHandle[] = [];
  /** Route proxies by "i-j" (i < j, AZ indices): server i dials server j through it. */
  readonly routes = new Map<string, FaultProxy>();
  /** One direct (unproxied) admin connection per nats-server. */
  readonly admin: NatsConnection[] = [];
  readonly events: ProcessEvent[] = [];
  private blackhole: FaultProxy | null = null;
  private readonly t0 = Date.now();

  private constructor(readonly cfg: ClusterConfig) {}

  static async start(cfg: ClusterConfig): Promise<ChaosCluster> {
    const c = new ChaosCluster(cfg);
    await c.init();
    return c;
  }

  natsUrl(i: number): string {
    return `nats://127.0.0.1:${this.nats[i]!.clientPort}`;
  }

  node(id: string): NodeHandle {
    const n = this.nodes.find((x) => x.id === id);
    if (!n) throw new Error(`no node ${id}`);
    return n;
  }

  get allProxies(): FaultProxy[] {
    return [...this.nodes.map((n) => n.link), ...this.routes.values()];
  }

  private async init(): Promise<void> {
    const { rng } = this.cfg;
    this.blackhole = await FaultProxy.start({ name: 'blackhole', targetPort: 1, rng: rng.fork('blackhole') });
    this.blackhole.set({ partitioned: true });
    // Servers pick their own ports (no race with other processes for "free" ports); the
    // route proxies learn their targets once the servers say where they listen.
    for (const az of AZS) this.nats.push({ az, clientPort: 0, routePort: 0, spawned: null });
    for (let i = 0; i < 3; i++) {
      for (let j = i + 1; j < 3; j++) {
        this.routes.set(`${i}-${j}`, await FaultProxy.start({ name: `route ${AZS[i]}->${AZS[j]}`, targetPort: 0, rng: rng.fork(`route${i}${j}`) }));
      }
    }
    await Promise.all(this.nats.map((_, i) => this.startNats(i)));
    for (const [k, p] of this.routes) p.retarget(this.nats[Number(k.split('-')[1])]!.routePort);
    for (let i = 0; i < 3; i++) this.admin.push(await natsConnect({ servers: this.natsUrl(i), name: `chaos-admin-${i}`, maxReconnectAttempts: -1, reconnectTimeWait: 250 }));
    await this.waitRoutes();
    for (let i = 0; i < 3; i++) {
      const id = NODE_IDS[i]!;
      const link = await FaultProxy.start({ name: `${id}->nats-${AZS[i]}`, targetPort: this.nats[i]!.clientPort, rng: rng.fork(`link-${id}`) });
      this.nodes.push({
        id,
        az: AZS[i]!,
        index: i,
        dataDir: join(this.cfg.dir, id),
        logFile: join(this.cfg.dir, `${id}.log`),
        link,
        spawned: null,
        metricsUrl: '',
        failpoints: '',
        paused: false,
        stopping: false,
        starts: 0,
      });
    }
    await Promise.all(NODE_IDS.map((id) => this.startNode(id)));
  }

  private async startNats(i: number): Promise<void> {
    const n = this.nats[i]!;
    const routes: string[] = [];
    for (let j = i + 1; j < 3; j++) routes.push(`nats-route://127.0.0.1:${this.routes.get(`${i}-${j}`)!.port}`);
    const conf = join(this.cfg.dir, `nats-${n.az}.conf`);
    await writeFile(
      conf,
      [
        `server_name: nats-${n.az}`,
        'listen: 127.0.0.1:-1',
        'max_payload: 8MB',
        // Stale peers (a paused process, a one-way cut) are noticed within seconds.
        'ping_interval: "2s"',
        'ping_max: 3',
        'write_deadline: "3s"',
        'cluster {',
        '  name: cellkv-chaos',
        '  listen: 127.0.0.1:-1',
        `  advertise: "127.0.0.1:${this.blackhole!.port}"`,
        '  no_advertise: true',
        `  routes: [${routes.map((r) => `"${r}"`).join(', ')}]`,
        '}',
        '',
      ].join('\n'),
    );
    const logFile = join(this.cfg.dir, `nats-${n.az}.log`);
    n.spawned = await spawnReady({
      cmd: natsServerBinary(),
      args: ['-c', conf],
      cwd: this.cfg.dir,
      env: process.env,
      logFile,
      readyPattern: null,
      readyTimeoutMs: 10_000,
      label: `nats-server ${n.az}`,
    });
    const deadline = Date.now() + 10_000;
    while (n.clientPort === 0 || n.routePort === 0) {
      const text = await readFile(logFile, 'utf8').catch(() => '');
      n.clientPort = Number(/Listening for client connections on [\d.]+:(\d+)/.exec(text)?.[1] ?? 0);
      n.routePort = Number(/Listening for route connections on [\d.]+:(\d+)/.exec(text)?.[1] ?? 0);
      if (n.clientPort > 0 && n.routePort > 0) break;
      if (Date.now() > deadline || !isRunning(n.spawned.proc)) throw new Error(`nats-server ${n.az} did not start listening (log: ${logFile})`);
      await sleep(50);
    }
  }

  /** Waits until every server reaches both peers: a request from each server to each other answers. */
  async waitRoutes(timeoutMs = 15_000): Promise<void> {
    const subs = this.admin.map((nc, j) => nc.subscribe(`chaos.ping.${j}`, { callback: (_e, m) => void m.respond(new Uint8Array(0)) }));
    try {
      const deadline = Date.now() + timeoutMs;
      for (let i = 0; i < 3; i++) {
        for (let j = 0; j < 3; j++) {
          while (true) {
            const ok = await this.admin[i]!.request(`chaos.ping.${j}`, new Uint8Array(0), { timeout: 300 }).then(() => true, () => false);
            if (ok) break;
            if (Date.now() > deadline) throw new Error(`NATS route ${AZS[i]} -> ${AZS[j]} did not come up within ${timeoutMs} ms`);
            await sleep(100);
          }
        }
      }
    } finally {
      for (const s of subs) s.unsubscribe();
    }
  }

  /** Starts (or restarts) a node from its data directory, optionally with failpoints armed. */
  async startNode(id: string, failpoints = ''): Promise<void> {
    const n = this.node(id);
    if (isRunning(n.spawned?.proc ?? null)) throw new Error(`node ${id} is already running`);
    const bootstrap = this.nodes.map((x) => `${x.id}:${x.az}`).join(',');
    const env: NodeJS.ProcessEnv = {};
    // Nothing from the harness's own environment may arm or reconfigure a node by accident.
    for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('CELLKV_')) env[k] = v;
    env['CELLKV_LOG_LEVEL'] = 'info';
    if (failpoints) env['CELLKV_FAILPOINTS'] = failpoints;
    const args = [
      ...(this.cfg.nodeArgs ?? []),
      '--import', 'tsx', join(this.cfg.root, 'cell/main.ts'),
      '--node-id', n.id, '--az', n.az, '--data-dir', n.dataDir,
      '--nats', `nats://127.0.0.1:${n.link.port}`,
      '--metrics-port', '0', '--bootstrap', bootstrap,
      '--tick-ms', String(this.cfg.tickMs),
      '--snapshot-every', String(this.cfg.snapshotEvery),
      '--log-retain', String(this.cfg.logRetain),
    ];
    n.stopping = false;
    n.paused = false;
    n.failpoints = failpoints;
    n.starts++;
    const s = await spawnReady({
      cmd: process.execPath,
      args,
      cwd: this.cfg.root,
      env,
      logFile: n.logFile,
      readyPattern: /cellkv-node ready node=\S+ metrics=(\S+)/,
      readyTimeoutMs: 45_000,
      label: `node ${id}${failpoints ? ` (${failpoints})` : ''}`,
    }).catch((e: unknown) => {
      // A failpoint may legitimately fire during recovery, before the ready line.
      if (failpoints) return null;
      throw e;
    });
    if (s === null) {
      this.record(n.id, 'failpoint-panic', `${failpoints} fired while starting`);
      n.spawned = null;
      return;
    }
    n.spawned = s;
    n.metricsUrl = s.ready?.[1] ?? '';
    void s.exited.then(({ code, signal }) => {
      if (n.spawned !== s || n.stopping) return;
      if (n.failpoints && signal === 'SIGKILL') this.record(n.id, 'failpoint-panic', `${n.failpoints} fired`);
      else this.record(n.id, 'unexpected-exit', `exited with ${signal ?? `code ${code}`} (log: ${n.logFile})`);
    });
  }

  private record(node: NodeId, kind: ProcessEvent['kind'], detail: string): void {
    this.events.push({ node, atMs: Date.now() - this.t0, kind, detail });
    this.cfg.progress(`[chaos] ${node}: ${kind}: ${detail}`);
  }

  isUp(id: string): boolean {
    return isRunning(this.node(id).spawned?.proc ?? null);
  }

  /** SIGKILL: a crash; nothing unsynced survives. */
  async killNode(id: string): Promise<void> {
    const n = this.node(id);
    if (!n.spawned) return;
    n.stopping = true;
    await killHard(n.spawned);
    n.paused = false;
  }

  pause(id: string): void {
    const n = this.node(id);
    if (n.spawned && isRunning(n.spawned.proc)) {
      n.spawned.proc.kill('SIGSTOP');
      n.paused = true;
    }
  }

  resume(id: string): void {
    const n = this.node(id);
    if (n.spawned && isRunning(n.spawned.proc)) n.spawned.proc.kill('SIGCONT');
    n.paused = false;
  }

  /** Admin status of one node, asked through its own AZ's server; null when it does not answer. */
  async status(id: string, timeoutMs = 800): Promise<CellStatus[] | null> {
    const n = this.node(id);
    if (!this.isUp(id) || n.paused) return null;
    try {
      const m = await this.admin[n.index]!.request(`cellkv.admin.${id}`, new TextEncoder().encode(JSON.stringify({ op: 'status' })), { timeout: timeoutMs });
      const body = JSON.parse(new TextDecoder().decode(m.data)) as { ok: boolean; cells?: CellStatus[] };
      return body.ok && body.cells ? body.cells : null;
    } catch {
      return null;
    }
  }

  async adminRequest<T>(id: string, req: Record<string, unknown>, timeoutMs = 2000): Promise<T> {
    const n = this.node(id);
    const m = await this.admin[n.index]!.request(`cellkv.admin.${id}`, new TextEncoder().encode(JSON.stringify(req)), { timeout: timeoutMs });
    return JSON.parse(new TextDecoder().decode(m.data)) as T;
  }

  /** The node leading `cell` with the highest term among the answers; null when none does. */
  async leaderOf(cell: string): Promise<string | null> {
    const all = await Promise.all(this.nodes.map(async (n) => [n.id, await this.status(n.id)] as const));
    let best: { id: string; term: number } | null = null;
    for (const [id, cells] of all) {
      const c = cells?.find((x) => x.cell === cell);
      if (c?.role === 'leader' && (!best || c.term > best.term)) best = { id, term: c.term };
    }
    return best?.id ?? null;
  }

  route(a: number, b: number): FaultProxy {
    const p = this.routes.get(`${Math.min(a, b)}-${Math.max(a, b)}`);
    if (!p) throw new Error(`no route ${a}-${b}`);
    return p;
  }

  /** Node cut off from its NATS server (so from everything). */
  isolateNode(id: string): void {
    this.node(id).link.set({ partitioned: true });
  }

  /** A whole AZ cut off: its server's routes and its node's link. */
  isolateAz(index: number): void {
    this.nodes[index]!.link.set({ partitioned: true });
    for (let j = 0; j < 3; j++) if (j !== index) this.route(index, j).set({ partitioned: true });
  }

  /** The route between two AZs cut: their nodes can no longer talk, both still reach the third. */
  cutRoute(a: number, b: number): void {
    this.route(a, b).set({ partitioned: true });
  }

  /** One-way cut on a node's link: 'out' stops what the node sends, 'in' what it receives. */
  holdNode(id: string, dir: 'in' | 'out'): void {
    this.node(id).link.set(dir === 'out' ? { holdUp: true } : { holdDown: true });
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
    for (const n of this.nodes) if (n.paused) this.resume(n.id);
    for (const n of this.nodes) {
      if (n.failpoints && this.isUp(n.id)) await this.killNode(n.id);
      if (!this.isUp(n.id)) await this.startNode(n.id);
    }
  }

  /** Counter value summed over a node's metrics (0 when unreachable). */
  async metric(id: string, name: string): Promise<number> {
    const n = this.node(id);
    if (!n.metricsUrl || !this.isUp(id) || n.paused) return 0;
    try {
      const text = await (await fetch(`${n.metricsUrl}/metrics`, { signal: AbortSignal.timeout(1000) })).text();
      let sum = 0;
      for (const line of text.split('\n')) if (line.startsWith(name)) sum += Number(line.split(' ').pop());
      return sum;
    } catch {
      return 0;
    }
  }

  async stop(): Promise<void> {
    for (const c of this.admin) await c.close().catch(() => undefined);
    for (const n of this.nodes) {
      if (n.spawned) {
        n.stopping = true;
        await killHard(n.spawned);
      }
    }
    for (const s of this.nats) if (s.spawned) await killHard(s.spawned);
    for (const p of this.allProxies) await p.close();
    await this.blackhole?.close();
  }
}
