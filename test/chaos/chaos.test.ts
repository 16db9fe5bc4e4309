// A bounded chaos run for CI (~60-90 s on 2 cores): the real CLI, a fresh cluster of real
// processes, every fault kind at least once (--every-kind), then every check must pass.
// CHAOS_SEED / CHAOS_SECONDS override the seed and length (e.g. to replay a failure).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { FAULT_KINDS } from '../../chaos/schedule.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const SEED = Number(process.env['CHAOS_SEED'] ?? 7);
const SECONDS = Number(process.env['CHAOS_SECONDS'] ?? 30);

function runCli(args: string[], timeoutMs: number): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, ['--import', 'tsx', 'chaos/cli.ts', ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    p.stderr.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-20_000)));
    // SIGINT first so the CLI cleans up its cluster; SIGKILL if it does not stop.
    const t1 = setTimeout(() => p.kill('SIGINT'), timeoutMs);
    const t2 = setTimeout(() => p.kill('SIGKILL'), timeoutMs + 30_000);
    p.on('exit', (code) => {
      clearTimeout(t1);
      clearTimeout(t2);
      resolve({ code, stdout, stderr });
    });
  });
}

test(`chaos run: seed ${SEED}, ${SECONDS} s, every fault kind, all checks pass`, { timeout: 300_000 }, async () => {
  const r = await runCli(['--seconds', String(SECONDS), '--seed', String(SEED), '--every-kind'], 240_000);
  const context = `exit ${r.code}\n--- stdout ---\n${r.stdout}\n--- stderr (tail) ---\n${r.stderr.slice(-4000)}`;
  const summary = /^chaos: (\d+) ops, (\d+) unknown, (\d+) faults, linearizable: (yes|no)$/m.exec(r.stdout);
  assert.ok(summary, `no summary line\n${context}`);
  assert.equal(summary[4], 'yes', `not linearizable\n${context}`);
  assert.ok(Number(summary[1]) > 500, `too few operations for a meaningful check\n${context}`);
  const byKind = /^faults by kind: (.*)$/m.exec(r.stdout);
  assert.ok(byKind, context);
  for (const k of FAULT_KINDS) {
    const m = new RegExp(`\\b${k}=(\\d+)`).exec(byKind[1]!);
    assert.ok(m && Number(m[1]) >= 1, `fault kind ${k} never ran\n${context}`);
  }
  assert.equal(r.code, 0, `a check failed\n${context}`);
});
