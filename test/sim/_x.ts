import { runSeed } from './run.js';
for (const s of [1,2,3]) { const r = runSeed(s, { sabotage: 'crash-majority' }); console.log(r.failure?.kind, r.failure?.message); }
for (const s of [1,2,3]) { const r = runSeed(s, { sabotage: 'isolate-all' }); console.log(r.failure?.kind, r.failure?.message); }
for (let s = 1; s < 50; s++) { const r = runSeed(s, { mutation: 'voteTwiceInTerm', voteCheck: false }); if (!r.ok) { console.log(s, r.failure?.kind, r.failure?.message); break; } }
