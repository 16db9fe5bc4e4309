// `npm run bench -- [options]`: YCSB-style benchmarks of cellkv, side by side with etcd and
// NATS JetStream KV started the same way every time on this machine. Prints a table on stdout
// (progress goes to stderr) and writes the same rows as JSON.
//
//   npm run bench -- --workload put,get --compare etcd,jetstream --seconds 10 --concurrency 64
//   npm run bench -- --workload A,B,C,D,E,F --distribution zipfian --front http,nats
//   npm run bench -- --workload get --rate 2000 --concurrency 64      (open loop)
//   npm run bench -- --workload scale --keys 1000000
//   npm run bench -- --url http://127.0.0.1:8080 --token "$(cat .cellkv/dev-token)"

import { mkdir, mkdtemp, readFile } from 'node:fs/promises';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Command, Option } from 'commander';
import { cleanupSync } from '../scripts/cluster/procs.js';
import type { Front } from './peers/cellkv.js';
import { formatProfiles, summarizeDir, type ProfileSummary } from './profile.js';
import { Progress } from './progress.js';
import { formatDetails, formatIdle, formatTable, machineInfo, writeJson, type BenchReport } from './report.js';
import { BenchRun, type BenchOptions, type PeerName } from './run.js';
import { parseWorkloads, workloadNames, type Distribution } from './workloads.js';

/** Keys above this in a scale run need --allow-large-scale (hours of load, tens of GiB of disk). */
const LARGE_SCALE_KEYS = 2_000_000;

class UsageError extends Error {}

const cmd = new Command()
  .name('cellkv-bench')
  .description('YCSB-style benchmarks of cellkv (and etcd / NATS JetStream KV with --compare): table on stdout, JSON in --out')
  .option('--workload <list>', `comma-separated, run in sequence on the same cluster: ${workloadNames().join(', ')}`, 'put,get')
  .option('--concurrency <n>', 'workers (outstanding operations) in total', '32')
  .option('--seconds <s>', 'measured seconds per workload', '10')
  .option('--warmup <s>', 'unrecorded seconds before each workload', '2')
  .option('--value-bytes <n>', 'value size', '256')
  .option('--keys <n>', 'key space, preloaded before the workloads', '10000')
  .addOption(new Option('--distribution <d>', 'key choice (YCSB: scrambled zipfian, theta 0.99)').choices(['uniform', 'zipfian']).default('zipfian'))
  .option('--compare <list>', 'also run these peers, each on its own fresh cluster: etcd, jetstream', '')
  .option('--front <list>', 'cellkv front door(s): http, nats', 'http')
  .option('--rate <ops/s>', 'open loop: total ops/s, latency from each op\'s due time (default: closed loop)')
  .option('--generator-threads <n>', 'load generator worker_threads (concurrency is split between them)', '1')
  .option('--op-timeout-ms <ms>', 'bound on one operation; past it the op counts as an error', '10000')
  .option('--url <url>', 'benchmark an existing gateway instead of starting a cluster')
  .option('--token <jwt>', 'bearer token for --url')
  .option('--token-file <file>', 'file holding the token for --url (e.g. .cellkv/dev-token)')
  .option('--nats-url <urls>', 'NATS URL(s) of the existing cluster, for --front nats with --url')
  .option('--out <file>', 'JSON results file (default bench-results/<timestamp>.json)')
  .option('--no-install', 'never apt-get a missing etcd-server or nats-server (print how instead)')
  .option('--skip-cellkv', 'run only the --compare peers (harness tests)')
  .option('--cpu-prof [dir]', 'write V8 CPU profiles of every cellkv process (gateway, nodes) and summarize where time goes')
  .option('--allow-large-scale', `allow a scale run above ${LARGE_SCALE_KEYS.toLocaleString('en-US')} keys`)
  .option('--seed <n>', 'seed of the key choices', '1')
  .option('--idle-sample <s>', 'seconds of server CPU measured with no load after the preload (0 = skip)', '3')
  .parse();

interface RawOptions {
  workload: string;
  concurrency: string;
  seconds: string;
  warmup: string;
  valueBytes: string;
  keys: string;
  distribution: Distribution;
  compare: string;
  front: string;
  rate?: string;
  generatorThreads: string;
  opTimeoutMs: string;
  url?: string;
  token?: string;
  tokenFile?: string;
  natsUrl?: string;
  out?: string;
  install: boolean;
  skipCellkv?: boolean;
  cpuProf?: string | boolean;
  allowLargeScale?: boolean;
  seed: string;
  idleSample: string;
}

function int(s: string, what: string, min: number, max = Number.MAX_SAFE_INTEGER): number {
  const n = Number(s);
  if (!Number.isInteger(n) || n < min || n > max) throw new UsageError(`${what} must be a whole number in ${min}..${max}, got "${s}"`);
  return n;
}

function num(s: string, what: string, min: number): number {
  const n = Number(s);
  if (!Number.isFinite(n) || n < min) throw new UsageError(`${what} must be a number ≥ ${min}, got "${s}"`);
  return n;
}

function list(s: string): string[] {
  return s.split(',').map((x) => x.trim()).filter(Boolean);
}

async function options(raw: RawOptions): Promise<BenchOptions & { out: string }> {
  let workloads;
  try {
    workloads = parseWorkloads(raw.workload);
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  const keys = int(raw.keys, '--keys', 1);
  if (workloads.some((w) => w.name === 'scale') && keys > LARGE_SCALE_KEYS && !raw.allowLargeScale) {
    throw new UsageError(`a scale run of ${keys.toLocaleString('en-US')} keys takes a long time and a lot of disk; add --allow-large-scale to mean it`);
  }
  const compare = list(raw.compare);
  for (const c of compare) if (c !== 'etcd' && c !== 'jetstream') throw new UsageError(`--compare knows etcd and jetstream, not "${c}"`);
  const fronts = list(raw.front);
  for (const f of fronts) if (f !== 'http' && f !== 'nats') throw new UsageError(`--front is http or nats, not "${f}"`);
  if (fronts.length === 0) throw new UsageError('--front needs http and/or nats');
  const peers: PeerName[] = [...(raw.skipCellkv ? [] : (['cellkv'] as PeerName[])), ...(compare as PeerName[])];
  if (peers.length === 0) throw new UsageError('nothing to run: --skip-cellkv needs --compare');
  let existing: BenchOptions['existing'] = null;
  if (raw.url) {
    const token = raw.token ?? (raw.tokenFile ? (await readFile(raw.tokenFile, 'utf8')).trim() : undefined);
    if (!token) throw new UsageError('--url needs --token or --token-file');
    existing = { url: raw.url, token, natsUrl: raw.natsUrl ?? null };
  }
  const concurrency = int(raw.concurrency, '--concurrency', 1, 100_000);
  const cpuProfDir = raw.cpuProf === undefined || raw.cpuProf === false ? null : typeof raw.cpuProf === 'string' ? resolve(raw.cpuProf) : await mkdtemp(join(tmpdir(), 'cellkv-bench-prof-'));
  // A directory given on the command line may not exist yet: the profiled processes only write into it.
  if (cpuProfDir) await mkdir(cpuProfDir, { recursive: true });
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  return {
    workloads,
    concurrency,
    seconds: num(raw.seconds, '--seconds', 0.1),
    warmupSeconds: num(raw.warmup, '--warmup', 0),
    valueBytes: int(raw.valueBytes, '--value-bytes', 1, 1 << 20),
    keys,
    distribution: raw.distribution,
    peers,
    fronts: fronts as Front[],
    rate: raw.rate === undefined ? null : num(raw.rate, '--rate', 0.001),
    threads: int(raw.generatorThreads, '--generator-threads', 1, 64),
    opTimeoutMs: int(raw.opTimeoutMs, '--op-timeout-ms', 10),
    existing,
    allowInstall: raw.install,
    cpuProfDir,
    seed: int(raw.seed, '--seed', 0, 2 ** 31),
    idleSampleSeconds: num(raw.idleSample, '--idle-sample', 0),
    out: resolve(raw.out ?? join('bench-results', `${stamp}.json`)),
  };
}

async function main(): Promise<number> {
  const raw = cmd.opts<RawOptions>();
  let o: BenchOptions & { out: string };
  try {
    o = await options(raw);
  } catch (e) {
    if (e instanceof UsageError) {
      process.stderr.write(`bench: ${e.message}\n`);
      return 2;
    }
    throw e;
  }
  const ui = new Progress();
  const startedAt = new Date().toISOString();
  const load0 = loadavg();
  const run = new BenchRun(o, ui);
  let signals = 0;
  const onSignal = (sig: NodeJS.Signals) => {
    signals++;
    if (signals === 1) {
      ui.line(`${sig}: stopping the generators and the running system; partial results follow`);
      void run.abort();
    } else {
      ui.line(`${sig} again: killing everything now`);
      cleanupSync();
      process.exit(130);
    }
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  ui.line(`bench: ${o.peers.join(', ')} × ${o.workloads.map((w) => w.name).join(',')}; ${o.concurrency} workers, ${o.rate === null ? 'closed loop' : `open loop at ${o.rate} ops/s`}, ${o.warmupSeconds}+${o.seconds}s each, ${o.keys} keys of ${o.valueBytes} B, ${o.distribution}`);
  let failure: Error | null = null;
  try {
    await run.run();
  } catch (e) {
    failure = e as Error;
    ui.line(`bench: internal error: ${failure.stack ?? failure.message}`);
  }
  let profiles: ProfileSummary[] = [];
  if (o.cpuProfDir) profiles = await summarizeDir(o.cpuProfDir, run.processNames);
  const notes = [
    o.rate === null
      ? 'closed loop: each worker waits for its answer before the next op, so latencies are subject to coordinated omission (stalls hide queued requests); use --rate R for open-loop latencies measured from each op\'s due time.'
      : `open loop at ${o.rate} ops/s: latency is measured from each op's due time, so queueing behind stalls is counted (no coordinated omission while workers suffice).`,
    'all systems run on this one machine with the load generator; CPU shares are of all its cores; each system runs alone (in sequence) on its own fresh cluster.',
    'get-stale and the read paths differ per system: see each system\'s notes.',
    `machine load average (1 min) ${load0[0]!.toFixed(1)} at the start, ${loadavg()[0]!.toFixed(1)} at the end, on ${cpus().length} cores: other work on the machine makes figures noisy.`,
    ...run.peers.flatMap((p) => p.notes),
  ];
  const report: BenchReport = {
    bench: 'cellkv',
    version: 1,
    startedAt,
    finishedAt: new Date().toISOString(),
    interrupted: run.interrupted,
    machine: machineInfo(load0),
    config: { ...o, workloads: o.workloads.map((w) => w.name), existing: o.existing ? { url: o.existing.url, natsUrl: o.existing.natsUrl } : null },
    notes,
    peers: run.peers,
    rows: run.rows,
    profiles,
  };
  await writeJson(o.out, report);
  process.stdout.write(`\n${formatTable(run.rows)}\n`);
  const details = formatDetails(run.rows);
  if (details) process.stdout.write(`\n${details}\n`);
  const idle = formatIdle(run.peers);
  if (idle) process.stdout.write(`\n${idle}\n`);
  process.stdout.write(`\n${notes.map((n) => `note: ${n}`).join('\n')}\n`);
  if (profiles.length > 0) process.stdout.write(`\nCPU profiles (self time):\n${formatProfiles(profiles)}\n`);
  process.stdout.write(`\nresults: ${o.out}\n`);
  if (failure) return 1;
  return run.interrupted ? 130 : 0;
}

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    process.stderr.write(`bench: ${(e as Error).stack ?? String(e)}\n`);
    process.exit(1);
  },
);
