// Property tests: histories produced by really executing ops are linearizable; corrupted
// sequential ones are not; and on tiny histories the checker agrees with a brute-force
// enumeration of all linearizations (an independent statement of the semantics).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  type HistoryOutput,
  type HistoryRecord,
  type RegisterOp,
  type RegisterValue,
  cellkvModel,
  cellkvOperations,
  checkCellkvHistory,
  checkOperations,
  registerModel,
} from '../../../shared/lincheck/index.js';

// ---- A reference cellkv execution -------------------------------------------------------

/** `timeoutOneIn`: one write in that many has an unknown outcome. */
const stepArbWith = (timeoutOneIn: number) => fc.record({
  kind: fc.constantFrom('get', 'put', 'delete', 'cas'),
  key: fc.integer({ min: 0, max: 2 }),
  unknown: fc.integer({ min: 1, max: timeoutOneIn }).map((n) => n === 1),
  applied: fc.boolean(), // whether a timed-out write took effect anyway
  gap: fc.integer({ min: 1, max: 2 }), // versions may skip numbers
  casOnCurrent: fc.boolean(),
  randomVersion: fc.integer({ min: 0, max: 8 }),
  before: fc.integer({ min: 0, max: 8 }), // interval around the linearization point
  after: fc.integer({ min: 0, max: 8 }),
});
const stepArb = stepArbWith(4);
type Step = typeof stepArb extends fc.Arbitrary<infer T> ? T : never;

/** Runs steps against a map; op i takes effect at time 4i, inside [4i - before, 4i + after]. */
function execute(steps: readonly Step[], keys: number, sequential: boolean): HistoryRecord[] {
  const store = new Map<string, { value: string; version: number }>();
  const last = new Map<string, number>();
  return steps.map((s, i) => {
    const key = `k${s.key % keys}`;
    const point = 4 * i;
    const invoke = sequential ? point : point - s.before;
    const complete = sequential ? point + 1 : point + s.after;
    const cur = store.get(key);
    const fresh = (): number => {
      const v = (last.get(key) ?? -1) + s.gap;
      last.set(key, v);
      return v;
    };
    const unknown = !sequential && s.unknown && s.kind !== 'get';
    const effect = !unknown || s.applied;
    const base = { client: i, key, invoke, complete: unknown ? null : complete, outcome: unknown ? ('unknown' as const) : ('ok' as const) };
    let rec: HistoryRecord;
    let output: HistoryOutput;
    switch (s.kind) {
      case 'get':
        output = cur === undefined ? { found: false } : { found: true, value: cur.value, version: String(cur.version) };
        rec = { ...base, op: 'get', output };
        break;
      case 'put': {
        const value = `v${i}`;
        const version = effect ? fresh() : 0;
        if (effect) store.set(key, { value, version });
        rec = { ...base, op: 'put', value, output: { version: String(version) } };
        break;
      }
      case 'delete':
        if (effect) store.delete(key);
        rec = { ...base, op: 'delete', output: { existed: cur !== undefined } };
        break;
      case 'cas': {
        const value = `v${i}`;
        const ifVersion = s.casOnCurrent && cur !== undefined ? cur.version : s.randomVersion;
        if (cur !== undefined && cur.version === ifVersion) {
          const version = effect ? fresh() : 0;
          if (effect) store.set(key, { value, version });
          output = { swapped: true, version: String(version) };
        } else {
          output = { swapped: false, currentVersion: cur === undefined ? null : String(cur.version) };
        }
        rec = { ...base, op: 'cas', value, ifVersion: String(ifVersion), output };
        break;
      }
    }
    if (unknown) {
      const { output: _hidden, ...rest } = rec;
      return rest;
    }
    return rec;
  });
}

test('executed histories with overlapping intervals and timeouts are linearizable', () => {
  fc.assert(
    fc.property(fc.array(stepArb, { minLength: 1, maxLength: 40 }), (steps) => {
      const res = checkCellkvHistory(execute(steps, 3, false), { timeoutMs: 5000 });
      assert.equal(res.result, 'linearizable', JSON.stringify(res));
    }),
    { numRuns: 200 },
  );
});

test('a sequential history with a stale read or a reused version is not linearizable', () => {
  const arb = fc.record({
    steps: fc.array(stepArb, { minLength: 2, maxLength: 25 }),
    pick: fc.nat(),
    staleRead: fc.boolean(),
  });
  fc.assert(
    fc.property(arb, ({ steps, pick, staleRead }) => {
      const recs = execute(steps, 2, true);
      // Every (value, version) a key has had, in order, to find something older to return.
      const seen = new Map<string, { value: string; version: string }[]>();
      const candidates: { index: number; older: { value: string; version: string } }[] = [];
      recs.forEach((r, index) => {
        const hist = seen.get(r.key) ?? [];
        const out = r.output;
        if (staleRead && r.op === 'get' && out && 'found' in out && out.found) {
          for (const o of hist) if (o.version !== out.version) candidates.push({ index, older: o });
        }
        if (!staleRead && r.op === 'put' && hist.length > 0) candidates.push({ index, older: hist[pick % hist.length]! });
        if (out && 'version' in out && (r.op === 'put' || (r.op === 'cas' && 'swapped' in out && out.swapped))) {
          hist.push({ value: r.value!, version: out.version });
        }
        seen.set(r.key, hist);
      });
      fc.pre(candidates.length > 0);
      const { index, older } = candidates[pick % candidates.length]!;
      const mutated = recs.slice();
      mutated[index] = staleRead
        ? { ...recs[index]!, output: { found: true, value: older.value, version: older.version } }
        : { ...recs[index]!, output: { version: older.version } };
      assert.equal(checkCellkvHistory(recs).result, 'linearizable');
      assert.equal(checkCellkvHistory(mutated).result, 'not-linearizable');
    }),
    { numRuns: 200 },
  );
});

// ---- Brute force: try every linearization --------------------------------------------------

interface Timed {
  readonly call: number;
  readonly ret: number; // Infinity: optional
}

/** Is there an order of all completed ops plus some optional ones, respecting real time, that `legal` accepts? */
function bruteForce(ops: readonly Timed[], legal: (order: readonly number[]) => boolean): boolean {
  const used = new Array<boolean>(ops.length).fill(false);
  const order: number[] = [];
  const go = (): boolean => {
    if (ops.every((o, i) => used[i] || o.ret === Infinity) && legal(order)) return true;
    for (let x = 0; x < ops.length; x++) {
      if (used[x]) continue;
      if (ops.some((y, j) => !used[j] && j !== x && y.ret < ops[x]!.call)) continue;
      used[x] = true;
      order.push(x);
      if (go()) return true;
      order.pop();
      used[x] = false;
    }
    return false;
  };
  return go();
}

/**
 * Sequential cellkv semantics with explicit version variables, checked at the end. `taken`:
 * versions completed writes returned anywhere in the history, which an unknown write
 * cannot have (only matters when checking a prefix that lacks those writes).
 */
function legalCellkv(recs: readonly HistoryRecord[], order: readonly number[], taken: ReadonlySet<string>): boolean {
  const versions: (bigint | null)[] = []; // one per write, in order; null = not known
  let present = false;
  let value = '';
  let cur = -1; // index into versions of the current value's write
  const bind = (v: string): boolean => {
    const b = BigInt(v);
    if (versions[cur] === null && !taken.has(v)) versions[cur] = b;
    return versions[cur] === b;
  };
  for (const i of order) {
    const r = recs[i]!;
    const out = r.output;
    if (r.op === 'get') {
      if (!out || !('found' in out)) return false;
      if (!out.found ? present : !present || value !== out.value || !bind(out.version)) return false;
    } else if (r.op === 'put') {
      versions.push(out && 'version' in out ? BigInt(out.version) : null);
      [present, value, cur] = [true, r.value!, versions.length - 1];
    } else if (r.op === 'delete') {
      if (out && 'existed' in out && out.existed !== present) return false;
      present = false;
    } else {
      const swapped = out === undefined || ('swapped' in out && out.swapped);
      if (swapped) {
        if (!present || !bind(r.ifVersion!)) return false;
        versions.push(out && 'version' in out ? BigInt(out.version) : null);
        [value, cur] = [r.value!, versions.length - 1];
      } else if (out && 'currentVersion' in out) {
        if (out.currentVersion === null ? present : !present || out.currentVersion === r.ifVersion || !bind(out.currentVersion)) return false;
      }
    }
  }
  let lo = -1n; // the smallest possible value of the latest version so far
  for (const v of versions) {
    if (v === null) lo += 1n;
    else if (v > lo) lo = v;
    else return false;
  }
  return true;
}

const mutationArb = fc.array(
  fc.record({ index: fc.nat(), version: fc.integer({ min: 0, max: 8 }), delta: fc.constantFrom(-1, 1), flag: fc.boolean(), nudge: fc.boolean() }),
  { maxLength: 2 },
);

/** Corrupts one op's output: nudge a version by one, or replace the output at random. */
function mutate(recs: HistoryRecord[], m: { index: number; version: number; delta: number; flag: boolean; nudge: boolean }): HistoryRecord[] {
  const i = m.index % recs.length;
  const r = recs[i]!;
  const out = r.output;
  if (r.outcome !== 'ok' || out === undefined) return recs;
  const v = String(m.version);
  const near = (x: string): string => String(Math.max(0, Number(x) + m.delta));
  let output: HistoryOutput;
  if (m.nudge) {
    if ('found' in out) output = out.found ? { ...out, version: near(out.version) } : out;
    else if ('swapped' in out) output = out.swapped ? { ...out, version: near(out.version) } : { ...out, currentVersion: out.currentVersion === null ? v : near(out.currentVersion) };
    else if ('version' in out) output = { version: near(out.version) };
    else output = { existed: !out.existed };
  } else {
    output =
      r.op === 'get' ? (m.flag ? { found: true, value: `v${m.version % recs.length}`, version: v } : { found: false })
      : r.op === 'put' ? { version: v }
      : r.op === 'delete' ? { existed: m.flag }
      : m.flag ? { swapped: true, version: v } : { swapped: false, currentVersion: m.version === 8 ? null : v };
  }
  return recs.map((x, j) => (j === i ? { ...x, output } : x));
}

test('cellkv: the checker agrees with brute force on tiny histories', () => {
  let verdicts = 0;
  fc.assert(
    fc.property(fc.array(stepArbWith(2), { minLength: 1, maxLength: 6 }), mutationArb, (steps, mutations) => {
      let recs = execute(steps, 1, false);
      for (const m of mutations) recs = mutate(recs, m);
      const live = recs.filter((r) => r.outcome === 'ok' || r.op !== 'get');
      const taken = new Set<string>();
      for (const r of live) {
        const out = r.outcome === 'ok' ? r.output : undefined;
        if (out && 'version' in out && (r.op === 'put' || r.op === 'cas')) taken.add(out.version);
      }
      // The history as of time t: later ops left out, ops still running made optional.
      const legalAt = (t: number): boolean => {
        const cut = live.filter((r) => r.invoke <= t);
        const timed = cut.map((r) => ({ call: r.invoke, ret: r.outcome === 'ok' && r.complete! <= t ? r.complete! : Infinity }));
        return bruteForce(timed, (order) => legalCellkv(cut, order, taken));
      };
      const expected = legalAt(Infinity);
      const res = checkCellkvHistory(recs);
      assert.equal(res.result, expected ? 'linearizable' : 'not-linearizable', JSON.stringify(recs));
      // Facts of the whole history only prune: the bare model reaches the same verdict.
      assert.equal(checkOperations(cellkvModel, cellkvOperations(recs)).result, res.result);
      if (expected) verdicts++;
      if (res.result === 'not-linearizable') {
        // The reported prefix is illegal, and the one ending at the previous completion is not.
        const t = res.prefix.find((e) => e.culprit)!.return!;
        assert.ok(res.minimal);
        assert.equal(legalAt(t), false);
        const before = live.map((r) => (r.outcome === 'ok' ? r.complete! : -Infinity)).filter((c) => c < t);
        if (before.length > 0) assert.equal(legalAt(Math.max(...before)), true, JSON.stringify(recs));
      }
    }),
    { numRuns: 3000 },
  );
  // Both verdicts must be well represented, or the comparison proves little.
  assert.ok(verdicts > 300 && verdicts < 2700, `linearizable in ${verdicts} of 3000 runs`);
});

test('register: the checker agrees with brute force on tiny histories', () => {
  const opArb = fc.record({
    f: fc.constantFrom('read', 'write', 'cas'),
    a: fc.integer({ min: 0, max: 2 }),
    b: fc.integer({ min: 0, max: 2 }),
    unknown: fc.integer({ min: 0, max: 3 }).map((n) => n === 0),
    applied: fc.boolean(),
    lie: fc.integer({ min: 0, max: 5 }).map((n) => n === 0), // corrupt this op's output
    before: fc.integer({ min: 0, max: 8 }),
    after: fc.integer({ min: 0, max: 8 }),
  });
  fc.assert(
    fc.property(fc.array(opArb, { minLength: 1, maxLength: 7 }), (plan) => {
      let state: RegisterValue = null;
      const ops: RegisterOp[] = plan.map((p, i) => {
        const unknown = p.unknown && p.f !== 'read';
        const effect = !unknown || p.applied;
        const t = { clientId: i, call: 4 * i - p.before, return: unknown ? Infinity : 4 * i + p.after };
        if (p.f === 'read') return { ...t, input: { f: 'read' }, output: { value: p.lie ? p.a : state } };
        if (p.f === 'write') {
          if (effect) state = p.a;
          return { ...t, input: { f: 'write', value: p.a }, output: unknown ? undefined : { ok: true } };
        }
        const ok = state === p.a;
        if (ok && effect) state = p.b;
        return { ...t, input: { f: 'cas', from: p.a, to: p.b }, output: unknown ? undefined : { ok: p.lie ? !ok : ok } };
      });
      const legal = (order: readonly number[]): boolean => {
        let s: RegisterValue = null;
        for (const i of order) {
          const { input, output } = ops[i]!;
          if (input.f === 'read') {
            if (!output || !('value' in output) || output.value !== s) return false;
          } else if (input.f === 'write') {
            s = input.value;
          } else if (output === undefined) {
            if (s === input.from) s = input.to; // placed: behaves like the real cas
          } else if ('ok' in output && output.ok !== (s === input.from)) {
            return false;
          } else if (s === input.from) {
            s = input.to;
          }
        }
        return true;
      };
      const expected = bruteForce(ops.map((o) => ({ call: o.call, ret: o.return })), legal);
      assert.equal(checkOperations(registerModel, ops).result, expected ? 'linearizable' : 'not-linearizable');
    }),
    { numRuns: 3000 },
  );
});
