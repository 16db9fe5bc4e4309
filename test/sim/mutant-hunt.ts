// Development tool: how fast does the simulation catch each mutation? For each mutation and
// fault mix, runs seeds in order until one fails and prints the seed and what caught it.
// `tsx test/sim/mutant-hunt.ts [--budget N] [--mutation M,...]`

import { MUTATIONS, type SimMutation } from './config.js';
import { FAULT_TYPES, type FaultType } from './nemesis.js';
import { runSeed } from './run.js';

const args = process.argv.slice(2);
const opt = (name: string): string | undefined => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};
const budget = Number(opt('--budget') ?? '100');
const only = opt('--mutation')?.split(',');
const mixes: (readonly FaultType[] | undefined)[] = opt('--faults') === undefined ? [undefined] : [opt('--faults')!.split(',') as FaultType[]];
void FAULT_TYPES;
for (const m of MUTATIONS) {
  if (m === 'none' || (only !== undefined && !only.includes(m))) continue;
  for (const faults of mixes) {
    const t0 = performance.now();
    let found = '';
    for (let seed = 1; seed <= budget && found === ''; seed++) {
      const r = runSeed(seed, { mutation: m as SimMutation, ...(faults ? { faults } : {}) });
      if (!r.ok) found = `seed ${seed}: ${r.failure!.kind}: ${r.failure!.message.split('\n')[0]!.slice(0, 140)}`;
    }
    console.log(`${m} [${faults?.join(',') ?? 'mix'}] ${found === '' ? `SURVIVED ${budget} seeds` : found} (${((performance.now() - t0) / 1000).toFixed(1)} s)`);
  }
}
