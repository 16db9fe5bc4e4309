// Disaster-recovery drill with real processes: write data (thousands of keys, TTLs, deletes,
// tenants with quotas), take a full backup while writes continue and an incremental after,
// verify, destroy the cluster, restore onto fresh directories and ports, and compare.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CellCluster } from '../../support/cell-cluster.js';
import { AdminClient } from '../../../cli/admin.js';
import { openNodeDb } from '../../../cell/storage/node-db.js';
import { dataKey, decodeStoredValue } from '../../../cell/storage/records.js';
import { namespacedKey } from '../../../shared/keys.js';
import { loadManifest } from '../../../cell/backup/backup.js';
import { MAX_CHUNK_BYTES } from '../../../cell/node/backup-admin.js';
import { bulkDelete, bulkPut, cellkv, dec, enc, getValue, settledDigests } from './support.js';

const clusters: CellCluster[] = [];
let work = '';
after(async () => {
  for (const c of clusters) await c.stop().catch(() => undefined);
  if (work) await rm(work, { recursive: true, force: true });
});

test('backup under writes, verify, destroy, restore onto fresh dirs and ports: same digests, same data', async () => {
  work = await mkdtemp(join(tmpdir(), 'cellkv-dr-'));
  const src = await CellCluster.start();
  clusters.push(src);
  const nats = src.nats.url;
  const a = AdminClient.over(src.nc, 5000);
  await a.waitForLeaders(20_000);
  await a.putTenant({ id: 'acme', maxKeys: 50_000, maxBytes: 10_000_000 });
  await a.putTenant({ id: 'globex', opsPerSec: 500 });

  // 3,000 keys over two tenants, 300 with a long TTL, 400 deleted again.
  const acme = Array.from({ length: 2000 }, (_, i) => `k/${String(i).padStart(5, '0')}`);
  const globex = Array.from({ length: 700 }, (_, i) => `g/${i}`);
  const ttl = Array.from({ length: 300 }, (_, i) => `ttl/${i}`);
  // Values of ~400 bytes: the data cell's snapshot (~1 MB) is fetched in several chunks.
  const pad = '.'.repeat(380);
  await bulkPut(src, 'acme', acme, (k) => `value of ${k}${pad}`);
  await bulkPut(src, 'globex', globex, (k) => `globex ${k}`);
  await bulkPut(src, 'acme', ttl, (k) => `short ${k}`, { ttlMs: 3_600_000 });
  const deleted = acme.filter((_, i) => i % 5 === 0);
  await bulkDelete(src, 'acme', deleted);

  // Writes continue through the full backup: unique keys, each with the index it committed at.
  const acked: { key: string; index: number }[] = [];
  let writing = true;
  const writer = (async () => {
    for (let i = 0; writing && i < 100_000; i++) {
      const key = `live/${i}`;
      const r = await src.client.put('acme', enc(key), enc(`live ${i}`));
      if (r.result.status === 'ok') acked.push({ key, index: Number(r.index) });
    }
  })();

  const full = join(work, 'full');
  const b1 = await cellkv(['backup', '--to', full, '--nats', nats, '--cluster-id', 'drill']);
  assert.equal(b1.code, 0, b1.stderr);
  assert.match(b1.stderr, /backup/); // progress on stderr
  writing = false;
  await writer;
  assert.ok(acked.length > 0, 'writes went on during the backup');

  // A second backup of a directory that holds one is refused.
  const again = await cellkv(['backup', '--to', full, '--nats', nats]);
  assert.equal(again.code, 1);
  assert.match(again.stderr, /BACKUP_EXISTS/);

  // ~750 KB of log after the full backup: the incremental's log page is chunked too.
  const late = Array.from({ length: 1500 }, (_, i) => `late/${i}`);
  await bulkPut(src, 'globex', late, (k) => `${k} ${'#'.repeat(480)}`);
  const before = await settledDigests(src, ['meta', 'c1']);
  const incr = join(work, 'incr');
  const b2 = await cellkv(['backup', '--to', incr, '--incremental', '--base', full, '--nats', nats]);
  assert.equal(b2.code, 0, b2.stderr);
  const incrManifest = (await loadManifest(incr)).manifest;
  const c1Item = incrManifest.cells.find((c) => c.cell === 'c1')!.item;
  // Both blobs exceed one chunk (MAX_CHUNK_BYTES): they came through backupChunk, not inline.
  assert.ok(c1Item.bytes > MAX_CHUNK_BYTES, `log segment of ${c1Item.bytes} bytes`);
  const fullC1 = (await loadManifest(full)).manifest.cells.find((c) => c.cell === 'c1')!.item;
  assert.ok(fullC1.bytes > MAX_CHUNK_BYTES, `snapshot of ${fullC1.bytes} bytes`);
  assert.equal(c1Item.type, 'log', 'the incremental carries the log after the full backup');
  // At the settled index, or just past it when a leader change appended a no-op meanwhile.
  assert.ok(c1Item.type === 'log' && c1Item.toIndex >= before.get('c1')!.applied, 'the incremental reaches the settled index');

  const v = await cellkv(['verify', incr]);
  assert.equal(v.code, 0, v.stderr);
  assert.match(v.stdout, /^ok: /);

  // Two AZs lost: the survivor alone still serves a backup of everything it applied.
  await src.kill('n2');
  await src.kill('n3');
  const salvage = join(work, 'salvage');
  const sb = await cellkv(['backup', '--to', salvage, '--nats', nats]);
  assert.equal(sb.code, 0, sb.stderr);
  const sm = (await loadManifest(salvage)).manifest;
  assert.ok(sm.cells.every((c) => c.item.node === 'n1'), 'served by the survivor');
  const sc1 = sm.cells.find((c) => c.cell === 'c1')!.item;
  assert.ok(sc1.type === 'snapshot' && sc1.index >= before.get('c1')!.applied);

  // Full-cluster loss.
  await src.stop();
  clusters.splice(clusters.indexOf(src), 1);

  // Restore targets must be fresh: a non-empty one is refused with a stable code.
  const busy = join(work, 'busy');
  await mkdir(join(busy, 'n1'), { recursive: true });
  await writeFile(join(busy, 'n1', 'something'), 'x');
  const refused = await cellkv(['restore', '--from', incr, '--data-dir-root', busy, '--nodes', 'n1:az1,n2:az2,n3:az3']);
  assert.equal(refused.code, 1);
  assert.match(refused.stderr, /RESTORE_TARGET_NOT_EMPTY/);

  const root = join(work, 'restored');
  const r = await cellkv(['restore', '--from', incr, '--data-dir-root', root, '--nodes', 'n1:az1,n2:az2,n3:az3']);
  assert.equal(r.code, 0, r.stderr);
  const dst = await CellCluster.start({ dataRoot: root });
  clusters.push(dst);
  assert.notEqual(dst.nats.url, nats, 'the new cluster runs on other ports');
  const afterRestore = await settledDigests(dst, ['meta', 'c1']);
  for (const cell of ['meta', 'c1']) {
    assert.equal(afterRestore.get(cell)!.digest, before.get(cell)!.digest, `digest of ${cell}`);
  }
  assert.equal(afterRestore.get('c1')!.keys, before.get('c1')!.keys);

  // Data back through the client: values, TTLs, deletes, writes made during the backup.
  for (const k of acme.slice(0, 50)) {
    const got = await getValue(dst, 'acme', k);
    assert.equal(got.value, deleted.includes(k) ? null : `value of ${k}${pad}`, k);
  }
  assert.equal((await getValue(dst, 'globex', 'g/699')).value, 'globex g/699');
  assert.equal((await getValue(dst, 'globex', 'late/1499')).value, `late/1499 ${'#'.repeat(480)}`);
  const t = await getValue(dst, 'acme', 'ttl/7');
  assert.equal(t.value, 'short ttl/7');
  assert.ok(t.expiresAt !== null && t.expiresAt > Date.now(), 'TTL survives the restore');
  const lastLive = acked[acked.length - 1]!;
  assert.equal((await getValue(dst, 'acme', lastLive.key)).value, `live ${lastLive.key.slice(5)}`);
  const ad = AdminClient.over(dst.nc, 5000);
  const tenants = await ad.listTenants();
  assert.deepEqual(tenants.find((x) => x.id === 'acme'), { id: 'acme', maxKeys: 50_000, maxBytes: 10_000_000 });
  assert.deepEqual(tenants.find((x) => x.id === 'globex'), { id: 'globex', opsPerSec: 500 });
  // The restored cluster takes writes.
  const w = await dst.client.put('acme', enc('after-restore'), enc('yes'));
  assert.equal(w.result.status, 'ok');
  assert.ok(Number(w.index) > before.get('c1')!.applied, 'the log goes on after the restored index');

  // The full backup alone, taken under writes, is consistent at its index: every write
  // acknowledged at or below it is in, every later one is out.
  const fullIndex = (await loadManifest(full)).manifest.cells.find((c) => c.cell === 'c1')!.item;
  assert.equal(fullIndex.type, 'snapshot');
  const at = fullIndex.type === 'snapshot' ? fullIndex.index : 0;
  const root2 = join(work, 'restored-full');
  const r2 = await cellkv(['restore', '--from', full, '--data-dir-root', root2, '--nodes', 'x1:az1']);
  assert.equal(r2.code, 0, r2.stderr);
  const db = await openNodeDb(join(root2, 'x1'));
  try {
    let inside = 0;
    for (const w of acked) {
      const raw = await db.get(dataKey(namespacedKey('acme', enc(w.key))));
      assert.equal(raw !== undefined, w.index <= at, `${w.key} acknowledged at ${w.index}, backup at ${at}`);
      if (raw) {
        inside++;
        assert.equal(dec(decodeStoredValue(raw).value), `live ${w.key.slice(5)}`);
      }
    }
    assert.ok(inside > 0, 'writes acknowledged before the snapshot was pinned are in it');
  } finally {
    await db.close();
  }
});
