// The CI seed budget, shared by the sim-ci-*.test.ts files: fault groups that together cover
// every fault type on 3- and 5-node clusters, each run on all cores with worker threads.

import { availableParallelism } from 'node:os';
import { replayCommand } from './replay.js';
import type { FaultType } from './nemesis.js';
import { runSeeds, type PoolRunOptions, type SeedSummary } from './pool.js';

export interface SeedGroup {
  readonly name: string;
  /** Fault types for every seed; undefined = each seed picks its own mix. */
  readonly faults?: readonly FaultType[];
  readonly firstSeed: number;
  readonly count: number;
}

export const CI_GROUPS: readonly SeedGroup[] = [
  { name: 'lossy network (drop, delay, reorder, dup, replay)', faults: ['drop', 'delay', 'reorder', 'dup', 'replay'], firstSeed: 1, count: 100 },
  { name: 'partitions (symmetric, one-way, bridge)', faults: ['partition', 'asym', 'bridge', 'drop', 'delay'], firstSeed: 1, count: 100 },
  { name: 'crashes with slow disks and snapshots', faults: ['crash', 'slowdisk', 'snapshot', 'delay', 'reorder'], firstSeed: 1, count: 100 },
  { name: 'membership changes and leader transfers', faults: ['membership', 'transfer', 'snapshot', 'crash', 'partition', 'drop'], firstSeed: 1, count: 100 },
  { name: 'seed-chosen fault mix', firstSeed: 1, count: 200 },
];

export interface GroupOutcome {
  readonly failures: readonly string[];
  readonly seeds: number;
  readonly ops: number;
  readonly ms: number;
}

/** Runs a group on all cores; failures come back as one line each with its replay command. */
export async function runGroup(group: SeedGroup): Promise<GroupOutcome> {
  const options: PoolRunOptions = group.faults === undefined ? {} : { faults: group.faults };
  const seeds = Array.from({ length: group.count }, (_, i) => group.firstSeed + i);
  const failures: string[] = [];
  let ops = 0;
  const t0 = performance.now();
  await runSeeds(seeds, options, Math.max(1, availableParallelism()), (s: SeedSummary) => {
    ops += s.stats.ops.ok + s.stats.ops.fail + s.stats.ops.unknown;
    if (!s.ok) {
      const f = s.failure!;
      failures.push(`seed ${s.seed} failed: ${f.kind}: ${f.message.split('\n')[0]}\n  replay: ${replayCommand(s.seed, options)}`);
    }
  });
  return { failures, seeds: seeds.length, ops, ms: performance.now() - t0 };
}
