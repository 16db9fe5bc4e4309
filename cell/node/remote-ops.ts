// Asking another node's admin surface (JSON over `cellkv.admin.<node>`), for the node's own
// duties: the placement driver's requests, a neighbour cell's size and load, a replica move of a
// cell this node does not host.

import { KvError } from '../../shared/errors.js';
import type { NodeTransportPort } from './ports.js';
import type { IntervalLoad } from '../placement/load-sampler.js';

/** How long a move sent elsewhere may take (a learner catching up on a large cell). */
const REMOTE_MOVE_TIMEOUT_MS = 180_000;

export type AdminAnswer = Record<string, unknown>;

/** A cell's size and load as its leader reports them (admin `cellStats`; the rebalancer's view of a neighbour). */
export interface CellStats {
  readonly sizeBytes: number;
  readonly keyCount: number;
  readonly load: { readonly intervalMs: number; readonly intervals: readonly IntervalLoad[] } | null;
  readonly lastSplitAtMs: number | null;
  readonly lastLoadSplitAtMs: number | null;
}

/** One admin request; rejects when the node is not connected, on timeout or without responders. */
export async function askNode(transport: () => NodeTransportPort | null, node: string, body: unknown, timeoutMs: number): Promise<AdminAnswer> {
  const t = transport();
  if (!t) throw new KvError('UNAVAILABLE', 'the node is not connected to NATS yet; retry shortly');
  const reply = await t.requestAdmin(node, new TextEncoder().encode(JSON.stringify(body)), timeoutMs);
  return JSON.parse(new TextDecoder().decode(reply)) as AdminAnswer;
}

/** Size and load of a cell, asked of `node` (answered by its leader only); null if unknown. */
export async function observeRemote(transport: () => NodeTransportPort | null, cellId: string, node: string): Promise<CellStats | null> {
  const res = await askNode(transport, node, { op: 'cellStats', cell: cellId }, 2000).catch(() => null);
  return res !== null && res['ok'] === true && res['stats'] ? (res['stats'] as CellStats) : null;
}

/** A replica move of a cell hosted on `nodes` (not here): each forwards it to the cell's leader. */
export async function moveElsewhere(transport: () => NodeTransportPort | null, cellId: string, from: string, to: string, nodes: readonly string[]): Promise<void> {
  let last = 'no node of the cell answered';
  for (const n of nodes) {
    const res = await askNode(transport, n, { op: 'move', cell: cellId, from, to }, REMOTE_MOVE_TIMEOUT_MS).catch((e: unknown) => {
      last = (e as Error).message;
      return null;
    });
    if (res === null) continue;
    if (res['ok'] === true) return;
    throw new KvError('UNAVAILABLE', `move of ${cellId} from ${from} to ${to} refused: ${String(res['code'] ?? '')} ${String(res['message'] ?? '')}`);
  }
  throw new KvError('UNAVAILABLE', `move of ${cellId} from ${from} to ${to}: ${last}`);
}
