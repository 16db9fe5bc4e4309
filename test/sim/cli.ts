// `npm run sim -- --seeds N` runs N seeds of each layer (the Raft core alone, and the whole
// production node over simulated ports: --layer core|node|both) and ends with
// `sim: <passed> passed, <failed> failed`;
// each failure prints the one command that replays it. `--seed S --trace` replays one seed
// and prints its event trace. Failing histories go to sim-failures/seed-S.jsonl.

import { mkdirSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { Command, InvalidArgumentError } from 'commander';
import { formatHistory, HISTORY_FORMAT, type HistoryRecord } from '../../shared/lincheck/index.js';
import { isMutation, type SimMutation } from './config.js';
import { FAULT_TYPES, isFaultType, type FaultType } from './nemesis.js';
import { runSeeds, summarize, type PoolRunOptions, type SeedSummary } from './pool.js';
import { replayCommand } from './replay.js';
import { runSeed } from './run.js';
import { isNodeMutation, replayNodeSeed, runNodeSeeds, type NodeMutation } from './node/node-cli.js';

const FAILURE_DIR = 'sim-failures';
const PROGRESS_EVERY_MS = 3000;

function nonNegativeInt(text: string): number {
  const n = Number(text);
  if (!Number.isSafeInteger(n) || n < 0) throw new InvalidArgumentError('expected a non-negative integer');
  return n;
}

function positiveInt(text: string): number {
  const n = nonNegativeInt(text);
  if (n === 0) throw new InvalidArgumentError('expected a positive integer');
  return n;
}

function mutationArg(text: string): SimMutation {
  if (!isMutation(text)) throw new InvalidArgumentError('expected none, voteTwiceInTerm, commitPreviousTermByCount, ackBeforePersist, staleReads or leaderLocalReads');
  return text;
}

type Layer = 'core' | 'node' | 'both';

function layerArg(text: string): Layer {
  if (text !== 'core' && text !== 'node' && text !== 'both') throw new InvalidArgumentError('expected core, node or both');
  return text;
}

function nodeMutationArg(text: string): NodeMutation {
  if (!isNodeMutation(text)) throw new InvalidArgumentError('expected ackBeforeLogSync, advanceBeforeLogSync, readsBeforeApply, valueCacheNotInvalidated or dedupeWithoutData');
  return text;
}

function nodesArg(text: string): 3 | 5 {
  if (text !== '3' && text !== '5') throw new InvalidArgumentError('expected 3 or 5');
  return text === '3' ? 3 : 5;
}

function faultsArg(text: string): FaultType[] {
  const out: FaultType[] = [];
  for (const f of text.split(',').map((s) => s.trim()).filter((s) => s !== '')) {
    if (!isFaultType(f)) throw new InvalidArgumentError(`unknown fault "${f}" (known: ${FAULT_TYPES.join(', ')})`);
    out.push(f);
  }
  if (out.length === 0) throw new InvalidArgumentError('expected at least one fault type');
  return out;
}

interface CliOptions {
  readonly seeds: number;
  readonly start: number;
  readonly seed?: number;
  readonly trace: boolean;
  readonly mutation: SimMutation;
  readonly faults?: FaultType[];
  readonly nodes?: 3 | 5;
  readonly jobs?: number;
  readonly layer?: Layer;
  readonly nodeMutation?: NodeMutation;
}

function writeFailureHistory(seed: number, command: string, history: readonly HistoryRecord[]): string {
  mkdirSync(FAILURE_DIR, { recursive: true });
  const file = `${FAILURE_DIR}/seed-${seed}.jsonl`;
  writeFileSync(file, formatHistory({ format: HISTORY_FORMAT, seed, command }, history));
  return file;
}

function reportFailure(s: SeedSummary, o: CliOptions, full: boolean): void {
  const f = s.failure!;
  const command = replayCommand(s.seed, runOptions(o));
  const message = full ? f.message : f.message.split('\n')[0]!;
  console.log(`seed ${s.seed} failed: ${f.kind} at tick ${f.tick}: ${message}`);
  console.log(`  replay: ${command}`);
  const file = writeFailureHistory(s.seed, command, s.history ?? []);
  console.log(`  history: ${file}`);
}

function runOptions(o: CliOptions): PoolRunOptions {
  return {
    mutation: o.mutation,
    ...(o.faults === undefined ? {} : { faults: o.faults }),
    ...(o.nodes === undefined ? {} : { nodes: o.nodes }),
  };
}

/** Options that only make sense for one layer choose it; otherwise both run. */
function layerOf(o: CliOptions): Layer {
  if (o.layer !== undefined) return o.layer;
  if (o.nodeMutation !== undefined) return 'node';
  if (o.mutation !== 'none' || o.faults !== undefined || o.nodes !== undefined) return 'core';
  return 'both';
}

function replayOne(seed: number, o: CliOptions): number {
  const ok = replayCore(seed, o);
  console.log(`sim: ${ok ? 1 : 0} passed, ${ok ? 0 : 1} failed`);
  return ok ? 0 : 1;
}

function replayCore(seed: number, o: CliOptions): boolean {
  const t0 = performance.now();
  const r = runSeed(seed, { ...runOptions(o), trace: o.trace ? 'print' : 'off' });
  const s = summarize(r, performance.now() - t0);
  const st = r.stats;
  console.error(
    `seed ${seed}: ${st.ticks} ticks, ops ok ${st.ops.ok} fail ${st.ops.fail} unknown ${st.ops.unknown}, ` +
      `${st.leaderTerms} leader terms, commit ${st.committed}, ${st.crashes} crashes, ${st.partitions} partitions, ` +
      `${st.membershipCompleted}/${st.membershipRounds} membership rounds, ${s.ms.toFixed(0)} ms`,
  );
  if (!s.ok) reportFailure(s, o, true);
  return s.ok;
}

async function runMany(o: CliOptions): Promise<number> {
  const { passed, failed } = await runCoreMany(o);
  console.log(`sim: ${passed} passed, ${failed} failed`);
  return failed === 0 ? 0 : 1;
}

async function runCoreMany(o: CliOptions): Promise<{ passed: number; failed: number }> {
  const seeds = Array.from({ length: o.seeds }, (_, i) => o.start + i);
  const jobs = o.jobs ?? (o.seeds >= 200 ? availableParallelism() : 1);
  let passed = 0;
  let failed = 0;
  const t0 = performance.now();
  let lastProgress = t0;
  const onResult = (s: SeedSummary): void => {
    if (s.ok) passed++;
    else {
      failed++;
      reportFailure(s, o, false);
    }
    const now = performance.now();
    if (now - lastProgress >= PROGRESS_EVERY_MS) {
      lastProgress = now;
      const done = passed + failed;
      const rate = done / ((now - t0) / 1000);
      console.error(`sim: ${done}/${o.seeds} seeds, ${rate.toFixed(1)} seeds/s, ${failed} failed`);
    }
  };
  if (jobs <= 1) {
    // In-process: no worker start-up cost for small runs.
    for (const seed of seeds) {
      const t = performance.now();
      onResult(summarize(runSeed(seed, runOptions(o)), performance.now() - t));
    }
  } else {
    await runSeeds(seeds, runOptions(o), jobs, onResult);
  }
  const secs = (performance.now() - t0) / 1000;
  console.error(`sim: ${o.seeds} seeds in ${secs.toFixed(1)} s (${(o.seeds / secs).toFixed(1)} seeds/s, ${jobs} worker${jobs === 1 ? '' : 's'})`);
  return { passed, failed };
}

const program = new Command()
  .name('sim')
  .description('Deterministic simulation of cellkv Raft cells under faults, checked for safety, liveness and linearizability.')
  .option('--seeds <n>', 'number of seeds to run', positiveInt, 100)
  .option('--start <s>', 'first seed', nonNegativeInt, 1)
  .option('--seed <s>', 'run (replay) this one seed', nonNegativeInt)
  .option('--trace', 'print the event trace (with --seed)', false)
  .option('--mutation <name>', 'deliberately broken variant: voteTwiceInTerm, commitPreviousTermByCount, ackBeforePersist, staleReads, leaderLocalReads', mutationArg, 'none')
  .option('--faults <list>', `comma-separated fault types (default: a mix chosen by each seed): ${FAULT_TYPES.join(',')}`, faultsArg)
  .option('--nodes <n>', 'cluster size 3 or 5 (default: chosen by each seed)', nodesArg)
  .option('--jobs <n>', 'worker threads (default: all cores for 200+ seeds, else 1)', positiveInt)
  .option('--layer <l>', 'core: the Raft core alone (test/sim/); node: the production cell node over simulated disk, network and clock (test/sim/node/); both (default)', layerArg)
  .option('--node-mutation <name>', 'deliberately broken node-layer variant (cell/node/mutations.ts), implies --layer node', nodeMutationArg)
  .action(async (o: CliOptions) => {
    if (o.trace && o.seed === undefined) throw new InvalidArgumentError('--trace needs --seed');
    const layer = layerOf(o);
    if (layer === 'core') {
      process.exitCode = o.seed !== undefined ? replayOne(o.seed, o) : await runMany(o);
      return;
    }
    const nodeMutation = o.nodeMutation ?? null;
    if (o.seed !== undefined) {
      // One seed, both layers: the core replay prints its own summary line; one total at the end.
      const coreOk = layer === 'both' ? replayCore(o.seed, o) : true;
      const nodeOk = await replayNodeSeed(o.seed, o.trace, nodeMutation);
      const runs = layer === 'both' ? 2 : 1;
      const passed = (layer === 'both' ? Number(coreOk) : 0) + Number(nodeOk);
      const failed = runs - passed;
      console.log(`sim: ${passed} passed, ${failed} failed`);
      process.exitCode = failed === 0 ? 0 : 1;
      return;
    }
    const core = layer === 'both' ? await runCoreMany(o) : { passed: 0, failed: 0 };
    const node = await runNodeSeeds(o.start, o.seeds, nodeMutation);
    const passed = core.passed + node.passed;
    const failed = core.failed + node.failed;
    console.log(`sim: ${passed} passed, ${failed} failed`);
    process.exitCode = failed === 0 ? 0 : 1;
  });

await program.parseAsync();
