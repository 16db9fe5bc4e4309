// The command-line contract: the summary line, one replay command per failure, history files.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { parseHistory } from '../../shared/lincheck/index.js';

const CLI = fileURLToPath(new URL('./cli.ts', import.meta.url));

function sim(args: string[], cwd: string): { code: number | null; stdout: string; stderr: string } {
  const loader = import.meta.resolve('tsx');
  const r = spawnSync(process.execPath, ['--import', loader, CLI, ...args], { cwd, encoding: 'utf8', timeout: 120_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

test('cli: passing seeds end with the summary line and exit 0 (both layers by default)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'sim-cli-'));
  try {
    const r = sim(['--seeds', '2', '--start', '3'], dir);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /sim \(node\): 2 seeds in/);
    assert.equal(r.stdout.trim().split('\n').at(-1), 'sim: 4 passed, 0 failed');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('cli: each failure prints its replay command and writes its history', () => {
  const dir = mkdtempSync(join(tmpdir(), 'sim-cli-'));
  try {
    const r = sim(['--seeds', '2', '--mutation', 'voteRespBeforePersist'], dir);
    assert.equal(r.code, 1);
    const lines = r.stdout.trim().split('\n');
    assert.equal(lines.at(-1), 'sim: 0 passed, 2 failed');
    for (const seed of [1, 2]) {
      assert.ok(lines.some((l) => l.startsWith(`seed ${seed} failed: durability`)), r.stdout);
      assert.ok(lines.includes(`  replay: npm run sim -- --seed ${seed} --trace --mutation voteRespBeforePersist`), r.stdout);
      const file = join(dir, 'sim-failures', `seed-${seed}.jsonl`);
      assert.ok(existsSync(file));
      const h = parseHistory(readFileSync(file, 'utf8'));
      assert.equal(h.header?.seed, seed);
      assert.equal(h.header?.command, `npm run sim -- --seed ${seed} --trace --mutation voteRespBeforePersist`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('cli: --seed S --trace prints the event trace of that seed', () => {
  const dir = mkdtempSync(join(tmpdir(), 'sim-cli-'));
  try {
    const r = sim(['--seed', '4', '--trace', '--faults', 'crash,partition'], dir);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^\[ {4}0\] seed 4: \d nodes, faults \[crash,partition\]/m);
    assert.match(r.stdout, /role leader/);
    assert.match(r.stdout, /nemesis: HEAL/);
    assert.equal(r.stdout.trim().split('\n').at(-1), 'sim: 1 passed, 0 failed');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('cli: a node-layer mutant fails with its replay command and history file', () => {
  const dir = mkdtempSync(join(tmpdir(), 'sim-cli-'));
  try {
    const r = sim(['--seeds', '1', '--node-mutation', 'ackBeforeLogSync'], dir);
    assert.equal(r.code, 1);
    const lines = r.stdout.trim().split('\n');
    assert.equal(lines.at(-1), 'sim: 0 passed, 1 failed');
    assert.ok(lines.some((l) => l.startsWith('node seed 1 failed: commit-quorum')), r.stdout);
    assert.ok(lines.includes('  replay: npm run sim -- --layer node --seed 1 --trace --node-mutation ackBeforeLogSync'), r.stdout);
    assert.ok(existsSync(join(dir, 'sim-failures', 'node-seed-1.jsonl')));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
