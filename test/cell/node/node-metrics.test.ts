// Unit tests of the cell node's scrape-time metrics: the Raft replication lag the leader
// reports, the gauges read from a node source (cells that go away leave no series), and the
// bounded data-directory walk.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CachedDiskUsage, measureDiskUsage } from '../../../cell/node/disk-usage.js';
import { NodeMetrics, type ReplicaMetricsView } from '../../../cell/node/metrics.js';
import { TestCluster } from '../raft/harness.js';

const dirs: string[] = [];
after(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

test('replication lag: the leader reports how far each follower matches, followers report nothing', () => {
  const c = new TestCluster(['a', 'b', 'c']);
  const leader = c.elect();
  const follower = ['a', 'b', 'c'].find((id) => id !== leader)!;
  for (let i = 0; i < 3; i++) c.propose(`x${i}`);
  c.settle();
  assert.deepEqual(c.node(follower).raft.replicationLag(), []);
  for (const [, lag] of c.node(leader).raft.replicationLag()) assert.equal(lag, 0, 'caught up after settle');
  c.isolate(follower);
  for (let i = 0; i < 5; i++) c.propose(`y${i}`);
  c.settle();
  const lags = new Map(c.node(leader).raft.replicationLag());
  assert.equal(lags.size, 2);
  assert.equal(lags.get(follower), 5, 'the isolated follower misses the five new entries');
  assert.equal(lags.get(['a', 'b', 'c'].find((id) => id !== leader && id !== follower)!), 0);
});

test('scrape-time gauges follow the source; a cell no longer hosted leaves no series', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'cellkv-metrics-'));
  dirs.push(dir);
  let replicas: ReplicaMetricsView[] = [
    { cell: 'c1', term: 3, commit: 10, applied: 8, hasLeader: true, followerLag: [['n2', 4]] },
    { cell: 'c2', term: 5, commit: 7, applied: 7, hasLeader: false, followerLag: [] },
  ];
  let lastHeartbeatMs = Date.now() - 40_000;
  const m = new NodeMetrics();
  m.attach({
    nodeId: 'n1',
    az: 'az1',
    dataDir: dir,
    replicas: () => replicas,
    heartbeats: () => [
      { node: 'n2', az: 'az2', lastHeartbeatMs },
      { node: 'n3', az: 'az3', lastHeartbeatMs: 0 },
    ],
  });
  let body = await m.registry.metrics();
  assert.match(body, /cellkv_node_info\{node="n1",az="az1"\} 1/);
  assert.match(body, /cellkv_raft_term\{cell="c1"\} 3/);
  assert.match(body, /cellkv_raft_commit_index\{cell="c1"\} 10/);
  assert.match(body, /cellkv_raft_applied_index\{cell="c1"\} 8/);
  assert.match(body, /cellkv_raft_has_leader\{cell="c2"\} 0/);
  assert.match(body, /cellkv_raft_follower_lag_entries\{cell="c1",follower="n2"\} 4/);
  const age = Number(/cellkv_meta_node_heartbeat_age_seconds\{node="n2",az="az2"\} ([\d.]+)/.exec(body)?.[1]);
  assert.ok(age >= 40 && age < 100, `heartbeat age ${age}`);
  assert.match(body, /cellkv_meta_node_heartbeat_age_seconds\{node="n3",az="az3"\} \+Inf/, 'never seen');
  assert.match(body, /cellkv_data_fs_size_bytes [1-9]/);
  replicas = [replicas[0]!];
  lastHeartbeatMs = Date.now();
  body = await m.registry.metrics();
  assert.doesNotMatch(body, /cell="c2"/);
  assert.match(body, /cellkv_raft_term\{cell="c1"\} 3/);
});

test('the data-directory walk sums files, counts tables, stops at its bounds and caches', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'cellkv-disk-'));
  dirs.push(dir);
  await writeFile(join(dir, '000005.ldb'), Buffer.alloc(1000));
  await writeFile(join(dir, '000006.log'), Buffer.alloc(234));
  await mkdir(join(dir, 'snapshots/a/b'), { recursive: true });
  await writeFile(join(dir, 'snapshots/s1.sst'), Buffer.alloc(10));
  await writeFile(join(dir, 'snapshots/a/b/deep'), Buffer.alloc(5));
  const all = await measureDiskUsage(dir);
  assert.deepEqual({ bytes: all.bytes, files: all.files, sst: all.sstFiles, truncated: all.truncated }, { bytes: 1249, files: 4, sst: 2, truncated: false });
  assert.ok(all.fsSizeBytes > 0 && all.fsFreeBytes >= 0 && all.fsFreeBytes <= all.fsSizeBytes);
  const shallow = await measureDiskUsage(dir, { maxDepth: 1, maxEntries: 100 });
  assert.equal(shallow.truncated, true);
  assert.equal(shallow.bytes, 1244, 'the file three levels down is not reached');
  const few = await measureDiskUsage(dir, { maxDepth: 4, maxEntries: 2 });
  assert.equal(few.truncated, true);
  await assert.rejects(measureDiskUsage(join(dir, 'missing')), /ENOENT/);

  let now = 0;
  const cached = new CachedDiskUsage(dir, 5000, () => now);
  assert.equal((await cached.get()).bytes, 1249);
  await writeFile(join(dir, 'more'), Buffer.alloc(1));
  assert.equal((await cached.get()).bytes, 1249, 'within maxAge: the cached walk');
  now = 6000;
  assert.equal((await cached.get()).bytes, 1250);
});
