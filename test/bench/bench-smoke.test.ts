// `npm run bench` end to end, short: the harness itself as a child process against a small
// real cellkv cluster it starts (put, get, YCSB A), and — when etcd and a JetStream-capable
// nats-server are on this machine — against those peers too. Checks counts and shape, never
// timing: every op recorded is an op completed, no errors, every row has every field, n/a
// rows where a peer cannot do a workload, nothing left running afterwards.
//
// The child runs with TMPDIR set to this test's own directory, so every cluster it starts
// lives under it; `after` kills anything still running from there, whatever happened.

import { strict as assert } from 'node:assert';
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import { findEtcd } from '../../bench/peers/etcd.js';
import { findNatsServer } from '../../scripts/nats-cluster.js';
import type { BenchReport, Row } from '../../bench/report.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const CLI = join(ROOT, 'bench/cli.ts');
const haveNats = findNatsServer() !== null;
// nats-server is required (the cluster under test runs on it); etcd is an optional peer.
const NATS_MISSING = 'nats-server not found: install it (apt-get install -y nats-server; .ci/run does it)';
const haveEtcd = findEtcd() !== null;

/** Every field a row must carry (null allowed where it does not apply). */
const ROW_FIELDS = [
  'peer', 'front', 'workload', 'distribution', 'mode', 'targetRate', 'concurrency', 'generatorThreads', 'valueBytes', 'keys',
  'status', 'reason', 'seconds', 'ops', 'histogramCount', 'opsPerSec', 'latencyMs', 'errors', 'errorLabels', 'notFound',
  'conflicts', 'scannedKeys', 'inserts', 'late', 'perOp', 'loadGenCpuPct', 'serverCpuPct', 'serverCpuCorePctByProcess', 'scale',
].sort();

let dir = '';

interface Result {
  readonly code: number | null;
  readonly output: string;
  readonly report: BenchReport;
}

function runBench(args: string[], timeoutMs: number): Promise<Result> {
  const out = join(dir, `results-${Date.now()}.json`);
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, ['--import', 'tsx', CLI, ...args, '--no-install', '--idle-sample', '0', '--out', out], { cwd: ROOT, env: { ...process.env, TMPDIR: dir, CI: '1' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    p.stdout.on('data', (d: Buffer) => (output += d.toString()));
    p.stderr.on('data', (d: Buffer) => (output += d.toString()));
    // Too slow: ask it to stop (it stops its clusters), then kill it.
    const soft = setTimeout(() => p.kill('SIGINT'), timeoutMs);
    const hard = setTimeout(() => p.kill('SIGKILL'), timeoutMs + 30_000);
    p.once('exit', (code) => {
      clearTimeout(soft);
      clearTimeout(hard);
      readFile(out, 'utf8').then(
        (text) => resolve({ code, output, report: JSON.parse(text) as BenchReport }),
        () => reject(new Error(`bench exited ${code} without writing ${out}:\n${output}`)),
      );
    });
  });
}

/** Live processes whose command line mentions our temp dir: only what our runs started. */
function ours(): number[] {
  const pids: number[] = [];
  for (const e of readdirSync('/proc')) {
    if (!/^[0-9]+$/.test(e)) continue;
    try {
      if (readFileSync(`/proc/${e}/cmdline`, 'utf8').includes(dir)) pids.push(Number(e));
    } catch {
      // exited meanwhile
    }
  }
  return pids;
}

function assertRowShape(r: Row): void {
  assert.deepEqual(Object.keys(r).sort(), ROW_FIELDS, `row ${r.peer}/${r.workload} has every field`);
}

function assertOkRow(r: Row, context: string): void {
  assertRowShape(r);
  assert.equal(r.status, 'ok', `${r.peer}/${r.front} ${r.workload}: ${r.reason}\n${context}`);
  assert.equal(r.errors, 0, `${r.peer} ${r.workload} errors: ${JSON.stringify(r.errorLabels)}`);
  assert.ok((r.ops ?? 0) > 0, `${r.peer} ${r.workload} did operations`);
  assert.equal(r.histogramCount, r.ops, 'every completed op is recorded once');
  const perOp = Object.values(r.perOp ?? {}).reduce((s, p) => s + p.ops, 0);
  assert.equal(perOp, r.ops, 'per-op counts add up');
  assert.ok(r.latencyMs && r.latencyMs.p50 <= r.latencyMs.p99 && r.latencyMs.p99 <= r.latencyMs.max, 'percentiles are ordered');
  assert.equal(typeof r.loadGenCpuPct, 'number');
}

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'cellkv-bench-test-'));
});

after(async () => {
  for (const pid of ours()) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone
    }
  }
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('npm run bench (smoke)', () => {
  test('cellkv: put, get, YCSB A against a fresh local cluster', async () => {
    assert.ok(haveNats, NATS_MISSING);
    const r = await runBench(['--workload', 'put,get,A', '--seconds', '2', '--warmup', '0', '--keys', '200', '--concurrency', '4'], 90_000);
    assert.equal(r.code, 0, r.output);
    assert.equal(r.report.interrupted, false);
    assert.deepEqual(r.report.rows.map((x) => `${x.peer}/${x.front}/${x.workload}`), ['cellkv/http/put', 'cellkv/http/get', 'cellkv/http/A']);
    for (const row of r.report.rows) assertOkRow(row, r.output);
    const peer = r.report.peers[0]!;
    assert.equal(peer.status, 'ok');
    assert.equal(peer.load?.keys, 200);
    assert.equal(peer.load?.failed, 0, 'preload wrote every key');
    assert.equal(peer.resourcesAfterLoad?.processes.length, 7, 'RSS of 3 nats-servers, 3 nodes and the gateway');
    assert.ok(peer.resourcesAfterLoad?.processes.every((p) => (p.rssBytes ?? 0) > 0));
    assert.ok(peer.resourcesAfterLoad?.disk.every((d) => d.bytes > 0), 'node data dirs have data');
    // A: both operation kinds ran.
    assert.deepEqual(Object.keys(r.report.rows[2]!.perOp ?? {}).sort(), ['read', 'update']);
    assert.match(r.output, /system\s+workload\s+ops\/s\s+p50\s+p90\s+p99\s+p99\.9\s+max\s+errors\s+lg-cpu/);
    assert.deepEqual(ours(), [], 'the cluster was stopped');
  });

  test('peers: etcd and JetStream KV, open loop on two generator threads (scan is n/a for JetStream)', async (t) => {
    assert.ok(haveNats, NATS_MISSING);
    const compare = ['jetstream', ...(haveEtcd ? ['etcd'] : [])];
    if (!haveEtcd) {
      process.stderr.write('# SKIP etcd peer: etcd not installed (apt-get install -y etcd-server): only JetStream is checked\n');
      t.diagnostic('etcd not installed (apt-get install -y etcd-server): only JetStream is checked');
    }
    // Open loop and two generator threads here (the cellkv run covers closed loop in-process).
    const r = await runBench(['--skip-cellkv', '--compare', compare.join(','), '--workload', 'put,cas,scan', '--seconds', '1', '--warmup', '0', '--keys', '100', '--concurrency', '4', '--rate', '300', '--generator-threads', '2'], 90_000);
    assert.equal(r.code, 0, r.output);
    for (const row of r.report.rows) {
      assert.equal(row.mode, 'open-loop');
      assert.equal(row.generatorThreads, 2);
    }
    assert.equal(r.report.rows.length, 3 * compare.length);
    for (const row of r.report.rows) {
      if (row.peer === 'jetstream' && row.workload === 'scan') {
        assertRowShape(row);
        assert.equal(row.status, 'n/a');
        assert.match(row.reason ?? '', /no ordered range scan/);
        continue;
      }
      assertOkRow(row, r.output);
      assert.equal(typeof row.late, 'number');
    }
    if (haveEtcd) {
      const scan = r.report.rows.find((x) => x.peer === 'etcd' && x.workload === 'scan')!;
      assert.ok((scan.scannedKeys ?? 0) > 0, 'etcd scans return keys');
    }
    for (const p of r.report.peers) assert.equal(p.load?.failed, 0, `${p.peer} preload`);
    assert.deepEqual(ours(), [], 'the peers were stopped');
  });

  test('usage errors exit 2 without starting anything', async () => {
    const p = spawn(process.execPath, ['--import', 'tsx', CLI, '--workload', 'nope'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    p.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const code = await new Promise<number | null>((resolve) => p.once('exit', resolve));
    assert.equal(code, 2);
    assert.match(err, /unknown workload "nope"/);
    assert.equal(existsSync(join(ROOT, 'bench-results', 'nope')), false);
  });
});
