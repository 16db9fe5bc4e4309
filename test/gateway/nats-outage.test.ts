// NATS outages: the gateway answers 503 quickly (never hangs) while NATS is absent or down,
// reports not-ready, and reconnects on its own when NATS comes back.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { connect as tcpConnect } from 'node:net';
import type { Gateway } from '../../gateway/server.js';
import { startGateway } from '../../gateway/server.js';
import { silentLogger } from '../../gateway/log.js';
import { natsServerBinary } from '../support/nats-server.js';
import { freePort } from '../support/ports.js';
import { AUDIENCE, ISSUER, makeKeys, mintToken, raw, type TestKeys } from './support.js';

let keys: TestKeys;
let gw: Gateway;
let port: number;
let nats: ChildProcess | null = null;

async function startNats(): Promise<void> {
  nats = spawn(natsServerBinary(), ['-a', '127.0.0.1', '-p', String(port)], { stdio: 'ignore' });
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = tcpConnect(port, '127.0.0.1');
      s.once('connect', () => (s.destroy(), resolve(true)));
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error('nats-server did not start');
}

async function stopNats(): Promise<void> {
  const p = nats;
  nats = null;
  if (!p || p.exitCode !== null) return;
  await new Promise<void>((resolve) => {
    p.once('exit', () => resolve());
    p.kill('SIGKILL');
  });
}

async function waitFor(what: string, fn: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!fn()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

before(async () => {
  keys = await makeKeys();
  port = await freePort();
  gw = await startGateway({
    port: 0,
    natsServers: [`nats://127.0.0.1:${port}`],
    auth: { jwksFile: keys.jwksFile, issuer: ISSUER, audience: AUDIENCE, tenantClaim: 'tenant' },
    logger: silentLogger(),
    attemptTimeoutMs: 300,
    maxAttempts: 3,
  });
});
after(async () => {
  await gw?.stop();
  await stopNats();
  await keys?.cleanup();
});

async function timed503(token: string): Promise<number> {
  const t0 = Date.now();
  const r = await raw(gw.url, 'GET', '/v1/kv/k', { authorization: `Bearer ${token}` });
  const ms = Date.now() - t0;
  assert.equal(r.status, 503, r.text());
  assert.equal(r.headers['retry-after'], '1');
  assert.equal(r.json()['code'], 'UNAVAILABLE');
  return ms;
}

test('no NATS at start: HTTP serves, 503 at once, not ready', async () => {
  const token = await mintToken(keys);
  assert.ok((await timed503(token)) < 500);
  assert.equal((await raw(gw.url, 'GET', '/readyz')).status, 503);
  assert.equal((await raw(gw.url, 'GET', '/healthz')).status, 200);
});

test('NATS up (no cells yet), then killed, then back: bounded 503s and reconnection', async () => {
  const token = await mintToken(keys);
  await startNats();
  await waitFor('first connection', () => gw.link.connected);
  // Connected but no cell answers the directory: still a bounded 503, still not ready.
  assert.ok((await timed503(token)) < 5000);
  assert.equal((await raw(gw.url, 'GET', '/readyz')).status, 503);
  // A value within the gateway limit but beyond this server's max_payload (1 MB default) is
  // refused before sending, as 413, rather than failing in transport as a 5xx.
  const big = await raw(gw.url, 'PUT', '/v1/kv/big', { authorization: `Bearer ${token}` }, new Uint8Array(1_040_000));
  assert.equal(big.status, 413, big.text());
  assert.match(String(big.json()['detail']), /transport/);

  await stopNats();
  await waitFor('disconnect noticed', () => !gw.link.connected);
  assert.ok((await timed503(token)) < 500, 'fails fast while NATS is down');

  await startNats();
  await waitFor('reconnection', () => gw.link.connected, 15_000);
});
