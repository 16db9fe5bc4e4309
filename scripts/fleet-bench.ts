// `npm run bench:fleet -- [--keys 1000000] [--value-bytes 256] [--writers 16] [--batch 200] [--split-max-bytes N]`
//
// How a fresh six-node cluster (n1..n3 bootstrap, n4..n6 start empty; one nats-server, LevelDB
// in a temp dir) takes a bulk load with the default split thresholds (144 / 96 MiB) and the
// default placement knobs: loads --keys keys with concurrent writers, each request a batch of
// --batch keys of one cell (grouped by the directory; a batch refused because its cell split
// is regrouped and sent again: a put of the same value twice is harmless), then waits until
// the cells and their replicas stop changing, and prints the load time and keys/s, the data
// cells (range, size, replicas, leader), replicas and bytes per node, and the time and bytes/s
// of one replica move of the biggest cell to the other node of its AZ.
// Progress on stderr, results on stdout. The cluster is stopped on every exit path (Ctrl-C too).

import { Command } from 'commander';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CellCluster } from './cluster/cell-cluster.js';
import { Progress, formatCount } from '../bench/progress.js';
import { META_CELL_ID, hexOf, type CellDescriptor, type DirectoryView } from '../shared/directory.js';
import { namespacedKey } from '../shared/keys.js';
import type { CellOp } from '../shared/cell-protocol.js';

const o = new Command()
  .option('--keys <n>', 'keys to load', '1000000')
  .option('--value-bytes <n>', 'value size', '256')
  .option('--writers <n>', 'concurrent batch writers', '16')
  .option('--batch <n>', 'keys per request (at most 1000)', '200')
  .option('--split-max-bytes <n>', 'split a cell above this size (node default: 144 MiB)')
  .option('--settle-s <n>', 'the layout counts as settled after this long without a change', '20')
  .option('--settle-max-s <n>', 'give up waiting for the layout to settle after this long', '300')
  .option('--node-log-level <level>', 'log level of the nodes (their recent output is kept in memory)', 'warn')
  .option('--node-logs <dir>', "write each node's recent output to <dir>/<node>.log at the end")
  .parse()
  .opts<{ keys: string; valueBytes: string; writers: string; batch: string; splitMaxBytes?: string; settleS: string; settleMaxS: string; nodeLogLevel: string; nodeLogs?: string }>();

const KEYS = Number(o.keys);
const VALUE_BYTES = Number(o.valueBytes);
const WRITERS = Number(o.writers);
const BATCH = Number(o.batch);
const SETTLE_MS = Number(o.settleS) * 1000;
const SETTLE_MAX_MS = Number(o.settleMaxS) * 1000;
for (const [name, v, max] of [['--keys', KEYS, 20_000_000], ['--value-bytes', VALUE_BYTES, 65536], ['--writers', WRITERS, 256], ['--batch', BATCH, 1000], ['--settle-s', SETTLE_MS, 600_000], ['--settle-max-s', SETTLE_MAX_MS, 3_600_000]] as const) {
  if (!Number.isInteger(v) || v < 1 || v > max) throw new Error(`${name} must be an integer in 1..${max}`);
}
if (o.splitMaxBytes !== undefined && !(Number.isInteger(Number(o.splitMaxBytes)) && Number(o.splitMaxBytes) > 0)) throw new Error('--split-max-bytes must be a positive integer');

const TENANT = 'bench';
const IDS = ['n1', 'n2', 'n3', 'n4', 'n5', 'n6'];
const partner = (n: string) => `n${((Number(n.slice(1)) + 2) % 6) + 1}`;
const ui = new Progress();
const enc = new TextEncoder();
const keyName = (i: number) => `k${String(i).padStart(10, '0')}`;
const MiB = 1024 * 1024;
const mib = (b: number) => `${(b / MiB).toFixed(1)} MiB`;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

type StatusCell = { cell: string; role: string; leader?: string | null; confState?: { voters: string[]; learners: string[] }; sizeBytes?: number; start?: string; end?: string | null };
type Status = { ok: boolean; cells?: StatusCell[] };

/** The cell of the directory that owns a namespaced key (hex), or null (a hole while it updates). */
function cellOf(d: DirectoryView, hex: string): CellDescriptor | null {
  return d.cells.find((c) => c.id !== META_CELL_ID && hex >= c.start && (c.end === null || hex < c.end)) ?? null;
}

/** Writes keys [from, to) as batches of one cell each; regroups after a refusal. */
async function writeChunk(c: CellCluster, from: number, to: number, value: Uint8Array): Promise<void> {
  let pending = Array.from({ length: to - from }, (_, i) => from + i);
  for (let attempt = 0; pending.length > 0; attempt++) {
    if (attempt >= 8) throw new Error(`keys ${keyName(pending[0]!)}..: not written after ${attempt} attempts`);
    const d = await c.client.directory(attempt > 0);
    const groups = new Map<string, number[]>();
    for (const i of pending) {
      const cell = cellOf(d, hexOf(namespacedKey(TENANT, enc.encode(keyName(i)))))?.id ?? '?';
      groups.set(cell, [...(groups.get(cell) ?? []), i]);
    }
    const failed: number[] = [];
    await Promise.all([...groups.values()].map(async (keys) => {
      const ops: CellOp[] = keys.map((i) => ({ op: 'put', key: enc.encode(keyName(i)), value, ttlMs: null, ifVersion: null, ifAbsent: false, attrs: null }));
      try {
        const resp = await c.client.request(TENANT, ops);
        resp.results.forEach((r, j) => r.status !== 'ok' && failed.push(keys[j]!));
      } catch {
        failed.push(...keys);
      }
    }));
    pending = failed;
    if (pending.length > 0) await sleep(100 * (attempt + 1));
  }
}

async function statuses(c: CellCluster): Promise<Map<string, StatusCell[]>> {
  const out = new Map<string, StatusCell[]>();
  await Promise.all(IDS.map(async (id) => out.set(id, (await c.launcher.adminRequest<Status>(id, { op: 'status' }, 5000).catch(() => ({ ok: false }) as Status)).cells ?? [])));
  return out;
}

/** Each cell as its leader reports it. */
function leaderViews(st: Map<string, StatusCell[]>): Map<string, StatusCell & { node: string }> {
  const out = new Map<string, StatusCell & { node: string }>();
  for (const [node, cells] of st) for (const x of cells) if (x.role === 'leader') out.set(x.cell, { ...x, node });
  return out;
}

function readable(hex: string | null | undefined): string {
  if (hex === null || hex === undefined) return '∞';
  if (hex === '') return '-∞';
  return Buffer.from(hex, 'hex').toString('latin1').replace(/\0/g, '/').replace(/[^\x20-\x7e]/g, '.');
}

async function load(c: CellCluster, value: Uint8Array): Promise<{ seconds: number; keysPerSec: number }> {
  // Chunks in a scattered order, so every cell takes writes once the first one has split.
  const chunks = Math.ceil(KEYS / BATCH);
  const stride = [7919, 104729, 1299709].find((p) => chunks % p !== 0) ?? 1;
  let next = 0;
  let done = 0;
  let cells = 1;
  const t0 = performance.now();
  const bar = ui.phase('load', KEYS, 'keys');
  const tick = setInterval(() => {
    const s = (performance.now() - t0) / 1000;
    const rate = done / Math.max(s, 1e-3);
    bar.update(done, `${formatCount(rate)} keys/s, ETA ${Math.ceil(rate > 0 ? (KEYS - done) / rate : 0)}s, ${cells} data cells`);
  }, 250);
  const cellsTick = setInterval(() => {
    void c.client.directory(true).then((d) => (cells = d.cells.filter((x) => x.id !== META_CELL_ID).length), () => undefined);
  }, 2000);
  try {
    await Promise.all(Array.from({ length: WRITERS }, async () => {
      while (next < chunks) {
        const j = (next++ * stride) % chunks;
        const from = j * BATCH;
        const to = Math.min(KEYS, from + BATCH);
        await writeChunk(c, from, to, value);
        done += to - from;
      }
    }));
  } finally {
    clearInterval(tick);
    clearInterval(cellsTick);
  }
  const seconds = (performance.now() - t0) / 1000;
  const keysPerSec = Math.round(KEYS / seconds);
  bar.done(`${formatCount(KEYS)} keys in ${seconds.toFixed(1)} s (${formatCount(keysPerSec)} keys/s)`);
  return { seconds, keysPerSec };
}

/** Waits until the data cells and every cell's voters stay the same for SETTLE_MS. */
async function settle(c: CellCluster): Promise<{ settled: boolean; ms: number }> {
  const t0 = Date.now();
  let last = '';
  let since = Date.now();
  while (Date.now() - t0 < SETTLE_MAX_MS) {
    const views = leaderViews(await statuses(c));
    const d = await c.client.directory(true).catch(() => null);
    const now = d ? [...d.cells.map((x) => `${x.id}:${x.start}`).sort(), ...[...views].map(([id, v]) => `${id}=${(v.confState?.voters ?? []).join(',')}+${(v.confState?.learners ?? []).join(',')}`).sort()].join(' ') : '';
    if (now !== last) {
      if (last !== '') ui.line(`layout changed: ${d?.cells.filter((x) => x.id !== META_CELL_ID).length ?? '?'} data cells`);
      last = now;
      since = Date.now();
    } else if (Date.now() - since >= SETTLE_MS) {
      return { settled: true, ms: since - t0 };
    }
    await sleep(1000);
  }
  return { settled: false, ms: Date.now() - t0 };
}

function report(st: Map<string, StatusCell[]>, d: DirectoryView): void {
  const views = leaderViews(st);
  const data = d.cells.filter((x) => x.id !== META_CELL_ID).sort((a, b) => (a.start < b.start ? -1 : 1));
  console.log(`\ndata cells: ${data.length}`);
  console.log(`${'CELL'.padEnd(14)} ${'FROM'.padEnd(20)} ${'TO'.padEnd(20)} ${'SIZE'.padStart(11)}  REPLICAS (leader*)`);
  for (const x of data) {
    const v = views.get(x.id);
    const voters = (v?.confState?.voters ?? x.replicas.map((r) => r.node)).slice().sort();
    const learners = (v?.confState?.learners ?? []).map((n) => `${n}(learner)`);
    console.log(`${x.id.padEnd(14)} ${readable(x.start).slice(0, 20).padEnd(20)} ${readable(x.end).slice(0, 20).padEnd(20)} ${mib(v?.sizeBytes ?? 0).padStart(11)}  ${[...voters.map((n) => (n === v?.node ? `${n}*` : n)), ...learners].join(' ')}`);
  }
  const orphans: string[] = [];
  console.log(`\n${'NODE'.padEnd(5)} ${'AZ'.padEnd(4)} ${'REPLICAS'.padStart(8)} ${'DATA'.padStart(5)} ${'LEADS'.padStart(5)} ${'BYTES'.padStart(11)}  CELLS`);
  for (const id of IDS) {
    const cells = st.get(id) ?? [];
    // A follower may not have its usage counters loaded: each cell's size is its leader's figure.
    const bytes = cells.reduce((s, x) => s + (views.get(x.cell)?.confState?.voters.includes(id) ? (views.get(x.cell)?.sizeBytes ?? 0) : 0), 0);
    const az = `az${((Number(id.slice(1)) - 1) % 3) + 1}`;
    // '!': hosted here, but not a member by its leader's configuration (left over, or not collected yet).
    const member = (cell: string) => {
      const conf = views.get(cell)?.confState;
      return conf === undefined || conf.voters.includes(id) || conf.learners.includes(id);
    };
    for (const x of cells) if (!member(x.cell)) orphans.push(`${x.cell} on ${id} (${x.role})`);
    console.log(`${id.padEnd(5)} ${az.padEnd(4)} ${String(cells.length).padStart(8)} ${String(cells.filter((x) => x.cell !== META_CELL_ID).length).padStart(5)} ${String(cells.filter((x) => x.role === 'leader').length).padStart(5)} ${mib(bytes).padStart(11)}  ${cells.map((x) => (member(x.cell) ? x.cell : `${x.cell}!`)).sort().join(' ')}`);
  }
  if (orphans.length > 0) console.log(`replicas outside their cell's membership (!): ${orphans.join(', ')}`);
}

/** A node metric summed over the running nodes (e.g. splits by reason). */
async function metricSum(c: CellCluster, prefix: string): Promise<number> {
  let sum = 0;
  for (const n of c.nodes) {
    if (!n.proc || !n.metricsUrl) continue;
    const text = await (await fetch(n.metricsUrl.replace(/\/?$/, '/metrics'), { signal: AbortSignal.timeout(2000) })).text().catch(() => '');
    for (const line of text.split('\n')) if (line.startsWith(prefix)) sum += Number(line.split(' ').pop());
  }
  return sum;
}

/** The placement driver's decisions so far, by kind and reason (cellkv_placement_decisions_total). */
async function placementDecisions(c: CellCluster): Promise<string> {
  const by = new Map<string, number>();
  for (const n of c.nodes) {
    if (!n.proc || !n.metricsUrl) continue;
    const text = await (await fetch(n.metricsUrl.replace(/\/?$/, '/metrics'), { signal: AbortSignal.timeout(2000) })).text().catch(() => '');
    for (const m of text.matchAll(/^cellkv_placement_decisions_total\{([^}]*)\} (\S+)$/gm)) {
      const labels = Object.fromEntries([...m[1]!.matchAll(/(\w+)="([^"]*)"/g)].map((x) => [x[1], x[2]]));
      const k = `${labels['kind'] ?? '?'}/${labels['reason'] ?? '?'}`;
      by.set(k, (by.get(k) ?? 0) + Number(m[2]));
    }
  }
  return by.size === 0 ? 'none' : [...by].map(([k, v]) => `${k} ${v}`).join(', ');
}

async function timedMove(c: CellCluster, st: Map<string, StatusCell[]>): Promise<void> {
  const views = [...leaderViews(st).values()].filter((v) => v.cell !== META_CELL_ID).sort((a, b) => (b.sizeBytes ?? 0) - (a.sizeBytes ?? 0));
  const big = views[0];
  if (!big) throw new Error('no data cell with a leader');
  // A follower's replica: the move of a leader's replica adds a leadership hand-over.
  const from = (big.confState?.voters ?? []).find((n) => n !== big.node && !(big.confState?.voters ?? []).includes(partner(n)));
  if (!from) throw new Error(`no follower of ${big.cell} whose AZ partner is free (${JSON.stringify(big.confState)})`);
  const to = partner(from);
  ui.line(`moving ${big.cell} (${mib(big.sizeBytes ?? 0)}) from ${from} to ${to}, asked of its leader ${big.node}`);
  const t0 = performance.now();
  const res = await c.launcher.adminRequest<{ ok: boolean; code?: string; message?: string; snapshotBytes?: number; steps?: { step: string; ms: number }[] }>(big.node, { op: 'move', cell: big.cell, from, to }, 900_000);
  const s = (performance.now() - t0) / 1000;
  if (!res.ok) {
    console.log(`\nreplica move of ${big.cell} ${from} -> ${to}: FAILED after ${s.toFixed(1)} s: ${res.code ?? ''} ${res.message ?? ''}`);
    return;
  }
  const size = big.sizeBytes ?? 0;
  const snap = res.snapshotBytes ?? 0;
  console.log(`\nreplica move of the biggest cell ${big.cell} ${from} -> ${to}: ${s.toFixed(1)} s; cell ${mib(size)} (${mib(size / s)}/s), snapshot ${mib(snap)} (${mib(snap / s)}/s)`);
  console.log(`  steps: ${(res.steps ?? []).map((x) => `${x.step} ${x.ms} ms`).join(', ')}`);
}

async function main(): Promise<void> {
  const extraArgs = o.splitMaxBytes !== undefined ? ['--split-max-bytes', o.splitMaxBytes] : [];
  ui.line(`starting six nodes${extraArgs.length ? ` (${extraArgs.join(' ')})` : ' (default thresholds)'}`);
  const c = await CellCluster.start({ nodes: 6, extraArgs, env: { CELLKV_LOG_LEVEL: o.nodeLogLevel } });
  let stopping: Promise<void> | null = null;
  const stop = () => (stopping ??= c.stop().catch(() => undefined));
  for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => void stop().then(() => process.exit(130)));
  try {
    ui.line(`cluster up in ${c.dir}; loading ${formatCount(KEYS)} keys of ${VALUE_BYTES} B, ${WRITERS} writers, ${BATCH} keys per request`);
    const value = new Uint8Array(VALUE_BYTES).fill(120);
    const loaded = await load(c, value);
    ui.line(`waiting for the cells and replicas to settle (${SETTLE_MS / 1000} s without a change, at most ${SETTLE_MAX_MS / 1000} s)`);
    const settled = await settle(c);
    const st = await statuses(c);
    const d = await c.client.directory(true);
    console.log(`fleet bench: ${formatCount(KEYS)} keys of ${VALUE_BYTES} B, ${WRITERS} writers x ${BATCH} keys per request, split above ${o.splitMaxBytes !== undefined ? mib(Number(o.splitMaxBytes)) : '144 MiB (default)'}`);
    console.log(`load: ${loaded.seconds.toFixed(1)} s, ${formatCount(loaded.keysPerSec)} keys/s, ${mib((loaded.keysPerSec * VALUE_BYTES))}/s of values`);
    console.log(settled.settled ? `layout settled ${(settled.ms / 1000).toFixed(0)} s after the load` : `layout still changing ${(settled.ms / 1000).toFixed(0)} s after the load (figures below are a snapshot)`);
    const [bySize, byLoad, merges] = await Promise.all(['cellkv_cell_auto_splits_total{reason="size"}', 'cellkv_cell_auto_splits_total{reason="load"}', 'cellkv_cell_auto_merges_total'].map((m) => metricSum(c, m)));
    console.log(`automatic splits: ${bySize} by size, ${byLoad} by load (a bulk load is load too: above 3000 weighted ops/s for 10 s); automatic merges: ${merges}`);
    console.log(`placement decisions: ${await placementDecisions(c)}`);
    report(st, d);
    await timedMove(c, st);
  } finally {
    if (o.nodeLogs !== undefined) {
      await mkdir(o.nodeLogs, { recursive: true });
      for (const n of c.nodes) await writeFile(join(o.nodeLogs, `${n.id}.log`), n.output);
      ui.line(`node output written to ${o.nodeLogs}/`);
    }
    await stop();
  }
}

main().catch((e: unknown) => {
  console.error(`fleet bench failed: ${(e as Error).stack ?? String(e)}`);
  process.exitCode = 1;
});
