// `cellkv cells [list] | cells split | cells merge | cells move`: the directory's cells, splitting
// one at a key on its leader (cell/node/admin-api.ts, op 'split'), merging a cell into its left
// neighbour (op 'merge'), moving a replica (cells-move.ts). Failures throw AdminError, which
// cellkv.ts prints as `cellkv: CODE: detail` with exit status 1.

import { Option, type Command } from 'commander';
import { hexOf } from '../shared/directory.js';
import { namespacedKey } from '../shared/keys.js';
import { AdminError, TENANT_RE, type AdminClient, type SplitPoint } from './admin.js';
import { bound, cellRows, readableBound, renderCells } from './format.js';
import { registerMoveCommand } from './cells-move.js';

export interface CellsCliContext {
  natsOption(): Option;
  jsonOption(): Option;
  /** Runs `fn` with an admin client for the command's connection options, closed after. */
  withAdmin<T>(cmd: Command, fn: (a: AdminClient) => Promise<T>): Promise<T>;
  json(cmd: Command): boolean;
  print(s: string): void;
}

interface SplitOptions {
  tenant?: string;
  key?: string;
  splitKey?: string;
}

/** The split point from the flags: exactly one of --split-key or --tenant with --key. */
export function splitPointOf(o: SplitOptions): SplitPoint {
  const byName = o.tenant !== undefined || o.key !== undefined;
  if (o.splitKey !== undefined && byName) throw new AdminError('INVALID_ARGUMENT', 'give either --split-key or --tenant with --key, not both');
  if (o.splitKey !== undefined) {
    const hex = o.splitKey.replace(/^0x/i, '').toLowerCase();
    if (!/^([0-9a-f]{2})+$/.test(hex)) throw new AdminError('INVALID_ARGUMENT', `--split-key must be the hex of a namespaced key (tenant, 00, key), got "${o.splitKey}"`);
    return { splitKey: hex };
  }
  if (o.tenant === undefined || o.key === undefined) throw new AdminError('INVALID_ARGUMENT', 'split needs --tenant and --key (the split key is tenant\\0key), or --split-key HEX');
  if (!TENANT_RE.test(o.tenant)) throw new AdminError('INVALID_ARGUMENT', `tenant "${o.tenant}" must match ${TENANT_RE.source}`);
  if (o.key === '') throw new AdminError('INVALID_ARGUMENT', '--key must not be empty');
  return { tenant: o.tenant, key: o.key };
}

export function registerCellsCommands(program: Command, ctx: CellsCliContext): void {
  const list = async (cmd: Command) => {
    const { d, hosts } = await ctx.withAdmin(cmd, async (a) => {
      const dir = await a.directory();
      // Leaders and the meta cell's members as the nodes report them: the node serving the
      // directory knows the leaders of its own cells only.
      return { d: dir, hosts: [...(await a.nodeStatuses(dir))] };
    });
    const leaders: Record<string, string> = { ...d.leaders };
    const metaNodes: { node: string; az: string; role: string }[] = [];
    for (const [node, st] of hosts) {
      for (const c of st?.cells ?? []) {
        if (c.role === 'leader') leaders[c.cell] = node;
        if (c.cell === 'meta') metaNodes.push({ node, az: st?.az ?? 'unknown', role: 'voter' });
      }
    }
    metaNodes.sort((a, b) => (a.node < b.node ? -1 : a.node > b.node ? 1 : 0));
    const rows = cellRows({ ...d, leaders }).map((r) => (r.id === 'meta' && metaNodes.length > 0 ? { ...r, replicas: metaNodes } : r));
    ctx.print(ctx.json(cmd) ? JSON.stringify({ servedBy: d.servedBy, cells: rows }, null, 2) : renderCells(rows, d.servedBy));
  };
  // `cells` alone lists; an action here (not commander's isDefault) so that an unknown
  // subcommand such as `merge` gets its own error instead of "too many arguments for 'list'".
  const cells = listingGroup(program, ctx, 'cells', 'data cells of the directory: list them (the default), split one at a key, merge two neighbours, move a replica', list, '`cells list`, `cells split`, `cells merge` or `cells move`');
  cells
    .command('list')
    .description('cells in key order: hex and readable ranges, epoch, replicas, leader (from the directory)')
    .addOption(ctx.natsOption())
    .addOption(ctx.jsonOption())
    .action((_o: unknown, cmd: Command) => list(cmd));
  cells
    .command('split <cell>')
    .description("split a data cell at a key on its leader: the cell keeps the keys below, a new cell takes the rest (the directory follows within seconds)")
    .option('--tenant <t>', 'tenant of the split key (with --key)')
    .option('--key <k>', 'first key (UTF-8) of the new cell, within --tenant')
    .option('--split-key <hex>', 'the split key as hex of a namespaced key (tenant, 00, key)')
    .addOption(ctx.natsOption())
    .addOption(ctx.jsonOption())
    .action(async (cell: string, _o: unknown, cmd: Command) => {
      const at = splitPointOf(cmd.opts<SplitOptions>());
      const r = await ctx.withAdmin(cmd, (a) =>
        a.splitCell(cell, at).catch(async (e: unknown) => {
          // A refused key: say which range the cell holds, so the operator can pick one inside it.
          if (!(e instanceof AdminError) || e.code !== 'INVALID_ARGUMENT') throw e;
          const desc = (await a.directory().catch(() => null))?.cells.find((c) => c.id === cell);
          throw desc ? new AdminError(e.code, `${e.detail}; cell ${cell} holds [${bound(desc.start, false)}, ${bound(desc.end, true)}) at epoch ${desc.epoch}`) : e;
        }),
      );
      const hex = 'splitKey' in at ? at.splitKey : hexOf(namespacedKey(at.tenant, new TextEncoder().encode(at.key)));
      if (ctx.json(cmd)) return ctx.print(JSON.stringify({ ...r, splitKey: hex }, null, 2));
      const shown = readableBound(hex) ?? `0x${hex}`;
      ctx.print(`split ${r.cell} at ${shown} (index ${r.index}): left ${r.left}, right ${r.right}\nthe directory shows both cells within a few seconds: npx cellkv cells list`);
    });
  cells
    .command('merge <left> <right>')
    .description('merge a data cell into its left neighbour (both on the same nodes): the left cell takes both ranges, the right one is retired')
    .addOption(ctx.natsOption())
    .addOption(ctx.jsonOption())
    .action(async (left: string, right: string, _o: unknown, cmd: Command) => {
      if (!ctx.json(cmd)) ctx.print(`merging ${right} into ${left} (freeze ${right}, wait for its replicas, commit in ${left})...`);
      const r = await ctx.withAdmin(cmd, (a) => a.mergeCells(left, right));
      if (ctx.json(cmd)) return ctx.print(JSON.stringify(r, null, 2));
      ctx.print(`merged ${r.absorbed} into ${r.cell} (run by ${r.node}; freeze at index ${r.freezeIndex}, commit at index ${r.commitIndex}, epoch ${r.epoch})\nthe directory shows the merged cell within a few seconds: npx cellkv cells list`);
    });
  registerMoveCommand(cells, ctx);
}

/**
 * A command group whose bare name lists (an action here, not commander's isDefault, so that an
 * unknown subcommand gets its own error instead of "too many arguments for 'list'").
 */
export function listingGroup(program: Command, ctx: CellsCliContext, name: string, description: string, list: (cmd: Command) => Promise<void>, usage: string): Command {
  return program
    .command(name)
    .description(description)
    .allowExcessArguments()
    .addOption(ctx.natsOption())
    .addOption(ctx.jsonOption())
    .action(async (_o: unknown, cmd: Command) => {
      const sub = cmd.args[0];
      if (sub === undefined) return list(cmd);
      throw new AdminError('INVALID_ARGUMENT', `unknown command "${name} ${sub}"; use ${usage}`);
    });
}
