// Checks after the heal: liveness (a write succeeds on every data cell, bounded), replicas
// identical (the cell's members as its nodes report them at the end: same applied index, same
// digest, same value for every key read `stale` from each; a removed replica destroyed), per-key linearizability of the whole history, no acknowledged write lost, and
// versions strictly increasing per key in real-time order.

import type { NatsConnection } from '@nats-io/transport-node';
import type { CellRequest } from '../shared/cell-protocol.js';
import { CellClient } from '../shared/cell-client.js';
import { decodeCellResponse, encodeCellRequest } from '../shared/codec/index.js';
import { META_CELL_ID, type CellDescriptor } from '../shared/directory.js';
import { checkCellkvHistory, formatDetails, type CheckResult, type HistoryRecord } from '../shared/lincheck/index.js';
import { cellView, type CellView } from './cell-view.js';
import { sleep, type ChaosCluster } from './cluster.js';
import { CellDriver } from './drivers.js';
import type { History } from './workload.js';

export interface CheckOutcome {
  readonly name: string;
  readonly ok: boolean;
  readonly details: string[];
}

const enc = (s: string) => new TextEncoder().encode(s);

async function dataCells(client: CellClient): Promise<CellDescriptor[]> {
  const dir = await client.directory(true);
  return dir.cells.filter((c) => c.id !== META_CELL_ID);
}

/** A write succeeds on every data cell within the bound (keys under the chaos tenant). */
export async function checkLiveness(nc: NatsConnection, tenant: string, boundMs: number): Promise<CheckOutcome> {
  const client = new CellClient(nc, { attemptTimeoutMs: 1000, maxAttempts: 5 });
  const details: string[] = [];
  const start = Date.now();
  let cells: CellDescriptor[] = [];
  while (cells.length === 0 && Date.now() - start < boundMs) cells = await dataCells(client).catch(() => []);
  if (cells.length === 0) return { name: 'liveness', ok: false, details: ['no directory within the bound'] };
  let ok = true;
  for (const cell of cells) {
    // One data cell today; a key in this tenant routed to each cell is enough while the
    // tenant is inside one cell's range.
    let done = false;
    let last = '';
    while (!done && Date.now() - start < boundMs) {
      try {
        const r = await client.put(tenant, enc(`__liveness__/${cell.id}`), enc(`final-${Date.now()}`));
        done = r.result.status === 'ok';
        if (!done) last = 'refused';
      } catch (e) {
        last = (e as Error).message;
        await sleep(200);
      }
    }
    details.push(done ? `cell ${cell.id}: write ok after ${Date.now() - start} ms` : `cell ${cell.id}: no write within ${boundMs} ms (${last})`);
    ok &&= done;
  }
  return { name: 'liveness', ok, details };
}

/** Final linearizable read of every key, recorded in the history; returns the last values. */
export async function finalReads(nc: NatsConnection, tenant: string, keys: readonly string[], history: History, boundMs: number): Promise<Map<string, HistoryRecord>> {
  const d = new CellDriver('final', nc, tenant, { attemptTimeoutMs: 1000, maxAttempts: 5 });
  const out = new Map<string, HistoryRecord>();
  const start = Date.now();
  for (const key of keys) {
    while (Date.now() - start < boundMs) {
      const client = history.newClient();
      const id = history.begin({ client, key, op: 'get' });
      const rec = history.end(id, await d.get(key));
      if (rec.outcome === 'ok') {
        out.set(key, rec);
        break;
      }
    }
  }
  return out;
}

async function staleGet(nc: NatsConnection, node: string, cell: CellDescriptor, tenant: string, key: string): Promise<string> {
  const req: CellRequest = {
    cellId: cell.id, epoch: cell.epoch, requestId: `chaos-stale-${node}-${key}`, tenant, consistency: 'stale',
    sessionIndex: 0n, maxStalenessMs: 0, atomic: false, ops: [{ op: 'get', key: enc(key) }], scan: null, traceparent: '',
  };
  const m = await nc.request(`cellkv.node.${node}`, encodeCellRequest(req), { timeout: 2000 });
  const resp = decodeCellResponse(m.data);
  const r = resp.results[0];
  if (resp.status !== 'ok' || !r || r.status !== 'ok') return `error ${resp.code ?? ''}`;
  return r.found && r.meta ? `${new TextDecoder().decode(r.value ?? new Uint8Array())}@${r.meta.version}` : 'absent';
}

interface Digest {
  readonly ok: boolean;
  readonly applied?: number;
  readonly digest?: string;
  readonly keys?: number;
  readonly message?: string;
}

/**
 * Every replica (the cell's members at the end, once its membership is not joint): same applied
 * index as the others, then same digest and same values. A node still hosting the cell outside
 * its members must drop it within the bound when it still counts itself a member (the removal
 * check collects those); an empty replica a failed move prepared is only reported.
 */
export async function checkReplicas(cluster: ChaosCluster, nc: NatsConnection, tenant: string, keys: readonly string[], boundMs: number): Promise<CheckOutcome> {
  const details: string[] = [];
  const client = new CellClient(nc, { attemptTimeoutMs: 1000, maxAttempts: 5 });
  const cells = await dataCells(client).catch(() => []);
  if (cells.length === 0) return { name: 'replicas identical', ok: false, details: ['no directory'] };
  let ok = true;
  for (const cell of cells) {
    const start = Date.now();
    let agreed: { applied: number; digests: Map<string, string>; view: CellView } | null = null;
    let lastView = '';
    while (!agreed && Date.now() - start < boundMs) {
      const view = await cellView(cluster, cell.id, 1500);
      const members = view?.members ?? [];
      const sts = members.map((id) => view!.reports.get(id) ?? null);
      lastView = `${view?.joint ? 'joint; ' : ''}${members.map((id, i) => `${id}: applied ${sts[i]?.applied ?? '?'} commit ${sts[i]?.commit ?? '?'}`).join(', ')}`;
      const applied = sts.map((s) => s?.applied ?? -1);
      if (!view?.leader || view.joint || members.length === 0 || applied.some((a) => a < 0) || new Set(applied).size !== 1 || sts.some((s) => s!.commit !== s!.applied)) {
        await sleep(200);
        continue;
      }
      const digests = new Map<string, string>();
      const ds = await Promise.all(
        members.map((id) => cluster.adminRequest<Digest>(id, { op: 'digest', cell: cell.id }, 5000).catch((e: Error): Digest => ({ ok: false, message: e.message }))),
      );
      if (ds.every((d) => d.ok && d.applied === applied[0])) {
        members.forEach((id, i) => digests.set(id, `${ds[i]!.digest} (${ds[i]!.keys} keys)`));
        agreed = { applied: applied[0]!, digests, view };
      } else {
        await sleep(200);
      }
    }
    if (!agreed) {
      ok = false;
      details.push(`cell ${cell.id}: replicas did not reach one applied index within ${boundMs} ms (${lastView})`);
      continue;
    }
    const distinct = new Set(agreed.digests.values());
    const members = agreed.view.members;
    details.push(`cell ${cell.id}: ${agreed.view.voters.join(',')}${agreed.view.learners.length ? ` (learners ${agreed.view.learners.join(',')})` : ''} all at applied ${agreed.applied}; digests ${distinct.size === 1 ? 'equal' : 'DIFFER'}: ${[...agreed.digests].map(([n, d]) => `${n}=${d.slice(0, 16)}…`).join(' ')}`);
    if (distinct.size !== 1) ok = false;
    // Value by value too, so a difference names the key.
    for (const key of keys) {
      const views = await Promise.all(members.map((id) => staleGet(nc, id, cell, tenant, key).catch((e: Error) => `error ${e.message}`)));
      if (new Set(views).size !== 1) {
        ok = false;
        details.push(`key ${key}: ${members.map((id, i) => `${id}=${views[i]}`).join(' ')}`);
      }
    }
    const left = await removedReplicasGone(cluster, cell.id, members, Math.max(0, boundMs - (Date.now() - start)));
    details.push(...left.details);
    ok &&= left.ok;
  }
  return { name: 'replicas identical', ok, details };
}

/** Waits (bounded) until no node outside `members` hosts a replica of the cell that counts itself a member. */
async function removedReplicasGone(cluster: ChaosCluster, cell: string, members: readonly string[], boundMs: number): Promise<{ ok: boolean; details: string[] }> {
  const start = Date.now();
  for (;;) {
    const view = await cellView(cluster, cell, 1500);
    const extra = (view?.hosts ?? []).filter((id) => !members.includes(id));
    const selfMember = extra.filter((id) => {
      const conf = view!.reports.get(id)?.confState;
      return !conf || [...conf.voters, ...conf.votersOutgoing, ...conf.learners, ...conf.learnersNext].includes(id);
    });
    if (selfMember.length === 0 || Date.now() - start >= boundMs) {
      const details: string[] = [];
      if (selfMember.length > 0) details.push(`cell ${cell}: removed replica(s) on ${selfMember.join(',')} still count themselves members after ${Date.now() - start} ms`);
      const empty = extra.filter((id) => !selfMember.includes(id));
      if (empty.length > 0) details.push(`cell ${cell}: ${empty.join(',')} still host(s) a replica that is no member (left by a failed move; the next move replaces it)`);
      return { ok: selfMember.length === 0, details };
    }
    await sleep(500);
  }
}

export function checkLinearizable(records: readonly HistoryRecord[], timeoutMs: number): { outcome: CheckOutcome; result: CheckResult } {
  const result = checkCellkvHistory(records, { timeoutMs });
  const ok = result.result === 'linearizable';
  const details = result.result === 'unknown' ? [`checker gave up (${result.reason}): not a pass, investigate`] : formatDetails(result, { maxLines: 60 });
  return { outcome: { name: 'linearizable', ok, details }, result };
}

function writtenVersion(r: HistoryRecord): bigint | null {
  if (r.outcome !== 'ok' || !r.output) return null;
  if (r.op === 'put' && 'version' in r.output) return BigInt(r.output.version);
  if (r.op === 'cas' && 'swapped' in r.output && r.output.swapped) return BigInt(r.output.version);
  return null;
}

/**
 * Every acknowledged write is either the final value or was overwritten: the final version is
 * at least its version (versions only grow), or, if the key is gone, some delete could have
 * come after it (a delete that did not finish before the write began).
 */
export function checkNoLostWrites(records: readonly HistoryRecord[], finals: ReadonlyMap<string, HistoryRecord>): CheckOutcome {
  const details: string[] = [];
  for (const w of records) {
    const v = writtenVersion(w);
    if (v === null) continue;
    const f = finals.get(w.key);
    if (!f || !f.output || !('found' in f.output)) continue; // no final read: reported by liveness
    if (f.output.found) {
      const fv = BigInt(f.output.version);
      if (fv < v || (fv === v && f.output.value !== w.value)) details.push(`key ${w.key}: acknowledged ${w.op} of ${w.value}@${v} lost; final is ${f.output.value}@${fv}`);
    } else {
      const laterDelete = records.some((d) => d.key === w.key && d.op === 'delete' && d.outcome !== 'fail' && (d.complete === null || d.outcome === 'unknown' || d.complete >= w.invoke));
      if (!laterDelete) details.push(`key ${w.key}: acknowledged ${w.op} of ${w.value}@${v} lost; key absent at the end and no delete after it`);
    }
  }
  return { name: 'no lost writes', ok: details.length === 0, details: details.slice(0, 20) };
}

/**
 * Versions strictly increase per key in real time: a write acknowledged after another op on
 * the key completed has a larger version than that op saw; a read never goes backwards; two
 * acknowledged writes never share a version.
 */
export function checkVersions(records: readonly HistoryRecord[]): CheckOutcome {
  const details: string[] = [];
  const byKey = new Map<string, { r: HistoryRecord; v: bigint; write: boolean }[]>();
  for (const r of records) {
    if (r.outcome !== 'ok' || !r.output) continue;
    const wv = writtenVersion(r);
    let v: bigint | null = wv;
    if (v === null && 'found' in r.output && r.output.found) v = BigInt(r.output.version);
    if (v === null && 'swapped' in r.output && !r.output.swapped && r.output.currentVersion !== null) v = BigInt(r.output.currentVersion);
    if (v === null) continue;
    const list = byKey.get(r.key) ?? [];
    list.push({ r, v, write: wv !== null });
    byKey.set(r.key, list);
  }
  for (const [key, list] of byKey) {
    const seen = new Map<bigint, HistoryRecord>();
    for (const e of list) {
      if (!e.write) continue;
      const other = seen.get(e.v);
      if (other) details.push(`key ${key}: two writes got version ${e.v}: ${other.value} and ${e.r.value}`);
      seen.set(e.v, e.r);
    }
    // Sweep in invoke order, with the max version of ops completed before each invoke.
    const byComplete = [...list].sort((a, b) => a.r.complete! - b.r.complete!);
    const byInvoke = [...list].sort((a, b) => a.r.invoke - b.r.invoke);
    let i = 0;
    let max: { v: bigint; r: HistoryRecord } | null = null;
    for (const e of byInvoke) {
      while (i < byComplete.length && byComplete[i]!.r.complete! < e.r.invoke) {
        const c = byComplete[i++]!;
        if (!max || c.v > max.v) max = { v: c.v, r: c.r };
      }
      if (!max) continue;
      if (e.write ? e.v <= max.v : e.v < max.v) {
        details.push(`key ${key}: ${e.r.op} by client ${e.r.client} at ${e.r.invoke} saw version ${e.v}, but ${max.r.op} by client ${max.r.client} had completed with ${max.v} before it began`);
      }
    }
  }
  return { name: 'versions increase', ok: details.length === 0, details: details.slice(0, 20) };
}
