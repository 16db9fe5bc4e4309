// Point-in-time restore with real processes: a full backup, writes A, time T, writes B, an
// incremental backup; restoring to T gives A without B, restoring to the latest gives B. Then
// the log is compacted past the incremental, and the next incremental falls back to a snapshot.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CellCluster } from '../../support/cell-cluster.js';
import { AdminClient } from '../../../cli/admin.js';
import { loadManifest, runBackup } from '../../../cell/backup/backup.js';
import { runRestore } from '../../../cell/backup/restore.js';
import { BackupError } from '../../../cell/backup/errors.js';
import { listBackups, runSchedule } from '../../../cell/backup/schedule.js';
import { openNodeDb } from '../../../cell/storage/node-db.js';
import { dataKey, decodeStoredValue } from '../../../cell/storage/records.js';
import { namespacedKey } from '../../../shared/keys.js';
import { CLI_BIN, bulkPut, cellkv, dec, enc, getValue } from './support.js';

const clusters: CellCluster[] = [];
let work = '';
after(async () => {
  for (const c of clusters) await c.stop().catch(() => undefined);
  if (work) await rm(work, { recursive: true, force: true });
});

/** Values of keys in a restored (closed) data directory, read straight from its LevelDB. */
async function offlineValues(dir: string, tenant: string, keys: readonly string[]): Promise<(string | null)[]> {
  const db = await openNodeDb(dir);
  try {
    const out: (string | null)[] = [];
    for (const k of keys) {
      const raw = await db.get(dataKey(namespacedKey(tenant, enc(k))));
      out.push(raw ? dec(decodeStoredValue(raw).value) : null);
    }
    return out;
  } finally {
    await db.close();
  }
}

test('restore to a time T replays the log up to T; to the latest replays all; compaction forces a fallback', async () => {
  work = await mkdtemp(join(tmpdir(), 'cellkv-pitr-'));
  // Compaction after ~400 entries, keeping 300: the A/B writes stay in the log, 600 more do not.
  const src = await CellCluster.start({ extraArgs: ['--snapshot-every', '400', '--log-retain', '300'] });
  clusters.push(src);
  const link = AdminClient.over(src.nc, 10_000);
  await link.waitForLeaders(20_000);
  await bulkPut(src, 't', Array.from({ length: 50 }, (_, i) => `base/${i}`), (k) => `v ${k}`);

  const full = join(work, 'full');
  const beforeFullMs = Date.now() - 1;
  await runBackup({ link, dir: full, base: null });

  // A: one entry per write (sequential), including an overwrite and a delete of older keys.
  for (let i = 0; i < 40; i++) await src.client.put('t', enc(`a/${i}`), enc(`A${i}`));
  await src.client.put('t', enc('base/1'), enc('changed in A'));
  await src.client.delete('t', enc('base/2'));
  await new Promise((r) => setTimeout(r, 20));
  const T = Date.now();
  await new Promise((r) => setTimeout(r, 20));
  for (let i = 0; i < 40; i++) await src.client.put('t', enc(`b/${i}`), enc(`B${i}`));
  await src.client.put('t', enc('a/0'), enc('changed in B'));
  await src.client.delete('t', enc('a/1'));

  const incr = join(work, 'incr');
  const ib = await runBackup({ link, dir: incr, base: full });
  assert.equal(ib.fallbacks.length, 0);
  assert.ok(ib.manifest.cells.every((c) => c.item.type === 'log'), 'the incremental is log only');

  // To T through the CLI (ISO time), then a one-node cluster started on it serves A without B.
  const rootT = join(work, 'at-t');
  const r = await cellkv(['restore', '--from', incr, '--to-time', new Date(T).toISOString(), '--data-dir-root', rootT, '--nodes', 'n1:az1']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /c1: index \d+/);
  const atT = await CellCluster.start({ nodes: 1, dataRoot: rootT });
  clusters.push(atT);
  assert.equal((await getValue(atT, 't', 'a/0')).value, 'A0');
  assert.equal((await getValue(atT, 't', 'a/1')).value, 'A1');
  assert.equal((await getValue(atT, 't', 'a/39')).value, 'A39');
  assert.equal((await getValue(atT, 't', 'base/1')).value, 'changed in A');
  assert.equal((await getValue(atT, 't', 'base/2')).value, null);
  assert.equal((await getValue(atT, 't', 'b/0')).value, null, 'B was written after T');
  assert.equal((await getValue(atT, 't', 'b/39')).value, null);
  await atT.stop();
  clusters.splice(clusters.indexOf(atT), 1);

  // To the latest: B is there, with its overwrite and delete.
  const rootLatest = join(work, 'latest');
  const latest = await runRestore({ from: incr, dataDirRoot: rootLatest, nodes: [{ id: 'n1', az: 'az1' }], toTimeMs: null });
  const c1 = latest.cells.find((c) => c.cell === 'c1')!;
  assert.ok(c1.replayedEntries >= 80);
  assert.deepEqual(await offlineValues(join(rootLatest, 'n1'), 't', ['a/0', 'a/1', 'b/0', 'b/39', 'base/0']), ['changed in B', null, 'B0', 'B39', 'v base/0']);

  // Before the first restorable point: a stable code, nothing written.
  await assert.rejects(
    runRestore({ from: incr, dataDirRoot: join(work, 'too-early'), nodes: [{ id: 'n1', az: 'az1' }], toTimeMs: beforeFullMs - 60_000 }),
    (e: unknown) => e instanceof BackupError && e.code === 'PITR_OUT_OF_RANGE',
  );
  const bad = await cellkv(['restore', '--from', incr, '--to-time', 'yesterday-ish', '--data-dir-root', join(work, 'bad'), '--nodes', 'n1:az1']);
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /INVALID_ARGUMENT: --to-time/);

  // 600 more entries: every replica compacts its log past the incremental's end.
  for (let i = 0; i < 600; i++) await src.client.put('t', enc(`c/${i % 50}`), enc(`C${i}`));
  const incr2 = join(work, 'incr2');
  const fb = await runBackup({ link, dir: incr2, base: incr });
  assert.deepEqual(fb.fallbacks.map((f) => f.cell), ['c1'], 'c1 could not continue from the log');
  const item = (await loadManifest(incr2)).manifest.cells.find((c) => c.cell === 'c1')!.item;
  assert.ok(item.type === 'snapshot' && item.fallback !== undefined && /compacted/.test(item.fallback));
  const rootFb = join(work, 'fallback');
  await runRestore({ from: incr2, dataDirRoot: rootFb, nodes: [{ id: 'n1', az: 'az1' }], toTimeMs: null });
  assert.deepEqual(await offlineValues(join(rootFb, 'n1'), 't', ['c/49', 'b/0']), ['C599', 'B0']);
});

test('scheduled backups: a full, an incremental on it, a new full every 2 runs; retention keeps the newest chain', async () => {
  const src = clusters[0]!;
  const root = join(work, 'scheduled');
  const lines: string[] = [];
  await runSchedule({
    connect: async () => {
      const a = await AdminClient.connect([src.nats.url]);
      return { link: a, close: () => a.close() };
    },
    root,
    everyMs: 1000,
    keep: 1,
    fullEvery: 2,
    progress: { line: (m) => void lines.push(m), bytes: () => undefined },
    stopped: () => false,
    maxRuns: 3,
  });
  const planned = lines.filter((l) => l.startsWith('scheduled '));
  assert.deepEqual(planned.map((l) => l.split(' ')[1]), ['full', 'incremental', 'full'], lines.join('\n'));
  assert.ok(!lines.some((l) => l.includes('failed')), lines.join('\n'));
  const left = await listBackups(root);
  assert.equal(left.length, 1, 'keep 1: only the newest full backup is left');
  assert.equal(left[0]!.manifest?.kind, 'full');
  assert.equal(lines.filter((l) => l.startsWith('retention: removed')).length, 2);

  // The CLI's --every loop: backups land until SIGTERM, which stops it after the current run.
  const cliRoot = join(work, 'scheduled-cli');
  const p = spawn(process.execPath, [CLI_BIN, 'backup', '--to', cliRoot, '--every', '1s', '--full-every', '2', '--keep', '5', '--nats', src.nats.url], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((r) => p.once('exit', (code) => r(code)));
  try {
    const deadline = Date.now() + 60_000;
    while ((await listBackups(cliRoot)).filter((b) => b.manifest).length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
  } finally {
    p.kill('SIGTERM');
  }
  assert.equal(await exited, 0, stderr);
  const made = (await listBackups(cliRoot)).filter((b) => b.manifest);
  assert.ok(made.length >= 2, stderr);
  assert.deepEqual(made.slice(0, 2).map((b) => b.manifest!.kind), ['full', 'incremental']);
  assert.match(stderr, /scheduled incremental backup/);
});
