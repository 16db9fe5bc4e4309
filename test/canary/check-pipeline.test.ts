// Unit tests of the canary's check pipeline and window files: verdicts become metrics, the
// checker's budget verdict `unknown` is never counted as linearizable, a malformed window is
// not either, failing windows are written where `npm run lincheck` can read them, and the
// directory stays bounded.

import assert from 'node:assert/strict';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { silentLogger } from '../../gateway/log.js';
import { parseHistory, type HistoryRecord } from '../../shared/lincheck/index.js';
import { CheckPipeline } from '../../canary/check-pipeline.js';
import { CanaryMetrics } from '../../canary/metrics.js';
import { WindowFiles } from '../../canary/window-files.js';
import type { WindowHistory } from '../../canary/window.js';

let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'cellkv-canary-pipeline-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

const K = '__canary/u/0.0';
function rec(client: number, op: HistoryRecord['op'], invoke: number, complete: number, output: HistoryRecord['output'], value?: string): HistoryRecord {
  return { client, key: K, op, ...(value !== undefined ? { value } : {}), invoke, complete, outcome: 'ok', output };
}

/** Two concurrent puts and reads of both: linearizable, but takes the search a few steps. */
const healthy: WindowHistory = {
  key: K,
  index: 0,
  records: [rec(1, 'put', 1, 10, { version: '1' }, 'a'), rec(2, 'put', 2, 11, { version: '2' }, 'b'), rec(3, 'get', 3, 12, { found: true, value: 'a', version: '1' }), rec(1, 'get', 13, 14, { found: true, value: 'b', version: '2' })],
};
const stale: WindowHistory = { key: K, index: 1, records: [...healthy.records, rec(2, 'get', 15, 16, { found: true, value: 'a', version: '1' })] };

async function series(m: CanaryMetrics, name: string): Promise<number> {
  const text = await m.registry.metrics();
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  return line === undefined ? NaN : Number(line.split(' ')[1]);
}

function pipeline(sub: string, extra: { maxSteps?: number } = {}) {
  const metrics = new CanaryMetrics();
  const p = new CheckPipeline({ metrics, files: new WindowFiles(join(dir, sub), 3), logger: silentLogger(), runId: 'test', timeoutMs: 5000, maxQueued: 2, ...extra });
  return { metrics, p };
}

describe('canary check pipeline', () => {
  it('counts linearizable and violation windows and writes the violating one for lincheck', async () => {
    const { metrics, p } = pipeline('verdicts');
    await p.submit(healthy);
    await p.submit(stale);
    await p.idle();
    assert.deepEqual(p.tally, { linearizable: 1, violation: 1, unknown: 0, skipped: 0 });
    assert.equal(await series(metrics, 'cellkv_canary_violations_total'), 1);
    assert.equal(await series(metrics, 'cellkv_canary_checks_total{verdict="violation"}'), 1);
    assert.equal(await series(metrics, 'cellkv_canary_checks_total{verdict="linearizable"}'), 1);
    assert.ok((await series(metrics, 'cellkv_canary_last_check_timestamp_seconds')) > 0);
    assert.equal(p.filesWritten.length, 1);
    const parsed = parseHistory(await readFile(p.filesWritten[0]!, 'utf8'));
    assert.equal(parsed.records.length, stale.records.length);
    assert.match(String(parsed.header?.command), /^npm run lincheck -- .*violation-.*\.jsonl$/);
  });

  it('a budget-exhausted check is `unknown`, never linearizable, and its window is kept', async () => {
    const { metrics, p } = pipeline('budget', { maxSteps: 1 });
    await p.submit(healthy);
    await p.idle();
    assert.deepEqual(p.tally, { linearizable: 0, violation: 0, unknown: 1, skipped: 0 });
    assert.equal(await series(metrics, 'cellkv_canary_checks_total{verdict="linearizable"}'), 0);
    assert.equal(await series(metrics, 'cellkv_canary_checks_total{verdict="unknown"}'), 1);
    assert.equal(await series(metrics, 'cellkv_canary_violations_total'), 0);
    assert.match(p.filesWritten[0] ?? '', /unknown-[0-9]+-[0-9]{4}-.*\.jsonl$/);
  });

  it('a malformed window counts as unknown, not linearizable', async () => {
    const { p } = pipeline('malformed');
    const bad = { ...healthy, records: [{ ...healthy.records[0]!, complete: 0 }] };
    await p.submit(bad);
    await p.idle();
    assert.deepEqual(p.tally, { linearizable: 0, violation: 0, unknown: 1, skipped: 0 });
  });

  it('keeps at most maxFiles window files', async () => {
    const files = new WindowFiles(join(dir, 'bounded'), 3);
    const written: string[] = [];
    for (let i = 0; i < 7; i++) written.push(await files.write({ ...stale, index: i }, { runId: 'test', verdict: 'violation', detail: 'x' }));
    const left = (await readdir(join(dir, 'bounded'))).sort();
    assert.equal(left.length, 3);
    assert.deepEqual(left, written.slice(-3).map((f) => f.split('/').pop()!).sort(), 'the newest three stay');
  });

  it('rejects limits that are not explicit whole numbers', () => {
    assert.throws(() => new WindowFiles(dir, 0), RangeError);
    assert.throws(() => new CheckPipeline({ metrics: new CanaryMetrics(), files: new WindowFiles(dir, 1), logger: silentLogger(), runId: 't', timeoutMs: 10, maxQueued: 0 }), RangeError);
  });
});
