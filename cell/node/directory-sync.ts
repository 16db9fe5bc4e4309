// The node's part in the directory the meta cell keeps: its liveness heartbeat (which also
// initializes a fresh cluster's directory), and the descriptors of the cells it leads, which
// it publishes after a split and re-publishes whenever the directory is behind them.

import { KvError } from '../../shared/errors.js';
import { FIRST_DATA_CELL_ID, META_CELL_ID, type CellDescriptor } from '../../shared/directory.js';
import type { NodeClock } from './clock.js';
import type { NodeConfig } from './config.js';
import type { MetaState } from './meta.js';
import type { NodeTransportPort } from './ports.js';
import type { Replica } from './replica.js';

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

  constructor(private readonly host: DirectoryHost) {}

  /** Every 2 s: liveness (a fresh directory is initialized by reconcile). */
  heartbeat(): void {
    const h = this.host;
    const metaReplica = h.replicas.get(META_CELL_ID);
    if (!metaReplica) return;
    void this.proposeAnywhere(this.heartbeatCommand()).catch(() => undefined);
  }

  /** Writes these cells' descriptors into the directory (the meta cell keeps the newest epoch). */
  async publish(cells: readonly Replica[], azHints: ReadonlyMap<string, string> = new Map()): Promise<void> {
    const h = this.host;
    // Where each node is: the registry, the replicas already in the directory, and this node's
    // bootstrap list (a fresh directory may not have its node records yet).
    const dir = h.meta?.directory();
    // (`azHints`: what a replica move learned from nodes the directory does not list yet.)
    const azOf = new Map<string, string>([...azHints, ...h.cfg.bootstrap.map((n) => [n.id, n.az] as const)]);
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
    await this.proposeAnywhere(JSON.stringify({ op: 'cells', cells: descriptors }));
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
    const stale = [...this.host.replicas.values()].filter((r) => {
      if (r.cellId === META_CELL_ID || this.publishing.has(r.cellId)) return false;
      const d = dir.cells.find((c) => c.id === r.cellId);
      return d === undefined || d.epoch < r.epoch;
    });
    if (stale.length === 0) return;
    // One publication in flight per cell: a slow meta leader must not collect a pile of them.
    for (const r of stale) this.publishing.add(r.cellId);
    void this.publish(stale)
      .catch(() => undefined)
      .finally(() => {
        for (const r of stale) this.publishing.delete(r.cellId);
      });
  }

  /** Proposes on the meta leader, here or (over the admin subject) on another node. */
  private async proposeAnywhere(json: string): Promise<void> {
    const h = this.host;
    const metaReplica = h.replicas.get(META_CELL_ID);
    if (metaReplica?.isLeader) return h.proposeMeta(json);
    const leader = metaReplica?.raft.status().leader;
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
