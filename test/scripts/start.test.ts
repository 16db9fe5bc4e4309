// `npm start` end to end: scripts/start.ts as a child process on free ports and a temp dir.
// The printed curl examples must work as printed; Ctrl-C (SIGINT) must stop every child and
// exit 0; a restart on the same dir must reuse the data (no re-bootstrap) and the dev key.
// With --canary the canary runs against the gateway, decides windows linearizable, and stops
// with the rest.

import { strict as assert } from 'node:assert';
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import { connect } from '@nats-io/transport-node';
import { CellClient } from '../../shared/cell-client.js';
import { freePort } from '../support/ports.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const START = join(ROOT, 'scripts/start.ts');
const haveCurl = (() => {
  try {
    execFileSync('curl', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();

let dir = '';
let ports: { http: number; nats: number[]; cluster: number[] };

interface Run {
  readonly proc: ChildProcess;
  output: string;
  readonly exited: Promise<{ code: number | null; signal: string | null }>;
}

const runs: Run[] = [];

function startCluster(extra: readonly string[] = []): Run {
  const proc = spawn(
    process.execPath,
    ['--import', 'tsx', START, '--dir', dir, '--port', String(ports.http), '--nats-ports', ports.nats.join(','), '--cluster-ports', ports.cluster.join(','), '--no-install', '--log-level', 'warn', ...extra],
    { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const run: Run = {
    proc,
    output: '',
    exited: new Promise((resolve) => proc.once('exit', (code, signal) => resolve({ code, signal }))),
  };
  proc.stdout?.on('data', (d: Buffer) => (run.output += d.toString()));
  proc.stderr?.on('data', (d: Buffer) => (run.output += d.toString()));
  runs.push(run);
  return run;
}

async function waitFor(run: Run, re: RegExp, timeoutMs: number): Promise<RegExpExecArray> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const m = re.exec(run.output);
    if (m) return m;
    if (run.proc.exitCode !== null || run.proc.signalCode !== null) throw new Error(`start exited early:\n${run.output}`);
    if (Date.now() > deadline) throw new Error(`no ${re} within ${timeoutMs}ms:\n${run.output}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Children recorded by the supervisor (run/state.json) while it runs. */
function childPids(): { name: string; pid: number }[] {
  const state = JSON.parse(readFileSync(join(dir, 'run', 'state.json'), 'utf8')) as { children: { name: string; pid: number }[] };
  return state.children;
}

/** Every live process whose command line mentions our temp dir (our children and only ours). */
function processesUsingDir(): number[] {
  const out: number[] = [];
  for (const e of readdirSync('/proc')) {
    if (!/^[0-9]+$/.test(e)) continue;
    try {
      if (readFileSync(`/proc/${e}/cmdline`, 'utf8').includes(dir)) out.push(Number(e));
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function sh(cmd: string): Promise<string> {
  return new Promise((resolve, reject) => execFile('bash', ['-c', cmd], { timeout: 15_000 }, (err, stdout, stderr) => (err ? reject(new Error(`${cmd}\n${stderr}`)) : resolve(stdout))));
}

async function stop(run: Run): Promise<{ code: number | null; signal: string | null }> {
  run.proc.kill('SIGINT');
  const t = setTimeout(() => run.proc.kill('SIGKILL'), 30_000);
  const r = await run.exited;
  clearTimeout(t);
  return r;
}

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'cellkv-start-'));
  const all = await Promise.all(Array.from({ length: 7 }, () => freePort()));
  assert.equal(new Set(all).size, 7);
  ports = { http: all[0]!, nats: all.slice(1, 4), cluster: all.slice(4, 7) };
});

after(async () => {
  // Whatever happened: no process of ours survives the test.
  for (const r of runs) if (r.proc.exitCode === null && r.proc.signalCode === null) r.proc.kill('SIGKILL');
  if (dir) {
    for (const pid of processesUsingDir()) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    await rm(dir, { recursive: true, force: true });
  }
});

describe('npm start (scripts/start.ts)', () => {
  const printedToken: string[] = [];

  test('starts the cluster; printed curl examples work; Ctrl-C stops everything', async () => {
    const run = startCluster();
    const ready = await waitFor(run, /^cellkv ready gateway=(\S+) nats=(\S+)$/m, 60_000);
    for (const stepRe of [/\] nats-server found/, /\] NATS cluster up/, /\] dev signing key created/, /\] cell nodes up \(bootstrapped a new cluster\)/, /\] cluster ready/]) {
      assert.match(run.output, stepRe);
    }
    assert.match(run.output, /^\[\s*\d+\.\d+s\] /m, 'progress lines carry elapsed time');
    const token = /^Dev token .*\n {2}(\S+)$/m.exec(run.output)?.[1];
    assert.ok(token && token.split('.').length === 3, 'a JWT is printed');
    printedToken.push(token);
    const curls = run.output.split('\n').filter((l) => l.startsWith('  curl ')).map((l) => l.trim());
    assert.equal(curls.length, 3, run.output);
    const pids = childPids();
    assert.deepEqual(pids.map((p) => p.name).sort(), ['gateway', 'n1', 'n2', 'n3', 'nats-az1', 'nats-az2', 'nats-az3'].sort());

    if (haveCurl) {
      const put = JSON.parse(await sh(curls[0]!)) as { version: string; created: boolean };
      assert.match(put.version, /^[0-9]+$/);
      assert.equal(await sh(curls[1]!), 'world');
      const scan = JSON.parse(await sh(curls[2]!)) as { items: { key: string; value: string }[] };
      assert.deepEqual(scan.items.map((i) => [i.key, i.value]), [['hello', 'world']]);
    } else {
      process.stdout.write('# curl not installed: checking the examples with fetch\n');
      const auth = { authorization: `Bearer ${token}` };
      assert.equal((await fetch(`${ready[1]}/v1/kv/hello`, { method: 'PUT', body: 'world', headers: auth })).status, 201);
      assert.equal(await (await fetch(`${ready[1]}/v1/kv/hello`, { headers: auth })).text(), 'world');
    }
    // The admin CLI finds this cluster from --dir (endpoints + dev key).
    assert.equal(await sh(`${JSON.stringify(process.execPath)} ${JSON.stringify(join(ROOT, 'cli/bin.mjs'))} --dir ${JSON.stringify(dir)} get hello`), 'world');
    // Without the gateway, write through the cell tier so the restart check has data.
    const nc = await connect({ servers: ready[2]!.split(',') });
    try {
      const cells = new CellClient(nc, { attemptTimeoutMs: 1500, maxAttempts: 10 });
      const r = await cells.put('dev', new TextEncoder().encode('via-nats'), new TextEncoder().encode('persisted'));
      assert.equal(r.result.status, 'ok');
    } finally {
      await nc.close();
    }

    const { code, signal } = await stop(run);
    assert.equal(signal, null);
    assert.equal(code, 0, run.output);
    assert.match(run.output, /stopped; data kept in/);
    for (const p of pids) assert.equal(alive(p.pid), false, `${p.name} (pid ${p.pid}) still runs`);
    assert.deepEqual(processesUsingDir(), []);
    assert.equal(existsSync(join(dir, 'run', 'state.json')), false);
  });

  test('a restart reuses the data and the dev key', async () => {
    assert.ok(printedToken[0], 'the first start ran');
    const run = startCluster();
    const ready = await waitFor(run, /^cellkv ready gateway=(\S+) nats=(\S+)$/m, 60_000);
    assert.match(run.output, /cell nodes up \(reopened existing data\)/);
    assert.match(run.output, /dev signing key loaded/);
    try {
      const nc = await connect({ servers: ready[2]!.split(',') });
      try {
        const r = await new CellClient(nc, { attemptTimeoutMs: 1500, maxAttempts: 10 }).get('dev', new TextEncoder().encode('via-nats'));
        assert.ok(r.result.status === 'ok' && r.result.found && new TextDecoder().decode(r.result.value!) === 'persisted');
      } finally {
        await nc.close();
      }
      // The token printed by the first run is still accepted: the key persisted.
      const res = await fetch(`${ready[1]}/v1/kv/hello`, { headers: { authorization: `Bearer ${printedToken[0]}` } });
      assert.equal(res.status, 200);
      assert.equal(await res.text(), 'world');
    } finally {
      const pids = childPids();
      const { code } = await stop(run);
      assert.equal(code, 0, run.output);
      for (const p of pids) assert.equal(alive(p.pid), false, `${p.name} (pid ${p.pid}) still runs`);
    }
  });

  test('--canary: the canary checks windows against the gateway, shows them in /metrics, and stops with the rest', async () => {
    const run = startCluster(['--canary']);
    const ready = await waitFor(run, /^cellkv ready gateway=(\S+) nats=(\S+) canary=(\S+)$/m, 90_000);
    const metricsUrl = ready[3]!;
    assert.match(metricsUrl, /^http:\/\/127\.0\.0\.1:\d+\/metrics$/);
    assert.match(run.output, new RegExp(`^ {2}canary {3}${metricsUrl.replace(/[.?]/g, '\\$&')} `, 'm'), 'the URL is listed with the other endpoints');
    const pids = childPids();
    try {
      const canary = pids.find((p) => p.name === 'canary');
      assert.ok(canary, `no canary child: ${JSON.stringify(pids)}`);
      // Its token travels in the environment, not on its command line.
      assert.doesNotMatch(readFileSync(`/proc/${canary.pid}/cmdline`, 'utf8'), /eyJ/);
      // Bounded wait for the first decided window (cut after 10 s by default).
      const deadline = Date.now() + 90_000;
      let text = '';
      let linearizable = 0;
      while (Date.now() < deadline) {
        text = await fetch(metricsUrl, { signal: AbortSignal.timeout(2000) }).then((r) => r.text(), () => '');
        linearizable = Number(/^cellkv_canary_checks_total\{verdict="linearizable"\} (\d+)$/m.exec(text)?.[1] ?? 0);
        if (linearizable > 0) break;
        await new Promise((r) => setTimeout(r, 500));
      }
      assert.ok(linearizable > 0, `no linearizable window within 90 s:\n${text.split('\n').filter((l) => l.startsWith('cellkv_canary_')).join('\n')}\n${run.output}`);
      assert.match(text, /^cellkv_canary_violations_total 0$/m);
    } finally {
      const { code } = await stop(run);
      assert.equal(code, 0, run.output);
      assert.match(run.output, /stopping \(SIGINT\): canary, gateway/);
      for (const p of pids) assert.equal(alive(p.pid), false, `${p.name} (pid ${p.pid}) still runs`);
      assert.deepEqual(processesUsingDir(), []);
    }
  });
});
