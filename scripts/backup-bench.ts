// `npm run bench:backup -- [--keys 1000000] [--value-bytes 100] [--rpo-interval 10s --rpo-runs 4]`
//
// Backup and restore speed on a fresh local cluster (one nats-server, three nodes, LevelDB in a
// temp dir): loads --keys keys with batched writes, takes a full backup, writes 5% more and
// takes an incremental, restores the chain onto fresh directories, starts a cluster on them
// and compares the data cell's digest. Then, optionally, measures the RPO of scheduled
// incrementals: writes go on while backups run every --rpo-interval, and every 250 ms the age
// of the newest restorable point is sampled. Progress on stderr, results on stdout.

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import { CellCluster } from './cluster/cell-cluster.js';
import { AdminClient } from '../cli/admin.js';
import { Progress, formatCount } from '../bench/progress.js';
import { runBackup, type BackupProgress } from '../cell/backup/backup.js';
import { runRestore } from '../cell/backup/restore.js';
import { parseInterval, runSchedule } from '../cell/backup/schedule.js';
import { itemEnd } from '../cell/backup/format.js';
import type { CellOp } from '../shared/cell-protocol.js';

const o = new Command()
  .option('--keys <n>', 'keys to load', '1000000')
  .option('--value-bytes <n>', 'value size', '100')
  .option('--rpo-interval <i>', 'interval of scheduled incrementals for the RPO phase (0 = skip)', '10s')
  .option('--rpo-runs <n>', 'scheduled runs in the RPO phase', '4')
  .parse()
  .opts<{ keys: string; valueBytes: string; rpoInterval: string; rpoRuns: string }>();

const KEYS = Number(o.keys);
const VALUE_BYTES = Number(o.valueBytes);
if (!Number.isInteger(KEYS) || KEYS < 1 || KEYS > 5_000_000) throw new Error('--keys must be 1..5000000');
if (!Number.isInteger(VALUE_BYTES) || VALUE_BYTES < 1 || VALUE_BYTES > 65536) throw new Error('--value-bytes must be 1..65536');
const ui = new Progress();
const MB = 1024 * 1024;
const enc = new TextEncoder();
const results: string[] = [];
const report = (s: string) => {
  results.push(s);
  ui.line(s);
};

function bytesProgress(label: string): BackupProgress {
  const bar = ui.phase(label, 0, 'MB');
  const t0 = Date.now();
  return {
    line: (m) => ui.line(m),
    bytes: (done, what) => bar.update(Math.round(done / MB), `${what}, ${(done / MB / Math.max(0.001, (Date.now() - t0) / 1000)).toFixed(1)} MB/s`),
  };
}

async function load(c: CellCluster, from: number, to: number, label: string): Promise<void> {
  const per = 1000; // the most ops a cell request may carry
  const value = enc.encode('v'.repeat(VALUE_BYTES));
  let next = from;
  let done = 0;
  const t0 = Date.now();
  const bar = ui.phase(label, to - from, 'keys');
  const tick = setInterval(() => bar.update(done, `${formatCount(done / Math.max(0.001, (Date.now() - t0) / 1000))} keys/s`), 250);
  const lane = async () => {
    while (next < to) {
      const start = next;
      next = Math.min(to, next + per);
      const ops: CellOp[] = [];
      for (let k = start; k < next; k++) ops.push({ op: 'put', key: enc.encode(`key/${String(k).padStart(8, '0')}`), value, ttlMs: null, ifVersion: null, ifAbsent: false, attrs: null });
      for (let attempt = 0; ; attempt++) {
        const r = await c.client.request('bench', ops).catch((e: Error) => ({ status: 'error', code: e.message }) as const);
        if (r.status === 'ok') break;
        if (attempt >= 5) throw new Error(`load failed: ${r.code}`);
        await new Promise((res) => setTimeout(res, 200 * (attempt + 1)));
      }
      done += ops.length;
    }
  };
  try {
    await Promise.all(Array.from({ length: 8 }, lane));
  } finally {
    clearInterval(tick);
  }
  bar.done(`${formatCount(to - from)} keys in ${((Date.now() - t0) / 1000).toFixed(1)}s`);
}

async function digest(c: CellCluster, cell: string): Promise<string> {
  const leader = await c.leaderOf(cell);
  const m = await c.nc.request(`cellkv.admin.${leader}`, enc.encode(JSON.stringify({ op: 'digest', cell })), { timeout: 120_000 });
  return String((JSON.parse(new TextDecoder().decode(m.data)) as { digest: string }).digest);
}

async function main(): Promise<void> {
  const work = await mkdtemp(join(tmpdir(), 'cellkv-backup-bench-'));
  const clusters: CellCluster[] = [];
  const cleanup = async () => {
    for (const c of clusters) await c.stop().catch(() => undefined);
    await rm(work, { recursive: true, force: true });
  };
  process.once('SIGINT', () => void cleanup().then(() => process.exit(130)));
  try {
    ui.line(`starting a three-node cluster (temp dir ${work})`);
    const src = await CellCluster.start();
    clusters.push(src);
    const link = AdminClient.over(src.nc, 120_000);
    await link.waitForLeaders(30_000);
    await load(src, 0, KEYS, 'load');

    let t = Date.now();
    const full = await runBackup({ link, dir: join(work, 'full'), base: null, progress: bytesProgress('full backup') });
    let s = (Date.now() - t) / 1000;
    report(`full backup: ${(full.manifest.totalBytes / MB).toFixed(1)} MB in ${s.toFixed(1)}s = ${(full.manifest.totalBytes / MB / s).toFixed(1)} MB/s (${formatCount(KEYS)} keys of ${VALUE_BYTES} B)`);

    await load(src, KEYS, KEYS + Math.ceil(KEYS / 20), 'load 5% more');
    t = Date.now();
    const incr = await runBackup({ link, dir: join(work, 'incr'), base: join(work, 'full'), progress: bytesProgress('incremental backup') });
    s = (Date.now() - t) / 1000;
    const kinds = incr.manifest.cells.map((c) => `${c.cell}:${c.item.type}`).join(' ');
    report(`incremental backup: ${(incr.manifest.totalBytes / MB).toFixed(1)} MB in ${s.toFixed(1)}s = ${(incr.manifest.totalBytes / MB / s).toFixed(1)} MB/s (${kinds})`);
    const before = await digest(src, 'c1');

    t = Date.now();
    const nodes = [{ id: 'n1', az: 'az1' }, { id: 'n2', az: 'az2' }, { id: 'n3', az: 'az3' }];
    const restored = await runRestore({ from: join(work, 'incr'), dataDirRoot: join(work, 'restored'), nodes, toTimeMs: null, progress: bytesProgress('restore') });
    s = (Date.now() - t) / 1000;
    const chainBytes = full.manifest.totalBytes + incr.manifest.totalBytes;
    const c1 = restored.cells.find((c) => c.cell === 'c1')!;
    report(`restore (3 nodes, full + incremental, ${c1.replayedEntries} entries replayed): ${(chainBytes / MB).toFixed(1)} MB in ${s.toFixed(1)}s = ${(chainBytes / MB / s).toFixed(1)} MB/s`);

    const dst = await CellCluster.start({ dataRoot: join(work, 'restored') });
    clusters.push(dst);
    const after = await digest(dst, 'c1');
    report(`digest of c1: source ${before.slice(0, 16)}…, restored ${after.slice(0, 16)}… ${before === after ? 'EQUAL' : 'DIFFERENT'}`);
    await dst.stop();
    clusters.pop();

    const intervalMs = o.rpoInterval === '0' ? 0 : parseInterval(o.rpoInterval);
    if (intervalMs > 0) await rpo(src, work, intervalMs, Number(o.rpoRuns));
  } finally {
    await cleanup();
  }
  process.stdout.write(results.map((r) => `${r}\n`).join(''));
}

/** RPO of scheduled incrementals: the age of the newest restorable point, sampled under writes. */
async function rpo(src: CellCluster, work: string, intervalMs: number, runs: number): Promise<void> {
  const root = join(work, 'scheduled');
  let writing = true;
  let n = 0;
  const writer = (async () => {
    while (writing) await src.client.put('bench', enc.encode(`rpo/${n % 1000}`), enc.encode(String(n++))).catch(() => undefined);
  })();
  let newestPoint = 0;
  const samples: number[] = [];
  const sampler = setInterval(() => {
    if (newestPoint > 0) samples.push(Date.now() - newestPoint);
  }, 250);
  ui.line(`RPO phase: scheduled incrementals every ${intervalMs / 1000}s, ${runs} runs, writes going on`);
  try {
    await runSchedule({
      connect: async () => ({ link: AdminClient.over(src.nc, 120_000), close: async () => undefined }),
      root,
      everyMs: intervalMs,
      keep: runs,
      fullEvery: runs + 1,
      progress: {
        line: (m) => ui.line(m),
        bytes: () => undefined,
      },
      stopped: () => false,
      maxRuns: runs,
      // The newest restorable point: what the data cell's newest item covers (a snapshot up to
      // its capture, a log up to its last entry's proposal time).
      onBackup: (r) => {
        const item = r.manifest.cells.find((c) => c.cell === 'c1')?.item;
        if (!item) return;
        newestPoint = item.type === 'snapshot' ? item.capturedAtMs : (item.lastTimeMs ?? r.manifest.startedAtMs);
        ui.line(`  c1 ${item.type} up to index ${itemEnd(item).index}, backup took ${((r.manifest.finishedAtMs - r.manifest.startedAtMs) / 1000).toFixed(1)}s`);
      },
    });
    // One more interval without a backup: the RPO just before the next run would have landed.
    await new Promise((res) => setTimeout(res, intervalMs));
  } finally {
    clearInterval(sampler);
    writing = false;
    await writer;
  }
  const sorted = samples.sort((a, b) => a - b);
  const pct = (p: number) => sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] ?? 0;
  report(`RPO with incrementals every ${intervalMs / 1000}s (${runs} runs, ${n} writes, ${sorted.length} samples): median ${(pct(0.5) / 1000).toFixed(1)}s, p99 ${(pct(0.99) / 1000).toFixed(1)}s, max ${((sorted[sorted.length - 1] ?? 0) / 1000).toFixed(1)}s`);
}

void main().catch((e: unknown) => {
  process.stderr.write(`backup-bench: ${(e as Error).stack ?? String(e)}\n`);
  process.exit(1);
});
