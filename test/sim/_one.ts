import { runSeed } from './run.js';
import { isMutation } from './config.js';
const m = process.argv[4] ?? 'none';
if (!isMutation(m)) throw new Error('bad');
const faults = process.argv[5] ? process.argv[5].split(',') as any : undefined;
const r = runSeed(Number(process.argv[2] ?? 1), { mutation: m, faults, trace: process.argv[3] === 't' ? 'print' : 'off' });
console.log(r.ok, r.failure, JSON.stringify(r.stats));
