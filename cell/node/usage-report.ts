// The `usage` admin op of a node: per-tenant usage (keys, key+value bytes) of every data cell
// replica the node hosts, as its state machine counts it (cell/kv/usage.ts). Gateways ask each
// cell's leader and add the cells up; a follower's answer may lag by its apply lag.
//
//   request  {op:"usage", tenants?: string[] (at most 1000), limit?: number (1..2000 per cell, default 2000)}
//   answer   {ok:true, node, cells:[{cell, leader, applied, usage:{tenant:{keys,bytes}}, truncated}]}

import { z } from 'zod';
import { META_CELL_ID } from '../../shared/directory.js';
import { KvError } from '../../shared/errors.js';
import type { TenantUsage } from '../storage/records.js';
import type { Replica } from './replica.js';

export const MAX_USAGE_TENANTS = 1000;
// A reply must fit one NATS message (1 MiB by default): ~100 bytes per tenant at most.
export const MAX_USAGE_LIMIT = 2000;

const UsageRequest = z.object({
  op: z.literal('usage'),
  tenants: z.array(z.string().regex(/^[a-z0-9][a-z0-9_-]{0,62}$/)).max(MAX_USAGE_TENANTS).optional(),
  limit: z.number().int().min(1).max(MAX_USAGE_LIMIT).optional(),
});

export interface CellUsage {
  readonly cell: string;
  readonly leader: boolean;
  /** The last entry the counters include (an entry being applied counts as included). */
  readonly applied: number;
  readonly usage: Record<string, TenantUsage>;
  /** More tenants than `limit` hold data in this cell (listing all tenants only). */
  readonly truncated: boolean;
}

export async function usageReport(replicas: Iterable<Replica>, body: unknown): Promise<{ cells: CellUsage[] }> {
  const parsed = UsageRequest.safeParse(body);
  if (!parsed.success) throw new KvError('INVALID_ARGUMENT', `usage: ${parsed.error.issues[0]?.message ?? 'bad request'}`);
  const { tenants, limit } = parsed.data;
  const cells: CellUsage[] = [];
  for (const r of replicas) {
    if (r.cellId === META_CELL_ID) continue;
    await r.data.usage.ensureLoaded();
    // No await between these two: the numbers and the index they reflect belong together
    // (gateways drop their own writes from their estimate once a report covers their index).
    const { usage, truncated } = r.data.usage.readLoaded(tenants ?? null, limit ?? MAX_USAGE_LIMIT);
    const applied = r.data.countersIndex;
    cells.push({ cell: r.cellId, leader: r.isLeader, applied, usage, truncated });
  }
  return { cells };
}
