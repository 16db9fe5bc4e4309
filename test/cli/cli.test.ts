// The admin CLI as users run it (cli/bin.mjs, a child process): dev tokens verify against the
// dev JWKS; status, tenants, cells and splits, and error reporting against a real CellCluster.

import { strict as assert } from 'node:assert';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import { createLocalJWKSet, jwtVerify, type JSONWebKeySet } from 'jose';
import { AdminClient } from '../../cli/admin.js';
import { DEV_AUDIENCE, DEV_ISSUER, ensureDevKeys } from '../../scripts/dev-keys.js';
import { CellCluster } from '../support/cell-cluster.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const BIN = join(ROOT, 'cli/bin.mjs');

interface Run {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

function cli(args: readonly string[], env: NodeJS.ProcessEnv = {}): Promise<Run> {
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args], { cwd: ROOT, env: { ...process.env, CELLKV_NATS: '', CELLKV_URL: '', CELLKV_TOKEN: '', ...env }, timeout: 30_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? ((err as { code: number }).code) : 1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

let dir = '';
let cluster: CellCluster | null = null;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'cellkv-cli-'));
});

after(async () => {
  await cluster?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('cellkv token', () => {
  test('mints a token the dev JWKS verifies, with tenant, scopes and ttl', async () => {
    const keys = await ensureDevKeys(join(dir, 'keys'));
    const r = await cli(['token', '--tenant', 'acme', '--scopes', 'kv:read kv:admin', '--ttl', '2h', '--keys-dir', keys.dir]);
    assert.equal(r.code, 0, r.stderr);
    const jwks = JSON.parse(await readFile(keys.jwksFile, 'utf8')) as JSONWebKeySet;
    assert.equal(jwks.keys.length, 1);
    assert.equal('d' in jwks.keys[0]!, false, 'the JWKS holds the public key only');
    const { payload, protectedHeader } = await jwtVerify(r.stdout.trim(), createLocalJWKSet(jwks), { issuer: DEV_ISSUER, audience: DEV_AUDIENCE });
    assert.equal(payload['tenant'], 'acme');
    assert.equal(payload['scope'], 'kv:read kv:admin');
    assert.equal(protectedHeader.kid, keys.kid);
    const ttl = payload.exp! - Math.floor(Date.now() / 1000);
    assert.ok(ttl > 7100 && ttl <= 7200, `ttl ${ttl}`);
    // The key persists: loading again yields the same kid (tokens survive restarts).
    assert.equal((await ensureDevKeys(keys.dir)).kid, keys.kid);
  });

  test('errors name a code and exit non-zero', async () => {
    const [noKey, badTtl, badScope] = await Promise.all([
      cli(['token', '--tenant', 'acme', '--keys-dir', join(dir, 'nowhere')]),
      cli(['token', '--tenant', 'acme', '--ttl', 'soon', '--keys-dir', join(dir, 'keys')]),
      cli(['token', '--tenant', 'acme', '--scopes', 'kv:root', '--keys-dir', join(dir, 'keys')]),
    ]);
    assert.equal(noKey.code, 1);
    assert.match(noKey.stderr, /^cellkv: DEV_KEY_UNAVAILABLE: no dev key/m);
    assert.equal(badTtl.code, 1);
    assert.match(badTtl.stderr, /--ttl "soon"/);
    assert.equal(badScope.code, 1);
    assert.match(badScope.stderr, /INVALID_ARGUMENT: unknown scope/);
  });
});

describe('against a CellCluster', () => {
  before(async () => {
    cluster = await CellCluster.start();
    // Liveness comes from heartbeats (every 2 s): wait until every node has sent one.
    const admin = AdminClient.over(cluster.nc);
    const deadline = Date.now() + 15_000;
    for (;;) {
      const d = await admin.waitForLeaders(15_000);
      if (d.nodes.length === 3 && d.nodes.every((n) => n.lastHeartbeatMs > 0)) break;
      if (Date.now() > deadline) throw new Error('nodes sent no heartbeats');
      await new Promise((r) => setTimeout(r, 200));
    }
  });

  test('status: leaders, ranges, replicas per AZ, liveness (text and --json)', async () => {
    const nats = cluster!.nats.url;
    const [text, json] = await Promise.all([cli(['status', '--nats', nats]), cli(['status', '--nats', nats, '--json'])]);
    assert.equal(text.code, 0, text.stderr);
    assert.equal(json.code, 0, json.stderr);
    const report = JSON.parse(json.stdout) as { directory: { leaders: Record<string, string>; cells: { id: string }[] }; nodes: Record<string, { cells?: { cell: string; role: string }[] }> };
    const leaders = report.directory.leaders;
    assert.ok(leaders['meta'] && leaders['c1'], JSON.stringify(leaders));
    for (const id of ['n1', 'n2', 'n3']) assert.equal(report.nodes[id]?.cells?.length, 2, `${id} hosts meta and c1`);
    assert.equal(report.nodes[leaders['c1']!]!.cells!.find((c) => c.cell === 'c1')!.role, 'leader');

    const out = text.stdout;
    for (const n of ['n1', 'n2', 'n3']) assert.match(out, new RegExp(`^${n}\\s+az${n[1]}\\s+live\\s.*yes, 2 replica`, 'm'), `status shows ${n} live:\n${out}`);
    assert.match(out, new RegExp(`^c1\\s+\\[-∞, \\+∞\\)\\s+1\\s+${leaders['c1']}\\s`, 'm'));
    assert.match(out, new RegExp(`^meta\\s+\\(directory\\)\\s+\\d+\\s+${leaders['meta']}\\s`, 'm'));
    assert.equal((out.match(/\s(leader|follower)\s/g) ?? []).length, 6, 'two cells × three replicas');
  });

  test('tenants put / list / delete; bad input is INVALID_ARGUMENT', async () => {
    const nats = ['--nats', cluster!.nats.url];
    const put = await cli(['tenants', 'put', 'acme', '--max-keys', '5', '--ops-per-sec', '100', ...nats]);
    assert.equal(put.code, 0, put.stderr);
    const list = await cli(['tenants', 'list', '--json', ...nats]);
    assert.deepEqual((JSON.parse(list.stdout) as unknown[]).find((t) => (t as { id: string }).id === 'acme'), { id: 'acme', maxKeys: 5, opsPerSec: 100 });
    const [bad, badQuota, del] = await Promise.all([
      cli(['tenants', 'put', 'Not Valid', ...nats]),
      cli(['tenants', 'put', 'acme', '--max-keys', '-1', ...nats]),
      cli(['tenants', 'delete', 'acme', ...nats]),
    ]);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /^cellkv: INVALID_ARGUMENT: tenant "Not Valid"/m);
    assert.equal(badQuota.code, 1);
    assert.equal(del.code, 0, del.stderr);
    const text = await cli(['tenants', 'list', ...nats]);
    assert.doesNotMatch(text.stdout, /acme/);
  });

  test('nodes: list with AZ, liveness, counts; drain and undrain; an unknown node is NOT_FOUND', async () => {
    const nats = ['--nats', cluster!.nats.url];
    const list = await cli(['nodes', '--json', ...nats]);
    assert.equal(list.code, 0, list.stderr);
    const rows = JSON.parse(list.stdout) as { node: string; az: string; live: boolean; draining: boolean; replicas: number }[];
    assert.deepEqual(rows.map((r) => [r.node, r.az, r.live, r.draining, r.replicas]), [['n1', 'az1', true, false, 2], ['n2', 'az2', true, false, 2], ['n3', 'az3', true, false, 2]]);
    const drain = await cli(['nodes', 'drain', 'n2', ...nats]);
    assert.equal(drain.code, 0, drain.stderr);
    assert.match(drain.stdout, /^node n2 is draining/m);
    const text = await cli(['nodes', ...nats]);
    assert.match(text.stdout, /^n2\s+az2\s+yes\s+yes\s+2\s/m, text.stdout);
    const [undrain, unknown, badSub] = await Promise.all([cli(['nodes', 'undrain', 'n2', ...nats]), cli(['nodes', 'drain', 'n9', ...nats]), cli(['nodes', 'evict', ...nats])]);
    assert.equal(undrain.code, 0, undrain.stderr);
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /^cellkv: NOT_FOUND: node n9 is not in the directory/m);
    assert.match(badSub.stderr, /unknown command "nodes evict"/);
    const after = JSON.parse((await cli(['nodes', '--json', ...nats])).stdout) as { node: string; draining: boolean }[];
    assert.ok(after.every((r) => !r.draining), JSON.stringify(after));
  });

  // Before the node kill below: the split needs the cell's leader and a majority.
  describe('cells', () => {
    interface CellsJson {
      servedBy: string;
      cells: { id: string; start: string | null; end: string | null; readable: { start: string | null; end: string | null }; epoch: number | null; replicas: { node: string }[]; leader: string | null }[];
    }
    const nsHex = (tenant: string, key: string) => Buffer.from(`${tenant}\0${key}`).toString('hex');
    const listJson = async (): Promise<CellsJson> => {
      const r = await cli(['cells', 'list', '--json', '--nats', cluster!.nats.url]);
      assert.equal(r.code, 0, r.stderr);
      return JSON.parse(r.stdout) as CellsJson;
    };
    const dataCells = (j: CellsJson) => j.cells.filter((c) => c.id !== 'meta');
    let right = '';

    test('cells (list by default): c1 over everything plus meta, replicas and leaders', async () => {
      const leaders = (await AdminClient.over(cluster!.nc).waitForLeaders(15_000)).leaders;
      const [text, json] = await Promise.all([cli(['cells', '--nats', cluster!.nats.url]), listJson()]);
      assert.equal(text.code, 0, text.stderr);
      // Not the replicas' AZs: a cell leader may publish c1 before the meta cell knows them ('unknown').
      assert.match(text.stdout, new RegExp(`^c1\\s+-∞\\s+\\+∞\\s+\\[-∞, \\+∞\\)\\s+1\\s+n1/\\S+,n2/\\S+,n3/\\S+\\s+${leaders['c1']}$`, 'm'), text.stdout);
      assert.match(text.stdout, new RegExp(`^meta\\s+\\(directory\\)\\s+-\\s+n1/az1,n2/az2,n3/az3\\s+${leaders['meta']}$`, 'm'), text.stdout);
      assert.deepEqual(json.cells.map((c) => [c.id, c.start, c.end, c.epoch, c.leader]), [
        ['c1', '', null, 1, leaders['c1']],
        ['meta', null, null, null, leaders['meta']],
      ]);
    });

    test('cells split --tenant --key: two cells meeting at tenant\\0key, data kept', async () => {
      const enc = (s: string) => new TextEncoder().encode(s);
      for (const k of ['a', 'l', 'm', 'n', 'z']) await cluster!.client.put('t1', enc(k), enc(`v-${k}`));
      const r = await cli(['cells', 'split', 'c1', '--tenant', 't1', '--key', 'm', '--nats', cluster!.nats.url]);
      assert.equal(r.code, 0, r.stderr);
      const m = /^split c1 at t1:m \(index (\d+)\): left c1, right (c[a-z0-9-]+)$/m.exec(r.stdout);
      assert.ok(m, r.stdout);
      right = m[2]!;
      // The cell leader updates the directory after the split applies: poll.
      const at = nsHex('t1', 'm');
      const deadline = Date.now() + 10_000;
      let cells = dataCells(await listJson());
      while (!(cells.length === 2 && cells[0]!.id === 'c1' && cells[0]!.end === at && cells[1]!.id === right && cells[1]!.start === at) && Date.now() < deadline) {
        await new Promise((res) => setTimeout(res, 300));
        cells = dataCells(await listJson());
      }
      assert.deepEqual(cells.map((c) => [c.id, c.start, c.end, c.readable.end, c.epoch]), [
        ['c1', '', at, 't1:m', 2],
        [right, at, null, null, 2],
      ]);
      for (const k of ['a', 'l', 'm', 'n', 'z']) {
        const got = (await cluster!.client.get('t1', enc(k))).result;
        assert.equal(got.status === 'ok' && new TextDecoder().decode(got.value), `v-${k}`, k);
      }
      const text = await cli(['cells', 'list', '--nats', cluster!.nats.url]);
      assert.match(text.stdout, new RegExp(`^c1\\s+-∞\\s+0x${at}\\s+\\[-∞, t1:m\\)\\s+2\\s`, 'm'), text.stdout);
      assert.match(text.stdout, new RegExp(`^${right}\\s+0x${at}\\s+\\+∞\\s+\\[t1:m, \\+∞\\)\\s+2\\s`, 'm'), text.stdout);
    });

    test('cells split --split-key HEX --json: the right half splits again', async () => {
      const r = await cli(['cells', 'split', right, '--split-key', nsHex('t1', 't'), '--json', '--nats', cluster!.nats.url]);
      assert.equal(r.code, 0, r.stderr);
      const j = JSON.parse(r.stdout) as { cell: string; left: string; right: string; index: number; splitKey: string };
      assert.equal(j.left, right);
      assert.notEqual(j.right, right);
      assert.equal(j.splitKey, nsHex('t1', 't'));
      assert.ok(j.index > 0);
    });

    test('cells split errors: key outside the range, unknown cell, bad flags, meta', async () => {
      const nats = ['--nats', cluster!.nats.url];
      const [outside, unknown, noKey, badHex, both, meta, merge] = await Promise.all([
        cli(['cells', 'split', 'c1', '--tenant', 't1', '--key', 'q', ...nats]),
        cli(['cells', 'split', 'c404', '--tenant', 't1', '--key', 'q', ...nats]),
        cli(['cells', 'split', 'c1', ...nats]),
        cli(['cells', 'split', 'c1', '--split-key', 'xyz', ...nats]),
        cli(['cells', 'split', 'c1', '--split-key', '00', '--tenant', 't1', '--key', 'a', ...nats]),
        cli(['cells', 'split', 'meta', '--tenant', 't1', '--key', 'a', ...nats]),
        cli(['cells', 'merge', 'c1', 'c404', ...nats]),
      ]);
      assert.equal(outside.code, 1);
      assert.match(outside.stderr, /^cellkv: INVALID_ARGUMENT: .*cell c1 holds \[-∞, t1:m\) at epoch 2/m);
      assert.equal(unknown.code, 1);
      assert.match(unknown.stderr, /^cellkv: NOT_FOUND: cell c404 is not in the directory \(data cells: .*c1.*\); see `npx cellkv cells list`/m);
      for (const r of [noKey, badHex, both, meta]) {
        assert.equal(r.code, 1, r.stdout);
        assert.match(r.stderr, /^cellkv: INVALID_ARGUMENT: /m);
      }
      assert.match(noKey.stderr, /--tenant and --key/);
      assert.match(meta.stderr, /meta cell .* cannot be split/);
      assert.equal(merge.code, 1);
      assert.match(merge.stderr, /^cellkv: NOT_FOUND: cell c404 is not in the directory/m);
    });

    test('cells merge: the right half of the right half merges back, then a non-neighbour is refused', async () => {
      const nats = ['--nats', cluster!.nats.url];
      const d = JSON.parse((await cli(['cells', 'list', '--json', ...nats])).stdout) as { cells: { id: string; start: string; end: string | null }[] };
      const r = d.cells.find((x) => x.id === right)!;
      const rr = d.cells.find((x) => x.start === r.end)!;
      const ok = await cli(['cells', 'merge', right, rr.id, '--json', ...nats]);
      assert.equal(ok.code, 0, ok.stderr);
      const j = JSON.parse(ok.stdout) as { cell: string; absorbed: string; commitIndex: number };
      assert.equal(j.cell, right);
      assert.equal(j.absorbed, rr.id);
      const apart = await cli(['cells', 'merge', right, 'c1', ...nats]);
      assert.equal(apart.code, 1);
      assert.match(apart.stderr, /^cellkv: INVALID_ARGUMENT: cell c1 does not start where/m);
    });
  });

  test('a node that stops answering shows as unreachable', async () => {
    await cluster!.kill('n3');
    const r = await cli(['status', '--nats', cluster!.nats.url]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^n3\s+az3\s+\S+\s+.*no \(UNAVAILABLE\)/m);
    assert.match(r.stdout, /n3\s+az3\s+unreachable/);
  });

  test('no NATS: UNAVAILABLE and exit 1', async () => {
    const r = await cli(['status', '--nats', 'nats://127.0.0.1:1']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^cellkv: UNAVAILABLE: cannot connect to NATS/m);
  });
});
