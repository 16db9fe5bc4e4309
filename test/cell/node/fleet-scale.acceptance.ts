// Run with `npm run test:fleet` (not part of `npm test`: one run in three clean-clone CI runs
// failed in phase d, a node bug not found yet; see README, What does not work yet).
// The six-node acceptance test, on real processes (n1..n3 bootstrap az1..az3, n4..n6 start
// empty in az1..az3), with every threshold scaled down. What it proves, in one run, while a
// checker (chaos/workload.ts clients doing get / put / cas / delete on 16 keys spread over the
// key space, so they live in different cells) records a history the whole time:
//   a. loading data splits the cell by size into >= 3 cells and the placement driver puts
//      replicas of data cells on the empty nodes n4..n6;
//   b. a skewed hot read load on a narrow range splits a cell by load;
//   c. deleting most keys merges cells back (needs neighbours on the same nodes: the failure
//      message lists every cell's replicas);
//   d. a node killed for good has its replicas re-created on the other node of its AZ: every cell
//      ends with 3 voters in 3 AZs, none on the dead node;
//   e. a drained node ends with no replicas;
// and through all of it the history is linearizable per key, no acknowledged write is lost,
// versions increase per key, the last acknowledged write of each key (with no write concurrent
// with it or of unknown outcome) is its final value, and the data keys kept keep their values.
// A phase that fails is reported and the later phases still run; the test fails at the end.
// Seen failing (node bugs, 2026-12-04): a merge's frozen right cell never retired when a voter
// of the left cell was re-created from a snapshot (the prepared replica's record lacks
// `absorbed`), which then blocks a drain; leader balance handing a leadership to the dead node
// (TRANSFERRING refuses the repair move and writes); no merge when no two neighbours share nodes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CellCluster } from '../../support/cell-cluster.js';
import { dec, enc } from '../../support/cell-ops.js';
import { waitFor } from '../../support/wait.js';
import { CellDriver } from '../../../chaos/drivers.js';
import { History, Workload } from '../../../chaos/workload.js';
import { Rng } from '../../../chaos/rng.js';
import { checkLinearizable, checkNoLostWrites, checkVersions, finalReads } from '../../../chaos/checks.js';
import { Rng as ZipfRng, Zipfian } from '../../../bench/zipfian.js';
import { META_CELL_ID, hexOf, type CellDescriptor, type DirectoryView } from '../../../shared/directory.js';
import { namespacedKey } from '../../../shared/keys.js';
import type { HistoryRecord } from '../../../shared/lincheck/index.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const TENANT = 't1';
const IDS = ['n1', 'n2', 'n3', 'n4', 'n5', 'n6'];
const azOf = (n: string) => `az${((Number(n.slice(1)) - 1) % 3) + 1}`;
const partner = (n: string) => `n${((Number(n.slice(1)) + 2) % 6) + 1}`;
// A size split cuts 24 KiB off a cell and each half then waits the 10 s split cool-down, so a
// bigger load only peels one 24 KiB cell per 10 s (and keeps splitting into the later phases):
// 450 keys of ~206 B (~93 KB) give three cells after two splits.
const DATA_KEYS = 450;
const KEPT = 10; // the last data keys survive the deletes of phase c
const dataKey = (i: number) => `k${String(i).padStart(5, '0')}`;
// Checker keys sort right after a data key ('~' > digits), so they sit inside the data cells.
const CHECK_KEYS = Array.from({ length: 16 }, (_, i) => `${dataKey(Math.floor(((i + 0.5) * DATA_KEYS) / 16))}~chk`);
const ARGS = [
  '--split-max-bytes', '49152', '--split-size-bytes', '24576', '--split-min-keys', '16', '--rebalance-interval-ms', '200',
  '--merge-cooldown-ms', '3000', '--split-load-qps', '150', '--placement-interval-ms', '1000', '--dead-node-timeout-ms', '5000',
  '--placement-move-cooldown-ms', '5000',
];

type StatusCell = { cell: string; role: string; confState?: { voters: string[]; learners: string[] }; sizeBytes?: number; frozen?: boolean; epoch?: number };
type Status = { ok: boolean; cells?: StatusCell[] };

const t0 = Date.now();
const say = (msg: string) => console.log(`# [${((Date.now() - t0) / 1000).toFixed(1)}s] ${msg}`);
const nsHex = (k: string) => hexOf(namespacedKey(TENANT, enc(k)));
const inCell = (c: CellDescriptor, k: string) => {
  const h = nsHex(k);
  return h >= c.start && (c.end === null || h < c.end);
};

function cli(args: readonly string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [join(ROOT, 'cli/bin.mjs'), ...args], { cwd: ROOT, env: { ...process.env, CELLKV_NATS: '' }, timeout: 30_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? 1 : 0, stdout, stderr });
    });
  });
}

async function sumMetric(c: CellCluster, name: string): Promise<number> {
  let sum = 0;
  for (const n of c.nodes) {
    if (!n.proc || !n.metricsUrl) continue;
    const text = await (await fetch(n.metricsUrl.replace(/\/?$/, '/metrics'), { signal: AbortSignal.timeout(2000) })).text();
    for (const line of text.split('\n')) if (line.startsWith(name)) sum += Number(line.split(' ').pop());
  }
  return sum;
}

const dataCells = (d: DirectoryView) => d.cells.filter((x) => x.id !== META_CELL_ID).sort((a, b) => (a.start < b.start ? -1 : 1));
const layout = (d: DirectoryView) =>
  d.cells.map((x) => `${x.id}[${x.replicas.map((r) => r.node).sort().join(',')}]${d.leaders[x.id] ? `@${d.leaders[x.id]}` : ''}`).join(' ');

/** Each cell's membership as its leader reports it (the meta cell included: the directory lists data cells only). */
async function memberships(c: CellCluster, live: readonly string[]): Promise<Map<string, { leader: string; voters: string[]; learners: string[] }>> {
  const out = new Map<string, { leader: string; voters: string[]; learners: string[] }>();
  for (const [node, cells] of await replicaCounts(c, live)) {
    // A frozen cell was merged away (or is being merged): its group runs until it is retired.
    for (const x of cells) if (x.role === 'leader' && x.confState && x.frozen !== true) out.set(x.cell, { leader: node, voters: [...x.confState.voters].sort(), learners: x.confState.learners });
  }
  return out;
}

/** Frozen replicas on the live nodes: a merged-away cell not retired (yet), e.g. "cX on n1,n6". */
async function frozenReplicas(c: CellCluster, live: readonly string[]): Promise<string[]> {
  const on = new Map<string, string[]>();
  for (const [node, cells] of await replicaCounts(c, live)) for (const x of cells) if (x.frozen === true) on.set(x.cell, [...(on.get(x.cell) ?? []), node]);
  return [...on].map(([cell, nodes]) => `${cell} on ${nodes.sort().join(',')}`);
}

const membershipText = (m: Map<string, { leader: string; voters: string[]; learners: string[] }>) =>
  [...m].map(([id, x]) => `${id}[${x.voters.join(',')}${x.learners.length ? ` +${x.learners.join(',')}` : ''}]@${x.leader}`).join(' ');

/** Replicas per node, from each live node's own status. */
async function replicaCounts(c: CellCluster, live: readonly string[]): Promise<Map<string, StatusCell[]>> {
  const out = new Map<string, StatusCell[]>();
  await Promise.all(live.map(async (id) => out.set(id, (await c.launcher.adminRequest<Status>(id, { op: 'status' }, 2000).catch(() => ({ ok: false }) as Status)).cells ?? [])));
  return out;
}

/**
 * The last acknowledged write of a key is its final value when no other write of the key ran
 * concurrently with it or after it and none has an unknown outcome; returns the violations and
 * how many keys qualified.
 */
function checkLastAckedIsFinal(records: readonly HistoryRecord[], finals: ReadonlyMap<string, HistoryRecord>): { failures: string[]; checked: number } {
  const failures: string[] = [];
  let checked = 0;
  for (const key of CHECK_KEYS) {
    const writes = records.filter((r) => r.key === key && r.op !== 'get');
    if (writes.some((w) => w.outcome === 'unknown')) continue;
    const acked = writes.filter((w) => w.outcome === 'ok' && !(w.op === 'cas' && w.output && 'swapped' in w.output && !w.output.swapped));
    const last = acked.sort((a, b) => b.invoke - a.invoke)[0];
    if (!last || writes.some((w) => w !== last && (w.complete ?? Infinity) > last.invoke)) continue;
    const f = finals.get(key)?.output;
    if (!f || !('found' in f)) continue;
    checked++;
    const want = last.op === 'delete' ? null : last.value;
    const got = f.found ? f.value : null;
    if (got !== want) failures.push(`key ${key}: last acknowledged ${last.op} ${want ?? '(delete)'} but final value ${got ?? '(absent)'}`);
  }
  return { failures, checked };
}

test('six nodes: size split, placement onto new nodes, load split, merges, a dead node repaired, a drain; linearizable throughout', { timeout: 300_000 }, async () => {
  const c = await CellCluster.start({ nodes: 6, extraArgs: ARGS, env: { CELLKV_LOG_LEVEL: 'info' } });
  const problems: string[] = [];
  const phase = async (name: string, fn: () => Promise<void>) => {
    const start = Date.now();
    say(`phase ${name}: start`);
    try {
      await fn();
      say(`phase ${name}: ok in ${((Date.now() - start) / 1000).toFixed(1)} s`);
    } catch (e) {
      const msg = `phase ${name} FAILED after ${((Date.now() - start) / 1000).toFixed(1)} s: ${(e as Error).message}`;
      say(msg);
      problems.push(msg);
    }
  };
  const dead = new Set<string>();
  const live = () => IDS.filter((n) => !dead.has(n));
  const dir = () => c.client.directory(true);
  const history = new History(process.hrtime.bigint());
  const workload = new Workload({
    keys: CHECK_KEYS,
    // Three slow clients: ~45 ops/s over all cells, far under the merge load limit (75/s per pair).
    drivers: [1, 2, 3].map((i) => new CellDriver(`chk${i}`, c.nc, TENANT, { attemptTimeoutMs: 1000, maxAttempts: 8 })),
    history,
    rng: new Rng(20261204),
    thinkMs: [40, 80],
  });
  try {
    workload.start();
    const value = new Uint8Array(200).fill(97);

    await phase('a (size splits, replicas onto n4..n6)', async () => {
      await Promise.all(Array.from({ length: 16 }, async (_, w) => {
        for (let i = w; i < DATA_KEYS; i += 16) assert.equal((await c.client.put(TENANT, enc(dataKey(i)), value)).result.status, 'ok');
      }));
      say(`loaded ${DATA_KEYS} keys`);
      await waitFor('at least three data cells', async () => dataCells(await dir()).length >= 3, 60_000, 500);
      say(`cells after the size splits: ${layout(await dir())}; size splits ${await sumMetric(c, 'cellkv_cell_auto_splits_total{reason="size"}')}`);
      await waitFor('a data cell with a replica on n4, n5 or n6', async () => dataCells(await dir()).some((x) => x.replicas.some((r) => ['n4', 'n5', 'n6'].includes(r.node))), 60_000, 500).catch(async (e: Error) => {
        throw new Error(`${e.message}; cells: ${layout(await dir())}`);
      });
      // Balancing per AZ (counts differing by 2 or more) gives each new node at least one replica.
      let last = '';
      await waitFor('n4, n5 and n6 each hosting a replica', async () => {
        const st = await replicaCounts(c, ['n4', 'n5', 'n6']);
        last = [...st].map(([n, x]) => `${n}: ${x.map((y) => y.cell).join(',') || 'nothing'}`).join('; ');
        return [...st.values()].every((x) => x.length > 0);
      }, 60_000, 1000).catch((e: Error) => {
        throw new Error(`${e.message}; ${last}`);
      });
      say(`placed: ${membershipText(await memberships(c, live()))}`);
    });

    await phase('b (load split)', async () => {
      // The cell holding the most data keys takes reads on a window in its middle, zipfian over
      // 64 keys with the ranks spread over the window, so the load's median is well inside it.
      const cells = dataCells(await dir());
      const counts = cells.map((x) => Array.from({ length: DATA_KEYS }, (_, i) => i).filter((i) => inCell(x, dataKey(i))));
      const keysOf = counts.reduce((a, b) => (b.length > a.length ? b : a));
      const mid = keysOf[Math.floor(keysOf.length / 2)]!;
      const window = Array.from({ length: 64 }, (_, i) => Math.max(keysOf[0]!, Math.min(keysOf.at(-1)!, mid - 32 + i)));
      say(`hot window ${dataKey(window[0]!)}..${dataKey(window.at(-1)!)} in a cell of ${keysOf.length} keys`);
      const before = await sumMetric(c, 'cellkv_cell_auto_splits_total{reason="load"}');
      let stop = false;
      const readers = Array.from({ length: 8 }, async (_, w) => {
        const z = new Zipfian(64, new ZipfRng(1000 + w));
        while (!stop) await c.client.get(TENANT, enc(dataKey(window[(z.next() * 37) % 64]!))).catch(() => undefined);
      });
      // What the hot cell's leader sees, every 2 s: a failure then says whether the load was
      // below the threshold, or the leader (whose sampler is the one that counts) kept changing.
      const hot = cells[counts.indexOf(keysOf)]!.id;
      const seen: string[] = [];
      const monitor = setInterval(() => {
        void (async () => {
          const m = (await memberships(c, live())).get(hot);
          if (!m) return void seen.push('no leader');
          const st = await c.launcher.adminRequest<{ ok: boolean; stats?: { load: { intervals: { qps: number }[] } | null } }>(m.leader, { op: 'cellStats', cell: hot }, 2000);
          const qps = st.stats?.load?.intervals.slice(-4).map((x) => Math.round(x.qps)).join('/') ?? '?';
          seen.push(`${m.leader}[${m.voters.join(',')}] qps ${qps}`);
        })().catch((e: Error) => seen.push(`? ${e.message}`));
      }, 2000);
      try {
        await waitFor('a load split', async () => (await sumMetric(c, 'cellkv_cell_auto_splits_total{reason="load"}')) > before, 45_000, 500).catch((e: Error) => {
          throw new Error(`${e.message}; the hot cell ${hot} every 2 s (leader[voters] qps of its last 4 intervals): ${seen.join(' | ')}`);
        });
      } finally {
        clearInterval(monitor);
        stop = true;
        await Promise.all(readers);
      }
      say(`hot cell ${hot}: ${seen.join(' | ')}`);
      say(`load split: ${layout(await dir())}`);
    });

    await phase('c (merges after deletes)', async () => {
      const most = dataCells(await dir()).length;
      await Promise.all(Array.from({ length: 16 }, async (_, w) => {
        for (let i = w; i < DATA_KEYS - KEPT; i += 16) assert.equal((await c.client.delete(TENANT, enc(dataKey(i)))).result.status, 'ok');
      }));
      say(`deleted ${DATA_KEYS - KEPT} keys; ${most} data cells`);
      // The merge policy wants both cells' max load over its 16 s window under 75/s: the hot reads
      // and the deletes must leave the window first.
      await waitFor('a merge (fewer data cells)', async () => dataCells(await dir()).length < most, 75_000, 500).catch(async (e: Error) => {
        throw new Error(`${e.message}: merges need neighbours on the same nodes; cells (sorted by range) and replicas: ${layout(await dir())}; merges ${await sumMetric(c, 'cellkv_cell_auto_merges_total')}`);
      });
      say(`merged: ${layout(await dir())}; ${dataCells(await dir()).length} data cells`);
    });

    await phase('d (a node dies for good)', async () => {
      // The node of az2 hosting more replicas dies; its partner takes them over.
      const counts = await replicaCounts(c, ['n2', 'n5']);
      const victim = (counts.get('n5')?.length ?? 0) > (counts.get('n2')?.length ?? 0) ? 'n5' : 'n2';
      say(`killing ${victim} (hosts ${counts.get(victim)?.map((x) => x.cell).join(',')}); ${layout(await dir())}`);
      await c.kill(victim);
      dead.add(victim);
      const hosted = (counts.get(victim) ?? []).map((x) => x.cell);
      let last = '';
      await waitFor(`every cell with 3 voters in 3 AZs, none on ${victim}`, async () => {
        const d = await dir();
        const m = await memberships(c, live());
        last = `directory ${layout(d)}; leaders' view ${membershipText(m)}`;
        const ids = new Set([META_CELL_ID, ...d.cells.map((x) => x.id)]);
        return [...ids].every((id) => {
          const x = m.get(id);
          const nodes = d.cells.find((y) => y.id === id)?.replicas.map((r) => r.node) ?? x?.voters ?? [];
          return x !== undefined && x.learners.length === 0 && x.voters.length === 3 && !x.voters.includes(victim) && new Set(x.voters.map(azOf)).size === 3 &&
            nodes.length === 3 && !nodes.includes(victim);
        });
      }, 90_000, 1000).catch((e: Error) => {
        throw new Error(`${e.message}; last: ${last}`);
      });
      // The dead node's AZ has one node left: every replica it hosted is there now.
      const after = await memberships(c, live());
      // A merge's frozen right cell is retired once every voter of the left one has the merge on
      // disk; a voter re-created from a snapshot must be able to say so too.
      await waitFor('no frozen (merged-away) replica left', async () => (await frozenReplicas(c, live())).length === 0, 15_000, 1000).catch(async () => {
        throw new Error(`merged-away cells never retired: frozen replicas of ${(await frozenReplicas(c, live())).join('; ')} (their absorbing cells: ${membershipText(after)})`);
      });
      for (const id of hosted) if (after.has(id)) assert.ok(after.get(id)!.voters.includes(partner(victim)), `${id} re-created on ${partner(victim)}: ${membershipText(after)}`);
      say(`repaired: ${membershipText(after)}`);
      // Leader balance handing leaderships to the dead node stalls the cell (TRANSFERRING refuses
      // writes and membership changes): count it in the nodes' recent output (info level).
      const toDead = live().map((n) => [n, c.node(n).output.split('\n').filter((l) => l.includes('leader balance: transfer') && l.includes(`"to":"${victim}"`)).length] as const).filter(([, k]) => k > 0);
      if (toDead.length > 0) say(`NOTE: leader balance transfers to the dead ${victim} (in the output tails): ${toDead.map(([n, k]) => `${n} ${k}×`).join(', ')}`);
    });

    await phase('e (drain)', async () => {
      // Drain the busiest node of an AZ that still has two live nodes.
      const counts = await replicaCounts(c, live().filter((n) => azOf(n) !== 'az2'));
      const target = [...counts].sort((a, b) => b[1].length - a[1].length)[0]![0];
      say(`draining ${target} (hosts ${counts.get(target)!.map((x) => x.cell).join(',')})`);
      const r = await cli(['nodes', 'drain', target, '--nats', c.nats.url]);
      assert.equal(r.code, 0, r.stderr);
      let last = '';
      await waitFor(`${target} hosts no replica`, async () => {
        const st = (await replicaCounts(c, [target])).get(target)!;
        last = JSON.stringify(st);
        return st.length === 0 && (await dir()).cells.every((x) => !x.replicas.some((rep) => rep.node === target));
      }, 90_000, 1000).catch(async (e: Error) => {
        throw new Error(`${e.message}; it still hosts ${last}; directory: ${layout(await dir())}`);
      });
      const m = await memberships(c, live());
      for (const [id, x] of m) assert.ok(x.voters.length === 3 && new Set(x.voters.map(azOf)).size === 3 && !x.voters.includes(target), `${id}: ${membershipText(m)}`);
      say(`drained: ${membershipText(m)}`);
    });
  } finally {
    const stopped = await workload.stop(20_000);
    history.abandonInflight();
    try {
      say(`checker: ${workload.stats.ok} ok, ${workload.stats.fail} fail, ${workload.stats.unknown} unknown${stopped ? '' : ' (clients did not all return)'}; ${[...workload.reasons].map(([r, n]) => `${n}× ${r}`).join('; ')}`);
      const finals = await finalReads(c.nc, TENANT, CHECK_KEYS, history, 30_000);
      const lin = checkLinearizable(history.records, 60_000);
      const lost = checkNoLostWrites(history.records, finals);
      const versions = checkVersions(history.records);
      const lastAcked = checkLastAckedIsFinal(history.records, finals);
      say(`history: ${history.records.length} records; linearizable: ${lin.result.result}; last-acknowledged check on ${lastAcked.checked} keys`);
      for (const o of [lin.outcome, lost, versions]) if (!o.ok) problems.push(`${o.name}: ${o.details.join('\n  ')}`);
      problems.push(...lastAcked.failures);
      if (finals.size !== CHECK_KEYS.length) problems.push(`final reads: only ${finals.size} of ${CHECK_KEYS.length} keys answered`);
      for (let i = DATA_KEYS - KEPT; i < DATA_KEYS; i++) {
        const got = (await c.client.get(TENANT, enc(dataKey(i)))).result;
        if (!(got.status === 'ok' && got.found && dec(got.value)?.length === 200)) problems.push(`kept data key ${dataKey(i)} lost its value`);
      }
      if (problems.length > 0) for (const id of IDS) say(`--- ${id} output (tail) ---\n${c.node(id).output.slice(-3000).replace(/^/gm, '#   ')}`);
    } finally {
      await c.stop();
    }
  }
  assert.deepEqual(problems, [], problems.join('\n'));
});
