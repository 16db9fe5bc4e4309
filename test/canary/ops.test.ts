// Unit tests of how a canary op's answer becomes a history outcome (canary/ops.ts): 504 and
// timeouts leave a write unknown, definite refusals fail it, a refused cas is an ok outcome,
// and the clock never repeats a time.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CellkvError, type CellkvClient, type GetResult } from '../../shared/client/index.js';
import { MonotonicClock, runOp } from '../../canary/ops.js';

function throwing(e: unknown): CellkvClient {
  const fail = async (): Promise<never> => {
    throw e;
  };
  return { get: fail, put: fail, delete: fail, batch: fail, scan: () => (async function* () {})(), close: async () => undefined };
}

const err = (code: string, status: number, attempts = 1) => new CellkvError({ code, status, detail: 'test', attempts });
const clock = new MonotonicClock();

async function outcome(e: unknown, op: 'get' | 'put' | 'delete' | 'cas') {
  const req = op === 'cas' ? { client: 1, key: 'k', op, value: 'v', ifVersion: 3n } : op === 'put' ? { client: 1, key: 'k', op, value: 'v' } : { client: 1, key: 'k', op };
  return (await runOp(throwing(e), clock, req)).record;
}

describe('canary op outcomes', () => {
  it('writes: 504 / OUTCOME_UNKNOWN / timeouts / 500 are unknown; 503, 429 and first-attempt 4xx fail', async () => {
    assert.equal((await outcome(err('OUTCOME_UNKNOWN', 504), 'put')).outcome, 'unknown');
    assert.equal((await outcome(err('INTERNAL', 500), 'delete')).outcome, 'unknown');
    assert.equal((await outcome(new Error('socket hang up'), 'put')).outcome, 'unknown');
    assert.equal((await outcome(err('UNAVAILABLE', 503), 'put')).outcome, 'fail');
    assert.equal((await outcome(err('UNAVAILABLE', 0), 'cas')).outcome, 'fail');
    assert.equal((await outcome(err('RATE_LIMITED', 429), 'put')).outcome, 'fail');
    assert.equal((await outcome(err('PERMISSION_DENIED', 403), 'put')).outcome, 'fail');
    assert.equal((await outcome(err('UNAUTHENTICATED', 401, 2), 'put')).outcome, 'unknown', 'an earlier attempt may have applied');
  });

  it('a refused cas is ok with the current version (null when absent)', async () => {
    const r = await outcome(new CellkvError({ code: 'VERSION_MISMATCH', status: 412, detail: 'x', currentVersion: 7n }), 'cas');
    assert.deepEqual([r.outcome, r.output], ['ok', { swapped: false, currentVersion: '7' }]);
    const absent = await outcome(new CellkvError({ code: 'VERSION_MISMATCH', status: 412, detail: 'x', currentVersion: null }), 'cas');
    assert.deepEqual(absent.output, { swapped: false, currentVersion: null });
    assert.equal(absent.ifVersion, '3');
  });

  it('reads: timeouts are labelled unknown, refusals fail; answers become outputs', async () => {
    assert.equal((await outcome(err('UNAVAILABLE', 0), 'get')).outcome, 'unknown');
    assert.equal((await outcome(err('UNAVAILABLE', 503), 'get')).outcome, 'fail');
    const entry: GetResult = { value: new TextEncoder().encode('x'), version: 9n, createdAt: 0, updatedAt: 0, expiresAt: null, attrs: {}, session: '', staleAgeMs: null };
    const ok: CellkvClient = { ...throwing(null), get: async () => entry };
    const r = (await runOp(ok, clock, { client: 1, key: 'k', op: 'get' })).record;
    assert.deepEqual([r.outcome, r.output], ['ok', { found: true, value: 'x', version: '9' }]);
    assert.ok(r.complete! > r.invoke);
  });

  it('the clock strictly increases', () => {
    const c = new MonotonicClock();
    let last = -1;
    for (let i = 0; i < 10_000; i++) {
      const t = c.nowUs();
      assert.ok(t > last);
      last = t;
    }
  });
});
