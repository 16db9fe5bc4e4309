// Real processes: replica moves on a six-node cluster (n1..n3 hold the cells, n4..n6 start
// empty; n1/n4, n2/n5, n3/n6 share an AZ). A follower's replica and the leader's replica of c1
// move to the other node of their AZ while a writer runs: every acknowledged write reads back
// with its value, the replicas' digests agree, the old node no longer hosts the cell and its
// data keys in the range are gone, and a restarted target reopens its replica. The refusals
// (not the leader, not a voter, already a member, another AZ, a meta move from a non-member) come first.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { CellCluster } from '../../support/cell-cluster.js';
import { waitFor } from '../../support/wait.js';
import { openNodeDb } from '../../../cell/storage/node-db.js';
import { dataRange } from '../../../cell/storage/records.js';
import { execFile } from 'node:child_process';
import { join } from 'node:path';

const BIN = join(import.meta.dirname, '../../../cli/bin.mjs');

/** The CLI as operators run it: exit status, stdout and stderr. */
function cli(args: string[]): Promise<{ code: number; out: string; err: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args, '--nats', c.nats.url], { timeout: 200_000 }, (e, out, err) => {
      resolve({ code: e ? ((e as { code?: number }).code ?? 1) : 0, out, err });
    });
  });
}

const enc = (s: string) => new TextEncoder().encode(s);
const dec = (b: Uint8Array | null) => (b ? new TextDecoder().decode(b) : null);
const KEYS = 3000;
const VALUE = 'v'.repeat(200);
let c: CellCluster;

before(async () => {
  // No automatic splits, leader balancing or placement: the test picks who leads and what moves.
  c = await CellCluster.start({ nodes: 6, extraArgs: ['--rebalance-interval-ms', '0', '--placement-interval-ms', '0'] });
});
after(async () => {
  await c?.stop();
});

interface AdminReply {
  ok: boolean;
  code?: string;
  reason?: string;
  message?: string;
  [k: string]: unknown;
}
type CellView = { cell: string; role: string; applied: number; confState: { voters: string[]; learners: string[] }; epoch: number };

const azPartner = (n: string) => `n${((Number(n.slice(1)) + 2) % 6) + 1}`;

async function cellOn(node: string, cell: string): Promise<CellView | null> {
  const st = (await c.status(node)) as unknown as { cells: CellView[] };
  return st.cells.find((x) => x.cell === cell) ?? null;
}

function move(node: string, body: Record<string, unknown>): Promise<AdminReply> {
  return c.launcher.adminRequest<AdminReply>(node, { op: 'move', cell: 'c1', ...body }, 180_000);
}

/** Puts under key prefix `w` until stopped; remembers the last acknowledged value per key. */
function startWriter(prefix: string) {
  const acked = new Map<string, string>();
  let stop = false;
  let errors = 0;
  const done = (async () => {
    for (let i = 0; !stop; i++) {
      const key = `${prefix}${i % 200}`;
      const value = `${prefix}-${i}`;
      try {
        const r = (await c.client.put('t1', enc(key), enc(value))).result;
        if (r.status === 'ok') acked.set(key, value);
      } catch {
        errors++; // unknown outcome: the key's old acknowledged value may or may not stay
        acked.delete(key);
      }
    }
  })();
  return {
    acked,
    async stop() {
      stop = true;
      await done;
      return errors;
    },
  };
}

async function checkAcked(acked: Map<string, string>): Promise<void> {
  for (const [k, v] of acked) {
    const got = (await c.client.get('t1', enc(k))).result;
    assert.equal(got.status === 'ok' ? dec(got.value) : got.status, v, `acknowledged write of ${k}`);
  }
}

async function checkDigests(voters: string[]): Promise<void> {
  let last: AdminReply[] = [];
  await waitFor('the voters agree on the digest of c1', async () => {
    last = await Promise.all(voters.map((n) => c.launcher.adminRequest<AdminReply>(n, { op: 'digest', cell: 'c1' }, 5000)));
    if (!last.every((d) => d.ok)) return false;
    return last.every((d) => d['applied'] === last[0]!['applied'] && d['digest'] === last[0]!['digest']);
  }, 20_000, 300).catch((e: unknown) => {
    throw new Error(`${(e as Error).message}: ${JSON.stringify(last)}`);
  });
}

test('setup: a few thousand keys in c1', async () => {
  for (let i = 0; i < KEYS; i += 100) {
    await Promise.all(Array.from({ length: 100 }, (_, j) => c.client.put('t1', enc(`k${String(i + j).padStart(5, '0')}`), enc(VALUE))));
  }
  const leader = await c.leaderOf('c1');
  assert.ok(['n1', 'n2', 'n3'].includes(leader));
});

test('refusals: not the leader, not a voter, already a member, another AZ, a meta move from a non-member', async () => {
  const leader = await c.leaderOf('c1');
  const follower = ['n1', 'n2', 'n3'].find((n) => n !== leader)!;
  const notLeader = await move(follower, { from: follower, to: azPartner(follower), forwarded: true });
  assert.equal(notLeader.code, 'NOT_LEADER', JSON.stringify(notLeader));
  assert.equal(notLeader['leaderHint'], leader);
  const notVoter = await move(leader, { from: 'n4', to: 'n5' });
  assert.deepEqual([notVoter.code, notVoter.reason], ['INVALID_ARGUMENT', 'NOT_A_VOTER'], JSON.stringify(notVoter));
  const member = await move(leader, { from: follower, to: leader });
  assert.deepEqual([member.code, member.reason], ['ALREADY_EXISTS', 'ALREADY_MEMBER'], JSON.stringify(member));
  // n5 is in az2, n1 in az1 (n4's AZ comes from its own status: the directory does not list it).
  const otherAz = await move(leader, { from: 'n1', to: 'n5' });
  assert.deepEqual([otherAz.code, otherAz.reason], ['INVALID_ARGUMENT', 'AZ_MISMATCH'], JSON.stringify(otherAz));
  assert.match(otherAz.message!, /one replica per AZ/);
  // The meta cell moves like any cell (the fleet test drains it); from a non-member it is refused.
  const meta = await c.launcher.adminRequest<AdminReply>(leader, { op: 'move', cell: 'meta', from: 'n4', to: 'n5' }, 10_000);
  assert.equal(meta.ok, false);
  // Forwarded by a follower to the leader: the same refusal.
  const viaFollower = await move(follower, { from: 'n4', to: 'n5' });
  assert.equal(viaFollower.reason, 'NOT_A_VOTER');
  // Nothing changed: the cell still has its three voters and no learner.
  const view = await cellOn(leader, 'c1');
  assert.deepEqual(view?.confState.voters, ['n1', 'n2', 'n3']);
  assert.deepEqual(view?.confState.learners, []);
});

async function moveAndCheck(from: string, to: string, sendTo: string, writerPrefix: string, viaCli = false): Promise<void> {
  const epochBefore = (await cellOn(sendTo, 'c1'))!.epoch;
  const writer = startWriter(writerPrefix);
  await new Promise((r) => setTimeout(r, 500));
  const t0 = Date.now();
  let res: AdminReply;
  if (viaCli) {
    const r = await cli(['cells', 'move', 'c1', '--from', from, '--to', to, '--json']);
    assert.equal(r.code, 0, `cli: ${r.out} ${r.err}`);
    res = { ok: true, ...(JSON.parse(r.out) as object) };
  } else {
    res = await move(sendTo, { from, to });
  }
  const ms = Date.now() - t0;
  await new Promise((r) => setTimeout(r, 500));
  const errors = await writer.stop();
  assert.equal(res.ok, true, JSON.stringify(res));
  console.log(`move c1 ${from} -> ${to}: ${ms} ms, snapshot ${res['snapshotBytes']} B, steps ${JSON.stringify(res['steps'])}, writer ${writer.acked.size} keys acked, ${errors} unknown`);
  const voters = (res['voters'] as string[]).slice().sort();
  assert.ok(voters.includes(to) && !voters.includes(from), JSON.stringify(res));
  assert.ok((res['epoch'] as number) >= epochBefore + 4, `epoch ${res['epoch']} after ${epochBefore}: two membership changes, each entering and leaving a joint config`);
  await checkAcked(writer.acked);
  for (let i = 0; i < KEYS; i += 250) {
    const k = `k${String(i).padStart(5, '0')}`;
    const got = (await c.client.get('t1', enc(k))).result;
    assert.equal(got.status === 'ok' && dec(got.value), VALUE, k);
  }
  await checkDigests(voters);
  await waitFor(`${from} no longer hosts c1`, async () => (await cellOn(from, 'c1')) === null, 30_000, 200);
  await waitFor('the directory lists the new replicas', async () => {
    const d = await c.client.directory(true);
    const desc = d.cells.find((x) => x.id === 'c1');
    return desc !== undefined && desc.replicas.map((x) => x.node).sort().join() === voters.join();
  });
}

test("a follower's replica moves to the other node of its AZ while a writer runs", async () => {
  const leader = await c.leaderOf('c1');
  const from = ['n1', 'n2', 'n3'].find((n) => n !== leader)!;
  // Sent to another follower on purpose: it forwards the move to the leader.
  const sendTo = ['n1', 'n2', 'n3'].find((n) => n !== leader && n !== from)!;
  await moveAndCheck(from, azPartner(from), sendTo, 'w1-');
  // The removed node's data keys are gone from its LevelDB (checked with the node stopped).
  await c.terminate(from);
  const db = await openNodeDb(c.node(from).dataDir);
  try {
    let n = 0;
    for await (const _ of db.iterator(dataRange(new Uint8Array(0), null))) n++;
    assert.equal(n, 0, `data keys left on ${from}`);
  } finally {
    await db.close();
  }
  await c.startNode(from);
  // Restarted, it still hosts no replica of c1.
  assert.equal(await cellOn(from, 'c1'), null);
});

test("the leader's replica moves: leadership goes to another voter, which finishes the move", async () => {
  const leader = await c.leaderOf('c1');
  const to = azPartner(leader);
  assert.equal(await cellOn(to, 'c1'), null, `${to} hosts no replica of c1 yet`);
  await moveAndCheck(leader, to, leader, 'w2-', true);
  const newLeader = await c.leaderOf('c1');
  assert.notEqual(newLeader, leader);
});

test('a restarted target reopens its replica from disk', async () => {
  const leader = await c.leaderOf('c1');
  const voters = (await cellOn(leader, 'c1'))!.confState.voters;
  const target = voters.find((n) => Number(n.slice(1)) > 3 && n !== leader)!;
  await c.terminate(target);
  await c.startNode(target);
  await waitFor(`${target} reopens c1 as a voter`, async () => {
    const v = await cellOn(target, 'c1');
    return v !== null && v.confState.voters.includes(target) && v.applied > 0;
  });
  const r = (await c.client.put('t1', enc('after-restart'), enc('x'))).result;
  assert.equal(r.status, 'ok');
  await checkDigests(voters);
});

test('the CLI refuses a move to another AZ with the reason and what to do', async () => {
  const r = await cli(['cells', 'move', 'c1', '--from', 'n2', '--to', 'n1']);
  assert.equal(r.code, 1, r.out + r.err);
  assert.match(r.err, /INVALID_ARGUMENT|ALREADY_EXISTS/, r.out + r.err);
});
