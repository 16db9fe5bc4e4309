// `npm run bench:split -- [--keys 20000] [--writers 16] [--runs 3]`: a split, then a merge back
//
// What a split costs the clients, on a fresh local cluster (one nats-server, three nodes,
// LevelDB in a temp dir) per run: loads --keys keys over the whole range, starts --writers
// closed-loop writers on the half that will move, splits the cell in the middle through the
// admin API, and measures
//   - split time: the admin request, from proposal to applied on the leader;
//   - directory time: until the directory lists both halves;
//   - the longest stretch without a successful write to the moved half around the split,
//     and the worst single write latency (the client retries NOT_LEADER / WRONG_RANGE inside);
//   - write throughput on the moved half before and after the split;
// then merges the new cell back into the first one under the same writers and measures the
// merge the same way (admin request, directory, longest write gap, writes/s after).
// Medians over the runs; progress on stderr, results on stdout.
// `--move`: the same figures for a replica move instead (scripts/move-bench.ts).

import { Command } from 'commander';
import { CellCluster } from './cluster/cell-cluster.js';
import { Progress } from '../bench/progress.js';
import { hexOf } from '../shared/directory.js';
import { namespacedKey } from '../shared/keys.js';
import { runMoveBench } from './move-bench.js';

const o = new Command()
  .option('--keys <n>', 'keys to load before the split', '20000')
  .option('--writers <n>', 'concurrent writers on the moved half', '16')
  .option('--runs <n>', 'runs (fresh cluster each)', '3')
  .option('--value-bytes <n>', 'value size', '256')
  .option('--move', 'measure a replica move (six nodes) instead of a split')
  .parse()
  .opts<{ keys: string; writers: string; runs: string; valueBytes: string; move?: boolean }>();

const KEYS = Number(o.keys);
const WRITERS = Number(o.writers);
const RUNS = Number(o.runs);
const VALUE_BYTES = Number(o.valueBytes);
for (const [name, v, max] of [['--keys', KEYS, 2_000_000], ['--writers', WRITERS, 256], ['--runs', RUNS, 20], ['--value-bytes', VALUE_BYTES, 65536]] as const) {
  if (!Number.isInteger(v) || v < 1 || v > max) throw new Error(`${name} must be 1..${max}`);
}
const TENANT = 'bench';
const PHASE_MS = 3000;
const ui = new Progress();
const enc = new TextEncoder();
const key = (i: number) => enc.encode(`k${String(i).padStart(8, '0')}`);

interface RunResult {
  splitMs: number;
  directoryMs: number;
  longestGapMs: number;
  worstLatencyMs: number;
  before: number;
  after: number;
  failed: number;
  mergeMs: number;
  mergeDirectoryMs: number;
  mergeGapMs: number;
  afterMerge: number;
}

/** The longest stretch between acknowledged writes in [from, to). */
function longestGap(sorted: readonly number[], from: number, to: number): number {
  let gap = 0;
  for (let i = 1; i < sorted.length; i++) {
    if (sorted[i]! < from || sorted[i - 1]! >= to) continue;
    gap = Math.max(gap, sorted[i]! - sorted[i - 1]!);
  }
  return gap;
}

/** Polls the directory until `done` holds; ms since `t0`, NaN after 10 s. */
async function directoryTime(c: CellCluster, t0: number, done: (d: Awaited<ReturnType<CellCluster['client']['directory']>>) => boolean): Promise<number> {
  while (performance.now() - t0 < 10_000) {
    if (done(await c.client.directory(true))) return performance.now() - t0;
    await new Promise((r) => setTimeout(r, 20));
  }
  return NaN;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

async function oneRun(run: number): Promise<RunResult> {
  const c = await CellCluster.start();
  try {
    const value = new Uint8Array(VALUE_BYTES).fill(120);
    let loaded = 0;
    const load = ui.phase(`run ${run}: load`, KEYS, 'keys');
    const loaders = Array.from({ length: 32 }, async (_, w) => {
      for (let i = w; i < KEYS; i += 32) {
        await c.client.put(TENANT, key(i), value);
        loaded++;
        if (loaded % 500 === 0) load.update(loaded, '');
      }
    });
    await Promise.all(loaders);
    load.done(`${KEYS} keys`);
    ui.line(`run ${run}: ${WRITERS} writers on the upper half, split after ${PHASE_MS} ms`);
    const mid = Math.floor(KEYS / 2);
    // Writers on the upper half: the keys that move to the new cell.
    const completions: number[] = [];
    let worst = 0;
    let failed = 0;
    let stop = false;
    const writers = Array.from({ length: WRITERS }, async (_, w) => {
      let i = w;
      while (!stop) {
        const t0 = performance.now();
        try {
          await c.client.put(TENANT, key(mid + ((i * 7919) % (KEYS - mid))), value);
          const t1 = performance.now();
          completions.push(t1);
          worst = Math.max(worst, t1 - t0);
        } catch {
          failed++;
          await new Promise((r) => setTimeout(r, 10)); // a failing write must not spin the loop
        }
        i += WRITERS;
      }
    });
    await new Promise((r) => setTimeout(r, PHASE_MS));
    const splitAt = performance.now();
    const leader = await c.leaderOf('c1');
    const reply = await c.launcher.adminRequest<{ ok: boolean; right?: string; message?: string }>(
      leader,
      { op: 'split', cell: 'c1', splitKey: hexOf(namespacedKey(TENANT, key(mid))) },
      10_000,
    );
    const splitMs = performance.now() - splitAt;
    if (!reply.ok) throw new Error(`split refused: ${reply.message ?? ''}`);
    const directoryMs = await directoryTime(c, splitAt, (d) => d.cells.some((x) => x.id === reply.right));
    await new Promise((r) => setTimeout(r, PHASE_MS));
    // The merge of the new cell back into c1, under the same writers.
    const mergeAt = performance.now();
    const merged = await c.launcher.adminRequest<{ ok: boolean; message?: string }>(await c.leaderOf('c1'), { op: 'merge', left: 'c1', right: reply.right }, 40_000);
    const mergeMs = performance.now() - mergeAt;
    if (!merged.ok) throw new Error(`merge failed: ${merged.message ?? ''}`);
    const mergeDirectoryMs = await directoryTime(c, mergeAt, (d) => !d.cells.some((x) => x.id === reply.right));
    await new Promise((r) => setTimeout(r, PHASE_MS));
    stop = true;
    await Promise.all(writers);
    completions.sort((a, b) => a - b);
    const rate = (from: number, to: number) => completions.filter((t) => t >= from && t < to).length / ((to - from) / 1000);
    const endAt = completions.at(-1) ?? mergeAt;
    return {
      splitMs,
      directoryMs,
      longestGapMs: longestGap(completions, splitAt - 1000, mergeAt),
      worstLatencyMs: worst,
      before: rate(splitAt - PHASE_MS, splitAt),
      after: rate(mergeAt - PHASE_MS, mergeAt),
      failed,
      mergeMs,
      mergeDirectoryMs,
      mergeGapMs: longestGap(completions, mergeAt - 1000, endAt + 1),
      afterMerge: rate(endAt - PHASE_MS, endAt),
    };
  } finally {
    await c.stop();
  }
}

if (o.move) {
  await runMoveBench({ keys: KEYS, writers: WRITERS, runs: RUNS, valueBytes: VALUE_BYTES, ui });
  process.exit(0);
}
const results: RunResult[] = [];
for (let run = 1; run <= RUNS; run++) {
  ui.line(`run ${run}/${RUNS}: starting a cluster`);
  const r = await oneRun(run);
  results.push(r);
  ui.line(
    `run ${run}: split ${r.splitMs.toFixed(0)} ms, directory ${r.directoryMs.toFixed(0)} ms, longest write gap ${r.longestGapMs.toFixed(0)} ms, ` +
      `worst write ${r.worstLatencyMs.toFixed(0)} ms, writes/s before ${r.before.toFixed(0)} after ${r.after.toFixed(0)}, failed ${r.failed}; ` +
      `merge ${r.mergeMs.toFixed(0)} ms, directory ${r.mergeDirectoryMs.toFixed(0)} ms, longest write gap ${r.mergeGapMs.toFixed(0)} ms, writes/s after ${r.afterMerge.toFixed(0)}`,
  );
}
const m = (f: (r: RunResult) => number) => median(results.map(f));
console.log(`split bench: ${KEYS} keys, ${WRITERS} writers on the moved half, ${RUNS} runs (medians)`);
console.log(`  split (admin request, proposal to applied): ${m((r) => r.splitMs).toFixed(0)} ms`);
console.log(`  directory lists both halves after:          ${m((r) => r.directoryMs).toFixed(0)} ms`);
console.log(`  longest gap between acknowledged writes:    ${m((r) => r.longestGapMs).toFixed(0)} ms`);
console.log(`  worst single write latency:                 ${m((r) => r.worstLatencyMs).toFixed(0)} ms`);
console.log(`  writes/s on the moved half before / after:  ${m((r) => r.before).toFixed(0)} / ${m((r) => r.after).toFixed(0)} (ratio ${(m((r) => r.after) / m((r) => r.before)).toFixed(2)})`);
console.log(`  failed writes (split and merge):            ${m((r) => r.failed)}`);
console.log(`  merge back (admin request, freeze to commit): ${m((r) => r.mergeMs).toFixed(0)} ms`);
console.log(`  directory without the merged cell after:    ${m((r) => r.mergeDirectoryMs).toFixed(0)} ms`);
console.log(`  longest gap between writes around the merge: ${m((r) => r.mergeGapMs).toFixed(0)} ms`);
console.log(`  writes/s on the range after the merge:      ${m((r) => r.afterMerge).toFixed(0)} (ratio to before the split ${(m((r) => r.afterMerge) / m((r) => r.before)).toFixed(2)})`);
