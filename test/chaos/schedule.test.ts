// The chaos schedule generator, the seeded PRNG, and the harness's own history checks.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Rng } from '../../chaos/rng.js';
import { FAULT_KINDS, describeSpec, generateSchedule, parseKinds } from '../../chaos/schedule.js';
import { checkNoLostWrites, checkVersions } from '../../chaos/checks.js';
import { availability } from '../../chaos/report.js';
import type { HistoryRecord } from '../../shared/lincheck/index.js';

test('the same seed gives the same schedule; other seeds give others', () => {
  const a = generateSchedule({ seed: 42, seconds: 120, kinds: FAULT_KINDS });
  const b = generateSchedule({ seed: 42, seconds: 120, kinds: FAULT_KINDS });
  assert.deepEqual(a, b);
  assert.deepEqual(a.map((f) => describeSpec(f.spec)), b.map((f) => describeSpec(f.spec)));
  const others = [1, 2, 3, 43].map((seed) => JSON.stringify(generateSchedule({ seed, seconds: 120, kinds: FAULT_KINDS })));
  for (const o of others) assert.notEqual(o, JSON.stringify(a));
});

test('every enabled kind is in the first round, even for a short run', () => {
  for (let seed = 0; seed < 50; seed++) {
    const s = generateSchedule({ seed, seconds: 5, kinds: FAULT_KINDS });
    const firstRound = s.slice(0, FAULT_KINDS.length).map((f) => f.spec.kind).sort();
    assert.deepEqual(firstRound, [...FAULT_KINDS].sort(), `seed ${seed}`);
  }
});

test('a long run fills its time and uses only the enabled kinds', () => {
  const s = generateSchedule({ seed: 9, seconds: 600, kinds: ['kill', 'partition'] });
  assert.ok(s.length > 40, `${s.length} faults`);
  assert.ok(s.every((f) => f.spec.kind === 'kill' || f.spec.kind === 'partition'));
  assert.deepEqual(s.map((f) => f.n), s.map((_, i) => i + 1));
  assert.equal(generateSchedule({ seed: 9, seconds: 600, kinds: [] }).length, 0);
});

test('parseKinds accepts lists, all and none, and names the unknown', () => {
  assert.deepEqual(parseKinds('kill,pause'), ['kill', 'pause']);
  assert.deepEqual(parseKinds('all'), [...FAULT_KINDS]);
  assert.deepEqual(parseKinds('none'), []);
  assert.throws(() => parseKinds('kill,meteor'), /unknown fault kind "meteor"/);
});

test('rng: deterministic, forks independent of later draws', () => {
  const a = new Rng(5);
  const b = new Rng(5);
  assert.deepEqual([a.u32(), a.u32(), a.int(10)], [b.u32(), b.u32(), b.int(10)]);
  const r1 = new Rng(8);
  const f1 = r1.fork('x');
  const r2 = new Rng(8);
  const f2 = r2.fork('x');
  r2.u32();
  assert.equal(f1.u32(), f2.u32());
  assert.notEqual(new Rng(8).fork('x').u32(), new Rng(8).fork('y').u32());
  const r = new Rng(1);
  for (let i = 0; i < 1000; i++) {
    const v = r.range(3, 5);
    assert.ok(v >= 3 && v <= 5);
  }
});

const put = (client: number, key: string, value: string, invoke: number, complete: number, version: string): HistoryRecord => ({
  client, key, op: 'put', value, invoke, complete, outcome: 'ok', output: { version },
});
const get = (client: number, key: string, invoke: number, complete: number, value: string | null, version = '0'): HistoryRecord => ({
  client, key, op: 'get', invoke, complete, outcome: 'ok', output: value === null ? { found: false } : { found: true, value, version },
});

test('lost-write check: an acknowledged write must be final or overwritten', () => {
  const h = [put(1, 'k', 'a', 1, 2, '10'), put(2, 'k', 'b', 3, 4, '20')];
  assert.ok(checkNoLostWrites(h, new Map([['k', get(9, 'k', 5, 6, 'b', '20')]])).ok);
  const lost = checkNoLostWrites(h, new Map([['k', get(9, 'k', 5, 6, 'a', '10')]]));
  assert.equal(lost.ok, false);
  assert.match(lost.details[0]!, /b@20 lost/);
  const gone = checkNoLostWrites(h, new Map([['k', get(9, 'k', 5, 6, null)]]));
  assert.equal(gone.ok, false, 'absent at the end with no delete after the writes');
  const del: HistoryRecord = { client: 3, key: 'k', op: 'delete', invoke: 4.5, complete: null, outcome: 'unknown' };
  assert.ok(checkNoLostWrites([...h, del], new Map([['k', get(9, 'k', 5, 6, null)]])).ok);
});

test('version check: versions grow in real time and are never shared', () => {
  assert.ok(checkVersions([put(1, 'k', 'a', 1, 2, '10'), get(2, 'k', 3, 4, 'a', '10'), put(3, 'k', 'b', 5, 6, '11')]).ok);
  const back = checkVersions([put(1, 'k', 'a', 1, 2, '10'), get(2, 'k', 3, 4, 'old', '9')]);
  assert.equal(back.ok, false);
  const shared = checkVersions([put(1, 'k', 'a', 1, 2, '10'), put(2, 'k', 'b', 1, 2, '10')]);
  assert.equal(shared.ok, false);
  assert.match(shared.details[0]!, /two writes got version 10/);
  // Concurrent ops may see versions in either order.
  assert.ok(checkVersions([put(1, 'k', 'a', 1, 5, '10'), get(2, 'k', 2, 3, 'x', '9')]).ok);
});

test('availability: leader kill to next write, ops/s inside and outside faults', () => {
  const recs: HistoryRecord[] = [];
  for (let ms = 0; ms < 10_000; ms += 100) if (ms < 2000 || ms > 2600) recs.push(put(1, 'k', `v${ms}`, ms * 1000, ms * 1000 + 50_000, String(ms + 1)));
  const a = availability(recs, [{ n: 1, kind: 'kill', plan: '', notes: [], startMs: 2000, endMs: 4000 }], [2000], [0, 10_000]);
  assert.deepEqual(a.leaderKillToWriteMs, [750]);
  assert.equal(a.faultSeconds, 2);
  assert.ok(a.opsPerSecOutsideFaults > a.opsPerSecDuringFaults);
});
