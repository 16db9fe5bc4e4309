// Operator access to the cell tier over NATS (used by `cellkv status|tenants|cells` and `npm start`):
// the directory (`cellkv.dir`), each node's admin status (`cellkv.admin.<node>`), tenant
// records, meta commands, which must reach the meta cell's leader, and cell splits, which
// must reach the split cell's leader.

import { connect, type NatsConnection } from '@nats-io/transport-node';
import type { DirectoryView } from '../shared/directory.js';
import { KvError } from '../shared/errors.js';
import { AdminLink } from '../gateway/admin-link.js';

export interface AdminErrorShape {
  readonly code: string;
  readonly detail: string;
}

/** A failed admin call, with a stable code like the API's problem codes. */
export class AdminError extends Error implements AdminErrorShape {
  constructor(
    readonly code: string,
    readonly detail: string,
  ) {
    super(`${code}: ${detail}`);
    this.name = 'AdminError';
  }
}

export interface ReplicaStatus {
  readonly cell: string;
  readonly role: string;
  readonly term: number;
  readonly commit: number;
  readonly applied: number;
  readonly lastIndex: number;
  readonly leader: string | null;
  readonly start: string;
  readonly end: string | null;
  readonly epoch: number;
}

export interface NodeStatus {
  readonly node: string;
  readonly az: string;
  readonly cells: readonly ReplicaStatus[];
}

export interface TenantRecord {
  readonly id: string;
  readonly maxKeys?: number;
  readonly maxBytes?: number;
  readonly opsPerSec?: number;
}

/** Where to split a cell: a namespaced key in hex, or a tenant and a key in it (UTF-8). */
export type SplitPoint = { readonly splitKey: string } | { readonly tenant: string; readonly key: string };

export interface MergeCellsResult {
  /** The cell that absorbed the other (the left one). */
  readonly cell: string;
  readonly absorbed: string;
  readonly freezeIndex: number;
  readonly commitIndex: number;
  /** The merged cell's epoch. */
  readonly epoch: number;
  /** The node that ran the merge. */
  readonly node: string;
}

export interface SplitResult {
  readonly cell: string;
  /** The cell keeping the lower half (the split cell itself). */
  readonly left: string;
  /** The new cell, from the split key on. */
  readonly right: string;
  /** The Raft index of the split entry. */
  readonly index: number;
}

export const META_CELL = 'meta';
/** A valid tenant name (shared/keys.ts validateTenant; checked here to fail with an AdminError). */
export const TENANT_RE = /^[a-z0-9][a-z0-9_-]{0,62}$/;

const enc = new TextEncoder();
const dec = new TextDecoder();

export function parseNatsServers(s: string): string[] {
  const servers = s.split(',').map((x) => x.trim()).filter(Boolean);
  if (servers.length === 0) throw new AdminError('INVALID_ARGUMENT', '--nats needs at least one URL');
  return servers;
}

export class AdminClient {
  private constructor(
    readonly nc: NatsConnection,
    private readonly owned: boolean,
    private readonly timeoutMs: number,
  ) {}

  /**
   * NATS credentials come from the environment only (CELLKV_NATS_USER, CELLKV_NATS_PASSWORD, the
   * names cell nodes use), never from a flag: argv is visible to every user of the host.
   */
  static async connect(servers: readonly string[], timeoutMs = 2000, env: NodeJS.ProcessEnv = process.env): Promise<AdminClient> {
    const user = env['CELLKV_NATS_USER'] || undefined;
    const pass = env['CELLKV_NATS_PASSWORD'] || undefined;
    if (pass !== undefined && user === undefined) throw new AdminError('INVALID_ARGUMENT', 'CELLKV_NATS_PASSWORD is set but CELLKV_NATS_USER is not; set both, or neither');
    try {
      const nc = await connect({ servers: [...servers], name: 'cellkv-admin', timeout: timeoutMs, maxReconnectAttempts: 3, ...(user !== undefined ? { user, pass } : {}) });
      return new AdminClient(nc, true, timeoutMs);
    } catch (e) {
      throw new AdminError('UNAVAILABLE', `cannot connect to NATS at ${servers.join(',')}: ${(e as Error).message}; is the cluster running (npm start)?`);
    }
  }

  static over(nc: NatsConnection, timeoutMs = 2000): AdminClient {
    return new AdminClient(nc, false, timeoutMs);
  }

  async close(): Promise<void> {
    if (this.owned) await this.nc.close().catch(() => undefined);
  }

  private async requestJson(subject: string, body: unknown, timeoutMs = this.timeoutMs): Promise<Record<string, unknown>> {
    let data: Uint8Array;
    try {
      const m = await this.nc.request(subject, body === null ? new Uint8Array(0) : enc.encode(JSON.stringify(body)), { timeout: timeoutMs });
      data = m.data;
    } catch (e) {
      const msg = (e as Error).message;
      const noResponders = /no responders/i.test(msg) || /no responders/i.test(String((e as { cause?: unknown }).cause ?? ''));
      throw new AdminError('UNAVAILABLE', noResponders ? `nothing answers ${subject}` : `${subject}: ${msg}`);
    }
    try {
      return JSON.parse(dec.decode(data)) as Record<string, unknown>;
    } catch {
      throw new AdminError('INTERNAL', `${subject} answered with something that is not JSON`);
    }
  }

  /** One admin request to a node: its JSON answer, ok or not (throws only when nothing answered). */
  adminRequest(node: string, body: Record<string, unknown>, timeoutMs: number): Promise<Record<string, unknown>> {
    return this.requestJson(`cellkv.admin.${node}`, body, timeoutMs);
  }

  /** The directory as served by any node. */
  async directory(): Promise<DirectoryView> {
    const d = await this.requestJson('cellkv.dir', null);
    if (!Array.isArray(d['cells'])) throw new AdminError('INTERNAL', 'cellkv.dir answered without cells');
    return d as unknown as DirectoryView;
  }

  /** Polls the directory until it lists cells and every cell (and meta) has a leader. */
  async waitForLeaders(timeoutMs: number): Promise<DirectoryView> {
    const deadline = Date.now() + timeoutMs;
    let last = 'no directory yet';
    while (Date.now() < deadline) {
      try {
        const d = await this.directory();
        const missing = [META_CELL, ...d.cells.map((c) => c.id)].filter((c) => !d.leaders[c]);
        if (d.cells.length > 0 && missing.length === 0) return d;
        last = d.cells.length === 0 ? 'directory not initialized yet' : `no leader yet for ${missing.join(', ')}`;
      } catch (e) {
        last = (e as Error).message;
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new AdminError('UNAVAILABLE', `cluster not ready within ${timeoutMs / 1000}s: ${last}`);
  }

  /**
   * Splits a data cell at a namespaced key on the cell's leader (admin op 'split'). The leader
   * comes from the directory; a NOT_LEADER answer is followed once, to the leader that node
   * names (its own status) or else to the one a fresh directory names.
   */
  async splitCell(cell: string, at: SplitPoint, timeoutMs = 10_000): Promise<SplitResult> {
    const d = await this.directory();
    if (cell === META_CELL) throw new AdminError('INVALID_ARGUMENT', 'the meta cell holds the directory and cannot be split; split a data cell');
    const desc = d.cells.find((c) => c.id === cell);
    if (!desc) {
      const known = d.cells.map((c) => c.id).join(', ') || 'none';
      throw new AdminError('NOT_FOUND', `cell ${cell} is not in the directory (data cells: ${known}); see \`npx cellkv cells list\``);
    }
    const body = { op: 'split', cell, ...('splitKey' in at ? { splitKey: at.splitKey } : { tenant: at.tenant, key: at.key }) };
    let leader: string | undefined = d.leaders[cell];
    for (let attempt = 0; ; attempt++) {
      const node = leader;
      if (!node) throw new AdminError('UNAVAILABLE', `no leader known for cell ${cell}; retry in a moment or check \`npx cellkv status\``);
      const r = await this.adminRequest(node, body, timeoutMs).catch((e: unknown) => {
        const why = e instanceof AdminError ? e.detail : (e as Error).message;
        if (why.startsWith('nothing answers')) throw new AdminError('UNAVAILABLE', `node ${node}, the leader of cell ${cell} per the directory, does not answer; retry in a moment or check \`npx cellkv status\``);
        // Not retried: the split may have been proposed; a repeat at the same key would be refused anyway.
        throw new AdminError('UNAVAILABLE', `split request to node ${node} failed (${why}); the split may still have happened: check \`npx cellkv cells list\` before retrying`);
      });
      if (r['ok'] === true) return { cell, left: String(r['left']), right: String(r['right']), index: Number(r['index']) };
      const code = String(r['code'] ?? 'INTERNAL');
      const message = String(r['message'] ?? 'split failed');
      if (code !== 'NOT_LEADER') throw new AdminError(code, message);
      if (attempt > 0) throw new AdminError(code, `${message}; leadership of cell ${cell} is moving: retry in a moment or check \`npx cellkv status\``);
      leader = await this.leaderAfterNotLeader(cell, node);
    }
  }

  /**
   * Merges `right` into its left neighbour `left`, run by a node hosting both (the left cell's
   * leader when it hosts the right one too). Resolves once the merge committed.
   */
  async mergeCells(left: string, right: string, timeoutMs = 40_000): Promise<MergeCellsResult> {
    const d = await this.directory();
    if (left === META_CELL || right === META_CELL) throw new AdminError('INVALID_ARGUMENT', 'the meta cell holds the directory and cannot be merged; merge two data cells');
    const l = d.cells.find((c) => c.id === left);
    const r = d.cells.find((c) => c.id === right);
    const known = d.cells.map((c) => c.id).join(', ') || 'none';
    for (const [id, c] of [[left, l], [right, r]] as const) {
      if (!c) throw new AdminError('NOT_FOUND', `cell ${id} is not in the directory (data cells: ${known}); see \`npx cellkv cells list\``);
    }
    if (l!.end !== r!.start) throw new AdminError('INVALID_ARGUMENT', `cell ${right} does not start where ${left} ends (merge the right neighbour into the left one); see \`npx cellkv cells list\``);
    const both = l!.replicas.map((x) => x.node).filter((n) => r!.replicas.some((y) => y.node === n));
    if (both.length === 0) throw new AdminError('INVALID_ARGUMENT', `cells ${left} and ${right} share no node; move replicas so both are on the same nodes first`);
    const leader = d.leaders[left];
    const node = leader !== undefined && both.includes(leader) ? leader : both[0]!;
    const res = await this.adminRequest(node, { op: 'merge', left, right }, timeoutMs).catch((e: unknown) => {
      const why = e instanceof AdminError ? e.detail : (e as Error).message;
      throw new AdminError('UNAVAILABLE', `merge request to node ${node} failed (${why}); the merge may still finish: check \`npx cellkv cells list\` before retrying`);
    });
    if (res['ok'] !== true) throw new AdminError(String(res['code'] ?? 'INTERNAL'), String(res['message'] ?? 'merge failed'));
    return { cell: String(res['cell']), absorbed: String(res['absorbed']), freezeIndex: Number(res['freezeIndex']), commitIndex: Number(res['commitIndex']), epoch: Number(res['epoch']), node };
  }

  /** Who leads `cell` now: per the node that just said NOT_LEADER, else per a fresh directory. */
  private async leaderAfterNotLeader(cell: string, notLeader: string): Promise<string | undefined> {
    const named = await this.nodeStatus(notLeader)
      .then((s) => s.cells.find((c) => c.cell === cell)?.leader ?? null)
      .catch(() => null);
    if (named && named !== notLeader) return named;
    await new Promise((r) => setTimeout(r, 300));
    const fresh = (await this.directory().catch(() => null))?.leaders[cell];
    return fresh && fresh !== notLeader ? fresh : undefined;
  }

  async nodeStatus(nodeId: string, timeoutMs = 1000): Promise<NodeStatus> {
    const r = await this.requestJson(`cellkv.admin.${nodeId}`, { op: 'status' }, timeoutMs);
    if (r['ok'] !== true) throw new AdminError(String(r['code'] ?? 'INTERNAL'), String(r['message'] ?? 'status failed'));
    return r as unknown as NodeStatus;
  }

  /** Every directory node's status, asked at once; null for a node that does not answer. */
  async nodeStatuses(d: DirectoryView): Promise<Map<string, NodeStatus | null>> {
    const statuses = new Map<string, NodeStatus | null>();
    await Promise.all(d.nodes.map(async (n) => statuses.set(n.id, await this.nodeStatus(n.id).catch(() => null))));
    return statuses;
  }

  /** Tenant records as the given node's meta replica sees them (prefer the meta leader). */
  async tenants(nodeId: string): Promise<TenantRecord[]> {
    const r = await this.requestJson(`cellkv.admin.${nodeId}`, { op: 'tenants' });
    if (r['ok'] !== true) throw new AdminError(String(r['code'] ?? 'INTERNAL'), String(r['message'] ?? 'tenants failed'));
    return (r['tenants'] as TenantRecord[]) ?? [];
  }

  /** Tenants from the meta leader (fresh), falling back to any node that answers. */
  async listTenants(): Promise<TenantRecord[]> {
    const d = await this.directory();
    const order = [d.leaders[META_CELL], ...d.nodes.map((n) => n.id)].filter((x): x is string => !!x);
    let last: unknown = null;
    for (const id of new Set(order)) {
      try {
        return await this.tenants(id);
      } catch (e) {
        last = e;
      }
    }
    throw last instanceof AdminError ? last : new AdminError('UNAVAILABLE', 'no node answered the tenants request');
  }

  /** Proposes a meta command on the meta leader, following leadership changes for a few seconds. */
  async metaCommand(cmd: Record<string, unknown>, timeoutMs = 8000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let last = 'no meta leader known';
    while (Date.now() < deadline) {
      const d = await this.directory().catch(() => null);
      const leader = d?.leaders[META_CELL];
      if (leader) {
        const r = await this.requestJson(`cellkv.admin.${leader}`, { op: 'meta', json: JSON.stringify(cmd) }, 6000).catch((e: unknown) => ({ ok: false, code: 'UNAVAILABLE', message: (e as Error).message }));
        if (r['ok'] === true) return;
        const code = String(r['code'] ?? 'INTERNAL');
        last = String(r['message'] ?? code);
        if (code !== 'NOT_LEADER' && code !== 'UNAVAILABLE' && code !== 'OVERLOADED') throw new AdminError(code, last);
      }
      await new Promise((r) => setTimeout(r, 200));
    }
    throw new AdminError('UNAVAILABLE', `meta command not accepted within ${timeoutMs / 1000}s: ${last}`);
  }

  async putTenant(t: TenantRecord): Promise<void> {
    if (!TENANT_RE.test(t.id)) throw new AdminError('INVALID_ARGUMENT', `tenant "${t.id}" must match ${TENANT_RE.source}`);
    for (const [k, v] of Object.entries(t)) {
      if (k !== 'id' && v !== undefined && (!Number.isInteger(v) || (v as number) <= 0)) throw new AdminError('INVALID_ARGUMENT', `${k} must be a positive whole number`);
    }
    await this.metaCommand({ op: 'putTenant', tenant: t });
  }

  async deleteTenant(id: string): Promise<void> {
    await this.metaCommand({ op: 'deleteTenant', id });
  }

  /** One tenant's record, or NOT_FOUND. */
  async getTenant(id: string): Promise<TenantRecord> {
    if (!TENANT_RE.test(id)) throw new AdminError('INVALID_ARGUMENT', `tenant "${id}" must match ${TENANT_RE.source}`);
    const t = (await this.listTenants()).find((x) => x.id === id);
    if (!t) throw new AdminError('NOT_FOUND', `tenant ${id} has no record (it is unlimited, or under the gateways' default quota)`);
    return t;
  }

  /**
   * A tenant's usage (keys, key+value bytes) summed over the data cells, each asked of its
   * leader the way gateways do (gateway/admin-link.ts).
   */
  async tenantUsage(id: string): Promise<{ tenant: string; keys: number; bytes: number; cells: number; cellsAnswered: number }> {
    if (!TENANT_RE.test(id)) throw new AdminError('INVALID_ARGUMENT', `tenant "${id}" must match ${TENANT_RE.source}`);
    const link = new AdminLink({ connection: () => this.nc, directory: () => this.directory() }, this.timeoutMs);
    try {
      const totals = await link.usage([id]);
      const u = totals.usage.get(id) ?? { keys: 0, bytes: 0 };
      if (totals.answered < totals.cells) throw new AdminError('UNAVAILABLE', `only ${totals.answered} of ${totals.cells} cells reported usage; retry`);
      return { tenant: id, keys: u.keys, bytes: u.bytes, cells: totals.cells, cellsAnswered: totals.answered };
    } catch (e) {
      throw e instanceof KvError ? new AdminError(e.code, e.message) : e;
    }
  }
}
