// `npm run chaos -- --seconds S --seed N [--faults kill,pause,partition,delay,failpoint,...]`
// Starts a fresh local cluster, runs concurrent clients under the seed's fault schedule,
// heals, checks, and prints one summary line:
//   chaos: <ops> ops, <unknown> unknown, <faults> faults, linearizable: yes|no
// Exit code 0 only when every check passed; 1 when a check failed; 2 on a harness error.
// Progress goes to stderr; the report and the summary to stdout.

import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command, InvalidArgumentError } from 'commander';
import { cleanupSync } from '../scripts/cluster/procs.js';
import { DEFAULTS, runChaos } from './run.js';
import { FAULT_KINDS, parseKinds } from './schedule.js';

const ROOT = fileURLToPath(new URL('../', import.meta.url));

function int(name: string, min: number) {
  return (v: string): number => {
    if (!/^-?[0-9]+$/.test(v) || Number(v) < min) throw new InvalidArgumentError(`${name} must be a whole number >= ${min}`);
    return Number(v);
  };
}

const program = new Command()
  .name('chaos')
  .description('cellkv under crashes, pauses and partitions of real processes, checked for linearizability')
  .option('--seconds <s>', 'length of the fault phase', int('--seconds', 1), 60)
  .option('--seed <n>', 'seed of the schedule and of every random choice', int('--seed', 0), 1)
  .option('--faults <kinds>', `comma-separated fault kinds (${FAULT_KINDS.join(', ')}), all or none`, 'all')
  .option('--keys <n>', 'number of contended keys', int('--keys', 1), DEFAULTS.keys)
  .option('--clients-per-az <n>', 'NATS clients pinned to each AZ', int('--clients-per-az', 0), DEFAULTS.clientsPerAz)
  .option('--spread-clients <n>', 'NATS clients connected to all servers', int('--spread-clients', 0), DEFAULTS.spreadClients)
  .option('--gateway-clients <n>', 'HTTP clients per gateway', int('--gateway-clients', 0), DEFAULTS.gatewayClients)
  .option('--no-gateways', 'drive the cells over NATS only (no gateway processes)')
  .option('--tick-ms <ms>', 'Raft tick of the nodes (election timeout is 20 ticks)', int('--tick-ms', 1), DEFAULTS.tickMs)
  .option('--check-timeout-ms <ms>', 'budget of the linearizability check', int('--check-timeout-ms', 1000), 120_000)
  .option('--out-dir <dir>', 'where a failing run writes seed-N.jsonl', 'chaos-failures')
  .option('--every-kind', 'keep injecting past --seconds until every enabled kind ran once')
  .option('--keep', 'keep the run directory (data and logs)')
  .option('--node-args <args>', 'extra node.js arguments for the cell nodes, space-separated (e.g. --cpu-prof)', '')
  .parse();

interface Opts {
  seconds: number;
  seed: number;
  faults: string;
  keys: number;
  clientsPerAz: number;
  spreadClients: number;
  gatewayClients: number;
  gateways: boolean;
  tickMs: number;
  checkTimeoutMs: number;
  outDir: string;
  keep?: boolean;
  everyKind?: boolean;
  nodeArgs: string;
}

const o = program.opts<Opts>();
let interrupted = false;

// First SIGINT: wind down (heal, stop clients, report). Second: stop everything now.
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.on(sig, () => {
    if (interrupted) {
      process.stderr.write('[chaos] interrupted again: killing everything\n');
      cleanupSync();
      process.exit(130);
    }
    interrupted = true;
    process.stderr.write(`[chaos] ${sig}: winding down (again to stop at once)\n`);
  });
}

async function main(): Promise<number> {
  let kinds;
  try {
    kinds = parseKinds(o.faults);
  } catch (e) {
    process.stderr.write(`chaos: ${(e as Error).message}\n`);
    return 2;
  }
  const result = await runChaos({
    seconds: o.seconds,
    seed: o.seed,
    kinds,
    root: ROOT,
    outDir: resolve(ROOT, o.outDir),
    keys: o.keys,
    clientsPerAz: o.clientsPerAz,
    spreadClients: o.spreadClients,
    gatewayClients: o.gatewayClients,
    gateways: o.gateways,
    tickMs: o.tickMs,
    checkTimeoutMs: o.checkTimeoutMs,
    keep: o.keep === true,
    everyKind: o.everyKind === true,
    nodeArgs: o.nodeArgs.split(' ').filter(Boolean),
    progress: (line) => process.stderr.write(`${line}\n`),
    out: (line) => process.stdout.write(`${line}\n`),
    aborted: () => interrupted,
  });
  return result.passed ? 0 : 1;
}

main()
  .then((code) => {
    cleanupSync();
    process.exit(code);
  })
  .catch((e: unknown) => {
    process.stderr.write(`chaos: harness error: ${(e as Error).stack ?? String(e)}\n`);
    cleanupSync();
    process.exit(2);
  });
