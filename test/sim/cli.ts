// `npm run sim -- --seeds N` runs N seeds and ends with `sim: <passed> passed, <failed> failed`;
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

function replayOne(seed: number, o: CliOptions): number {
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
  console.log(`sim: ${s.ok ? 1 : 0} passed, ${s.ok ? 0 : 1} failed`);
  return s.ok ? 0 : 1;
}

async function runMany(o: CliOptions): Promise<number> {
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
  console.log(`sim: ${passed} passed, ${failed} failed`);
  return failed === 0 ? 0 : 1;
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
  .action(async (o: CliOptions) => {
    if (o.trace && o.seed === undefined) throw new InvalidArgumentError('--trace needs --seed');
    process.exitCode = o.seed !== undefined ? replayOne(o.seed, o) : await runMany(o);
  });

await program.parseAsync();
