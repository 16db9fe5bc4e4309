import { runSeed } from './run.js';
import { writeFileSync } from 'node:fs';
import { formatHistory } from '../../shared/lincheck/index.js';
const s = Number(process.argv[2]);
const faults = process.argv[3] ? process.argv[3].split(',') as any : undefined;
const r = runSeed(s, { faults, lincheck: false });
writeFileSync(`/tmp/h${s}.jsonl`, formatHistory({ format: 'cellkv-history/1', seed: s }, r.history));
const byKey: Record<string, Record<string, number>> = {};
for (const h of r.history) { const k = (byKey[h.key] ??= {}); k[h.outcome] = (k[h.outcome] ?? 0) + 1; k[h.op + ':' + h.outcome] = (k[h.op + ':' + h.outcome] ?? 0) + 1; }
console.log(JSON.stringify(byKey, null, 0));
