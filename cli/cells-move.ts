// `cellkv cells move <cell> --from N --to M`: moves one replica of a data cell to another node
// of the same AZ (cell/node/replica-mover.ts, admin op 'move', run on the cell's leader; any
// node of the cell forwards it there). While the move runs, the target's progress is printed.

import type { Command, Option } from 'commander';
import { AdminError, META_CELL, type AdminClient } from './admin.js';

/** What the command needs of the CLI (cells.ts passes its CellsCliContext; no import back). */
export interface MoveCliContext {
  natsOption(): Option;
  jsonOption(): Option;
  withAdmin<T>(cmd: Command, fn: (a: AdminClient) => Promise<T>): Promise<T>;
  json(cmd: Command): boolean;
  print(s: string): void;
}

/** A move waits up to 120 s for the learner, plus the membership changes and a hand-over. */
const MOVE_TIMEOUT_MS = 180_000;
const PROGRESS_EVERY_MS = 2000;

interface MoveOptions {
  from?: string;
  to?: string;
}

async function runMove(a: AdminClient, cell: string, from: string, to: string, print: (s: string) => void, quiet: boolean): Promise<Record<string, unknown>> {
  if (cell === META_CELL) throw new AdminError('INVALID_ARGUMENT', 'the meta cell is not moved by this command; move a data cell');
  // A node without a meta replica (one that only received moved replicas) serves an empty
  // directory: ask again, another node answers.
  let d = await a.directory();
  for (let i = 0; i < 8 && !d.cells.some((c) => c.id === cell); i++) d = await a.directory();
  const desc = d.cells.find((c) => c.id === cell);
  if (!desc) throw new AdminError('NOT_FOUND', `cell ${cell} is not in the directory (cells: ${d.cells.map((c) => c.id).join(', ')}); see \`npx cellkv cells list\``);
  const node = d.leaders[cell] ?? desc.replicas.find((r) => r.node !== from)?.node ?? from;
  let done = false;
  const progress = (async () => {
    while (!done) {
      await new Promise((r) => setTimeout(r, PROGRESS_EVERY_MS));
      if (done || quiet) break;
      const st = await a.nodeStatus(to).catch(() => null);
      const rep = st?.cells.find((c) => c.cell === cell);
      print(rep ? `  ${to}: replica of ${cell} at applied index ${rep.applied} (${rep.role})` : `  ${to}: no replica of ${cell} yet`);
    }
  })();
  try {
    const r = await a.adminRequest(node, { op: 'move', cell, from, to }, MOVE_TIMEOUT_MS).catch((e: unknown) => {
      throw new AdminError('UNAVAILABLE', `move request to node ${node} failed (${(e as Error).message}); the move may still finish: check \`npx cellkv cells list\` before retrying`);
    });
    if (r['ok'] !== true) throw new AdminError(String(r['code'] ?? 'INTERNAL'), String(r['message'] ?? 'move failed'));
    return r;
  } finally {
    done = true;
    await progress;
  }
}

export function registerMoveCommand(cells: Command, ctx: MoveCliContext): void {
  cells
    .command('move <cell>')
    .description('move one replica of a data cell to a node of the same AZ: a learner catches up from a snapshot, then one joint membership change promotes it and removes the old replica')
    .requiredOption('--from <node>', 'the node whose replica leaves (a voter of the cell)')
    .requiredOption('--to <node>', 'the node that receives it (same AZ, no replica of the cell yet)')
    .addOption(ctx.natsOption())
    .addOption(ctx.jsonOption())
    .action(async (cell: string, _o: unknown, cmd: Command) => {
      const { from, to } = cmd.opts<MoveOptions>();
      const json = ctx.json(cmd);
      if (!json) ctx.print(`moving the replica of ${cell} from ${from} to ${to} ...`);
      const r = await ctx.withAdmin(cmd, (a) => runMove(a, cell, from!, to!, (s) => ctx.print(s), json));
      if (json) return ctx.print(JSON.stringify(r, null, 2));
      const steps = (r['steps'] as { step: string; ms: number }[] | undefined) ?? [];
      for (const s of steps) ctx.print(`  ${s.step.padEnd(20)} ${s.ms} ms`);
      const voters = (r['voters'] as string[] | undefined)?.join(', ') ?? '?';
      ctx.print(`moved ${cell} from ${from} to ${to} in ${Number(r['seconds']).toFixed(1)} s (snapshot ${r['snapshotBytes']} bytes): voters ${voters}, epoch ${r['epoch']}; the directory follows within seconds`);
    });
}
