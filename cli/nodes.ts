// `cellkv nodes [list] | nodes drain <node> | nodes undrain <node>`: the fleet as the directory
// and each node's admin status see it (AZ, liveness, draining, replicas and leaderships), and
// the meta command that marks a node draining, after which the meta leader's placement driver
// moves its replicas to other nodes of its AZ and hands its leaderships away
// (cell/node/placement-driver.ts). Failures throw AdminError (printed by cellkv.ts).

import type { Command } from 'commander';
import { NODE_LIVENESS_MS, type DirectoryView } from '../shared/directory.js';
import { AdminError, type AdminClient, type NodeStatus } from './admin.js';
import { listingGroup, type CellsCliContext } from './cells.js';
import { ago, table } from './format.js';

export interface NodeRow {
  readonly node: string;
  readonly az: string;
  readonly live: boolean;
  readonly draining: boolean;
  readonly lastHeartbeatMs: number;
  /** From the node's own status; null when it did not answer. */
  readonly replicas: number | null;
  readonly leaders: number | null;
}

export function nodeRows(d: DirectoryView, statuses: ReadonlyMap<string, NodeStatus | null>, now = Date.now()): NodeRow[] {
  return d.nodes.map((n) => {
    const st = statuses.get(n.id) ?? null;
    return {
      node: n.id,
      az: n.az,
      live: n.lastHeartbeatMs > 0 && now - n.lastHeartbeatMs < NODE_LIVENESS_MS,
      draining: n.draining === true,
      lastHeartbeatMs: n.lastHeartbeatMs,
      replicas: st ? st.cells.length : null,
      leaders: st ? st.cells.filter((c) => c.role === 'leader').length : null,
    };
  });
}

export function renderNodes(rows: readonly NodeRow[], now = Date.now()): string {
  const count = (n: number | null) => (n === null ? '?' : String(n));
  return table(
    ['NODE', 'AZ', 'LIVE', 'DRAINING', 'REPLICAS', 'LEADERS', 'LAST HEARTBEAT'],
    rows.map((r) => [r.node, r.az, r.live ? 'yes' : 'NO', r.draining ? 'yes' : 'no', count(r.replicas), count(r.leaders), ago(r.lastHeartbeatMs, now)]),
  );
}

async function setDraining(a: AdminClient, node: string, draining: boolean): Promise<NodeRow['az']> {
  const d = await a.directory();
  const rec = d.nodes.find((n) => n.id === node);
  if (!rec) throw new AdminError('NOT_FOUND', `node ${node} is not in the directory (nodes: ${d.nodes.map((n) => n.id).join(', ') || 'none'}); see \`npx cellkv nodes\``);
  await a.metaCommand({ op: 'drain', node, draining });
  return rec.az;
}

export function registerNodesCommands(program: Command, ctx: CellsCliContext): void {
  const list = async (cmd: Command) => {
    const rows = await ctx.withAdmin(cmd, async (a) => {
      const d = await a.directory();
      return nodeRows(d, await a.nodeStatuses(d));
    });
    ctx.print(ctx.json(cmd) ? JSON.stringify(rows, null, 2) : renderNodes(rows));
  };
  const nodes = listingGroup(program, ctx, 'nodes', 'the fleet: nodes with AZ, liveness, draining, replica and leader counts (the default); drain or undrain one', list, '`nodes list`, `nodes drain <node>` or `nodes undrain <node>`');
  nodes
    .command('list')
    .description('nodes with AZ, liveness, draining, replica and leader counts')
    .addOption(ctx.natsOption())
    .addOption(ctx.jsonOption())
    .action((_o: unknown, cmd: Command) => list(cmd));
  nodes
    .command('drain <node>')
    .description('mark a node draining: its replicas move to other nodes of its AZ and it hands its leaderships away (the meta leader does it, one move at a time)')
    .addOption(ctx.natsOption())
    .addOption(ctx.jsonOption())
    .action(async (node: string, _o: unknown, cmd: Command) => {
      const az = await ctx.withAdmin(cmd, (a) => setDraining(a, node, true));
      if (ctx.json(cmd)) return ctx.print(JSON.stringify({ node, az, draining: true }));
      ctx.print(`node ${node} is draining: its replicas move to other nodes of ${az}, its leaderships to other voters\nfollow it with: npx cellkv nodes   (done when REPLICAS is 0; then stop the node)`);
    });
  nodes
    .command('undrain <node>')
    .description('clear the draining mark: the node keeps what it still hosts and may receive replicas again')
    .addOption(ctx.natsOption())
    .addOption(ctx.jsonOption())
    .action(async (node: string, _o: unknown, cmd: Command) => {
      const az = await ctx.withAdmin(cmd, (a) => setDraining(a, node, false));
      if (ctx.json(cmd)) return ctx.print(JSON.stringify({ node, az, draining: false }));
      ctx.print(`node ${node} is no longer draining`);
    });
}
