// A cell node authenticates to a nats-server that enforces the generated permissions
// (gateway/nats-permissions.ts, as infra/terraform deploys it): user "cell" with the password from
// CELLKV_NATS_PASSWORD. Without it, or with a wrong one, the node cannot connect.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from '@nats-io/transport-node';
import { natsPermissionsConfig } from '../../../gateway/nats-permissions.js';
import { loadNodeConfig } from '../../../cell/node/config.js';
import { NodeTransport } from '../../../cell/node/transport.js';
import { startNatsServer, type NatsServer } from '../../support/nats-server.js';

const PW = { gatewayPassword: 'gateway-secret-1', cellPassword: 'cell-secret-12', platformPassword: 'platform-secret-1' };
let server: NatsServer;

before(async () => {
  server = await startNatsServer({ extraConfig: natsPermissionsConfig(PW) });
});
after(async () => {
  await server?.stop();
});

const handlers = { onRaft: () => undefined, onRequest: () => undefined, onDirectory: () => undefined, onAdmin: () => undefined };

test('the node config takes the NATS user from a flag and the password from CELLKV_NATS_PASSWORD only', () => {
  const base = { nodeId: 'n1', az: 'az1', dataDir: '/tmp/x', natsUrls: ['nats://127.0.0.1:4222'] };
  const cfg = loadNodeConfig({ ...base, natsUser: 'cell' }, { CELLKV_NATS_PASSWORD: PW.cellPassword });
  assert.equal(cfg.natsUser, 'cell');
  assert.equal(cfg.natsPass, PW.cellPassword);
  assert.equal(loadNodeConfig(base, {}).natsUser, undefined);
  assert.throws(() => loadNodeConfig(base, { CELLKV_NATS_PASSWORD: PW.cellPassword }), /a NATS password needs a NATS user/);
});

test('a node transport connects as "cell" and serves its subjects; without the password it is refused', async () => {
  const transport = await NodeTransport.start('n1', [server.url], { user: 'cell', pass: PW.cellPassword }, {
    ...handlers,
    onRequest: (_data, reply) => reply(new TextEncoder().encode('ok')),
  });
  try {
    const gw = await connect({ servers: server.url, user: 'gateway', pass: PW.gatewayPassword, maxReconnectAttempts: 0 });
    try {
      const r = await gw.request('cellkv.node.n1', new Uint8Array(0), { timeout: 2000 });
      assert.equal(r.string(), 'ok');
    } finally {
      await gw.close();
    }
  } finally {
    await transport.close();
  }
  for (const auth of [{}, { user: 'cell', pass: 'wrong-password-1' }]) {
    await assert.rejects(
      Promise.race([
        NodeTransport.start('n2', [server.url], auth, handlers).then(async (t) => {
          await t.close();
          throw new Error('connected without the right password');
        }),
        new Promise((_, reject) => setTimeout(() => reject(new Error('timeout')), 5000)),
      ]),
      (e: Error) => /authoriz/i.test(e.message),
    );
  }
});
