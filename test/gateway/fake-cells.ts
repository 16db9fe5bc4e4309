// An in-memory stand-in for the cell tier with several cells, for unit tests of the gateway
// core and HTTP layer: multi-cell batches and scans (the real cluster has one data cell), and
// failure injection (NOT_LEADER leaks, hangs, outcome-unknown).

import type { CellOp, CellRequest, CellResponse, KeyMeta, OpResult, ScanItem } from '../../shared/cell-protocol.js';
import type { RequestOptions } from '../../shared/cell-client.js';
import { cellForKey, hexOf, type DirectoryView } from '../../shared/directory.js';
import { KvError } from '../../shared/errors.js';
import { compareBytes, namespacedKey, tenantRangeEnd } from '../../shared/keys.js';
import type { CellAccess, CellPort } from '../../gateway/ports.js';

export interface FakeCall {
  readonly cellId: string;
  readonly ops: readonly CellOp[];
  readonly opts: RequestOptions;
  readonly scan: CellRequest['scan'];
}

/** A failure to inject for a call, or null to serve it. */
export type Fault = KvError | 'hang' | null;

export class FakeCells implements CellAccess {
  readonly calls: FakeCall[] = [];
  readonly data = new Map<string, { tenant: string; key: Uint8Array; value: Uint8Array; meta: KeyMeta }>();
  fault: (call: FakeCall) => Fault = () => null;
  private index = 10n;
  private readonly hung: (() => void)[] = [];

  /** Cells split at the given namespaced keys: c1 [.., s1), c2 [s1, s2), ... */
  constructor(readonly splits: readonly Uint8Array[]) {}

  get dir(): DirectoryView {
    const bounds = ['', ...this.splits.map(hexOf)];
    const cells = bounds.map((start, i) => ({
      id: `c${i + 1}`,
      start,
      end: bounds[i + 1] ?? null,
      epoch: 1,
      replicas: [{ node: 'n1', az: 'az1', role: 'voter' as const }],
    }));
    return { cells, nodes: [{ id: 'n1', az: 'az1', lastHeartbeatMs: Date.now() }], leaders: Object.fromEntries(cells.map((c) => [c.id, 'n1'])), servedBy: 'n1' };
  }

  maxRequestBytes(): number {
    return 8 * 1024 * 1024;
  }

  /** Resolves every hung call with UNAVAILABLE (so tests can finish). */
  releaseHung(): void {
    for (const r of this.hung.splice(0)) r();
  }

  port(): CellPort {
    return {
      directory: async () => this.dir,
      request: (tenant, ops, opts = {}, scan = null, scanKey) => this.request(tenant, ops, opts, scan, scanKey),
    };
  }

  private async request(tenant: string, ops: CellOp[], opts: RequestOptions, scan: CellRequest['scan'], scanKey?: Uint8Array): Promise<CellResponse> {
    const route = scanKey ?? ops[0]!.key;
    const cell = cellForKey(this.dir, namespacedKey(tenant, route))!;
    const call: FakeCall = { cellId: cell.id, ops, opts, scan };
    this.calls.push(call);
    const fault = this.fault(call);
    if (fault === 'hang') return new Promise((_, reject) => this.hung.push(() => reject(new KvError('UNAVAILABLE', 'released'))));
    if (fault) throw fault;
    for (const op of ops) {
      const c = cellForKey(this.dir, namespacedKey(tenant, op.key));
      if (c?.id !== cell.id) throw new KvError('WRONG_RANGE', 'key outside the cell');
    }
    const index = ++this.index;
    const base: CellResponse = { status: 'ok', code: null, message: '', leaderHint: '', results: [], scanItems: [], scanResumeKey: null, index, staleAgeMs: 0 };
    if (scan) return { ...base, ...this.scan(tenant, cell.start, cell.end, scan) };
    return { ...base, results: ops.map((op, i) => this.apply(tenant, op, index, i)) };
  }

  private apply(tenant: string, op: CellOp, index: bigint, pos: number): OpResult {
    const id = hexOf(namespacedKey(tenant, op.key));
    const cur = this.data.get(id) ?? null;
    if (op.op === 'get') return cur ? { status: 'ok', found: true, value: cur.value, meta: cur.meta } : { status: 'ok', found: false, value: null, meta: null };
    if (op.ifVersion !== null && cur?.meta.version !== op.ifVersion) {
      return { status: 'error', code: 'VERSION_MISMATCH', message: 'version does not match', currentVersion: cur?.meta.version ?? null };
    }
    if (op.op === 'delete') {
      this.data.delete(id);
      return { status: 'ok', found: cur !== null, value: null, meta: cur?.meta ?? null };
    }
    if (op.ifAbsent && cur) return { status: 'error', code: 'ALREADY_EXISTS', message: 'exists', currentVersion: cur.meta.version };
    const meta: KeyMeta = { version: (index << 16n) | BigInt(pos), createdAt: 1, updatedAt: 1, expiresAt: null, attrs: op.attrs ?? {} };
    this.data.set(id, { tenant, key: op.key, value: op.value, meta });
    return { status: 'ok', found: cur !== null, value: null, meta };
  }

  private scan(tenant: string, cellStart: string, cellEnd: string | null, s: NonNullable<CellRequest['scan']>): Partial<CellResponse> {
    const lo = namespacedKey(tenant, s.start);
    const hi = s.end ? namespacedKey(tenant, s.end) : tenantRangeEnd(tenant);
    const rows = [...this.data.entries()]
      .filter(([hex]) => hex >= cellStart && (cellEnd === null || hex < cellEnd))
      .map(([, v]) => v)
      .filter((v) => {
        const ns = namespacedKey(tenant, v.key);
        return v.tenant === tenant && compareBytes(ns, lo) >= 0 && compareBytes(ns, hi) < 0;
      })
      .sort((a, b) => compareBytes(a.key, b.key));
    const items: ScanItem[] = rows.slice(0, s.limit).map((r) => ({ key: r.key, value: s.keysOnly ? null : r.value, meta: r.meta }));
    return { scanItems: items, scanResumeKey: rows.length > s.limit ? rows[s.limit]!.key : null };
  }
}
