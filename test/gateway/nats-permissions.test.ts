// The generated NATS permissions on a real nats-server: platform services reach the front door
// and nothing internal; gateways and cells keep their internal subjects.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { connect, errors, type NatsConnection, type Status } from '@nats-io/transport-node';
import { natsPermissionsConfig } from '../../gateway/nats-permissions.js';
import { startNatsServer, type NatsServer } from '../support/nats-server.js';

const PW = { gatewayPassword: 'gateway-secret-1', cellPassword: 'cell-secret-12', platformPassword: 'platform-secret-1' };
let server: NatsServer;
const conns: NatsConnection[] = [];

before(async () => {
  server = await startNatsServer({ extraConfig: natsPermissionsConfig(PW) });
});
after(async () => {
  await Promise.all(conns.map((c) => c.close().catch(() => undefined)));
  await server?.stop();
});

async function as(user: string, pass: string): Promise<NatsConnection> {
  const nc = await connect({ servers: server.url, user, pass, maxReconnectAttempts: 0 });
  conns.push(nc);
  return nc;
}

/** Collects permission violations the server reports to this connection. */
type Violation = InstanceType<typeof errors.PermissionViolationError>;

function violations(nc: NatsConnection): Violation[] {
  const out: Violation[] = [];
  void (async () => {
    for await (const s of nc.status() as AsyncIterable<Status>) {
      if (s.type === 'error' && s.error instanceof errors.PermissionViolationError) out.push(s.error);
    }
  })();
  return out;
}

test('the snippet is well-formed and refuses unsafe or weak passwords', () => {
  const conf = natsPermissionsConfig(PW);
  assert.match(conf, /user: "platform"/);
  assert.match(conf, /publish: \{ allow: \["cellkv\.api\.v1\.>"\] \}/);
  assert.throws(() => natsPermissionsConfig({ ...PW, cellPassword: 'short' }));
  assert.throws(() => natsPermissionsConfig({ ...PW, cellPassword: 'has"quote-long-enough' }));
});

test('anonymous clients are refused', async () => {
  await assert.rejects(connect({ servers: server.url, maxReconnectAttempts: 0 }));
  await assert.rejects(connect({ servers: server.url, user: 'platform', pass: 'wrong-password', maxReconnectAttempts: 0 }));
});

test('platform may call the front door but is denied internal subjects', async () => {
  const gateway = await as('gateway', PW.gatewayPassword);
  const cell = await as('cell', PW.cellPassword);
  const platform = await as('platform', PW.platformPassword);
  const denied = violations(platform);

  let internalSeen = 0;
  cell.subscribe('cellkv.node.n1', { callback: () => void internalSeen++ });
  gateway.subscribe('cellkv.api.v1.>', { queue: 'cellkv-gateways', callback: (_e, m) => void m.respond('pong') });
  await Promise.all([cell.flush(), gateway.flush()]);

  // The front door works for the platform user (request and reply on its inbox).
  const reply = await platform.request('cellkv.api.v1.get', '{}', { timeout: 2000 });
  assert.equal(reply.string(), 'pong');

  // Internal subjects: publishing is refused by the server and nothing is delivered.
  platform.publish('cellkv.node.n1', 'forged');
  platform.publish('cellkv.raft.n1', 'forged');
  platform.publish('cellkv.dir', 'forged');
  await platform.flush();
  await new Promise((r) => setTimeout(r, 200));
  assert.equal(internalSeen, 0);
  assert.ok(denied.some((v) => v.operation === 'publish' && v.subject === 'cellkv.node.n1'), JSON.stringify(denied.map((d) => d.message)));

  // And it cannot listen to internal traffic or impersonate a gateway.
  const snoop = platform.subscribe('cellkv.raft.>');
  const impersonate = platform.subscribe('cellkv.api.v1.>', { queue: 'cellkv-gateways' });
  await platform.flush().catch(() => undefined);
  assert.ok((await snoop.closed) instanceof Error);
  assert.ok((await impersonate.closed) instanceof Error);

  // Gateways and cells still talk internally.
  cell.subscribe('cellkv.dir', { callback: (_e, m) => void m.respond('dir') });
  await cell.flush();
  assert.equal((await gateway.request('cellkv.dir', '', { timeout: 2000 })).string(), 'dir');
  gateway.publish('cellkv.node.n1', 'ok');
  await gateway.flush();
  await new Promise((r) => setTimeout(r, 100));
  assert.equal(internalSeen, 1);
});
