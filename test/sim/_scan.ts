import { runSeed } from './run.js';
import { isMutation } from './config.js';
const m = process.argv[2]!; const n = Number(process.argv[3] ?? 100); const start = Number(process.argv[4] ?? 1);
if (!isMutation(m)) throw new Error('bad');
const faults = process.argv[5] ? process.argv[5].split(',') as any : undefined;
let failed = 0; let otc = 0; let otcSeeds = 0; const kinds: Record<string, number> = {}; let first = -1;
const t0 = performance.now();
for (let s = start; s < start + n; s++) {
  const nodes = process.argv[6] ? Number(process.argv[6]) as 3|5 : undefined; const r = runSeed(s, { mutation: m, faults, ...(nodes ? { nodes } : {}) });
  otc += r.stats.oldTermCommits; if (r.stats.oldTermCommits) otcSeeds++;
  if (!r.ok) { failed++; kinds[r.failure!.kind] = (kinds[r.failure!.kind] ?? 0) + 1; if (first < 0) first = s; if (failed <= 8) console.log(s, r.failure!.kind, r.failure!.message.split('\n')[0], r.config.faults.join(',')); }
}
console.log(m, `${failed}/${n} failed`, kinds, 'first', first, 'oldTermCommits', otc, 'in seeds', otcSeeds, `${((performance.now()-t0)/n).toFixed(0)}ms/seed`);
