// `npm run sim:mutants -- [--budget N] [--mutation M,...] [--faults a,b]`: how many seeds the
// simulation needs to catch each deliberately broken variant (cell/raft mutations and driver
// mutations), with the seed-chosen fault mix unless --faults is given. One line per mutation:
// the first failing seed and what caught it, or SURVIVED.

import { Command } from 'commander';
import { MUTATIONS, isMutation, type SimMutation } from './config.js';
import { isFaultType, type FaultType } from './nemesis.js';
import { runSeed } from './run.js';

const program = new Command('sim:mutants')
  .option('--budget <n>', 'seeds per mutation', '200')
  .option('--mutation <list>', 'comma-separated mutations (default: all)')
  .option('--faults <list>', 'comma-separated fault types (default: each seed picks its mix)')
  .parse();
const o = program.opts<{ budget: string; mutation?: string; faults?: string }>();
const budget = Number(o.budget);
if (!Number.isInteger(budget) || budget < 1 || budget > 100_000) {
  console.error('sim:mutants: INVALID_ARGUMENT: --budget must be a whole number from 1 to 100000');
  process.exit(2);
}
const chosen = (o.mutation?.split(',') ?? MUTATIONS.filter((m) => m !== 'none')).map((m) => m.trim());
const bad = chosen.filter((m) => !isMutation(m));
const faults = o.faults?.split(',').map((f) => f.trim());
const badFaults = (faults ?? []).filter((f) => !isFaultType(f));
if (bad.length > 0 || badFaults.length > 0) {
  console.error(`sim:mutants: INVALID_ARGUMENT: unknown ${bad.length > 0 ? `mutation ${bad.join(', ')}` : `fault ${badFaults.join(', ')}`}; see test/sim/README.md`);
  process.exit(2);
}

let survivors = 0;
for (const m of chosen as SimMutation[]) {
  const t0 = performance.now();
  let found = '';
  for (let seed = 1; seed <= budget && found === ''; seed++) {
    const r = runSeed(seed, { mutation: m, ...(faults ? { faults: faults as FaultType[] } : {}) });
    if (!r.ok) found = `caught by seed ${seed} as ${r.failure!.kind}: ${r.failure!.message.split('\n')[0]!.slice(0, 160)}`;
  }
  if (found === '') survivors++;
  const secs = ((performance.now() - t0) / 1000).toFixed(1);
  console.log(`${m} [${faults?.join(',') ?? 'mix'}]: ${found === '' ? `SURVIVED ${budget} seeds` : found} (${secs} s)`);
}
console.log(`sim:mutants: ${chosen.length - survivors} caught, ${survivors} survived`);
process.exit(survivors === 0 ? 0 : 1);
