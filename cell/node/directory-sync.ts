// The node's part in the directory the meta cell keeps: its liveness heartbeat (which also
// initializes a fresh cluster's directory), and the descriptors of the cells it leads, which
// it publishes after a split and re-publishes whenever the directory is behind them.

import { KvError } from '../../shared/errors.js';
import { FIRST_DATA_CELL_ID, META_CELL_ID, type CellDescriptor, type Directory } from '../../shared/directory.js';
import type { NodeClock } from './clock.js';
import type { NodeConfig } from './config.js';
import type { MetaState } from './meta.js';
import type { NodeTransportPort } from './ports.js';
import type { Replica } from './replica.js';
import { MetaLink } from './meta-link.js';

export interface DirectoryHost {
  readonly cfg: Pick<NodeConfig, 'nodeId' | 'az' | 'bootstrap'>;
  readonly clock: NodeClock;
  readonly replicas: ReadonlyMap<string, Replica>;
  readonly meta: MetaState | null;
  transport(): NodeTransportPort | null;
  /** Proposes on the local meta replica if it leads (see CellNode.proposeMeta). */
  proposeMeta(json: string): Promise<void>;
  hexRange(r: Replica): { start: string; end: string | null };
}

const META_FORWARD_TIMEOUT_MS = 2000;
/** The key of an eager heartbeat in flight in `publishing` (cell ids never contain a colon). */
const HEARTBEAT = ':heartbeat';

export class DirectorySync {
  private readonly publishing = new Set<string>();
  /** The meta cell for a node without a replica of it (meta-link.ts). */
  readonly metaLink: MetaLink;

  constructor(private readonly host: DirectoryHost) {
    this.metaLink = new MetaLink(host);
  }

  /**
   * Every 2 s: liveness (a fresh directory is initialized by reconcile). A node without a meta
   * replica sends it to the meta leader, and refreshes its copy of the directory with it.
   */
  heartbeat(): void {
    const h = this.host;
    const metaReplica = h.replicas.get(META_CELL_ID);
    if (!metaReplica) {
      void this.metaLink
        .propose(this.heartbeatCommand())
        .then(() => this.metaLink.fetchDirectory())
        .catch(() => undefined);
      return;
    }
    void this.proposeAnywhere(this.heartbeatCommand()).catch(() => undefined);
  }

  /** The directory as this node knows it: its meta replica's, else the copy fetched from one. */
  knownDirectory(): Directory | null {
    return this.host.meta?.directory() ?? this.metaLink.directory();
  }

  /** Writes these cells' descriptors into the directory (the meta cell keeps the newest epoch). */
  async publish(cells: readonly Replica[], opts: { retire?: readonly { id: string; epoch: number }[]; azHints?: ReadonlyMap<string, string> } = {}): Promise<void> {
    const h = this.host;
    const retire = opts.retire ?? [];
    // Where each node is: the registry, the replicas already in the directory, and this node's
    // bootstrap list (a fresh directory may not have its node records yet).
    const dir = this.knownDirectory();
    // (`azHints`: what a replica move learned from nodes the directory does not list yet.)
    const azOf = new Map<string, string>([...(opts.azHints ?? []), ...h.cfg.bootstrap.map((n) => [n.id, n.az] as const)]);
    for (const c of dir?.cells ?? []) for (const rep of c.replicas) if (rep.az !== 'unknown') azOf.set(rep.node, rep.az);
    for (const n of dir?.nodes ?? []) azOf.set(n.id, n.az);
    const descriptors: CellDescriptor[] = cells.map((c) => ({
      id: c.cellId,
      ...h.hexRange(c),
      epoch: c.epoch,
      replicas: [
        ...c.conf.voters.map((node) => ({ node, az: azOf.get(node) ?? 'unknown', role: 'voter' as const })),
        ...c.conf.learners.map((node) => ({ node, az: azOf.get(node) ?? 'unknown', role: 'learner' as const })),
      ],
    }));
    // A merge's grown cell and the absorbed one's removal go in one command: no hole, no overlap.
    await this.proposeAnywhere(JSON.stringify({ op: 'cells', cells: descriptors, ...(retire.length > 0 ? { retire } : {}) }));
  }

  /**
   * Every data cell this node hosts, leader or not: its directory entry catches up if a split
   * left it behind (the directory keeps the newest epoch, so a lagging replica changes nothing).
   */
  reconcile(): void {
    const meta = this.host.meta;
    if (!meta) return;
    // A fresh directory is initialized first (by the meta leader); before that, a missing entry
    // means a fresh directory, not a stale one.
    if (!meta.isInitialized()) {
      const metaReplica = this.host.replicas.get(META_CELL_ID);
      if (metaReplica?.isLeader && !this.publishing.has(META_CELL_ID)) {
        this.publishing.add(META_CELL_ID);
        void this.host
          .proposeMeta(this.initCommand())
          .catch(() => undefined)
          .finally(() => this.publishing.delete(META_CELL_ID));
      }
      return;
    }
    const dir = meta.directory();
    // Heard from soon after the directory exists, not only at the next 2 s heartbeat: a node
    // the init registered (with no heartbeat yet) would otherwise look dead for that long.
    const me = dir.nodes.find((n) => n.id === this.host.cfg.nodeId);
    if ((me === undefined || me.lastHeartbeatMs === 0) && !this.publishing.has(HEARTBEAT)) {
      this.publishing.add(HEARTBEAT);
      void this.proposeAnywhere(this.heartbeatCommand())
        .catch(() => undefined)
        .finally(() => this.publishing.delete(HEARTBEAT));
    }
    // Cells merged into a cell hosted here that the directory still lists (a lost publication).
    const retire: { id: string; epoch: number }[] = [];
    const absorbing = new Set<Replica>();
    for (const r of this.host.replicas.values()) {
      if (r.frozen || r.absorbed.length === 0 || this.publishing.has(r.cellId)) continue;
      for (const d of dir.cells) {
        if (!r.absorbed.includes(d.id) || this.host.replicas.get(d.id)?.frozen === false) continue;
        retire.push({ id: d.id, epoch: d.epoch });
        absorbing.add(r);
      }
    }
    const stale = [...this.host.replicas.values()].filter((r) => {
      // A frozen cell is being merged away: the absorbing cell publishes the outcome.
      if (r.cellId === META_CELL_ID || r.frozen || this.publishing.has(r.cellId)) return false;
      const d = dir.cells.find((c) => c.id === r.cellId);
      return d === undefined || d.epoch < r.epoch || absorbing.has(r);
    });
    if (stale.length === 0) return;
    // One publication in flight per cell: a slow meta leader must not collect a pile of them.
    for (const r of stale) this.publishing.add(r.cellId);
    void this.publish(stale, { retire })
      .catch(() => undefined)
      .finally(() => {
        for (const r of stale) this.publishing.delete(r.cellId);
      });
  }

  /** Proposes on the meta leader, here or (over the admin subject) on another node. */
  private async proposeAnywhere(json: string): Promise<void> {
    const h = this.host;
    const metaReplica = h.replicas.get(META_CELL_ID);
    if (!metaReplica) return this.metaLink.propose(json);
    if (metaReplica.isLeader) return h.proposeMeta(json);
    const leader = metaReplica.raft.status().leader;
    const transport = h.transport();
    if (!leader || !transport) throw new KvError('UNAVAILABLE', 'no meta leader known');
    await transport.requestAdmin(leader, new TextEncoder().encode(JSON.stringify({ op: 'meta', json })), META_FORWARD_TIMEOUT_MS);
  }

  private heartbeatCommand(): string {
    const h = this.host;
    return JSON.stringify({ op: 'heartbeat', node: h.cfg.nodeId, az: h.cfg.az, atMs: h.clock.now() });
  }

  private initCommand(): string {
    const replicas = this.host.cfg.bootstrap.map((n) => ({ node: n.id, az: n.az, role: 'voter' as const }));
    return JSON.stringify({
      op: 'init',
      cells: [{ id: FIRST_DATA_CELL_ID, start: '', end: null, epoch: 1, replicas }],
      nodes: this.host.cfg.bootstrap,
    });
  }
}
