// Plain-text rendering for the admin CLI: aligned tables, key ranges, ages, bytes.

import { bytesOfHex, NODE_LIVENESS_MS, type DirectoryView } from '../shared/directory.js';
import { splitNamespacedKey } from '../shared/keys.js';
import { TENANT_RE, type NodeStatus } from './admin.js';

export function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [line(header), ...rows.map(line)].join('\n');
}

/** Bytes for a terminal: printable ASCII as is, everything else as \xHH. */
export function printable(b: Uint8Array): string {
  let s = '';
  for (const x of b) s += x >= 0x20 && x < 0x7f && x !== 0x5c ? String.fromCharCode(x) : `\\x${x.toString(16).padStart(2, '0')}`;
  return s;
}

/** A range bound (hex of a namespaced key) as `tenant:key`; '' is the start of everything. */
export function bound(hex: string | null, isEnd: boolean): string {
  if (hex === null) return '+∞';
  if (hex === '' && !isEnd) return '-∞';
  const split = splitNamespacedKey(bytesOfHex(hex));
  return split ? `${split.tenant}:${printable(split.key)}` : `0x${hex}`;
}

export function ago(ms: number, now = Date.now()): string {
  if (!ms) return 'never';
  const s = Math.max(0, (now - ms) / 1000);
  return s < 60 ? `${s.toFixed(1)}s ago` : s < 3600 ? `${Math.round(s / 60)}m ago` : `${Math.round(s / 3600)}h ago`;
}

export interface StatusReport {
  readonly directory: DirectoryView;
  readonly nodes: Readonly<Record<string, NodeStatus | { readonly error: string }>>;
}

/** The `cellkv status` text: nodes with liveness, then one row per replica of each cell. */
export function renderStatus(r: StatusReport, now = Date.now()): string {
  const d = r.directory;
  const nodeRows = d.nodes.map((n) => {
    const st = r.nodes[n.id];
    const live = n.lastHeartbeatMs > 0 && now - n.lastHeartbeatMs < NODE_LIVENESS_MS;
    const answers = !st ? '-' : 'error' in st ? `no (${st.error})` : `yes, ${st.cells.length} replica(s)`;
    return [n.id, n.az, live ? 'live' : 'DOWN', ago(n.lastHeartbeatMs, now), answers];
  });
  const cellIds = ['meta', ...d.cells.map((c) => c.id)];
  const cellRows: string[][] = [];
  for (const id of cellIds) {
    const desc = d.cells.find((c) => c.id === id);
    // The meta cell has no descriptor: its replicas are the nodes reporting one (all, if none answered).
    const metaHosts = d.nodes.filter((n) => {
      const st = r.nodes[n.id];
      return st !== undefined && !('error' in st) && st.cells.some((c) => c.cell === id);
    });
    const hosts = metaHosts.length > 0 ? metaHosts : d.nodes;
    const replicas = desc ? desc.replicas.map((x) => ({ node: x.node, az: x.az, kind: x.role })) : hosts.map((n) => ({ node: n.id, az: n.az, kind: 'voter' as const }));
    replicas.forEach((rep, i) => {
      const st = r.nodes[rep.node];
      const reachable = st !== undefined && !('error' in st);
      const cs = reachable ? st.cells.find((c) => c.cell === id) : undefined;
      const first = i === 0;
      const range = desc ? `[${bound(desc.start, false)}, ${bound(desc.end, true)})` : '(directory)';
      cellRows.push([
        first ? id : '',
        first ? range : '',
        first ? String(desc?.epoch ?? cs?.epoch ?? '-') : '',
        first ? (d.leaders[id] ?? 'NONE') : '',
        rep.node,
        rep.az,
        cs ? cs.role : reachable ? 'missing' : 'unreachable',
        cs ? String(cs.term) : '-',
        cs ? String(cs.commit) : '-',
        cs ? String(cs.applied) : '-',
      ]);
    });
  }
  return [
    `directory served by ${d.servedBy}`,
    '',
    'NODES',
    table(['NODE', 'AZ', 'LIVENESS', 'LAST HEARTBEAT', 'ANSWERS ADMIN'], nodeRows),
    '',
    'CELLS',
    table(['CELL', 'RANGE', 'EPOCH', 'LEADER', 'REPLICA', 'AZ', 'ROLE', 'TERM', 'COMMIT', 'APPLIED'], cellRows),
  ].join('\n');
}

/**
 * A range bound (hex of a namespaced key) as `tenant:key` when both parts are printable
 * (a tenant name, a key of printable ASCII; `tenant:` is the start of the tenant's keys), else null.
 */
export function readableBound(hex: string | null): string | null {
  if (hex === null || hex === '') return null;
  const split = splitNamespacedKey(bytesOfHex(hex));
  if (!split || !TENANT_RE.test(split.tenant) || !split.key.every((x) => x >= 0x20 && x < 0x7f)) return null;
  return `${split.tenant}:${new TextDecoder().decode(split.key)}`;
}

/** One row of `cellkv cells list` (also its --json form). */
export interface CellRow {
  readonly id: string;
  /** Hex of the namespaced start key ('' = the beginning); null for the meta cell. */
  readonly start: string | null;
  /** Hex of the exclusive end key (null = unbounded, or the meta cell). */
  readonly end: string | null;
  readonly readable: { readonly start: string | null; readonly end: string | null };
  readonly epoch: number | null;
  readonly replicas: readonly { readonly node: string; readonly az: string; readonly role: string }[];
  readonly leader: string | null;
}

/** The directory's cells in key order, then the meta cell (replicated on every node). */
export function cellRows(d: DirectoryView): CellRow[] {
  const data = [...d.cells]
    .sort((a, b) => (a.start < b.start ? -1 : a.start > b.start ? 1 : 0))
    .map((c) => ({ id: c.id, start: c.start, end: c.end, readable: { start: readableBound(c.start), end: readableBound(c.end) }, epoch: c.epoch, replicas: c.replicas, leader: d.leaders[c.id] ?? null }));
  const meta = { id: 'meta', start: null, end: null, readable: { start: null, end: null }, epoch: null, replicas: d.nodes.map((n) => ({ node: n.id, az: n.az, role: 'voter' })), leader: d.leaders['meta'] ?? null };
  return [...data, meta];
}

/** The `cellkv cells list` text: hex bounds, a readable form where there is one, epoch, replicas, leader. */
export function renderCells(rows: readonly CellRow[], servedBy: string): string {
  const isMeta = (r: CellRow) => r.start === null;
  const hexBound = (h: string | null, isEnd: boolean) => (h === null ? '+∞' : h === '' && !isEnd ? '-∞' : `0x${h}`);
  // Unbounded ends read as ±∞; a range with neither end readable gets no readable form.
  const start = (r: CellRow) => (r.start === '' ? '-∞' : r.readable.start);
  const end = (r: CellRow) => (r.end === null ? '+∞' : r.readable.end);
  const readable = (r: CellRow) => (start(r) === null && end(r) === null ? '' : `[${start(r) ?? hexBound(r.start, false)}, ${end(r) ?? hexBound(r.end, true)})`);
  const body = rows.map((r) => [
    r.id,
    isMeta(r) ? '(directory)' : hexBound(r.start, false),
    isMeta(r) ? '' : hexBound(r.end, true),
    isMeta(r) ? '' : readable(r),
    r.epoch === null ? '-' : String(r.epoch),
    r.replicas.map((x) => `${x.node}/${x.az}${x.role === 'voter' ? '' : ` (${x.role})`}`).join(','),
    r.leader ?? 'NONE',
  ]);
  return [`directory served by ${servedBy}`, '', table(['CELL', 'START', 'END', 'KEYS', 'EPOCH', 'REPLICAS', 'LEADER'], body)].join('\n');
}
