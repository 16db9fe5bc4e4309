// `cellkv verify` against a real backup chain (full + incremental of a real cluster), then
// damaged copies of it: each damage must fail verification, naming the file at fault.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { cp, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CellCluster } from '../../support/cell-cluster.js';
import { AdminClient } from '../../../cli/admin.js';
import { runBackup } from '../../../cell/backup/backup.js';
import { verifyBackup } from '../../../cell/backup/verify.js';
import { runRestore } from '../../../cell/backup/restore.js';
import { BackupError } from '../../../cell/backup/errors.js';
import { sha256File } from '../../../cell/backup/files.js';
import type { Manifest } from '../../../cell/backup/format.js';
import { bulkPut, cellkv } from './support.js';

let c: CellCluster;
let work = '';
let n = 0;

before(async () => {
  work = await mkdtemp(join(tmpdir(), 'cellkv-verify-'));
  c = await CellCluster.start();
  const link = AdminClient.over(c.nc, 10_000);
  await link.waitForLeaders(20_000);
  await bulkPut(c, 't', Array.from({ length: 500 }, (_, i) => `k/${i}`), (k) => `value ${k}`);
  await runBackup({ link, dir: join(work, 'good', 'full'), base: null });
  await bulkPut(c, 't', Array.from({ length: 200 }, (_, i) => `m/${i}`), (k) => `more ${k}`, { perRequest: 10, lanes: 1 });
  await runBackup({ link, dir: join(work, 'good', 'incr'), base: join(work, 'good', 'full') });
  await runBackup({ link, dir: join(work, 'other-full'), base: null });
  await c.stop();
});
after(async () => {
  await c?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

/** A fresh copy of the good chain (full/ and incr/ side by side, as the base path expects). */
async function copy(): Promise<string> {
  const dir = join(work, `case-${++n}`);
  await cp(join(work, 'good'), dir, { recursive: true });
  return dir;
}

async function flipByte(path: string, at: (len: number) => number): Promise<void> {
  const b = await readFile(path);
  const i = at(b.length);
  b[i] = b[i]! ^ 0x01;
  await writeFile(path, b);
}

async function verifyFails(dir: string, file: string, code: string): Promise<string> {
  const r = await cellkv(['verify', dir]);
  assert.equal(r.code, 1, `verify should fail: ${r.stdout}`);
  assert.ok(r.stderr.includes(`${code}: ${file}`), `stderr names ${file} with ${code}:\n${r.stderr}`);
  return r.stderr;
}

test('a good chain verifies (CLI exit 0)', async () => {
  const r = await cellkv(['verify', join(work, 'good', 'incr')]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /ok: .*\(full \+ incremental\)/);
  const rep = await verifyBackup(join(work, 'good', 'incr'));
  assert.equal(rep.files, 4);
});

test('one flipped byte in a snapshot of the base is found and named', async () => {
  const d = await copy();
  const file = join(d, 'full', 'c1.snapshot');
  await flipByte(file, (len) => Math.floor(len / 2));
  await verifyFails(join(d, 'incr'), file, 'BACKUP_CORRUPT');
});

test('one flipped byte in a log segment is found and named', async () => {
  const d = await copy();
  const file = join(d, 'incr', 'c1.log');
  await flipByte(file, (len) => len - 3);
  await verifyFails(join(d, 'incr'), file, 'BACKUP_CORRUPT');
});

test('a damaged record is caught by decoding even when the manifest checksum was updated to match', async () => {
  const d = await copy();
  const file = join(d, 'incr', 'c1.log');
  await flipByte(file, (len) => len - 3);
  const mPath = join(d, 'incr', 'manifest.json');
  const m = JSON.parse(await readFile(mPath, 'utf8')) as Manifest;
  const got = await sha256File(file);
  const cell = m.cells.find((x) => x.cell === 'c1')!;
  (cell.item as { sha256: string }).sha256 = got.sha256;
  await writeFile(mPath, JSON.stringify(m));
  const err = await verifyFails(join(d, 'incr'), file, 'BACKUP_CORRUPT');
  assert.match(err, /does not decode/);
});

test('a removed file is named', async () => {
  const d = await copy();
  const file = join(d, 'full', 'meta.snapshot');
  await rm(file);
  await verifyFails(join(d, 'incr'), file, 'BACKUP_INCOMPLETE');
});

test('a missing base breaks the chain, named by its manifest', async () => {
  const d = await copy();
  await rm(join(d, 'full', 'manifest.json'));
  await verifyFails(join(d, 'incr'), join(d, 'full', 'manifest.json'), 'BACKUP_CHAIN_BROKEN');
});

test('another full backup in place of the base breaks the chain', async () => {
  const d = await copy();
  await rm(join(d, 'full'), { recursive: true });
  await cp(join(work, 'other-full'), join(d, 'full'), { recursive: true });
  const err = await verifyFails(join(d, 'incr'), join(d, 'full', 'manifest.json'), 'BACKUP_CHAIN_BROKEN');
  assert.match(err, /is not the base/);
});

test('a manifest whose index disagrees with the snapshot inside is caught', async () => {
  const d = await copy();
  const mPath = join(d, 'full', 'manifest.json');
  const m = JSON.parse(await readFile(mPath, 'utf8')) as Manifest;
  const cell = m.cells.find((x) => x.cell === 'c1')!;
  (cell.item as { index: number }).index += 1;
  await writeFile(mPath, JSON.stringify(m));
  const err = await verifyFails(join(d, 'full'), join(d, 'full', 'c1.snapshot'), 'BACKUP_CORRUPT');
  assert.match(err, /state is at index/);
});

test('a directory without a manifest (a crashed backup) is not a backup', async () => {
  const d = await copy();
  await rm(join(d, 'incr', 'manifest.json'));
  await verifyFails(join(d, 'incr'), join(d, 'incr', 'manifest.json'), 'BACKUP_INCOMPLETE');
});

test('restore refuses a damaged chain before writing anything', async () => {
  const d = await copy();
  await flipByte(join(d, 'full', 'c1.snapshot'), (len) => len - 1);
  const root = join(d, 'restored');
  await assert.rejects(
    runRestore({ from: join(d, 'incr'), dataDirRoot: root, nodes: [{ id: 'n1', az: 'az1' }], toTimeMs: null }),
    (e: unknown) => e instanceof BackupError && e.code === 'BACKUP_CORRUPT' && e.detail.includes(join(d, 'full', 'c1.snapshot')),
  );
  await assert.rejects(stat(join(root, 'n1')), 'no data directory was created');
  // The same chain undamaged restores.
  const ok = await runRestore({ from: join(work, 'good', 'incr'), dataDirRoot: join(d, 'restored-ok'), nodes: [{ id: 'n1', az: 'az1' }], toTimeMs: null });
  assert.ok(ok.cells.find((c) => c.cell === 'c1')!.replayedEntries > 0);
});
