// Unit tests of the canary's windowing (canary/window.ts) with hand-built histories: the seed
// a barrier gives the next window, carried writes of unknown outcome, tainted keys retiring,
// and the invariants that keep a cut sound. Each window is decided by the real checker.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { checkCellkvHistory, type HistoryRecord, type HistoryOutput } from '../../shared/lincheck/index.js';
import { KeyWindow, SEED_CLIENT, WindowError, type WindowHistory } from '../../canary/window.js';

const K = '__canary/t/0.0';
const LIMITS = { maxRecords: 50, maxCarried: 4, taintUs: 1_000_000 };

/** Builds records on one key with a global event clock (distinct times). */
class H {
  t = 0;
  op(op: HistoryRecord['op'], outcome: HistoryRecord['outcome'], output?: HistoryOutput, extra: { value?: string; ifVersion?: string; client?: number } = {}): HistoryRecord {
    const invoke = ++this.t;
    const complete = ++this.t;
    return { client: extra.client ?? 1, key: K, op, ...(extra.value !== undefined ? { value: extra.value } : {}), ...(extra.ifVersion !== undefined ? { ifVersion: extra.ifVersion } : {}), invoke, complete, outcome, ...(output ? { output } : {}) };
  }
  get(found: false | [string, string]): HistoryRecord {
    return this.op('get', 'ok', found === false ? { found: false } : { found: true, value: found[0], version: found[1] });
  }
  put(value: string, version: string | null): HistoryRecord {
    return version === null ? this.op('put', 'unknown', undefined, { value }) : this.op('put', 'ok', { version }, { value });
  }
  del(existed: boolean | null): HistoryRecord {
    return existed === null ? this.op('delete', 'unknown') : this.op('delete', 'ok', { existed });
  }
  cas(ifVersion: string, value: string, out: HistoryOutput | null): HistoryRecord {
    return out === null ? this.op('cas', 'unknown', undefined, { value, ifVersion }) : this.op('cas', 'ok', out, { value, ifVersion });
  }
}

function verdict(w: WindowHistory): string {
  return checkCellkvHistory(w.records, { timeoutMs: 5000 }).result;
}

function started(h: H): KeyWindow {
  const w = new KeyWindow(K, LIMITS);
  w.begin(h.get(false));
  return w;
}

function closeContinue(w: KeyWindow, barrier: HistoryRecord, now: number): { window: WindowHistory; carried: number } {
  const out = w.close(barrier, now);
  assert.equal(out.next, 'continue', out.next === 'retire' ? out.reason : '');
  return out as { window: WindowHistory; carried: number };
}

describe('canary windows: seeds', () => {
  it('the next window starts from the value the barrier read (a stale read there is caught)', () => {
    const h = new H();
    const w = started(h);
    w.add(h.put('a', '5'));
    const first = closeContinue(w, h.get(['a', '5']), h.t);
    assert.equal(verdict(first.window), 'linearizable');
    assert.equal(first.window.records.at(-1)!.op, 'get', 'the barrier ends the window it closes');

    w.add(h.get(false)); // "absent" after the barrier read "a": impossible
    const second = w.drain();
    assert.equal(second.records[0]!.client, SEED_CLIENT);
    assert.equal(verdict(second), 'not-linearizable');
    // Without the seed the same ops would pass: the seed is what carries the state over.
    assert.equal(verdict({ ...second, records: second.records.filter((r) => r.client !== SEED_CLIENT) }), 'linearizable');
  });

  it('an absent key keeps the largest version seen, so a reused version is caught', () => {
    const h = new H();
    const w = started(h);
    w.add(h.put('a', '5'));
    w.add(h.del(true));
    closeContinue(w, h.get(false), h.t);
    w.add(h.put('b', '3')); // a version below one the key already had
    const second = w.drain();
    assert.deepEqual(second.records.filter((r) => r.client === SEED_CLIENT).map((r) => r.op), ['put', 'delete']);
    assert.equal(verdict(second), 'not-linearizable');
    assert.equal(verdict({ ...second, records: second.records.filter((r) => r.client !== SEED_CLIENT) }), 'linearizable');
  });

  it('a key never written starts from the initial state; a healthy sequence of windows passes', () => {
    const h = new H();
    const w = started(h);
    assert.equal(w.drain().records.length, 0);
    w.add(h.put('a', '1'));
    w.add(h.cas('1', 'b', { swapped: true, version: '2' }));
    w.add(h.cas('1', 'c', { swapped: false, currentVersion: '2' }));
    assert.equal(verdict(closeContinue(w, h.get(['b', '2']), h.t).window), 'linearizable');
    w.add(h.del(true));
    w.add(h.get(false));
    assert.equal(verdict(closeContinue(w, h.get(false), h.t).window), 'linearizable');
    w.add(h.put('d', '3'));
    w.add(h.get(['d', '3']));
    assert.equal(verdict(w.drain()), 'linearizable');
  });
});

describe('canary windows: writes of unknown outcome', () => {
  it('carries an unresolved put into the next window, where it may land late', () => {
    const h = new H();
    const w = started(h);
    w.add(h.put('a', '1'));
    w.add(h.put('x', null)); // timed out: may apply at any later time
    const first = closeContinue(w, h.get(['a', '1']), h.t);
    assert.equal(first.carried, 1);
    w.add(h.get(['x', '2'])); // it landed after the barrier
    const second = w.drain();
    assert.equal(verdict(second), 'linearizable');
    assert.equal(verdict({ ...second, records: second.records.filter((r) => r.value !== 'x') }), 'not-linearizable', 'without the carried write the late value would be a false alarm');
  });

  it('a put whose value was read is resolved and not carried again', () => {
    const h = new H();
    const w = started(h);
    w.add(h.put('x', null));
    w.add(h.get(['x', '1']));
    assert.equal(closeContinue(w, h.get(['x', '1']), h.t).carried, 0);
    const w2 = started(new H());
    const h2 = new H();
    h2.t = 100;
    w2.add(h2.put('y', null));
    assert.equal(closeContinue(w2, h2.get(['y', '1']), h2.t).carried, 0, 'the barrier itself can resolve it');
  });

  it('a cas is resolved once the key is past its expected version, carried while it is not', () => {
    const h = new H();
    const w = started(h);
    w.add(h.put('a', '1'));
    w.add(h.cas('1', 'b', null));
    w.add(h.put('c', '7'));
    assert.equal(closeContinue(w, h.get(['c', '7']), h.t).carried, 0, 'version 7 > 1: it can never apply');

    const h2 = new H();
    const w2 = started(h2);
    w2.add(h2.put('a', '1'));
    w2.add(h2.cas('1', 'b', null));
    assert.equal(closeContinue(w2, h2.get(['a', '1']), h2.t).carried, 1, 'still at version 1: it may apply later');
    w2.add(h2.get(['b', '2']));
    assert.equal(verdict(w2.drain()), 'linearizable');
  });

  it('a cas on a key deleted since is resolved (a recreated key never gets its version back)', () => {
    const h = new H();
    const w = started(h);
    w.add(h.put('a', '4'));
    w.add(h.cas('4', 'b', null));
    w.add(h.del(true));
    assert.equal(closeContinue(w, h.get(false), h.t).carried, 0);
  });

  it('an unknown delete stays carried and retires the key once the taint bound passes', () => {
    const h = new H();
    const w = started(h);
    w.add(h.put('a', '1'));
    const d = h.del(null);
    w.add(d);
    assert.equal(closeContinue(w, h.get(['a', '1']), h.t).carried, 1);
    w.add(h.get(['a', '1']));
    const out = w.close(h.get(['a', '1']), d.invoke + LIMITS.taintUs + 1);
    assert.equal(out.next, 'retire');
    assert.match(out.next === 'retire' ? out.reason : '', /unresolved after 1 s/);
    assert.equal(verdict(out.window), 'linearizable', 'the retiring window is still checked');
    assert.throws(() => w.add(h.get(false)), (e: unknown) => e instanceof WindowError && e.code === 'RETIRED');
  });

  it('too many carried writes retire the key', () => {
    const h = new H();
    const w = new KeyWindow(K, { ...LIMITS, maxCarried: 1 });
    w.begin(h.get(false));
    w.add(h.put('x', null));
    w.add(h.put('y', null));
    const out = w.close(h.get(false), h.t);
    assert.equal(out.next, 'retire');
    assert.match(out.next === 'retire' ? out.reason : '', /2 writes of unknown outcome pending \(limit 1\)/);
  });
});

describe('canary windows: invariants', () => {
  it('refuses ops before the first barrier, other keys, a full window and a barrier overlapping an op', () => {
    const h = new H();
    const w = new KeyWindow(K, { ...LIMITS, maxRecords: 3 });
    assert.throws(() => w.add(h.get(false)), (e: unknown) => e instanceof WindowError && e.code === 'NOT_SEEDED');
    w.begin(h.get(false));
    assert.throws(() => w.add({ ...h.get(false), key: 'other' }), (e: unknown) => e instanceof WindowError && e.code === 'WRONG_KEY');
    const running = h.put('a', '1');
    w.add(running);
    w.add(h.get(['a', '1']));
    assert.equal(w.full, true);
    assert.throws(() => w.add(h.get(['a', '1'])), (e: unknown) => e instanceof WindowError && e.code === 'WINDOW_FULL');
    const early = { ...h.get(['a', '1']), invoke: running.complete! - 0.5 };
    assert.throws(() => w.close(early, h.t), (e: unknown) => e instanceof WindowError && e.code === 'BAD_BARRIER');
    const notRead = h.put('b', '2');
    assert.throws(() => w.close(notRead, h.t), (e: unknown) => e instanceof WindowError && e.code === 'BAD_BARRIER');
    assert.throws(() => new KeyWindow(K, { ...LIMITS, maxRecords: 1 }), RangeError);
  });
});
