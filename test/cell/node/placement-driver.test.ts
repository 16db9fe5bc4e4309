// The placement driver (cell/node/placement-driver.ts) over a fake host: a fleet of six nodes
// answering admin `status`, `transfer` and `move` as scripted. It acts only on the meta leader,
// sends a move to the cell's leader and waits for it, pauses moves when `move` is unknown, gives
// a newly elected meta leader's silence grace, and hands a draining node's leaderships away.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import pino from 'pino';
import type { Directory, NodeRecord } from '../../../shared/directory.js';
import { PlacementDriver, placementConfigFor, type PlacementHost } from '../../../cell/node/placement-driver.js';
import { NodeConfigSchema } from '../../../cell/node/config.js';
import type { NodeClock } from '../../../cell/node/clock.js';

const ids = ['n1', 'n2', 'n3', 'n4', 'n5', 'n6'];
const azOf = (id: string) => `az${((Number(id.slice(1)) - 1) % 3) + 1}`;
const conf = (voters: string[]) => ({ voters, learners: [], votersOutgoing: [], learnersNext: [], autoLeave: false });

type Reply = Record<string, unknown>;

class FakeFleet {
  now = 100_000;
  metaLeader = true;
  /** Nodes that stopped heartbeating, and their last heartbeat; the others were heard 1 s ago. */
  silent = new Map<string, number>();
  draining = new Set<string>();
  /** cell -> voters; the first voter leads. */
  cells = new Map<string, string[]>([
    ['meta', ['n1', 'n2', 'n3']],
    ['c1', ['n1', 'n2', 'n3']],
  ]);
  leaders = new Map<string, string>([
    ['meta', 'n1'],
    ['c1', 'n2'],
  ]);
  requests: { to: string; body: Reply }[] = [];
  /** What a `move` answers (a promise the test may hold open). */
  onMove: (body: Reply) => Promise<Reply> = () => Promise.resolve({ ok: true });
  decisions: { kind: string; reason: string }[] = [];

  directory(): Directory {
    const nodes: NodeRecord[] = ids.map((id) => ({ id, az: azOf(id), lastHeartbeatMs: this.lastHeard(id), ...(this.draining.has(id) ? { draining: true } : {}) }));
    const cells = [...this.cells].filter(([id]) => id !== 'meta').map(([id, voters]) => ({ id, start: '', end: null, epoch: 1, replicas: voters.map((node) => ({ node, az: azOf(node), role: 'voter' as const })) }));
    return { cells, nodes };
  }

  lastHeard(id: string): number {
    return this.silent.get(id) ?? this.now - 1000;
  }

  status(node: string): Reply {
    const cells = [...this.cells]
      .filter(([, voters]) => voters.includes(node))
      .map(([cell, voters]) => ({ cell, role: this.leaders.get(cell) === node ? 'leader' : 'follower', term: 3, confState: conf(voters), sizeBytes: 10 }));
    return { ok: true, node, cells };
  }

  host(): PlacementHost {
    const clock = { now: () => this.now } as unknown as NodeClock;
    return {
      nodeId: 'n1',
      clock,
      log: pino({ level: 'silent' }),
      decisions: { inc: (l) => this.decisions.push(l) },
      isMetaLeader: () => this.metaLeader,
      directory: () => this.directory(),
      requestAdmin: (to, body) => {
        this.requests.push({ to, body });
        if (this.silent.has(to)) return Promise.reject(new Error('timeout'));
        if (body['op'] === 'status') return Promise.resolve(this.status(to));
        if (body['op'] === 'transfer') {
          this.leaders.set(String(body['cell']), String(body['to']));
          return Promise.resolve({ ok: true });
        }
        if (body['op'] === 'move') return this.onMove(body);
        return Promise.resolve({ ok: false, code: 'INVALID_ARGUMENT', message: 'unknown admin op' });
      },
    };
  }

  sent(op: string) {
    return this.requests.filter((r) => r.body['op'] === op);
  }
}

const CFG = placementConfigFor(NodeConfigSchema.parse({ nodeId: 'n1', az: 'az1', dataDir: '/x', natsUrls: ['nats://x'] }));
const settle = () => new Promise((r) => setImmediate(r));

describe('placement driver', () => {
  it('does nothing on a node that does not lead the meta cell', async () => {
    const f = new FakeFleet();
    f.metaLeader = false;
    const d = new PlacementDriver(f.host(), CFG);
    assert.deepEqual(await d.tick(), []);
    assert.deepEqual(f.requests, []);
  });

  it('balances onto the empty nodes: a move sent to the cell leader, one at a time, until it answers', async () => {
    const f = new FakeFleet();
    let finish!: (r: Reply) => void;
    f.onMove = () => new Promise((r) => (finish = r));
    const d = new PlacementDriver(f.host(), CFG);
    const first = await d.tick();
    // az1: n1 hosts meta and c1, n4 nothing. c1 is led by n2, so it moves without a transfer.
    assert.deepEqual(first, [{ kind: 'move', cell: 'c1', from: 'n1', to: 'n4', reason: 'balance' }]);
    assert.deepEqual(f.sent('move').map((r) => [r.to, r.body]), [['n2', { op: 'move', cell: 'c1', from: 'n1', to: 'n4' }]]);
    assert.deepEqual(d.movesInFlight(), ['c1']);
    f.now += 5000;
    assert.deepEqual(await d.tick(), [], 'a move in flight uses the whole budget');
    finish({ ok: true });
    await settle();
    assert.deepEqual(d.movesInFlight(), []);
    assert.deepEqual(f.decisions, [{ kind: 'move', reason: 'balance' }]);
  });

  it('pauses moves (logging once) when the leader does not know the admin op `move`', async () => {
    const f = new FakeFleet();
    f.onMove = () => Promise.resolve({ ok: false, code: 'INVALID_ARGUMENT', message: 'unknown admin op; use meta, status' });
    const d = new PlacementDriver(f.host(), CFG);
    await d.tick();
    await settle();
    f.now += 5000;
    assert.deepEqual(await d.tick(), []);
    assert.equal(f.sent('move').length, 1);
    f.now += CFG.unsupportedRecheckMs;
    assert.equal((await d.tick()).length, 1, 'rechecked after a minute');
  });

  it('a newly elected meta leader gives silent nodes the dead-node timeout before repairing', async () => {
    const f = new FakeFleet();
    f.onMove = () => new Promise(() => undefined);
    f.silent.set('n3', 0); // never heard from, as the init registers a bootstrap node
    f.cells.set('c1', ['n4', 'n5', 'n6']); // balanced: every node hosts one cell
    f.leaders.set('c1', 'n4');
    const d = new PlacementDriver(f.host(), CFG);
    const early = await d.tick();
    assert.ok(!early.some((x) => x.kind === 'move' && x.reason === 'dead-node'), JSON.stringify(early));
    f.now += CFG.planner.deadNodeTimeoutMs;
    const later = await d.tick();
    assert.deepEqual(later.filter((x) => x.kind === 'move'), [{ kind: 'move', cell: 'meta', from: 'n3', to: 'n6', reason: 'dead-node' }]);
  });

  it('a draining node hands its leaderships away (transfer sent to the leader) and its replicas leave', async () => {
    const f = new FakeFleet();
    f.onMove = () => Promise.resolve({ ok: true });
    f.draining.add('n2');
    const d = new PlacementDriver(f.host(), CFG);
    const ds = await d.tick();
    // To the voter leading fewest cells (n1 leads meta).
    assert.deepEqual(ds[0], { kind: 'transfer-leader', cell: 'c1', from: 'n2', to: 'n3', reason: 'drain' });
    assert.deepEqual(f.sent('transfer').map((r) => [r.to, r.body]), [['n2', { op: 'transfer', cell: 'c1', to: 'n3' }]]);
    // meta's n2 replica (n1 leads meta) is free to move at once.
    assert.deepEqual(ds.slice(1), [{ kind: 'move', cell: 'meta', from: 'n2', to: 'n5', reason: 'drain' }]);
    await settle();
    f.cells.set('meta', ['n1', 'n5', 'n3']);
    f.now += 5000;
    const next = await d.tick();
    assert.deepEqual(next, [{ kind: 'move', cell: 'c1', from: 'n2', to: 'n5', reason: 'drain' }]);
  });
});
