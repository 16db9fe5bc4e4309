// Hot-key mitigation without a cluster: single-flight stays linearizable (a read invoked before
// a write completed is never shared with a request that arrived after it), the stale-read cache
// reports true ages and respects max_staleness, the top-k counter finds heavy hitters in bounded
// memory, and the structures stay bounded.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { GatewayCore, LINEARIZABLE, type GetOutcome } from '../../gateway/core.js';
import type { CellAccess, CellPort } from '../../gateway/ports.js';
import { DEFAULT_HOT_KEY_OPTIONS, HotKeys, SingleFlight, StaleCache } from '../../gateway/hot-keys.js';
import { SpaceSaving } from '../../gateway/top-k.js';
import type { Principal } from '../../gateway/auth.js';
import type { CellResponse, OpResult } from '../../shared/cell-protocol.js';
import type { DirectoryView } from '../../shared/directory.js';
import { te } from './support.js';

const dir: DirectoryView = {
  cells: [{ id: 'c1', start: '', end: null, epoch: 1, replicas: [{ node: 'n1', az: 'az1', role: 'voter' }] }],
  nodes: [{ id: 'n1', az: 'az1', lastHeartbeatMs: 0 }],
  leaders: { c1: 'n1' },
  servedBy: 'n1',
};

/**
 * One key in a fake cell whose reads take their value when invoked (their linearization point)
 * and answer only when the test releases them; writes apply and answer at once.
 */
class ControlledCell implements CellAccess {
  value = 'v1';
  version = 1n;
  index = 100n;
  reads = 0;
  staleAgeMs = 0;
  readonly held: (() => void)[] = [];
  hold = true;

  maxRequestBytes(): number {
    return 1 << 20;
  }

  port(): CellPort {
    return {
      directory: async () => dir,
      request: async (_tenant, ops) => {
        const op = ops[0]!;
        const base: CellResponse = { status: 'ok', code: null, message: '', leaderHint: '', results: [], scanItems: [], scanResumeKey: null, index: ++this.index, staleAgeMs: this.staleAgeMs };
        const meta = { version: this.version, createdAt: 1, updatedAt: 1, expiresAt: null, attrs: {} };
        if (op.op === 'put') {
          this.value = new TextDecoder().decode(op.value);
          this.version++;
          return { ...base, results: [{ status: 'ok', found: true, value: null, meta: { ...meta, version: this.version } }] };
        }
        this.reads++;
        const r: OpResult = { status: 'ok', found: true, value: te.encode(this.value), meta };
        if (this.hold) await new Promise<void>((resolve) => this.held.push(resolve));
        return { ...base, results: [r] };
      },
    };
  }

  release(): void {
    this.held.shift()?.();
  }
}

const acme: Principal = { tenant: 'acme', scopes: new Set(['kv:read', 'kv:write']), subject: null };
const text = (o: GetOutcome) => new TextDecoder().decode(o.value);
const settle = () => new Promise((r) => setImmediate(r));
async function until(what: string, fn: () => boolean): Promise<void> {
  for (let i = 0; i < 1000 && !fn(); i++) await settle();
  assert.ok(fn(), what);
}

describe('single-flight for linearizable reads', () => {
  test('a request that arrives after a write completed never gets a read invoked before it', async () => {
    const cell = new ControlledCell();
    const core = new GatewayCore(cell, { maxValueBytes: 1024, requestTimeoutMs: 5000, hotKeys: new HotKeys<GetOutcome>(DEFAULT_HOT_KEY_OPTIONS) });
    const key = te.encode('hot');
    const a = core.get(acme, key, LINEARIZABLE);
    await until('read 1 invoked', () => cell.reads === 1);
    // The write completes while read 1 (which saw v1) is still in flight.
    await core.put(acme, { key, value: te.encode('v2'), ttlMs: null, ifVersion: null, ifAbsent: false, attrs: null, idempotencyKey: null });
    const b = core.get(acme, key, LINEARIZABLE);
    const c = core.get(acme, key, LINEARIZABLE);
    await settle();
    assert.equal(cell.reads, 1, 'b and c wait for the next read instead of starting their own');
    cell.release();
    assert.equal(text(await a), 'v1', 'a overlapped the write: the old value is a correct answer for it');
    await until('read 2 invoked after read 1 settled', () => cell.reads === 2);
    cell.release();
    const [rb, rc] = await Promise.all([b, c]);
    assert.equal(text(rb), 'v2', 'sharing read 1 would have returned v1 after v2 was acknowledged');
    assert.equal(text(rc), 'v2');
    assert.equal(cell.reads, 2, 'three requests, two cell reads');
  });

  test('under a flood one read runs and one waits; a failed read hands over to the waiters', async () => {
    const sf = new SingleFlight<string>(10);
    let started = 0;
    let fail = true;
    const gates: (() => void)[] = [];
    const read = () => {
      started++;
      return new Promise<string>((resolve, reject) => gates.push(() => (fail ? reject(new Error('boom')) : resolve(`r${started}`))));
    };
    let shared = 0;
    const first = sf.run('k', read);
    const waiters = Array.from({ length: 50 }, () => sf.run('k', read, () => shared++));
    assert.equal(started, 1);
    assert.equal(shared, 50);
    fail = true;
    gates.shift()!();
    await assert.rejects(first, /boom/);
    await until('the next read started for the waiters', () => started === 2);
    fail = false;
    gates.shift()!();
    assert.deepEqual(new Set(await Promise.all(waiters)), new Set(['r2']));
    await settle();
    assert.equal(sf.inFlight, 0, 'nothing left behind');
    // Past maxFlights keys, reads are not tracked (bounded map) but still served.
    const many = new SingleFlight<number>(2);
    const ps = [1, 2, 3].map((n) => many.run(`k${n}`, async () => n));
    assert.deepEqual(await Promise.all(ps), [1, 2, 3]);
  });
});

describe('stale-read cache', () => {
  test('serves entries younger than max_staleness with their true age; bounded by entries and bytes', () => {
    const c = new StaleCache<string>({ staleCacheEntries: 2, staleCacheMaxBytes: 100, staleCacheMaxEntryBytes: 60, staleCacheMaxAgeMs: 1000 });
    c.set('a', 'A', 10, 30, 0);
    assert.deepEqual(c.get('a', 100, 50), { value: 'A', ageMs: 80 });
    assert.equal(c.get('a', 70, 50), null, 'older than this request allows');
    assert.deepEqual(c.get('a', 0, 900), { value: 'A', ageMs: 930 }, '0 = any age the cache allows');
    assert.equal(c.get('a', 0, 980), null, 'past the cache bound');
    assert.equal(c.size, 0, 'and dropped');
    c.set('big', 'X', 61, 0, 0);
    assert.equal(c.size, 0, 'an entry above the per-entry bound is not cached');
    c.set('a', 'A', 50, 0, 0);
    c.set('b', 'B', 40, 0, 0);
    c.set('c', 'C', 30, 0, 0);
    assert.equal(c.size, 2);
    assert.equal(c.get('a', 0, 1), null, 'least recently used evicted');
    c.set('d', 'D', 60, 0, 0);
    assert.ok(c.totalBytes <= 100, `bytes ${c.totalBytes}`);
  });

  test('through the core: hot stale reads come from the cache with their age; writes invalidate', async () => {
    const cell = new ControlledCell();
    cell.hold = false;
    cell.staleAgeMs = 40;
    let now = 1000;
    const hk = new HotKeys<GetOutcome>({ ...DEFAULT_HOT_KEY_OPTIONS, threshold: 1 }, undefined, () => now);
    const core = new GatewayCore(cell, { maxValueBytes: 1024, requestTimeoutMs: 5000, hotKeys: hk });
    const key = te.encode('k');
    const stale = (maxStalenessMs: number) => core.get(acme, key, { consistency: 'stale', session: null, maxStalenessMs });
    assert.equal((await stale(0)).staleAgeMs, 40);
    now += 25;
    const hit = await stale(0);
    assert.equal(hit.staleAgeMs, 65, 'the replica lag when read plus the time since');
    assert.equal(cell.reads, 1);
    const fresh = await stale(50);
    assert.equal(fresh.staleAgeMs, 40, 'an entry older than max_staleness is not served');
    assert.equal(cell.reads, 2);
    await core.put(acme, { key, value: te.encode('new'), ttlMs: null, ifVersion: null, ifAbsent: false, attrs: null, idempotencyKey: null });
    assert.equal(text(await stale(0)), 'new', 'the write through this gateway dropped the entry');
    assert.equal(hk.stats().staleCacheHits, 1);
  });
});

describe('top-k (space-saving)', () => {
  test('finds the heavy hitters among many distinct keys in k counters, and decays', () => {
    const t = new SpaceSaving<string>(16, 10_000, 0);
    let seed = 7;
    const rnd = () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff);
    for (let i = 0; i < 20_000; i++) {
      const r = rnd();
      const id = r < 0.2 ? 'hot-a' : r < 0.3 ? 'hot-b' : `cold-${Math.floor(rnd() * 5000)}`;
      t.offer(id, () => id, 1);
    }
    const top = t.top(2, 1).map((e) => e.id);
    assert.deepEqual(top, ['hot-a', 'hot-b']);
    assert.equal(t.top(100, 1).length, 16, 'never more than k counters');
    const a = t.top(1, 1)[0]!;
    assert.ok(a.count - a.error <= 4200 && a.count >= 3800, `estimate ${a.count} ± ${a.error} around 4000`);
    assert.ok(t.estimate('hot-a', 10_001) < a.count / 1.9, 'halved after a decay period');
    assert.equal(t.countAtLeast(1, 400_000), 0, 'everything decays away');
  });

  test('HotKeys reports tenants and base64 keys, and counts hot keys for the metric', () => {
    const hk = new HotKeys<string>({ ...DEFAULT_HOT_KEY_OPTIONS, threshold: 3 }, undefined, () => 0);
    for (let i = 0; i < 5; i++) hk.record('acme', new Uint8Array([0, 0xff, 1]));
    hk.record('acme', te.encode('cold'));
    const v = hk.view(10);
    assert.deepEqual(v[0], { tenant: 'acme', key: Buffer.from([0, 0xff, 1]).toString('base64'), count: 5, error: 0, hot: true });
    assert.equal(v[1]!.hot, false);
    assert.equal(hk.hotCount(), 1);
  });
});
