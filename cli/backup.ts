// `cellkv backup | restore | verify`: backups and disaster recovery (cell/backup/). Progress
// goes to stderr; results (a summary, or JSON with --json) to stdout. Failures throw
// BackupError, which cellkv.ts prints as `cellkv: CODE: detail` with exit status 1.

import { resolve } from 'node:path';
import { Option, type Command } from 'commander';
import { runBackup, type BackupProgress } from '../cell/backup/backup.js';
import { BackupError } from '../cell/backup/errors.js';
import { parseRestoreNodes, parseToTime, runRestore } from '../cell/backup/restore.js';
import { parseInterval, runSchedule } from '../cell/backup/schedule.js';
import { verifyBackup } from '../cell/backup/verify.js';
import { Progress } from '../bench/progress.js';
import { AdminClient } from './admin.js';

export interface BackupCliContext {
  natsOption(): Option;
  natsServers(cmd: Command): string[];
  print(s: string): void;
}

const MB = 1024 * 1024;

/** A byte counter on stderr: redrawn on a terminal, a line a second otherwise (via Progress). */
function byteProgress(ui: Progress, label: string, total: number | null): BackupProgress & { end(): void } {
  const t0 = Date.now();
  let bar = ui.phase(label, total ?? 0, 'MB');
  let last = 0;
  return {
    line: (msg) => {
      ui.line(msg);
      bar = ui.phase(label, total ?? 0, 'MB');
    },
    bytes: (done, what) => {
      last = done;
      const rate = done / MB / Math.max(0.001, (Date.now() - t0) / 1000);
      bar.update(Math.round(done / MB), `${what}, ${rate.toFixed(1)} MB/s`);
    },
    end: () => bar.done(`${(last / MB).toFixed(1)} MB in ${((Date.now() - t0) / 1000).toFixed(1)}s`),
  };
}

function positiveInt(name: string): (v: string) => number {
  return (v) => {
    if (!/^[1-9][0-9]{0,6}$/.test(v)) throw new BackupError('INVALID_ARGUMENT', `${name} must be a positive whole number, got "${v}"`);
    return Number(v);
  };
}

export function registerBackupCommands(program: Command, ctx: BackupCliContext): void {
  program
    .command('backup')
    .description('online backup of every cell to a directory (full, or --incremental on --base); with --every, scheduled into timestamped directories under --to')
    .requiredOption('--to <dir>', 'backup directory (with --every: the root for timestamped backups)')
    .option('--incremental', 'copy only the committed log after --base (falls back to a snapshot per cell when compacted)')
    .option('--base <dir>', 'the backup an incremental builds on')
    .option('--every <interval>', 'run forever, one backup per interval: 90s, 30m, 1h, 1d')
    .option('--keep <n>', 'with --every: complete backups to keep (their bases are kept too)', positiveInt('--keep'), 24)
    .option('--full-every <k>', 'with --every: a full backup every K runs, incrementals between', positiveInt('--full-every'), 24)
    .option('--cluster-id <id>', 'name recorded in the manifest (an incremental must match its base)')
    .addOption(ctx.natsOption())
    .option('--json', 'print the manifest as JSON')
    .action(async (_o: unknown, cmd: Command) => {
      const o = cmd.opts<{ to: string; incremental?: boolean; base?: string; every?: string; keep: number; fullEvery: number; clusterId?: string; json?: boolean }>();
      if (o.incremental && !o.base) throw new BackupError('INVALID_ARGUMENT', '--incremental needs --base DIR (the backup to build on)');
      if (o.base && !o.incremental) throw new BackupError('INVALID_ARGUMENT', '--base is only used with --incremental');
      if (o.every && o.incremental) throw new BackupError('INVALID_ARGUMENT', '--every chooses full and incremental runs itself; drop --incremental');
      const servers = ctx.natsServers(cmd);
      const ui = new Progress();
      if (o.every) {
        const everyMs = parseInterval(o.every);
        let stop = false;
        const onSignal = () => {
          stop = true;
          ui.line('stopping after the current run');
        };
        process.once('SIGINT', onSignal);
        process.once('SIGTERM', onSignal);
        const progress = byteProgress(ui, 'backup', null);
        await runSchedule({
          connect: async () => {
            const a = await AdminClient.connect(servers);
            return { link: a, close: () => a.close() };
          },
          root: o.to,
          everyMs,
          keep: o.keep,
          fullEvery: o.fullEvery,
          progress,
          stopped: () => stop,
          ...(o.clusterId ? { clusterId: o.clusterId } : {}),
        });
        return;
      }
      const a = await AdminClient.connect(servers);
      try {
        const progress = byteProgress(ui, 'backup', null);
        const r = await runBackup({ link: a, dir: o.to, base: o.base ?? null, progress, ...(o.clusterId ? { clusterId: o.clusterId } : {}) });
        progress.end();
        for (const f of r.fallbacks) ui.line(`note: cell ${f.cell} got a full snapshot: ${f.reason}`);
        if (o.json) return ctx.print(JSON.stringify(r.manifest, null, 2));
        const secs = (r.manifest.finishedAtMs - r.manifest.startedAtMs) / 1000;
        ctx.print(`${r.manifest.kind} backup ${r.manifest.backupId} in ${r.dir}: ${r.manifest.cells.length} cells, ${r.manifest.totalBytes} bytes, ${secs.toFixed(1)}s (${(r.manifest.totalBytes / MB / Math.max(secs, 0.001)).toFixed(1)} MB/s)`);
        for (const c of r.manifest.cells) {
          const it = c.item;
          ctx.print(it.type === 'snapshot' ? `  ${c.cell}: snapshot at index ${it.index} term ${it.term}, ${it.pairs} pairs${it.fallback ? ' (fallback)' : ''}` : `  ${c.cell}: log ${it.fromIndex}..${it.toIndex} (${it.entries} entries)`);
        }
      } finally {
        await a.close();
      }
    });

  program
    .command('restore')
    .description('build fresh data directories for new nodes from a backup (optionally to a point in time); start the nodes on them')
    .requiredOption('--from <dir>', 'the backup to restore (an incremental brings its base chain)')
    .requiredOption('--data-dir-root <root>', 'creates <root>/<node-id> for each node (must not exist or be empty)')
    .requiredOption('--nodes <spec>', 'the new cluster: n1:az1,n2:az2,n3:az3')
    .option('--to-time <time>', 'restore the state as of this time: ISO 8601 or ms since the epoch (default: the latest in the backup)')
    .option('--json', 'print the result as JSON')
    .action(async (_o: unknown, cmd: Command) => {
      const o = cmd.opts<{ from: string; dataDirRoot: string; nodes: string; toTime?: string; json?: boolean }>();
      const nodes = parseRestoreNodes(o.nodes);
      const toTimeMs = o.toTime !== undefined ? parseToTime(o.toTime) : null;
      const ui = new Progress();
      const progress = byteProgress(ui, 'restore', null);
      const r = await runRestore({ from: o.from, dataDirRoot: o.dataDirRoot, nodes, toTimeMs, progress });
      progress.end();
      if (o.json) return ctx.print(JSON.stringify(r, null, 2));
      for (const c of r.cells) ctx.print(`${c.cell}: index ${c.index} term ${c.term}, up to ${new Date(c.upToMs).toISOString()}${c.note ? ` (${c.note})` : ''}`);
      const bootstrap = nodes.map((n) => `${n.id}:${n.az}`).join(',');
      ctx.print('start each node on its directory, e.g.:');
      for (const n of nodes) ctx.print(`  node --import tsx cell/main.ts --node-id ${n.id} --az ${n.az} --data-dir ${resolve(r.dataDirs[n.id]!)} --nats <urls> --bootstrap ${bootstrap}`);
    });

  program
    .command('verify <dir>')
    .description('recompute checksums, decode every file and check the chain of incrementals; exits 1 naming each bad file')
    .option('--json', 'print the report as JSON')
    .action(async (dir: string, _o: unknown, cmd: Command) => {
      const o = cmd.opts<{ json?: boolean }>();
      const ui = new Progress();
      let bytes = 0;
      const bar = ui.phase('verify', 0, 'MB');
      const report = await verifyBackup(dir, {
        file: (path, n) => {
          bytes += n;
          bar.update(Math.round(bytes / MB), path);
        },
      });
      bar.done(`${report.files} files, ${(report.bytes / MB).toFixed(1)} MB, ${report.chain.length} backup(s) in the chain`);
      if (o.json) ctx.print(JSON.stringify(report, null, 2));
      if (!report.ok) {
        for (const p of report.problems) process.stderr.write(`cellkv: ${p.code}: ${p.file}: ${p.message}\n`);
        throw new BackupError(report.problems[0]!.code, `${report.problems.length} problem(s); the backup at ${dir} must not be trusted`);
      }
      if (!o.json) ctx.print(`ok: ${dir} (${report.chain.map((b) => b.manifest.kind).join(' + ')}), ${report.files} files verified`);
    });
}
