// The canary against a real cluster: one nats-server, three cell nodes on LevelDB, a real
// gateway verifying real JWTs. A healthy cluster gives linearizable windows and zero violations
// over HTTP and over the NATS front door (metrics scraped from the canary's own /metrics and
// linted by promtool); the CLI process serves /metrics and stops on SIGTERM. A deliberately broken client that
// serves some reads from a stale cache must make the canary count a violation and keep a
// window file that `npm run lincheck` decides "not linearizable".

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { silentLogger } from '../../gateway/log.js';
import type { Gateway } from '../../gateway/server.js';
import { CellkvHttpClient, CellkvNatsClient, type CellkvClient } from '../../shared/client/index.js';
import { Canary, type CanaryConfig } from '../../canary/canary.js';
import { CanaryMetrics, serveMetrics } from '../../canary/metrics.js';
import { CANARY_TENANT } from '../../canary/options.js';
import { CellCluster } from '../support/cell-cluster.js';
import { makeKeys, mintToken, startTestGateway, type TestKeys } from '../gateway/support.js';
import { LateWriteClient } from './late-client.js';
import { StaleReadClient } from './stale-client.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

let cluster: CellCluster;
let keys: TestKeys;
let gw: Gateway;
let token: string;
let dir: string;

function config(extra: Partial<CanaryConfig> = {}): CanaryConfig {
  return {
    prefix: '__canary/',
    keys: 3,
    concurrency: 4,
    ratePerSec: 300,
    windowOps: 25,
    windowMs: 3000,
    maxWindowRecords: 64,
    maxCarried: 16,
    taintMs: 60_000,
    checkTimeoutMs: 5000,
    maxQueuedWindows: 8,
    violationsDir: join(dir, 'violations'),
    maxViolationFiles: 5,
    barrierRetryMaxMs: 500,
    maxOps: 5000,
    maxWindows: 6,
    cleanup: true,
    ...extra,
  };
}

/** Value of one sample in a Prometheus text page (NaN when absent). */
function sample(text: string, series: string): number {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? NaN : Number(line.slice(series.length + 1));
}

function run(cmd: string, args: string[], input?: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, args, { cwd: ROOT, stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, CELLKV_LOG_LEVEL: 'warn' } });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    p.once('error', reject);
    p.once('exit', (code) => resolve({ code, stdout, stderr }));
    p.stdin.end(input ?? '');
  });
}

/** Runs a canary to its limits with its /metrics served; returns the scraped page too. */
async function runCanary(client: CellkvClient, cfg: CanaryConfig) {
  const metrics = new CanaryMetrics();
  const server = await serveMetrics(metrics, 0, '127.0.0.1');
  try {
    const canary = new Canary(cfg, { client, metrics, logger: silentLogger() });
    const summary = await canary.run();
    const page = await (await fetch(server.url)).text();
    return { summary, page, runId: canary.runId };
  } finally {
    await server.close();
  }
}

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'cellkv-canary-'));
  cluster = await CellCluster.start();
  keys = await makeKeys();
  gw = await startTestGateway(cluster.nats.url, keys);
  token = await mintToken(keys, { tenant: CANARY_TENANT, scope: 'kv:read kv:write' });
});

after(async () => {
  await gw?.stop();
  await cluster?.stop();
  await keys?.cleanup();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('canary on a healthy cluster', () => {
  it('over HTTP: windows are checked linearizable, no violation, metrics on /metrics, keys cleaned up', async () => {
    const client = new CellkvHttpClient({ url: gw.url, token, retries: 2, timeoutMs: 5000 });
    const { summary, page, runId } = await runCanary(client, config());
    const c = summary.checks;
    assert.ok(c.linearizable >= 6, `checked windows: ${JSON.stringify(c)}`);
    assert.equal(c.violation, 0);
    assert.equal(c.unknown, 0);
    assert.equal(summary.files.length, 0);
    assert.ok(summary.ops.ok > 6 * 25, `ops: ${JSON.stringify(summary.ops)}`);

    assert.equal(sample(page, 'cellkv_canary_checks_total{verdict="linearizable"}'), c.linearizable);
    assert.equal(sample(page, 'cellkv_canary_checks_total{verdict="violation"}'), 0);
    assert.equal(sample(page, 'cellkv_canary_checks_total{verdict="unknown"}'), 0);
    assert.equal(sample(page, 'cellkv_canary_violations_total'), 0);
    for (const op of ['get', 'put', 'delete', 'cas', 'barrier']) assert.ok(sample(page, `cellkv_canary_ops_total{op="${op}",result="ok"}`) > 0, `no ok ${op} in\n${page}`);
    assert.ok(sample(page, 'cellkv_canary_last_check_timestamp_seconds') > Date.now() / 1000 - 600);
    assert.ok(sample(page, 'cellkv_canary_op_duration_seconds_count{op="put"}') > 0);

    // The page is valid exposition format (the real promtool binary).
    const lint = await run('/usr/bin/promtool', ['check', 'metrics'], page);
    assert.equal(lint.code, 0, `promtool: ${lint.stdout}${lint.stderr}`);

    const left = [];
    for await (const p of client.scan({ prefix: `__canary/${runId}/` })) left.push(...p.items);
    assert.equal(left.length, 0, 'the run deleted its keys');
  });

  it('over the NATS front door: linearizable windows, no violation', async () => {
    const client = new CellkvNatsClient({ servers: cluster.nats.url, token, retries: 2, timeoutMs: 5000 });
    try {
      const { summary, page } = await runCanary(client, config({ maxWindows: 3 }));
      assert.ok(summary.checks.linearizable >= 3, JSON.stringify(summary.checks));
      assert.equal(summary.checks.violation + summary.checks.unknown, 0);
      assert.equal(sample(page, 'cellkv_canary_violations_total'), 0);
    } finally {
      await client.close();
    }
  });

  it('the CLI process serves /metrics while running and stops on SIGTERM with a summary', async () => {
    const p = spawn(process.execPath, [
      join(ROOT, 'cli/bin.mjs'), 'canary', '--url', gw.url, '--token', token, '--keys', '2', '--concurrency', '2',
      '--rate', '200', '--window-ops', '10', '--metrics-port', '0', '--metrics-host', '127.0.0.1',
      '--violations-dir', join(dir, 'cli-violations'),
    ], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, CELLKV_LOG_LEVEL: 'warn' } });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((r) => p.once('exit', (code) => r(code)));
    try {
      // Bounded waits for the process's own progress, not for a duration.
      let url: string | null = null;
      for (let i = 0; i < 300 && url === null; i++) {
        url = /^metrics=(\S+) run=[0-9a-f]{8}$/m.exec(stdout)?.[1] ?? null;
        if (url === null) await new Promise((r) => setTimeout(r, 100));
      }
      assert.ok(url !== null && url.startsWith('http://127.0.0.1:'), `no metrics line: ${stdout}${stderr}`);
      let page = '';
      for (let i = 0; i < 300 && !(sample(page, 'cellkv_canary_checks_total{verdict="linearizable"}') >= 2); i++) {
        await new Promise((r) => setTimeout(r, 100));
        page = await (await fetch(url)).text();
      }
      assert.ok(sample(page, 'cellkv_canary_checks_total{verdict="linearizable"}') >= 2, page);
      assert.equal(sample(page, 'cellkv_canary_violations_total'), 0);
      assert.ok(sample(page, 'cellkv_canary_process_resident_memory_bytes') > 0, 'process metrics are served too');
      p.kill('SIGTERM');
      assert.equal(await exited, 0, stderr);
      assert.match(stderr, /canary: [0-9]+ ops .*windows: ([2-9]|[1-9][0-9]+) linearizable, 0 violation, 0 unknown, 0 skipped/);
    } finally {
      if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
    }
  });

  it('the CLI refuses bad flags with a stable code', async () => {
    const r = await run(process.execPath, ['--import', 'tsx', join(ROOT, 'canary/main.ts'), '--url', gw.url, '--nats', cluster.nats.url, '--token', 't']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /canary: INVALID_ARGUMENT: give exactly one of --url/);
  });
});

describe('canary with writes that land after being reported unknown', () => {
  it('carries them across cuts: no false violation', async () => {
    const real = new CellkvHttpClient({ url: gw.url, token, retries: 2, timeoutMs: 5000 });
    const late = new LateWriteClient(real, 4, 150);
    const { summary } = await runCanary(late, config({ violationsDir: join(dir, 'late'), maxWindows: 8, windowOps: 15, cleanup: false }));
    await late.settle();
    assert.ok(late.landedLate > 0, 'some writes landed late');
    assert.ok(summary.carriedWrites > 0, `no write was carried: ${JSON.stringify(summary)}`);
    assert.equal(summary.checks.violation, 0, JSON.stringify(summary));
    assert.equal(summary.checks.unknown, 0);
    assert.ok(summary.checks.linearizable >= 8);
  });

  it('past the taint bound the key restarts under a fresh name, counted as skipped, still no violation', async () => {
    const real = new CellkvHttpClient({ url: gw.url, token, retries: 2, timeoutMs: 5000 });
    const late = new LateWriteClient(real, 3, 150);
    const metrics = new CanaryMetrics();
    const canary = new Canary(config({ violationsDir: join(dir, 'taint'), maxWindows: 8, windowOps: 15, taintMs: 1, cleanup: false }), { client: late, metrics, logger: silentLogger() });
    const summary = await canary.run();
    await late.settle();
    assert.ok(summary.retiredKeys >= 1, JSON.stringify(summary));
    assert.equal(summary.checks.skipped, summary.retiredKeys);
    const page = await metrics.registry.metrics();
    assert.equal(sample(page, 'cellkv_canary_checks_total{verdict="skipped"}'), summary.retiredKeys);
    assert.equal(sample(page, 'cellkv_canary_retired_keys_total'), summary.retiredKeys);
    assert.equal(summary.checks.violation, 0, JSON.stringify(summary));
    assert.ok(summary.checks.linearizable >= 8);
  });
});

describe('canary against a broken transport', () => {
  it('stale reads become a violation, a window file, and `npm run lincheck` agrees', async () => {
    const real = new CellkvHttpClient({ url: gw.url, token, retries: 2, timeoutMs: 5000 });
    const broken = new StaleReadClient(real, 2);
    const cfg = config({ violationsDir: join(dir, 'broken'), maxWindows: 4, windowOps: 20, maxWindowRecords: 40 });
    const { summary, page } = await runCanary(broken, cfg);
    assert.ok(broken.staleServed > 0, 'the wrapper served stale reads');
    assert.ok(summary.checks.violation >= 1, JSON.stringify(summary.checks));
    assert.equal(sample(page, 'cellkv_canary_violations_total'), summary.checks.violation);
    assert.equal(sample(page, 'cellkv_canary_checks_total{verdict="violation"}'), summary.checks.violation);

    const files = (await readdir(cfg.violationsDir)).filter((f) => f.startsWith('violation-'));
    assert.ok(files.length >= 1 && files.length <= cfg.maxViolationFiles, `files: ${files.join(', ')}`);
    const file = join(cfg.violationsDir, files[0]!);
    const header = JSON.parse((await readFile(file, 'utf8')).split('\n')[0]!) as { format: string; command: string };
    assert.equal(header.format, 'cellkv-history/1');
    assert.equal(header.command, `npm run lincheck -- ${file}`);
    const r = await run('npm', ['run', '--silent', 'lincheck', '--', file]);
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.match(r.stdout, new RegExp(`${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: not linearizable`));
    assert.ok(existsSync(file));
  });
});
