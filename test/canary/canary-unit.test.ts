// The canary's orchestration (canary/canary.ts) against an in-memory store: many windows cut
// at quiescent barriers (KeyWindow.close refuses any other cut, which would stop the canary),
// no false alarm when writes of unknown outcome apply late, and lost writes caught.

import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { silentLogger } from '../../gateway/log.js';
import { Canary, CanaryConfigError, validateCanaryConfig, type CanaryConfig } from '../../canary/canary.js';
import { CanaryMetrics } from '../../canary/metrics.js';
import { MemKv } from './mem-kv.js';

let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'cellkv-canary-unit-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

function cfg(extra: Partial<CanaryConfig> = {}): CanaryConfig {
  return {
    prefix: '__canary/', keys: 3, concurrency: 6, ratePerSec: 20_000, windowOps: 12, windowMs: 60_000, maxWindowRecords: 19,
    maxCarried: 32, taintMs: 60_000, checkTimeoutMs: 5000, maxQueuedWindows: 4, violationsDir: join(dir, 'v'),
    maxViolationFiles: 5, barrierRetryMaxMs: 50, maxOps: 20_000, maxWindows: 40, cleanup: false, ...extra,
  };
}

function canary(kv: MemKv, c: CanaryConfig): Canary {
  let seed = 12345;
  const random = () => {
    seed = (Math.imul(seed, 1103515245) + 12345) | 0;
    return (seed >>> 0) / 2 ** 32;
  };
  return new Canary(c, { client: kv, metrics: new CanaryMetrics(), logger: silentLogger(), runId: 'unit', random });
}

describe('canary orchestration on an in-memory store', () => {
  it('a correct store: every window linearizable, late-applied unknown writes carried', async () => {
    const kv = new MemKv({ seed: 7, maxDelayMs: 2, unknownEvery: 5, lateMs: 20 });
    const s = await canary(kv, cfg()).run();
    await kv.close();
    assert.ok(s.checks.linearizable >= 40, JSON.stringify(s));
    assert.equal(s.checks.violation + s.checks.unknown, 0, JSON.stringify(s));
    assert.ok(s.ops.unknown > 0 && s.carriedWrites > 0, JSON.stringify(s));
  });

  it('a tiny taint bound retires keys (skipped) and still raises no false alarm', async () => {
    const kv = new MemKv({ seed: 11, maxDelayMs: 2, unknownEvery: 4, lateMs: 20 });
    const s = await canary(kv, cfg({ taintMs: 1 })).run();
    await kv.close();
    assert.ok(s.retiredKeys > 0 && s.checks.skipped === s.retiredKeys, JSON.stringify(s));
    assert.equal(s.checks.violation, 0, JSON.stringify(s));
  });

  it('a store that loses acknowledged writes is caught', async () => {
    const kv = new MemKv({ seed: 3, maxDelayMs: 2, loseEvery: 6 });
    const s = await canary(kv, cfg({ maxWindows: 20 })).run();
    assert.ok(kv.lost > 0);
    assert.ok(s.checks.violation >= 1, JSON.stringify(s));
    // The directory keeps at most maxViolationFiles (5) window files, however many were
    // written (under load, budget-exhausted 'unknown' windows add files too).
    assert.ok(s.files.length >= 1, JSON.stringify(s));
    const kept = (await readdir(join(dir, 'v'))).filter((n) => n.endsWith('.jsonl'));
    assert.ok(kept.length >= 1 && kept.length <= 5, kept.join(','));
  });

  it('refuses settings without explicit, consistent limits', () => {
    assert.throws(() => validateCanaryConfig(cfg({ maxWindowRecords: 12 })), (e: unknown) => e instanceof CanaryConfigError && /max window records/.test(e.message));
    assert.throws(() => validateCanaryConfig(cfg({ ratePerSec: 0 })), CanaryConfigError);
    assert.throws(() => validateCanaryConfig(cfg({ keys: 0 })), CanaryConfigError);
    assert.doesNotThrow(() => validateCanaryConfig(cfg()));
  });
});
