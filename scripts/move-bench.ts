// `npm run bench:split -- --move [--keys 20000] [--writers 16] [--runs 3] [--value-bytes 256]`
//
// What a replica move costs, on a fresh six-node cluster per run (n1..n3 hold c1, n4..n6 start
// empty; one nats-server, LevelDB in a temp dir): loads --keys keys, starts --writers
// closed-loop writers, moves a follower's replica of c1 to the other node of its AZ through
// the admin API, and reports the move time, its steps, the snapshot's size and the bytes/s
// moved (snapshot bytes over the learner's catch-up, and over the whole move), the longest
// gap between acknowledged writes and the throughput before and after. Medians over the runs.

import { CellCluster } from './cluster/cell-cluster.js';
import type { Progress } from '../bench/progress.js';

export interface MoveBenchOptions {
  readonly keys: number;
  readonly writers: number;
  readonly runs: number;
  readonly valueBytes: number;
  readonly ui: Progress;
}

interface MoveRun {
  moveMs: number;
  catchUpMs: number;
  snapshotBytes: number;
  longestGapMs: number;
  before: number;
  after: number;
  failed: number;
}

const PHASE_MS = 3000;
const enc = new TextEncoder();
const key = (i: number) => enc.encode(`k${String(i).padStart(8, '0')}`);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function oneRun(o: MoveBenchOptions, run: number): Promise<MoveRun> {
  const c = await CellCluster.start({ nodes: 6, extraArgs: ['--rebalance-interval-ms', '0', '--placement-interval-ms', '0'] });
  try {
    const value = new Uint8Array(o.valueBytes).fill(120);
    const load = o.ui.phase(`run ${run}: load`, o.keys, 'keys');
    let loaded = 0;
    await Promise.all(
      Array.from({ length: 32 }, async (_, w) => {
        for (let i = w; i < o.keys; i += 32) {
          await c.client.put('bench', key(i), value);
          if (++loaded % 500 === 0) load.update(loaded, '');
        }
      }),
    );
    load.done(`${o.keys} keys`);
    const completions: number[] = [];
    let failed = 0;
    let stop = false;
    const writers = Array.from({ length: o.writers }, async (_, w) => {
      for (let i = w; !stop; i += o.writers) {
        try {
          await c.client.put('bench', key((i * 7919) % o.keys), value);
          completions.push(performance.now());
        } catch {
          failed++;
          await new Promise((r) => setTimeout(r, 10));
        }
      }
    });
    await new Promise((r) => setTimeout(r, PHASE_MS));
    const leader = await c.leaderOf('c1');
    const from = ['n1', 'n2', 'n3'].find((n) => n !== leader)!;
    const to = `n${Number(from.slice(1)) + 3}`;
    o.ui.line(`run ${run}: moving c1 ${from} -> ${to} (leader ${leader}), ${o.writers} writers`);
    const t0 = performance.now();
    const res = await c.launcher.adminRequest<{ ok: boolean; message?: string; snapshotBytes?: number; steps?: { step: string; ms: number }[] }>(leader, { op: 'move', cell: 'c1', from, to }, 180_000);
    const moveMs = performance.now() - t0;
    if (!res.ok) throw new Error(`move failed: ${res.message ?? ''}`);
    o.ui.line(`run ${run}: steps ${JSON.stringify(res.steps)}`);
    await new Promise((r) => setTimeout(r, PHASE_MS));
    stop = true;
    await Promise.all(writers);
    completions.sort((a, b) => a - b);
    let longestGapMs = 0;
    for (let i = 1; i < completions.length; i++) if (completions[i]! >= t0 - 1000) longestGapMs = Math.max(longestGapMs, completions[i]! - completions[i - 1]!);
    const before = completions.filter((t) => t < t0 && t >= t0 - PHASE_MS).length / (PHASE_MS / 1000);
    const endAt = completions.at(-1) ?? t0;
    const after = completions.filter((t) => t > endAt - PHASE_MS).length / (PHASE_MS / 1000);
    const catchUpMs = (res.steps ?? []).filter((s) => s.step === 'catchUp').reduce((a, s) => a + s.ms, 0);
    return { moveMs, catchUpMs, snapshotBytes: res.snapshotBytes ?? 0, longestGapMs, before, after, failed };
  } finally {
    await c.stop();
  }
}

export async function runMoveBench(o: MoveBenchOptions): Promise<void> {
  const results: MoveRun[] = [];
  for (let run = 1; run <= o.runs; run++) {
    o.ui.line(`run ${run}/${o.runs}: starting a six-node cluster`);
    const r = await oneRun(o, run);
    results.push(r);
    o.ui.line(`run ${run}: move ${r.moveMs.toFixed(0)} ms, catch-up ${r.catchUpMs} ms, snapshot ${r.snapshotBytes} B, longest write gap ${r.longestGapMs.toFixed(0)} ms, failed ${r.failed}`);
  }
  const m = (f: (r: MoveRun) => number) => median(results.map(f));
  const mib = (bytes: number, ms: number) => (ms > 0 ? bytes / (1 << 20) / (ms / 1000) : NaN);
  console.log(`move bench: ${o.keys} keys of ${o.valueBytes} B, ${o.writers} writers, ${o.runs} runs (medians)`);
  console.log(`  move (admin request, prepare to directory):  ${m((r) => r.moveMs).toFixed(0)} ms`);
  console.log(`  learner catch-up (snapshot and log):         ${m((r) => r.catchUpMs).toFixed(0)} ms`);
  console.log(`  snapshot size:                               ${(m((r) => r.snapshotBytes) / (1 << 20)).toFixed(1)} MiB`);
  console.log(`  moved MiB/s over the catch-up / whole move:  ${m((r) => mib(r.snapshotBytes, r.catchUpMs)).toFixed(1)} / ${m((r) => mib(r.snapshotBytes, r.moveMs)).toFixed(1)}`);
  console.log(`  longest gap between acknowledged writes:     ${m((r) => r.longestGapMs).toFixed(0)} ms`);
  console.log(`  writes/s before / after:                     ${m((r) => r.before).toFixed(0)} / ${m((r) => r.after).toFixed(0)}`);
  console.log(`  failed writes:                               ${m((r) => r.failed)}`);
}
