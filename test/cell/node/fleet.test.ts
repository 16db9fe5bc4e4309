// The fleet on real processes: six nodes (n1..n3 bootstrap the meta cell and c1, n4..n6 start
// empty, two nodes per AZ). Every node registers and stays live in the directory, the empty
// ones included (their heartbeats go through the meta leader); an empty node answers admin
// status and serves directory lookups; `cellkv nodes drain` marks a node draining and it
// hands its leaderships away. The replica moves of a drain need the admin op `move`
// (cell/node/replica moves): that part is skipped, saying so, on nodes that do not know it.

import { strict as assert } from 'node:assert';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { AdminClient } from '../../../cli/admin.js';
import { NODE_LIVENESS_MS } from '../../../shared/directory.js';
import { CellCluster } from '../../support/cell-cluster.js';
import { waitFor } from '../../support/wait.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const BIN = join(ROOT, 'cli/bin.mjs');
const IDS = ['n1', 'n2', 'n3', 'n4', 'n5', 'n6'];

function cli(args: readonly string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args], { cwd: ROOT, env: { ...process.env, CELLKV_NATS: '' }, timeout: 30_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? 1 : 0, stdout, stderr });
    });
  });
}

type Status = { ok: boolean; cells?: { cell: string; role: string }[]; code?: string; message?: string };

test('six nodes: all live in the directory, empty ones serve status and lookups, drain hands leaderships away (and moves replicas when nodes know `move`)', { timeout: 240_000 }, async (t) => {
  const cluster = await CellCluster.start({ nodes: 6, extraArgs: ['--placement-interval-ms', '500', '--placement-move-cooldown-ms', '2000'] });
  try {
    const admin = AdminClient.over(cluster.nc);
    const nats = ['--nats', cluster.nats.url];
    const status = (id: string) => cluster.launcher.adminRequest<Status>(id, { op: 'status' }, 1500);

    // 1. Every node registers and is live, n4..n6 included.
    await waitFor('all six nodes live in the directory', async () => {
      const d = await admin.directory();
      const now = Date.now();
      return IDS.every((id) => d.nodes.some((n) => n.id === id && n.lastHeartbeatMs > 0 && now - n.lastHeartbeatMs < NODE_LIVENESS_MS));
    }, 30_000);
    const d = await admin.directory();
    assert.deepEqual(d.nodes.map((n) => [n.id, n.az]), IDS.map((id, i) => [id, `az${(i % 3) + 1}`]));

    // 2. An empty node answers status, and `cellkv.dir` lookups landing on it still get the directory.
    const empty = await status('n6');
    assert.equal(empty.ok, true, JSON.stringify(empty));
    const lookups = await Promise.all(Array.from({ length: 24 }, () => admin.directory()));
    assert.ok(lookups.every((l) => l.cells.length > 0), `servedBy: ${lookups.map((l) => `${l.servedBy}:${l.cells.length}`).join(' ')}`);

    const list = await cli(['nodes', '--json', ...nats]);
    assert.equal(list.code, 0, list.stderr);
    const rows = JSON.parse(list.stdout) as { node: string; live: boolean; draining: boolean }[];
    assert.deepEqual(rows.map((r) => [r.node, r.live, r.draining]), IDS.map((id) => [id, true, false]));

    // 3. Drain n2: marked in the directory; it leads nothing soon after.
    const drain = await cli(['nodes', 'drain', 'n2', ...nats]);
    assert.equal(drain.code, 0, drain.stderr);
    await waitFor('n2 marked draining', async () => (await admin.directory()).nodes.find((n) => n.id === 'n2')?.draining === true, 10_000);
    await waitFor('n2 leads nothing', async () => {
      const s = await status('n2');
      return s.ok && (s.cells ?? []).every((c) => c.role !== 'leader');
    }, 30_000);

    // 4. The moves: only where nodes know the admin op `move`.
    const probe = await cluster.launcher.adminRequest<Status>('n1', { op: 'move', cell: 'no-such-cell', from: 'n1', to: 'n4' }, 5000);
    if (probe.ok === false && probe.code === 'INVALID_ARGUMENT' && /unknown admin op/.test(probe.message ?? '')) {
      t.diagnostic('SKIPPED the replica moves of the drain: the nodes do not know the admin op `move` yet (the replica-moves branch adds it)');
      return;
    }
    await waitFor('n2 empty: its replicas moved to n5 (same AZ)', async () => {
      const [s2, s5] = await Promise.all([status('n2'), status('n5')]);
      return s2.ok && (s2.cells ?? []).length === 0 && ['meta', 'c1'].every((c) => (s5.cells ?? []).some((x) => x.cell === c));
    }, 180_000, 500);
    const after = await admin.directory();
    for (const c of after.cells) {
      const azs = c.replicas.map((r) => r.az);
      assert.equal(new Set(azs).size, azs.length, `${c.id}: one replica per AZ (${JSON.stringify(c.replicas)})`);
      assert.ok(!c.replicas.some((r) => r.node === 'n2'), `${c.id} still lists n2`);
    }
  } finally {
    await cluster.stop();
  }
});
