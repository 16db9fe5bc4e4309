// The meta cell's state machine: the directory (cell descriptors), the node registry with
// liveness heartbeats. Commands are JSON (rare, small); documents are stored in LevelDB under
// the meta cell's prefix and mirrored in memory.

import { z } from 'zod';
import type { CellDescriptor, Directory, NodeRecord } from '../../shared/directory.js';
import { metaDocKey, metaDocName, metaDocRange } from '../storage/records.js';
import type { BatchOp, KvDb } from '../kv/kv-db.js';

const Replica = z.object({ node: z.string(), az: z.string(), role: z.enum(['voter', 'learner']) });
const Cell = z.object({
  id: z.string(),
  start: z.string(),
  end: z.string().nullable(),
  epoch: z.number().int(),
  replicas: z.array(Replica),
});

const Tenant = z.object({
  id: z.string().regex(/^[a-z0-9][a-z0-9_-]{0,62}$/),
  /** Quotas; absent = unlimited. Enforced by gateways. */
  maxKeys: z.number().int().positive().optional(),
  maxBytes: z.number().int().positive().optional(),
  opsPerSec: z.number().int().positive().optional(),
});

export type TenantRecord = z.infer<typeof Tenant>;

export const MetaCommandSchema = z.discriminatedUnion('op', [
  z.object({ op: z.literal('putTenant'), tenant: Tenant }),
  z.object({ op: z.literal('deleteTenant'), id: z.string() }),
  z.object({ op: z.literal('init'), cells: z.array(Cell), nodes: z.array(z.object({ id: z.string(), az: z.string() })) }),
  z.object({ op: z.literal('heartbeat'), node: z.string(), az: z.string(), atMs: z.number() }),
  /** Marks a known node draining (its replicas and leaderships move away) or not. */
  z.object({ op: z.literal('drain'), node: z.string(), draining: z.boolean() }),
  /**
   * Cell descriptors from the cells themselves (after a split or merge): each replaces an older
   * epoch of its id. `retire` removes merged-away cells up to an epoch, for good.
   */
  z.object({
    op: z.literal('cells'),
    cells: z.array(Cell).min(1).max(16),
    retire: z.array(z.object({ id: z.string(), epoch: z.number().int() })).max(16).optional(),
  }),
]);

export type MetaOp = z.infer<typeof MetaCommandSchema>;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export class MetaState {
  private cells: CellDescriptor[] = [];
  private nodes = new Map<string, NodeRecord>();
  private tenants = new Map<string, TenantRecord>();
  /** Cells merged away, with the epoch they had: a late publication of one changes nothing. */
  private retired = new Map<string, number>();

  constructor(private readonly cellId: string) {}

  async load(db: KvDb): Promise<void> {
    for await (const [k, v] of db.iterator(metaDocRange(this.cellId))) {
      const doc = metaDocName(this.cellId, k);
      const json = JSON.parse(decoder.decode(v)) as unknown;
      if (doc === 'cells') this.cells = z.array(Cell).parse(json);
      if (doc === 'retired') this.retired = new Map(Object.entries(z.record(z.string(), z.number()).parse(json)));
      if (doc.startsWith('tenant/')) {
        const t = Tenant.parse(json);
        this.tenants.set(t.id, t);
      }
      if (doc.startsWith('node/')) {
        const n = json as NodeRecord;
        this.nodes.set(n.id, n);
      }
    }
  }

  directory(): Directory {
    return { cells: this.cells, nodes: [...this.nodes.values()].sort((a, b) => a.id.localeCompare(b.id)) };
  }

  tenantList(): TenantRecord[] {
    return [...this.tenants.values()].sort((a, b) => a.id.localeCompare(b.id));
  }

  isInitialized(): boolean {
    return this.cells.length > 0;
  }

  /** Applies one committed meta command, staging its documents into `ops`. */
  apply(json: string, ops: BatchOp[]): void {
    const parsed = MetaCommandSchema.safeParse(JSON.parse(json));
    // A malformed command was validated before proposal; if one slips in, every replica skips it alike.
    if (!parsed.success) return;
    const cmd = parsed.data;
    switch (cmd.op) {
      case 'init':
        if (this.cells.length > 0) return; // idempotent: only the first init counts
        this.cells = cmd.cells;
        ops.push({ type: 'put', key: metaDocKey(this.cellId, 'cells'), value: encoder.encode(JSON.stringify(this.cells)) });
        // A node heard from before the init keeps its heartbeat.
        for (const n of cmd.nodes) if (!this.nodes.has(n.id)) this.putNode({ id: n.id, az: n.az, lastHeartbeatMs: 0 }, ops);
        return;
      case 'cells': {
        let changed = false;
        let retiredChanged = false;
        for (const t of cmd.retire ?? []) {
          if ((this.retired.get(t.id) ?? -1) >= t.epoch) continue;
          this.retired.set(t.id, t.epoch);
          retiredChanged = true;
          const before = this.cells.length;
          this.cells = this.cells.filter((x) => x.id !== t.id || x.epoch > t.epoch);
          changed ||= this.cells.length !== before;
        }
        if (retiredChanged) ops.push({ type: 'put', key: metaDocKey(this.cellId, 'retired'), value: encoder.encode(JSON.stringify(Object.fromEntries(this.retired))) });
        for (const c of cmd.cells) {
          if ((this.retired.get(c.id) ?? -1) >= c.epoch) continue;
          const i = this.cells.findIndex((x) => x.id === c.id);
          if (i < 0) this.cells = [...this.cells, c];
          else if (this.cells[i]!.epoch < c.epoch) this.cells = this.cells.map((x, j) => (j === i ? c : x));
          else continue;
          changed = true;
        }
        if (!changed) return;
        this.cells = [...this.cells].sort((a, b) => (a.id === 'meta' ? -1 : b.id === 'meta' ? 1 : a.start < b.start ? -1 : a.start > b.start ? 1 : 0));
        ops.push({ type: 'put', key: metaDocKey(this.cellId, 'cells'), value: encoder.encode(JSON.stringify(this.cells)) });
        return;
      }
      case 'heartbeat': {
        // A heartbeat keeps what the operator set (draining).
        const prev = this.nodes.get(cmd.node);
        this.putNode({ ...prev, id: cmd.node, az: cmd.az, lastHeartbeatMs: cmd.atMs }, ops);
        return;
      }
      case 'drain': {
        const prev = this.nodes.get(cmd.node);
        if (!prev) return; // validated before proposal (admin-api.ts); an unknown node stays unknown
        const { draining: _was, ...rest } = prev;
        this.putNode(cmd.draining ? { ...rest, draining: true } : rest, ops);
        return;
      }
      case 'putTenant':
        this.tenants.set(cmd.tenant.id, cmd.tenant);
        ops.push({ type: 'put', key: metaDocKey(this.cellId, `tenant/${cmd.tenant.id}`), value: encoder.encode(JSON.stringify(cmd.tenant)) });
        return;
      case 'deleteTenant':
        this.tenants.delete(cmd.id);
        ops.push({ type: 'del', key: metaDocKey(this.cellId, `tenant/${cmd.id}`) });
        return;
    }
  }

  private putNode(n: NodeRecord, ops: BatchOp[]): void {
    this.nodes.set(n.id, n);
    ops.push({ type: 'put', key: metaDocKey(this.cellId, `node/${n.id}`), value: encoder.encode(JSON.stringify(n)) });
  }

  /** Reloads from the database (after a snapshot install replaced the documents). */
  async reload(db: KvDb): Promise<void> {
    this.cells = [];
    this.retired.clear();
    this.nodes.clear();
    this.tenants.clear();
    await this.load(db);
  }
}
