// Shared pieces of the backup tests: the real CLI as a child process, per-cell digests from the
// nodes' own `digest` admin op, and bulk writes through the cell client.

import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { CellCluster } from '../../support/cell-cluster.js';
import type { CellOp } from '../../../shared/cell-protocol.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
/** The `cellkv` bin (cli/bin.mjs), for tests that drive the process themselves. */
export const CLI_BIN = `${ROOT}cli/bin.mjs`;
export const enc = (s: string) => new TextEncoder().encode(s);
export const dec = (b: Uint8Array | null | undefined) => (b ? new TextDecoder().decode(b) : null);

export interface CliResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** `npx cellkv ARGS` (through cli/bin.mjs), bounded in time. */
export function cellkv(args: string[], timeoutMs = 180_000): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [CLI_BIN, ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, CI: '1' } });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    p.stderr.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-50_000)));
    const t = setTimeout(() => p.kill('SIGKILL'), timeoutMs);
    p.once('error', reject);
    p.once('exit', (code) => {
      clearTimeout(t);
      resolve({ code, stdout, stderr });
    });
  });
}

export async function admin(c: CellCluster, node: string, body: Record<string, unknown>): Promise<Record<string, unknown>> {
  const m = await c.nc.request(`cellkv.admin.${node}`, enc(JSON.stringify(body)), { timeout: 10_000 });
  return JSON.parse(new TextDecoder().decode(m.data)) as Record<string, unknown>;
}

/** Waits until every replica applied what the leader committed, then the leader's digest per cell. */
export async function settledDigests(c: CellCluster, cells: readonly string[]): Promise<Map<string, { digest: string; applied: number; keys: number }>> {
  const out = new Map<string, { digest: string; applied: number; keys: number }>();
  for (const cell of cells) {
    const leader = await c.leaderOf(cell);
    const deadline = Date.now() + 20_000;
    for (;;) {
      const commit = (await c.status(leader)).cells.find((x) => x.cell === cell)!.commit;
      const ds = await Promise.all(c.nodes.filter((n) => n.proc).map((n) => admin(c, n.id, { op: 'digest', cell })));
      if (ds.every((d) => d['ok'] === true && Number(d['applied']) >= commit) && new Set(ds.map((d) => d['digest'])).size === 1) {
        out.set(cell, { digest: String(ds[0]!['digest']), applied: Number(ds[0]!['applied']), keys: Number(ds[0]!['keys']) });
        break;
      }
      if (Date.now() > deadline) throw new Error(`replicas of ${cell} did not converge: ${JSON.stringify(ds)}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  return out;
}

/** Puts keys in requests of `perRequest` ops, `lanes` requests in flight; returns the max index. */
export async function bulkPut(c: CellCluster, tenant: string, keys: readonly string[], value: (k: string) => string, o: { ttlMs?: number; perRequest?: number; lanes?: number } = {}): Promise<number> {
  const per = o.perRequest ?? 100;
  let next = 0;
  let maxIndex = 0;
  const lane = async () => {
    while (next < keys.length) {
      const slice = keys.slice(next, next + per);
      next += per;
      const ops: CellOp[] = slice.map((k) => ({ op: 'put', key: enc(k), value: enc(value(k)), ttlMs: o.ttlMs ?? null, ifVersion: null, ifAbsent: false, attrs: null }));
      const r = await c.client.request(tenant, ops);
      if (r.status !== 'ok' || r.results.some((x) => x.status !== 'ok')) throw new Error(`bulk put failed: ${r.code} ${r.message}`);
      maxIndex = Math.max(maxIndex, Number(r.index));
    }
  };
  await Promise.all(Array.from({ length: o.lanes ?? 4 }, lane));
  return maxIndex;
}

export async function bulkDelete(c: CellCluster, tenant: string, keys: readonly string[]): Promise<void> {
  for (let i = 0; i < keys.length; i += 100) {
    const ops: CellOp[] = keys.slice(i, i + 100).map((k) => ({ op: 'delete', key: enc(k), ifVersion: null }));
    const r = await c.client.request(tenant, ops);
    if (r.status !== 'ok') throw new Error(`bulk delete failed: ${r.code} ${r.message}`);
  }
}

export async function getValue(c: CellCluster, tenant: string, key: string): Promise<{ value: string | null; expiresAt: number | null }> {
  const r = (await c.client.get(tenant, enc(key))).result;
  if (r.status !== 'ok') throw new Error(`get ${key}: ${r.code}`);
  return { value: r.found ? dec(r.value) : null, expiresAt: r.found ? r.meta!.expiresAt : null };
}
