// The gateway's side of the cell nodes' admin surface (`cellkv.admin.<node>`, JSON): tenant
// records kept by the meta cell (read from and proposed to its leader) and per-tenant usage
// counted by every data cell (asked of each cell's leader and added up). Used by the quota
// cache and by the /v1/admin/tenants routes.

import type { NatsConnection } from '@nats-io/transport-node';
import { META_CELL_ID, type DirectoryView } from '../shared/directory.js';
import { KvError, type ErrorCode } from '../shared/errors.js';

export interface TenantRecord {
  readonly id: string;
  readonly maxKeys?: number;
  readonly maxBytes?: number;
  readonly opsPerSec?: number;
}

export interface TenantUsage {
  readonly keys: number;
  readonly bytes: number;
}

export interface UsageTotals {
  /** Per tenant, summed over the cells that answered (tenants without data are absent). */
  readonly usage: ReadonlyMap<string, TenantUsage>;
  /** Data cells in the directory, and how many of them answered. */
  readonly cells: number;
  readonly answered: number;
  /** Per answering cell, the applied index its numbers reflect. */
  readonly applied: ReadonlyMap<string, number>;
}

/** What the quota cache and the admin routes need (a fake in unit tests). */
export interface TenantSource {
  listTenants(): Promise<TenantRecord[]>;
  putTenant(t: TenantRecord): Promise<void>;
  deleteTenant(id: string): Promise<void>;
  /** Usage of the listed tenants (at most 1000 per call). */
  usage(tenants: readonly string[]): Promise<UsageTotals>;
}

export interface AdminTransport {
  /** The NATS connection, or null while there is none (the caller answers 503 at once). */
  connection(): NatsConnection | null;
  directory(refresh?: boolean): Promise<DirectoryView>;
}

const KNOWN_CODES = new Set<string>(['INVALID_ARGUMENT', 'NOT_FOUND', 'NOT_LEADER', 'UNAVAILABLE', 'OVERLOADED', 'INTERNAL']);
const enc = new TextEncoder();
const dec = new TextDecoder();

export class AdminLink implements TenantSource {
  constructor(
    private readonly transport: AdminTransport,
    private readonly timeoutMs: number,
  ) {}

  private async call(node: string, body: Record<string, unknown>): Promise<Record<string, unknown>> {
    const nc = this.transport.connection();
    if (!nc || nc.isClosed()) throw new KvError('UNAVAILABLE', 'gateway is not connected to NATS; retry shortly');
    let data: Uint8Array;
    try {
      data = (await nc.request(`cellkv.admin.${node}`, enc.encode(JSON.stringify(body)), { timeout: this.timeoutMs })).data;
    } catch (e) {
      throw new KvError('UNAVAILABLE', `node ${node} did not answer (${(e as Error).message}); retry shortly`);
    }
    let r: Record<string, unknown>;
    try {
      r = JSON.parse(dec.decode(data)) as Record<string, unknown>;
    } catch {
      throw new KvError('INTERNAL', `node ${node} answered an admin request with something that is not JSON`);
    }
    if (r['ok'] !== true) {
      const code = typeof r['code'] === 'string' && KNOWN_CODES.has(r['code']) ? (r['code'] as ErrorCode) : 'INTERNAL';
      throw new KvError(code, typeof r['message'] === 'string' ? r['message'].slice(0, 500) : 'admin request failed');
    }
    return r;
  }

  /** Nodes to ask for meta-cell state: its leader first, then every other node. */
  private async metaNodes(refresh: boolean): Promise<string[]> {
    const d = await this.transport.directory(refresh);
    const order = [d.leaders[META_CELL_ID], ...d.nodes.map((n) => n.id)].filter((x): x is string => !!x);
    return [...new Set(order)];
  }

  async listTenants(): Promise<TenantRecord[]> {
    let last: unknown = null;
    for (const refresh of [false, true]) {
      for (const node of await this.metaNodes(refresh)) {
        try {
          const r = await this.call(node, { op: 'tenants' });
          return Array.isArray(r['tenants']) ? (r['tenants'] as TenantRecord[]) : [];
        } catch (e) {
          last = e;
        }
      }
    }
    throw last instanceof KvError ? last : new KvError('UNAVAILABLE', 'no node answered the tenants request; retry shortly');
  }

  putTenant(t: TenantRecord): Promise<void> {
    return this.metaCommand({ op: 'putTenant', tenant: t });
  }

  deleteTenant(id: string): Promise<void> {
    return this.metaCommand({ op: 'deleteTenant', id });
  }

  /** Proposes a meta command on the meta leader, following leader changes for a bounded time. */
  private async metaCommand(cmd: Record<string, unknown>): Promise<void> {
    const deadline = Date.now() + 3 * this.timeoutMs;
    let last = 'no meta leader known';
    for (let attempt = 0; Date.now() < deadline; attempt++) {
      const d = await this.transport.directory(attempt > 0);
      const leader = d.leaders[META_CELL_ID];
      if (leader) {
        try {
          await this.call(leader, { op: 'meta', json: JSON.stringify(cmd) });
          return;
        } catch (e) {
          if (!(e instanceof KvError) || !['NOT_LEADER', 'UNAVAILABLE', 'OVERLOADED'].includes(e.code)) throw e;
          last = e.message;
        }
      }
      await new Promise((r) => setTimeout(r, Math.min(500, 50 * 2 ** attempt)));
    }
    // The command may have been proposed by a leader that lost its term: not applied for sure.
    throw new KvError('UNAVAILABLE', `the meta cell did not accept the change in time (${last}); retry`);
  }

  /**
   * Usage summed over all data cells. Each cell's leader is asked (one request per node for all
   * the cells it leads); a cell whose node does not answer is asked of another replica once, and
   * a cell nobody answered for is left out (`answered` says so).
   */
  async usage(tenants: readonly string[]): Promise<UsageTotals> {
    if (tenants.length > 1000) throw new KvError('INVALID_ARGUMENT', 'usage: at most 1000 tenants per request');
    const d = await this.transport.directory();
    const totals = new Map<string, { keys: number; bytes: number }>();
    const answered = new Set<string>();
    const applied = new Map<string, number>();
    const asked = new Set<string>();
    for (let pass = 0; pass < 2; pass++) {
      const byNode = new Map<string, Set<string>>();
      for (const c of d.cells) {
        if (answered.has(c.id)) continue;
        const candidates = [d.leaders[c.id], ...c.replicas.filter((r) => r.role === 'voter').map((r) => r.node)];
        const node = candidates.find((n): n is string => !!n && !asked.has(n));
        if (!node) continue;
        let s = byNode.get(node);
        if (!s) byNode.set(node, (s = new Set()));
        s.add(c.id);
      }
      if (byNode.size === 0) break;
      for (const n of byNode.keys()) asked.add(n);
      await Promise.all(
        [...byNode].map(async ([node, cells]) => {
          const r = await this.call(node, { op: 'usage', tenants }).catch(() => null);
          if (!r || !Array.isArray(r['cells'])) return;
          for (const c of r['cells'] as { cell?: unknown; usage?: unknown; applied?: unknown }[]) {
            if (typeof c.cell !== 'string' || !cells.has(c.cell) || answered.has(c.cell) || typeof c.applied !== 'number') continue;
            answered.add(c.cell);
            applied.set(c.cell, c.applied);
            for (const [t, u] of Object.entries((c.usage ?? {}) as Record<string, TenantUsage>)) {
              const sum = totals.get(t) ?? { keys: 0, bytes: 0 };
              sum.keys += Number(u.keys) || 0;
              sum.bytes += Number(u.bytes) || 0;
              totals.set(t, sum);
            }
          }
        }),
      );
    }
    return { usage: totals, cells: d.cells.length, answered: answered.size, applied };
  }
}
