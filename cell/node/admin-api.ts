// The node's admin surface (JSON over `cellkv.admin.<node>`): meta proposals forwarded by
// other nodes, status, tenants, usage, replica digests, leader transfer, and the backup ops
// (backup-admin.ts).

import { createHash } from 'node:crypto';
import { KvError } from '../../shared/errors.js';
import { META_CELL_ID, bytesOfHex, type DirectoryView } from '../../shared/directory.js';
import { replicaSize } from './placement-driver.js';
import { namespacedKey } from '../../shared/keys.js';
import { dataRange, usageRange } from '../storage/records.js';
import type { NodeDb } from '../storage/node-db.js';
import { BackupAdmin, type BackupAdminRequest, type BackupHost } from './backup-admin.js';
import type { NodeConfig } from './config.js';
import { MetaCommandSchema, type MetaState } from './meta.js';
import { usageReport } from './usage-report.js';
import type { CellMerger, MergeResult } from './merge.js';
import type { CellStats } from './rebalancer.js';
import type { MoveRequest, MoveResult, PrepareRequest } from './replica-mover.js';

/** What the admin API needs from its node (CellNode provides it). */
export interface AdminHost extends BackupHost {
  readonly cfg: Pick<NodeConfig, 'nodeId' | 'az'>;
  readonly db: Pick<NodeDb, 'kv' | 'pinnedView'>;
  readonly meta: Pick<MetaState, 'tenantList' | 'directory'> | null;
  /** The directory this node serves (its meta replica's; no cells without one). */
  directoryView(): DirectoryView;
  /** Lets the Raft loop run soon (after a leader transfer). */
  schedulePump(): void;
  /** Proposes a meta command on the meta leader; see CellNode.proposeMeta. */
  proposeMeta(json: string): Promise<void>;
  /** Splits a cell this node leads at a namespaced key; see CellNode.requestSplit. */
  requestSplit(cellId: string, splitKey: Uint8Array): Promise<{ left: string; right: string; index: number }>;
  /** Merges `right` into its left neighbour `left`; see CellMerger.requestMerge. */
  requestMerge(left: string, right: string): Promise<MergeResult>;
  /** Merge steps and checks between nodes (merge.ts). */
  readonly merger: Pick<CellMerger, 'proposeStep' | 'durable'>;
  /** Size and load of a cell this node leads (the rebalancer asks its neighbour's leader). */
  cellStats(cellId: string): Promise<CellStats>;
  /** Moves a replica of a cell (replica-mover.ts); see CellNode.moveReplica. */
  moveReplica(req: MoveRequest): Promise<MoveResult>;
  /** A move's target prepares an empty replica; see CellNode.prepareReplica. */
  prepareReplica(req: PrepareRequest): Promise<{ cell: string; replaced: boolean }>;
}

export class AdminApi {
  /** Backup snapshots and log pages (backup-admin.ts). */
  private readonly backup: BackupAdmin;

  constructor(private readonly host: AdminHost) {
    this.backup = new BackupAdmin(host);
  }

  /** Admin requests (JSON): meta proposals forwarded by other nodes, status, leader transfer. */
  async handle(data: Uint8Array): Promise<Uint8Array> {
    const enc = (v: unknown) => new TextEncoder().encode(JSON.stringify(v));
    try {
      const req = JSON.parse(new TextDecoder().decode(data)) as {
        op?: string;
        json?: string;
        cell?: string;
        to?: string;
        from?: string;
        splitKey?: string;
        tenant?: string;
        key?: string;
        resume?: boolean;
        forwarded?: boolean;
        start?: string;
        end?: string | null;
        epoch?: number;
        left?: string;
        right?: string;
        source?: string;
      };
      if (BackupAdmin.handles(req.op)) return enc(await this.backup.handle(req as BackupAdminRequest));
      if (req.op === 'meta' && typeof req.json === 'string') {
        // Validated here so a malformed command never enters the meta log.
        const parsed = MetaCommandSchema.safeParse(JSON.parse(req.json));
        if (!parsed.success) return enc({ ok: false, code: 'INVALID_ARGUMENT', message: parsed.error.message });
        const cmd = parsed.data;
        if (cmd.op === 'drain' && this.host.meta && !this.host.meta.directory().nodes.some((n) => n.id === cmd.node)) {
          return enc({ ok: false, code: 'NOT_FOUND', message: `node ${cmd.node} is not in the directory` });
        }
        try {
          await this.host.proposeMeta(req.json);
        } catch (e) {
          // Names the leader, so a node without a meta replica (meta-link.ts) finds it in one more hop.
          if (e instanceof KvError && e.code === 'NOT_LEADER') return enc({ ok: false, code: e.code, message: e.message, leader: this.host.replicas.get(META_CELL_ID)?.raft.status().leader ?? null });
          throw e;
        }
        return enc({ ok: true });
      }
      if (req.op === 'digest' && req.cell) {
        return enc({ ok: true, ...(await this.digest(req.cell)) });
      }
      if (req.op === 'usage') {
        return enc({ ok: true, node: this.host.cfg.nodeId, ...(await usageReport(this.host.replicas.values(), req)) });
      }
      if (req.op === 'directory') {
        return enc({ ok: true, directory: this.host.directoryView() });
      }
      if (req.op === 'tenants') {
        return enc({ ok: true, tenants: this.host.meta?.tenantList() ?? [] });
      }
      if (req.op === 'status') {
        return enc({
          ok: true,
          node: this.host.cfg.nodeId,
          az: this.host.cfg.az,
          cells: [...this.host.replicas.values()].map((r) => ({
            cell: r.cellId,
            ...r.raft.status(),
            ...this.host.hexRange(r),
            epoch: r.epoch,
            // What the state machine applied (the core's `applied` counts entries handed out).
            dataApplied: r.data.applied.index,
            frozen: r.frozen,
            ...replicaSize(r, this.host.clock.now()),
          })),
        });
      }
      if (req.op === 'split' && req.cell) {
        // The split point: a namespaced key in hex, or a tenant and a key (UTF-8).
        let splitKey: Uint8Array;
        if (typeof req.splitKey === 'string' && /^([0-9a-f]{2})+$/.test(req.splitKey)) splitKey = bytesOfHex(req.splitKey);
        else if (typeof req.tenant === 'string' && typeof req.key === 'string' && req.key.length > 0) splitKey = namespacedKey(req.tenant, new TextEncoder().encode(req.key));
        else return enc({ ok: false, code: 'INVALID_ARGUMENT', message: 'split needs cell and splitKey (hex of a namespaced key) or tenant and key' });
        return enc({ ok: true, ...(await this.host.requestSplit(req.cell, splitKey)) });
      }
      if (req.op === 'merge') {
        if (typeof req.left !== 'string' || typeof req.right !== 'string') return enc({ ok: false, code: 'INVALID_ARGUMENT', message: 'merge needs left and right (adjacent cell ids; right is absorbed into left)' });
        return enc({ ok: true, ...(await this.host.requestMerge(req.left, req.right)) });
      }
      if (req.op === 'mergeStep') return enc(await this.host.merger.proposeStep(req as Record<string, unknown>));
      if (req.op === 'mergeDurable' && typeof req.source === 'string') return enc({ ok: true, durable: await this.host.merger.durable(req.source) });
      if (req.op === 'cellStats' && req.cell) return enc({ ok: true, stats: await this.host.cellStats(req.cell) });
      if (req.op === 'move') {
        if (!req.cell || !req.from || !req.to) return enc({ ok: false, code: 'INVALID_ARGUMENT', message: 'move needs cell, from and to (node ids)' });
        return enc({ ok: true, ...(await this.host.moveReplica({ cell: req.cell, from: req.from, to: req.to, resume: req.resume === true, forwarded: req.forwarded === true })) });
      }
      if (req.op === 'prepareReplica') {
        if (!req.cell || typeof req.start !== 'string' || (req.end !== null && typeof req.end !== 'string') || typeof req.epoch !== 'number') {
          return enc({ ok: false, code: 'INVALID_ARGUMENT', message: 'prepareReplica needs cell, start, end (hex or null) and epoch' });
        }
        return enc({ ok: true, ...(await this.host.prepareReplica({ cell: req.cell, start: req.start, end: req.end, epoch: req.epoch })) });
      }
      if (req.op === 'transfer' && req.cell && req.to) {
        this.host.replicas.get(req.cell)?.raft.transferLeadership(req.to);
        this.host.schedulePump();
        return enc({ ok: true });
      }
      return enc({ ok: false, code: 'INVALID_ARGUMENT', message: 'unknown admin op; use meta, directory, status, tenants, usage, digest, transfer, split, merge, cellStats, move, prepareReplica or backupSnapshot/backupLog/backupChunk/backupEnd' });
    } catch (e) {
      const code = e instanceof KvError ? e.code : 'INVALID_ARGUMENT';
      // Details (leaderHint, a refusal's reason) go along: callers act on them.
      return enc({ ok: false, code, message: (e as Error).message, ...(e instanceof KvError ? e.details : {}) });
    }
  }

  /**
   * A hash of the cell's data (keys, values, metadata) and tenant usage counters at one applied
   * index, so replicas can be compared. Retried while applies move underneath it (bounded).
   */
  private async digest(cellId: string): Promise<{ cell: string; applied: number; digest: string; keys: number }> {
    const r = this.host.replicas.get(cellId);
    if (!r) throw new KvError('NOT_FOUND', `node ${this.host.cfg.nodeId} has no replica of cell ${cellId}`);
    for (let attempt = 0; attempt < 20; attempt++) {
      await this.host.flushAll(false);
      const before = r.data.applied.index;
      const h = createHash('sha256');
      let keys = 0;
      for await (const [k, v] of this.host.db.kv.iterator(dataRange(r.range.start, r.range.end))) {
        h.update(k);
        h.update(v);
        keys++;
      }
      // Usage counters must agree too (they are state-machine data); `keys` counts data only.
      for await (const [k, v] of this.host.db.kv.iterator(usageRange(cellId))) {
        h.update(k);
        h.update(v);
      }
      if (r.data.applied.index === before) return { cell: cellId, applied: before, digest: h.digest('hex'), keys };
      await this.host.clock.sleep(10);
    }
    throw new KvError('UNAVAILABLE', `cell ${cellId} kept applying; retry the digest when writes stop`);
  }
}
