// The whole-node half of `npm run sim`: runs seeds of test/sim/node/ in this process (each
// seed is ~10k events of async node code; worker threads would only add start-up cost at
// the sizes CI runs), prints each failure with the command that replays it and writes its
// history for `npm run lincheck`.

import { mkdirSync, writeFileSync } from 'node:fs';
import { formatHistory, HISTORY_FORMAT } from '../../../shared/lincheck/index.js';
import { NODE_MUTATIONS, type NodeMutation } from '../../../cell/node/mutations.js';

export { NODE_MUTATIONS, type NodeMutation };
import { runNodeSeed, type NodeRunResult } from './node-run.js';

const FAILURE_DIR = 'sim-failures';
const PROGRESS_EVERY_MS = 3000;

export function isNodeMutation(s: string): s is NodeMutation {
  return (NODE_MUTATIONS as readonly string[]).includes(s);
}

export function nodeReplayCommand(seed: number, mutation: NodeMutation | null): string {
  return `npm run sim -- --layer node --seed ${seed} --trace${mutation ? ` --node-mutation ${mutation}` : ''}`;
}

function report(r: NodeRunResult, mutation: NodeMutation | null, full: boolean): void {
  const f = r.failure!;
  const command = nodeReplayCommand(r.seed, mutation);
  console.log(`node seed ${r.seed} failed: ${f.kind} at ${f.atMs} ms: ${full ? f.message : f.message.split('\n')[0]!}`);
  console.log(`  replay: ${command}`);
  mkdirSync(FAILURE_DIR, { recursive: true });
  const file = `${FAILURE_DIR}/node-seed-${r.seed}.jsonl`;
  writeFileSync(file, formatHistory({ format: HISTORY_FORMAT, seed: r.seed, command }, r.history));
  console.log(`  history: ${file}`);
}

export interface NodeSimTotals {
  readonly passed: number;
  readonly failed: number;
}

export async function runNodeSeeds(start: number, count: number, mutation: NodeMutation | null): Promise<NodeSimTotals> {
  let passed = 0;
  let failed = 0;
  let longest = 0;
  const t0 = performance.now();
  let lastProgress = t0;
  for (let seed = start; seed < start + count; seed++) {
    const r = await runNodeSeed(seed, mutation ? { mutations: [mutation] } : {});
    longest = Math.max(longest, r.stats.virtualMs);
    if (r.ok) passed++;
    else {
      failed++;
      report(r, mutation, false);
    }
    const now = performance.now();
    if (now - lastProgress >= PROGRESS_EVERY_MS) {
      lastProgress = now;
      console.error(`sim (node): ${passed + failed}/${count} seeds, ${((passed + failed) / ((now - t0) / 1000)).toFixed(1)} seeds/s, ${failed} failed`);
    }
  }
  const secs = (performance.now() - t0) / 1000;
  console.error(`sim (node): ${count} seeds in ${secs.toFixed(1)} s (${(count / secs).toFixed(2)} seeds/s; longest run ${(longest / 1000).toFixed(1)} s of virtual time)`);
  return { passed, failed };
}

export async function replayNodeSeed(seed: number, trace: boolean, mutation: NodeMutation | null): Promise<boolean> {
  const t0 = performance.now();
  const r = await runNodeSeed(seed, { ...(mutation ? { mutations: [mutation] } : {}), trace: trace ? 'print' : 'off' });
  const st = r.stats;
  console.error(
    `node seed ${seed}: ${st.virtualMs} ms virtual, ${st.events} events, ops ok ${st.ops.ok} fail ${st.ops.fail} unknown ${st.ops.unknown}, ` +
      `${st.commits} commits, ${st.crashes} crashes (${st.powerLosses} power losses), ${st.partitions} partitions, ` +
      `${st.fatalRestarts} fsync-failure restarts, ${st.snapshotChunks} snapshot chunks sent; faults ${r.faults}; ${(performance.now() - t0).toFixed(0)} ms`,
  );
  if (!r.ok) report(r, mutation, true);
  return r.ok;
}
