// The fleet placement planner (cell/placement/placement-planner.ts): scripted cases for each rule,
// then properties over random fleets, applying every plan to a model fleet round after round
// (moves finish at once, transfers too, 5 s per round): one replica per AZ and per node always,
// dead and draining nodes emptied, balancing converges and then stays quiet, cool-downs hold.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  DEFAULT_PLACEMENT_CONFIG,
  planPlacement,
  type BlockedWork,
  type PlacementConfig,
  type PlacementDecision,
  type PlannerCell,
  type PlannerNode,
} from '../../../cell/placement/placement-planner.js';

const CFG: PlacementConfig = { ...DEFAULT_PLACEMENT_CONFIG, minBytesGap: 1000 };
const ROUND_MS = 5000;
const DEAD = 40_000;
const SUSPECT = 15_000;

const node = (id: string, az: string, o: Partial<PlannerNode> = {}): PlannerNode => ({ id, az, heartbeatAgeMs: 1000, draining: false, ...o });
/** A cell with voters on `nodes` (az = the node's AZ in `fleet`), led by the first. */
function cell(id: string, nodes: readonly string[], fleet: readonly PlannerNode[], o: Partial<PlannerCell> = {}): PlannerCell {
  return {
    id,
    replicas: nodes.map((n) => ({ node: n, az: fleet.find((x) => x.id === n)!.az, role: 'voter' as const })),
    leader: nodes[0]!,
    sizeBytes: 100,
    qps: 0,
    joint: false,
    moveInFlight: false,
    lastMovedAtMs: null,
    ...o,
  };
}
const six = (o: Record<string, Partial<PlannerNode>> = {}): PlannerNode[] =>
  ['n1', 'n2', 'n3', 'n4', 'n5', 'n6'].map((id, i) => node(id, `az${(i % 3) + 1}`, o[id] ?? {}));
const moves = (ds: readonly PlacementDecision[]) => ds.filter((d) => d.kind === 'move');

describe('placement rules', () => {
  it('an empty node of each AZ receives a cell by balancing, one move per round, in its own AZ', () => {
    const fleet = six();
    const cells = [cell('meta', ['n1', 'n2', 'n3'], fleet), cell('c1', ['n1', 'n2', 'n3'], fleet, { leader: 'n2' })];
    const plan = planPlacement({ nowMs: 0, nodes: fleet, cells }, CFG);
    assert.deepEqual(plan.decisions, [{ kind: 'move', cell: 'c1', from: 'n1', to: 'n4', reason: 'balance' }]);
  });

  it('a replica on a node dead past the timeout is re-created in its AZ; a merely silent node waits', () => {
    const fleet = six({ n2: { heartbeatAgeMs: DEAD } });
    const cells = [cell('c1', ['n1', 'n2', 'n3'], fleet)];
    assert.deepEqual(planPlacement({ nowMs: 0, nodes: fleet, cells }, CFG).decisions, [{ kind: 'move', cell: 'c1', from: 'n2', to: 'n5', reason: 'dead-node' }]);
    const suspect = six({ n2: { heartbeatAgeMs: SUSPECT } });
    assert.deepEqual(moves(planPlacement({ nowMs: 0, nodes: suspect, cells }, CFG).decisions).filter((m) => m.reason === 'dead-node'), []);
  });

  it('a dead node with no other node in its AZ is reported blocked, never repaired across AZs', () => {
    const fleet = [node('n1', 'az1'), node('n2', 'az2', { heartbeatAgeMs: DEAD }), node('n3', 'az3')];
    const plan = planPlacement({ nowMs: 0, nodes: fleet, cells: [cell('c1', ['n1', 'n2', 'n3'], fleet)] }, CFG);
    assert.deepEqual(plan.decisions, []);
    assert.deepEqual(plan.blocked, [{ cell: 'c1', node: 'n2', reason: 'no-target-in-az' }]);
  });

  it('a draining node hands its leaderships away first, then its replicas move', () => {
    const fleet = six({ n1: { draining: true } });
    const cells = [cell('c1', ['n1', 'n2', 'n3'], fleet), cell('c2', ['n1', 'n2', 'n3'], fleet, { leader: 'n3' })];
    const plan = planPlacement({ nowMs: 0, nodes: fleet, cells }, CFG);
    assert.deepEqual(plan.decisions, [
      { kind: 'transfer-leader', cell: 'c1', from: 'n1', to: 'n2', reason: 'drain' },
      { kind: 'move', cell: 'c2', from: 'n1', to: 'n4', reason: 'drain' },
    ]);
  });

  it('never plans a move for a cell in a joint configuration, with a learner, or with a move in flight', () => {
    const fleet = six({ n2: { heartbeatAgeMs: DEAD } });
    for (const o of [{ joint: true }, { moveInFlight: true }]) {
      const plan = planPlacement({ nowMs: 0, nodes: fleet, cells: [cell('c1', ['n1', 'n2', 'n3'], fleet, o)] }, CFG);
      assert.deepEqual(moves(plan.decisions), [], JSON.stringify(o));
    }
    const learner = cell('c1', ['n1', 'n2', 'n3'], fleet);
    const withLearner = { ...learner, replicas: [...learner.replicas, { node: 'n5', az: 'az2', role: 'learner' as const }] };
    assert.deepEqual(planPlacement({ nowMs: 0, nodes: fleet, cells: [withLearner] }, CFG).decisions, []);
  });

  it('a move in flight uses up the budget of concurrent moves', () => {
    const fleet = six({ n2: { heartbeatAgeMs: DEAD } });
    const cells = [cell('c1', ['n1', 'n5', 'n3'], fleet, { moveInFlight: true }), cell('c2', ['n1', 'n2', 'n3'], fleet)];
    assert.deepEqual(moves(planPlacement({ nowMs: 0, nodes: fleet, cells }, CFG).decisions), []);
    const two = planPlacement({ nowMs: 0, nodes: fleet, cells }, { ...CFG, maxConcurrentMoves: 2 });
    assert.deepEqual(moves(two.decisions), [{ kind: 'move', cell: 'c2', from: 'n2', to: 'n5', reason: 'dead-node' }]);
  });

  it('a cell moved within the cool-down is not moved again for balance', () => {
    const fleet = six();
    const cells = [cell('c1', ['n1', 'n2', 'n3'], fleet, { leader: 'n2', lastMovedAtMs: 10_000 }), cell('meta', ['n1', 'n2', 'n3'], fleet, { leader: 'n2', lastMovedAtMs: 10_000 })];
    assert.deepEqual(planPlacement({ nowMs: 10_000 + CFG.moveCooldownMs - 1, nodes: fleet, cells }, CFG).decisions, []);
    assert.equal(moves(planPlacement({ nowMs: 10_000 + CFG.moveCooldownMs, nodes: fleet, cells }, CFG).decisions).length, 1);
  });

  it('a balance move of a cell the source leads hands the leadership over first', () => {
    const fleet = six();
    const cells = [cell('c1', ['n1', 'n2', 'n3'], fleet), cell('c2', ['n1', 'n2', 'n3'], fleet)];
    const plan = planPlacement({ nowMs: 0, nodes: fleet, cells }, CFG);
    // az1 first: c1 is led by n1, so its leadership goes first; az2 then still has the move budget.
    assert.deepEqual(plan.decisions, [
      { kind: 'transfer-leader', cell: 'c1', from: 'n1', to: 'n2', reason: 'before-move' },
      { kind: 'move', cell: 'c2', from: 'n2', to: 'n5', reason: 'balance' },
    ]);
  });

  it('by bytes: with counts one apart, a cell smaller than the gap moves; equal counts stay', () => {
    const fleet = six();
    const big = 10_000;
    const cells = [
      cell('a', ['n2', 'n5', 'n3'], fleet, { sizeBytes: big }),
      cell('b', ['n4', 'n2', 'n3'], fleet, { leader: 'n2', sizeBytes: big }),
      cell('c', ['n4', 'n2', 'n3'], fleet, { leader: 'n2', sizeBytes: 100 }),
    ];
    // az1: n4 has b, c (10100 bytes, 2 replicas), n1 none: counts 2 vs 0 → by count, the small one.
    assert.deepEqual(moves(planPlacement({ nowMs: 0, nodes: fleet, cells }, CFG).decisions), [{ kind: 'move', cell: 'c', from: 'n4', to: 'n1', reason: 'balance' }]);
  });
});

// ------------------------------------------------------------------ properties over a model fleet

interface Fleet {
  nodes: PlannerNode[];
  cells: PlannerCell[];
}

const arbFleet = (o: { faults: boolean }) =>
  fc
    .record({
      perAz: fc.array(fc.integer({ min: 1, max: 3 }), { minLength: 3, maxLength: 3 }),
      // Per node: 0 live, 1 draining, 2 dead, 3 silent (not live, not dead yet).
      states: fc.array(fc.integer({ min: 0, max: 3 }), { minLength: 9, maxLength: 9 }),
      cells: fc.array(fc.record({ picks: fc.array(fc.nat(), { minLength: 3, maxLength: 3 }), size: fc.integer({ min: 1, max: 1_000_000 }), leader: fc.nat() }), { minLength: 1, maxLength: 14 }),
    })
    .map(({ perAz, states, cells }): Fleet => {
      const nodes: PlannerNode[] = [];
      let k = 0;
      perAz.forEach((count, a) => {
        for (let i = 0; i < count; i++) {
          const st = o.faults ? states[k]! : 0;
          // Node 0 of each AZ stays usable, so every repair has a target.
          const s = i === 0 ? 0 : st;
          nodes.push(node(`n${++k}`, `az${a + 1}`, { draining: s === 1, heartbeatAgeMs: s === 2 ? DEAD : s === 3 ? SUSPECT : 1000 }));
        }
      });
      const azNodes = (a: number) => nodes.filter((n) => n.az === `az${a + 1}`);
      return {
        nodes,
        cells: cells.map((c, i) => {
          const replicaNodes = c.picks.map((p, a) => azNodes(a)[p % azNodes(a).length]!.id);
          const livers = replicaNodes.filter((id) => nodes.find((n) => n.id === id)!.heartbeatAgeMs < 10_000);
          return {
            ...cell(`c${String(i).padStart(2, '0')}`, replicaNodes, nodes, { sizeBytes: c.size }),
            leader: livers.length ? livers[c.leader % livers.length]! : null,
          };
        }),
      };
    });

/** Applies a plan: moves finish at once (recorded as moved now), transfers too. */
function apply(f: Fleet, decisions: readonly PlacementDecision[], nowMs: number): void {
  for (const d of decisions) {
    const i = f.cells.findIndex((c) => c.id === d.cell);
    const c = f.cells[i]!;
    if (d.kind === 'transfer-leader') {
      assert.equal(c.leader, d.from);
      assert.ok(c.replicas.some((r) => r.node === d.to && r.role === 'voter'), `transfer of ${c.id} to a non-voter ${d.to}`);
      f.cells[i] = { ...c, leader: d.to };
      continue;
    }
    const from = c.replicas.find((r) => r.node === d.from);
    const to = f.nodes.find((n) => n.id === d.to)!;
    assert.ok(from, `move of ${c.id} from ${d.from}, which has no replica`);
    assert.notEqual(c.leader, d.from, `move of ${c.id} away from its leader`);
    assert.equal(to.az, from.az, `move of ${c.id} across AZs`);
    assert.ok(!to.draining && to.heartbeatAgeMs < CFG.liveMs, `move of ${c.id} to unusable ${to.id}`);
    f.cells[i] = { ...c, replicas: c.replicas.map((r) => (r.node === d.from ? { ...r, node: d.to } : r)), lastMovedAtMs: nowMs };
  }
}

function checkSpread(f: Fleet): void {
  for (const c of f.cells) {
    assert.equal(new Set(c.replicas.map((r) => r.node)).size, c.replicas.length, `${c.id}: two replicas on one node`);
    assert.equal(new Set(c.replicas.map((r) => r.az)).size, c.replicas.length, `${c.id}: two replicas in one AZ`);
  }
}

/**
 * Rounds until plans stay empty for longer than the cool-down (a quiet round inside a cool-down
 * proves nothing), or `max`; the round the quiet began, and the last plan's blocked work.
 */
function runToQuiet(f: Fleet, cfg: PlacementConfig, max: number, check: (ds: readonly PlacementDecision[], now: number) => void = () => undefined): { rounds: number; blocked: readonly BlockedWork[] } {
  let quietSince: number | null = null;
  let blocked: readonly BlockedWork[] = [];
  for (let round = 0; round < max; round++) {
    const now = round * ROUND_MS;
    const plan = planPlacement({ nowMs: now, nodes: f.nodes, cells: f.cells }, cfg);
    check(plan.decisions, now);
    blocked = plan.blocked;
    if (plan.decisions.length === 0) {
      quietSince ??= round;
      if (now - quietSince * ROUND_MS > cfg.moveCooldownMs) return { rounds: quietSince, blocked };
      continue;
    }
    quietSince = null;
    assert.ok(moves(plan.decisions).length <= cfg.maxConcurrentMoves, 'more moves than allowed in one round');
    apply(f, plan.decisions, now);
    checkSpread(f);
  }
  return { rounds: max, blocked };
}

describe('placement properties', () => {
  it('plans keep one replica per AZ and node; dead and draining nodes end empty and lead nothing', () => {
    fc.assert(
      fc.property(arbFleet({ faults: true }), fc.integer({ min: 1, max: 3 }), (f0, maxMoves) => {
        const f = structuredClone(f0);
        const cfg = { ...CFG, maxConcurrentMoves: maxMoves };
        const { rounds, blocked } = runToQuiet(f, cfg, 400);
        assert.ok(rounds < 400, 'no quiet within 400 rounds');
        for (const c of f.cells) {
          if (c.leader === null) continue; // a cell that lost its quorum cannot be repaired by moves
          // Led by a draining node whose other voters are silent: it waits (and says so).
          if (blocked.some((b) => b.cell === c.id && b.reason === 'no-other-voter')) continue;
          for (const r of c.replicas) {
            const n = f.nodes.find((x) => x.id === r.node)!;
            assert.ok(!n.draining, `${c.id} still on draining ${n.id}`);
            assert.ok(n.heartbeatAgeMs < CFG.deadNodeTimeoutMs, `${c.id} still on dead ${n.id}`);
          }
          assert.ok(!f.nodes.find((n) => n.id === c.leader)!.draining, `${c.id} still led by a draining node`);
        }
      }),
      { numRuns: 300, seed: 20240611 },
    );
  });

  it('balancing converges within the margin and then plans nothing, round after round (no oscillation)', () => {
    fc.assert(
      fc.property(arbFleet({ faults: false }), (f0) => {
        const f = structuredClone(f0);
        const { rounds } = runToQuiet(f, CFG, 600);
        assert.ok(rounds < 600, 'balancing did not settle');
        const counts = new Map<string, number>(f.nodes.map((n) => [n.id, 0]));
        for (const c of f.cells) for (const r of c.replicas) counts.set(r.node, counts.get(r.node)! + 1);
        for (const az of new Set(f.nodes.map((n) => n.az))) {
          const cs = f.nodes.filter((n) => n.az === az).map((n) => counts.get(n.id)!);
          assert.ok(Math.max(...cs) - Math.min(...cs) < CFG.balanceMargin, `${az} left at ${cs.join('/')}`);
        }
        // Quiet for good: later rounds (cool-downs long over) plan nothing either.
        const later = 600 * ROUND_MS + CFG.moveCooldownMs;
        for (let i = 0; i < 5; i++) assert.deepEqual(planPlacement({ nowMs: later + i * ROUND_MS, nodes: f.nodes, cells: f.cells }, CFG).decisions, []);
      }),
      { numRuns: 300, seed: 7 },
    );
  });

  it('no cell is moved for balance twice within the cool-down', () => {
    fc.assert(
      fc.property(arbFleet({ faults: false }), fc.integer({ min: 1, max: 3 }), (f0, maxMoves) => {
        const f = structuredClone(f0);
        const lastBalance = new Map<string, number>();
        runToQuiet(f, { ...CFG, maxConcurrentMoves: maxMoves }, 600, (ds, now) => {
          for (const d of moves(ds)) {
            const prev = lastBalance.get(d.cell);
            if (d.reason === 'balance') assert.ok(prev === undefined || now - prev >= CFG.moveCooldownMs, `${d.cell} moved again after ${now - (prev ?? 0)} ms`);
            lastBalance.set(d.cell, now);
          }
        });
      }),
      { numRuns: 200, seed: 11 },
    );
  });

  it('the same input always gives the same plan, whatever the order of nodes and cells', () => {
    fc.assert(
      fc.property(arbFleet({ faults: true }), (f) => {
        const a = planPlacement({ nowMs: 0, nodes: f.nodes, cells: f.cells }, CFG);
        const b = planPlacement({ nowMs: 0, nodes: [...f.nodes].reverse(), cells: [...f.cells].reverse() }, CFG);
        assert.deepEqual(a, b);
      }),
      { numRuns: 200, seed: 3 },
    );
  });
});

describe('placement by load', () => {
  it('the leader of most load hands a hot cell to a voter leading less load and fewer cells; even load plans nothing', () => {
    const fleet = six();
    // n1 leads c1 (hot) and c2 (warm); n2 leads nothing; n3 leads c3 (cold). All on n1..n3.
    const cells = [
      cell('c1', ['n1', 'n2', 'n3'], fleet, { qps: 2000 }),
      cell('c2', ['n1', 'n2', 'n3'], fleet, { qps: 800 }),
      cell('c3', ['n3', 'n1', 'n2'], fleet, { qps: 10 }),
    ];
    const plan = planPlacement({ nowMs: 0, nodes: fleet.slice(0, 3), cells }, CFG);
    // c1 (2000) would overshoot; c2 (800) brings n1 and the receiver nearest to even. n3 (10 qps,
    // one cell) beats n2 (0 qps, no cell) by a hair: |2790 - 1600| < |2800 - 1600|.
    assert.deepEqual(plan.decisions, [{ kind: 'transfer-leader', cell: 'c2', from: 'n1', to: 'n3', reason: 'load' }]);
    // Each node leading one cell: no receiver leads fewer cells, so no transfer, however uneven.
    const spread = [cells[0]!, { ...cells[1]!, leader: 'n2' }, cells[2]!];
    assert.deepEqual(planPlacement({ nowMs: 0, nodes: fleet.slice(0, 3), cells: spread }, CFG).decisions, []);
    // Small gaps are not worth a transfer.
    const even = cells.map((c) => ({ ...c, qps: 100 }));
    assert.deepEqual(planPlacement({ nowMs: 0, nodes: fleet.slice(0, 3), cells: even }, CFG).decisions, []);
  });

  it('load transfers never cycle: applied repeatedly, they stop', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 5000 }), { minLength: 2, maxLength: 9 }), fc.array(fc.integer({ min: 0, max: 2 }), { minLength: 9, maxLength: 9 }), (qps, leaders) => {
        const fleet = six().slice(0, 3);
        const ids = ['n1', 'n2', 'n3'];
        let cells = qps.map((q, i) => ({ ...cell(`c${i}`, ids, fleet, { qps: q }), leader: ids[leaders[i]!]! }));
        for (let round = 0; round < 40; round++) {
          const ds = planPlacement({ nowMs: 0, nodes: fleet, cells }, CFG).decisions.filter((d) => d.kind === 'transfer-leader');
          if (ds.length === 0) return true;
          for (const d of ds) cells = cells.map((c) => (c.id === d.cell ? { ...c, leader: d.to } : c));
        }
        return false;
      }),
      { numRuns: 200, seed: 5 },
    );
  });
});
