// Small benchmark of the cell tier alone (no gateway): a fresh three-node cluster on one
// machine (fsync on), closed-loop clients over NATS, puts or linearizable gets on one cell.
//   npm run bench:cell -- --seconds 10 --concurrency 64 --value-bytes 256 --workload put
// Prints a table and one JSON line; figures are for comparison within one run and machine.

import { Command } from 'commander';
import hdr from 'hdr-histogram-js';
import { cpuUsage } from 'node:process';
import { CellCluster } from '../scripts/cluster/cell-cluster.js';

const o = new Command()
  .option('--seconds <n>', 'measured seconds per workload', '10')
  .option('--concurrency <n>', 'closed-loop clients', '64')
  .option('--value-bytes <n>', 'value size', '256')
  .option('--keys <n>', 'key space', '10000')
  .option('--workload <list>', 'put,get', 'put,get')
  .option('--runs <n>', 'repetitions (the median is reported)', '1')
  .parse()
  .opts<Record<string, string>>();

const seconds = Number(o['seconds']);
const concurrency = Number(o['concurrency']);
const valueBytes = Number(o['valueBytes']);
const keys = Number(o['keys']);
const enc = (s: string) => new TextEncoder().encode(s);

interface Row {
  workload: string;
  opsPerSec: number;
  p50: number;
  p99: number;
  p999: number;
  max: number;
  errors: number;
  loadGenCpu: number;
}

async function runOne(c: CellCluster, workload: string): Promise<Row> {
  const h = hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: 3 });
  const value = new Uint8Array(valueBytes).fill(120);
  let ops = 0;
  let errors = 0;
  const end = Date.now() + seconds * 1000;
  const cpu0 = cpuUsage();
  const t0 = process.hrtime.bigint();
  const worker = async (w: number) => {
    for (let i = 0; Date.now() < end; i++) {
      const key = enc(`bench-${(w * 7919 + i * 104729) % keys}`);
      const s = process.hrtime.bigint();
      try {
        if (workload === 'put') await c.client.put('bench', key, value);
        else await c.client.get('bench', key);
        h.recordValue(Number(process.hrtime.bigint() - s) / 1000);
        ops++;
      } catch {
        errors++;
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, (_, w) => worker(w)));
  const elapsed = Number(process.hrtime.bigint() - t0) / 1e9;
  const cpu = cpuUsage(cpu0);
  const row: Row = {
    workload,
    opsPerSec: Math.round(ops / elapsed),
    p50: h.getValueAtPercentile(50) / 1000,
    p99: h.getValueAtPercentile(99) / 1000,
    p999: h.getValueAtPercentile(99.9) / 1000,
    max: h.maxValue / 1000,
    errors,
    loadGenCpu: Math.round(((cpu.user + cpu.system) / 1e6 / elapsed) * 100),
  };
  h.destroy();
  return row;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

async function main(): Promise<void> {
  const rows: Row[] = [];
  const runs = Number(o['runs']);
  for (const workload of o['workload']!.split(',')) {
    const perRun: Row[] = [];
    for (let r = 0; r < runs; r++) {
      process.stderr.write(`bench: starting a fresh cluster for ${workload} (run ${r + 1}/${runs})\n`);
      const c = await CellCluster.start();
      try {
        // Warm up (and preload keys for gets).
        for (let i = 0; i < Math.min(keys, 2000); i += 50) {
          await Promise.all(Array.from({ length: 50 }, (_, j) => c.client.put('bench', enc(`bench-${i + j}`), enc('warm'))));
        }
        process.stderr.write(`bench: ${workload} for ${seconds}s at concurrency ${concurrency}\n`);
        perRun.push(await runOne(c, workload));
      } finally {
        await c.stop();
      }
    }
    const pick = perRun.slice().sort((a, b) => a.opsPerSec - b.opsPerSec)[Math.floor(perRun.length / 2)]!;
    rows.push({ ...pick, opsPerSec: median(perRun.map((p) => p.opsPerSec)) });
  }
  console.log('workload  ops/s    p50ms   p99ms   p99.9ms  maxms    errors  loadgen-cpu%');
  for (const r of rows) {
    console.log(
      `${r.workload.padEnd(9)} ${String(r.opsPerSec).padEnd(8)} ${r.p50.toFixed(2).padEnd(7)} ${r.p99.toFixed(2).padEnd(7)} ${r.p999.toFixed(2).padEnd(8)} ${r.max.toFixed(1).padEnd(8)} ${String(r.errors).padEnd(7)} ${r.loadGenCpu}`,
    );
  }
  console.log(JSON.stringify({ bench: 'cell', seconds, concurrency, valueBytes, rows }));
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
