import { runSeed } from './run.js';
const n = Number(process.argv[2] ?? 5);
const t0 = performance.now();
for (let s = 1; s <= n; s++) {
  const t = performance.now();
  const r = runSeed(s);
  console.log(s, r.ok ? 'ok' : `FAIL ${r.failure!.kind}: ${r.failure!.message.split('\n')[0]}`, `${(performance.now()-t).toFixed(0)}ms`, JSON.stringify(r.stats.ops), r.stats.ticks, r.config.faults.join(','));
}
console.log('total', (performance.now()-t0).toFixed(0));
