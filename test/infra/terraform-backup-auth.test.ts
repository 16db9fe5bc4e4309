// The backup host's NATS login as deployed (modules/backup): `cellkv backup` runs with
// CELLKV_NATS_USER=cell and CELLKV_NATS_PASSWORD from Secrets Manager in its environment.
// Against a real nats-server with the project's authorization block, the admin client logs in
// with them, is refused without them or with a wrong password, and may use the admin
// subjects (a missing responder, not a permission error).

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { AdminClient, AdminError } from '../../cli/admin.js';
import { natsPermissionsConfig } from '../../gateway/nats-permissions.js';
import { startNatsServer, type NatsServer } from '../support/nats-server.js';

const PASSWORDS = { gatewayPassword: 'gw-Passw0rd-123456', cellPassword: 'cell-Passw0rd-1234', platformPassword: 'pf-Passw0rd-123456' };
let nats: NatsServer;

before(async () => {
  nats = await startNatsServer({ extraConfig: natsPermissionsConfig(PASSWORDS) });
});
after(async () => {
  await nats?.stop();
});

const isCode = (code: string) => (e: unknown) => e instanceof AdminError && e.code === code;

test('the admin client logs in as "cell" from the environment and may use the admin subjects', async () => {
  const a = await AdminClient.connect([nats.url], 1000, { CELLKV_NATS_USER: 'cell', CELLKV_NATS_PASSWORD: PASSWORDS.cellPassword });
  try {
    // No node runs here: the request is allowed and finds no responder (a denied publish would time out instead).
    await assert.rejects(a.directory(), (e: unknown) => e instanceof AdminError && /nothing answers cellkv\.dir/.test(e.detail));
  } finally {
    await a.close();
  }
});

test('without credentials, with a wrong password, or a password without a user: refused', async () => {
  await assert.rejects(AdminClient.connect([nats.url], 1000, {}), isCode('UNAVAILABLE'));
  await assert.rejects(AdminClient.connect([nats.url], 1000, { CELLKV_NATS_USER: 'cell', CELLKV_NATS_PASSWORD: 'wrong-password-123' }), isCode('UNAVAILABLE'));
  await assert.rejects(AdminClient.connect([nats.url], 1000, { CELLKV_NATS_PASSWORD: PASSWORDS.cellPassword }), isCode('INVALID_ARGUMENT'));
  // The platform user has the front door only: the admin subjects are denied to it.
  const p = await AdminClient.connect([nats.url], 1000, { CELLKV_NATS_USER: 'platform', CELLKV_NATS_PASSWORD: PASSWORDS.platformPassword });
  try {
    await assert.rejects(p.directory(), (e: unknown) => e instanceof AdminError && !/nothing answers/.test(e.detail));
  } finally {
    await p.close();
  }
});
